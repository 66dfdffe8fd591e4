"""Read catalogue files into ModelProfile objects, with errors a user can act on."""

from __future__ import annotations

import difflib
import os
from functools import cache
from typing import Callable
from pathlib import Path

from pydantic import ValidationError

from model_profiles.errors import ProfileError
from model_profiles.schema import ModelProfile
from model_profiles.userinput import load_yaml, quoted, read_text, shown

# The most bytes of one profile read: the catalogue's largest is 2,385 bytes (llama3.2-3b, its
# GGUF files listed with sizes and sha256), so 1 MiB is over 400 times that, parses in a
# fraction of a second, and stops a profile that is huge by mistake before it fills memory.
PROFILE_MAX_BYTES = 1 << 20


def catalogue_dir() -> Path:
    """The bundled catalogue, or the folder TIERWISE_CATALOGUE names (a team's own profiles)."""
    override = os.environ.get("TIERWISE_CATALOGUE")
    if override:
        path = Path(override)
        if not path.is_dir():
            raise ProfileError(f"TIERWISE_CATALOGUE={shown(override, 240)} is not a folder of model profiles")
        return path
    return Path(__file__).resolve().parent / "catalogue"


def load_profile_file(path: str | Path) -> ModelProfile:
    """One profile: a regular file of at most PROFILE_MAX_BYTES, UTF-8, YAML without aliases or
    repeated keys, every field validated; any problem is one line naming the file."""
    path = Path(path)
    text = read_text(path, "model profile", PROFILE_MAX_BYTES,
                     "a profile is a few kilobytes; the catalogue's largest is 2,385 bytes", ProfileError)
    data = load_yaml(text, path.name, ProfileError)
    if not isinstance(data, dict):
        raise ProfileError(f"{path.name}: a model profile must be a YAML mapping of fields")
    try:
        profile = ModelProfile.model_validate(data)
    except ValidationError as exc:
        # an unknown field is the likeliest cause of the other errors (a misspelt required key)
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        err = errors[0]
        field = ".".join(str(p) for p in err["loc"]) or "(profile)"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        if err["type"] == "extra_forbidden":
            raise ProfileError(f"{path.name}: unknown field {quoted(field)}{more}") from None
        got = "" if isinstance(err.get("input"), (dict, list)) else f" (got {quoted(err.get('input'))})"
        raise ProfileError(f"{path.name}: field {quoted(field)}: {err['msg']}{got}{more}") from None
    if profile.name != path.stem:
        raise ProfileError(f"{path.name}: name {profile.name!r} must match the file name {path.stem!r}")
    for check in _CHECKS:
        check(profile, path)
    return profile


# Checks a layer above adds (tierwise registers its llama.cpp recipe names): the catalogue
# imports nothing of tierwise, and a check runs when a file is read, so a typo names the file
# and the field instead of surfacing later as a bare "unknown quantization" from `plan`.
_CHECKS: list[Callable[[ModelProfile, Path], None]] = []


def register_check(check: Callable[[ModelProfile, Path], None]) -> None:
    """Run ``check(profile, path)`` on every profile read from now on (it raises to refuse)."""
    if check not in _CHECKS:
        _CHECKS.append(check)
        _catalogue.cache_clear()


@cache
def _catalogue(directory: Path) -> dict[str, ModelProfile]:
    profiles = {}
    for path in sorted(directory.glob("*.yaml")):
        profile = load_profile_file(path)
        profiles[profile.name] = profile
    if not profiles:
        raise ProfileError(f"{directory} holds no model profiles: give a folder of <name>.yaml files")
    return profiles


def load_catalogue(directory: str | Path | None = None) -> dict[str, ModelProfile]:
    """Every profile in the catalogue, by name."""
    return dict(_catalogue(Path(directory) if directory else catalogue_dir()))


def load_profile(name: str, directory: str | Path | None = None) -> ModelProfile:
    catalogue = load_catalogue(directory)
    if name in catalogue:
        return catalogue[name]
    close = difflib.get_close_matches(name, list(catalogue), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ProfileError(
        f"unknown model {quoted(name)}; {hint}known models: {', '.join(sorted(catalogue))}"
    )
