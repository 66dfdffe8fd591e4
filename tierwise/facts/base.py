"""Reading tierwise/data: the YAML loader and the typed validation every accessor goes through.

Every fact lives once, with its source and date, in a YAML file; the accessors validate the
file against a pydantic model on first read, so a missing or misspelt field is an error that
names the file and the field, never a silent default. `load(name)` remains for the sizing
tables (quant types, recipes, runtime model) whose readers validate what they take.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from model_profiles.userinput import load_yaml
from tierwise.errors import TierwiseError

M = TypeVar("M", bound=BaseModel)


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed YAML file tierwise/data/<name>.yaml (cached: facts do not change in a run)."""
    try:
        text = resources.files("tierwise.data").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TierwiseError(f"tierwise/data/{name}.yaml is missing: reinstall tierwise") from None
    return load_yaml(text, f"tierwise/data/{name}.yaml", TierwiseError)


def _typed(name: str, model: type[M], part: str | None = None) -> M:
    data = load(name)
    if part is not None:
        if part not in data:
            raise TierwiseError(f"tierwise/data/{name}.yaml has no {part!r} section")
        data = data[part]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise TierwiseError(f"tierwise/data/{name}.yaml{'/' + part if part else ''}: {where}: {err['msg']}") from None


class _Fact(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
