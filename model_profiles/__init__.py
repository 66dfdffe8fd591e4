"""The model catalogue: one YAML file per model, validated by ModelProfile.

Names are loaded on first use (PEP 562), so importing `model_profiles.errors` alone (as
tierwise.errors does) does not read the schema or the loader.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "ProfileError": "model_profiles.errors",
    "catalogue_dir": "model_profiles.loader",
    "load_catalogue": "model_profiles.loader",
    "load_profile": "model_profiles.loader",
    "load_profile_file": "model_profiles.loader",
    "GENERATIVE_TASKS": "model_profiles.schema",
    "Architecture": "model_profiles.schema",
    "ModelProfile": "model_profiles.schema",
    "read_folder": "model_profiles.hf_folder",
    "resolve": "model_profiles.hf_folder",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
