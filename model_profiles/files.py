"""Reading the small files of a model folder without trusting them: regular files only, a size
cap, strict JSON, and every failure as one ProfileError line naming the file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from model_profiles.errors import ProfileError

# config.json of the largest published models is tens of kilobytes; a model.safetensors.index.json
# lists one line per tensor (a 1,000-tensor model: ~100 KB). The caps leave room for 100x that
# and still refuse a file that is not what its name says before it is read into memory.
CONFIG_CAP_BYTES = 4 * 1024 * 1024
INDEX_CAP_BYTES = 64 * 1024 * 1024


def shown_path(path: Path | str, limit: int = 200) -> str:
    """A path as an error line shows it: quoted when it holds a control character, cut at `limit`."""
    text = str(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        text = repr(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def regular_file(path: Path, what: str) -> os.stat_result:
    """stat() of a regular file (following symlinks), or one line saying what `path` is instead."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ProfileError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a pipe, device or socket)"
        raise ProfileError(f"{what} {path} is {kind}; a model folder holds regular files")
    return st


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, what: str) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no key given twice (json's default keeps the last)."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ProfileError(f"{what} is not UTF-8 text") from None
    except RecursionError:
        raise ProfileError(f"{what} nests too deeply to be a model file") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        detail = " ".join(str(exc).split())[:120]
        raise ProfileError(f"{what} is not valid JSON: {detail}") from None


def read_json_object(path: Path, what: str, cap: int = CONFIG_CAP_BYTES) -> dict[str, Any]:
    st = regular_file(path, what)
    if st.st_size > cap:
        raise ProfileError(f"{what} {path} is {st.st_size:,} bytes, more than the {cap:,} such a file can need")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    data = parse_json(raw, f"{what} {path}")
    if not isinstance(data, dict):
        raise ProfileError(f"{what} {path} must hold a JSON object")
    return data
