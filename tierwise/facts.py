"""Load the data files in tierwise/data: the one place each fact lives, with its source."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed YAML file tierwise/data/<name>.yaml (cached: facts do not change in a run)."""
    text = resources.files("tierwise.data").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
