"""Usage files: what a deployment will serve, per stack or per resource, like infracost-usage.yml.

A template says what exists, not how much it will be used. Infracost reads usage from
``infracost-usage.yml``; tierwise reads the same idea, keyed the CloudFormation way::

    version: 0.1
    resource_usage:
      tierwise-llama3-8b:                      # a stack: its model-serving resources
        requests_per_month: 200000
        input_tokens: 800
        output_tokens: 300
      my-app/ChatFunction1A2B3C4D:             # stack/logical id (or stack/construct path)
        requests_per_month: 50000
        tokens_per_second: 14.5                # decode rate; or request_duration_ms

A resource named here is priced by usage even when nothing marks it as serving a model, so
stacks tierwise did not plan can be priced too. Figures given here override the global
workload (flags and cdk.json) for what they name; a resource entry overrides its stack's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from tierwise.errors import TierwiseError
from tierwise.workload import Workload

USAGE_VERSION = "0.1"


class Usage(BaseModel):
    """Usage of one stack or resource; every figure optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: int | None = Field(None, ge=0)
    input_tokens: int | None = Field(None, gt=0)
    output_tokens: int | None = Field(None, gt=0)
    tokens_per_second: float | None = Field(None, gt=0, allow_inf_nan=False, description="decode rate")
    prompt_tokens_per_second: float | None = Field(None, gt=0, allow_inf_nan=False)
    request_duration_ms: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="how long one request runs, instead of tokens per second"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_true_false(cls, value: Any) -> Any:
        # YAML's true/false would otherwise be read as 1 and 0 requests, tokens or seconds
        if isinstance(value, bool):
            raise ValueError("a number is needed, not a true/false value")
        return value

    def over(self, base: "Usage") -> "Usage":
        """This usage, with ``base``'s figures where this one gives none."""
        return Usage(**{**base.model_dump(exclude_none=True), **self.model_dump(exclude_none=True)})

    def workload(self, base: Workload) -> Workload:
        figures = self.model_dump(include={"requests_per_month", "input_tokens", "output_tokens"}, exclude_none=True)
        return base.model_copy(update=figures) if figures else base


class UsageFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = USAGE_VERSION
    resource_usage: dict[str, Usage] = Field(default_factory=dict)
    _origin: str = PrivateAttr("usage file")

    @property
    def path(self) -> str:
        return self._origin

    def for_stack(self, stack: str) -> Usage | None:
        return self.resource_usage.get(stack)

    def for_resource(self, stack: str, logical_id: str, construct_path: str | None) -> Usage | None:
        for key in (f"{stack}/{logical_id}", construct_path):
            if key and key in self.resource_usage:
                return self.resource_usage[key]
        return None

    def unused_keys(self, seen: set[str]) -> list[str]:
        return sorted(set(self.resource_usage) - seen)


def parse_usage(data: Any, origin: str) -> UsageFile:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TierwiseError(f"usage file {origin}: must be a mapping with 'version' and 'resource_usage'")
    version = str(data.get("version", USAGE_VERSION))
    if version != USAGE_VERSION:
        raise TierwiseError(f"usage file {origin}: version {version!r} is not supported; use {USAGE_VERSION}")
    try:
        usage = UsageFile(**{**data, "version": version})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        got = err.get("input")
        typed = str(got).lower() if isinstance(got, bool) else repr(got)  # as the YAML spells it
        raise TierwiseError(f"usage file {origin}: {where}: {err['msg']} (got {typed})") from None
    except TypeError:
        raise TierwiseError(f"usage file {origin}: keys must be version and resource_usage") from None
    usage._origin = origin
    return usage


def load_usage(path: str | Path) -> UsageFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TierwiseError(f"cannot read usage file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TierwiseError(f"usage file {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise TierwiseError(f"usage file {path} is not valid YAML{where}") from None
    return parse_usage(data, str(path))
