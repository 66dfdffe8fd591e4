"""What every reader of a file or a value a user hands tierwise shares, so that each says the
same thing about the same mistake, in one line, and none of them can be made to hang, to eat
the machine's memory or to print a traceback.

- ``read_text``: a regular file only (a FIFO would block the read forever, ``/dev/zero`` never
  ends, a folder or a symlink loop is not a file), at most a given number of bytes, strict UTF-8.
- ``load_yaml``: PyYAML's safe constructor without what even the safe loader lets through:
  anchors and aliases (a "billion laughs" alias bomb of a few hundred bytes expands to
  gigabytes as soon as anything walks it), duplicate keys (PyYAML keeps the last one silently),
  merge keys (``<<``, which only make sense with aliases), and integers longer than Python
  converts (a ValueError from deep inside the constructor).
- ``load_json``: ``json.loads`` with the same integer rule and the error as one line.
- ``shown`` / ``quoted``: a value cut to a readable length for an error line, without ever
  building the whole text of a huge value (``str`` of a 5,000-digit integer raises; ``repr`` of
  a 2 GB structure is 2 GB).

It lives in model_profiles because that is the bottom of the data path: the catalogue reads its
profiles through it, and model_profiles may import nothing above it. tierwise reads usage files,
templates, manifests, cdk.json and price files through the same functions. Each function takes
the exception class to raise (``ProfileError`` here, ``TierwiseError`` in tierwise), so callers
keep their own error type.
"""

from __future__ import annotations

import codecs
import json
import os
import reprlib
import stat
import sys
from collections.abc import Callable, Hashable
from typing import Any

import yaml

ErrorType = Callable[[str], Exception]

# How much of a value an error line repeats: enough to recognise it, short enough that the line
# stays readable in a terminal.
VALUE_WIDTH = 80
# Paths are shown longer (the file name is at the end); Linux allows 4,096 bytes.
PATH_WIDTH = 240

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def int_digits_max() -> int:
    """The longest decimal integer Python converts (``sys.get_int_max_str_digits``; 4,300 by
    default, 0 meaning no limit). Every number tierwise reads is bounded far below it."""
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    return limit or 4300


# --- showing values -----------------------------------------------------------------------------


def _approx_digits(value: int) -> int:
    # bit_length * log10(2), without converting the integer to text (which raises past 4,300 digits)
    return max(1, int(abs(value).bit_length() * 0.30102999566398120) + 1)


def _text(value: Any, width: int) -> tuple[str, int | None, str]:
    """(the start of the value's text, its full length when cut or None, the unit of that length)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return str(value).lower() if isinstance(value, bool) else str(value), None, ""
    if isinstance(value, int):
        digits = _approx_digits(value)
        if digits + 1 >= int_digits_max():  # str() would raise: describe it without its digits
            return ("-" if value < 0 else "") + f"an integer of about {digits:,} digits", None, ""
        text = str(value)
        return (text, None, "") if len(text) <= width else (text[:width], len(text), "characters")
    if isinstance(value, str):
        return (value, None, "") if len(value) <= width else (value[:width], len(value), "characters")
    # a structure: reprlib bounds every level, so a 2 GB list costs what its first items cost
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxtuple, short.maxset = 3, 4, 4, 4, 4
    short.maxstring, short.maxother, short.maxlong = width, width, width
    try:
        text = short.repr(value)
    except ValueError:  # an integer inside past Python's conversion limit
        text = f"a {type(value).__name__} holding a huge integer"
    return text, None, ""


def shown(value: Any, width: int = VALUE_WIDTH) -> str:
    """``value`` as the user gave it, cut to about ``width`` characters: the start, an ellipsis
    and the full length (``10000000000... (401 characters)``), so the line stays readable."""
    text, length, unit = _text(value, width)
    if length is not None:
        return f"{text}... ({length:,} {unit})"
    return text if len(text) <= width else text[:width] + "..."


def quoted(value: Any, width: int = VALUE_WIDTH) -> str:
    """``shown`` in quotes, for names and keys (``'llama3-8bbbb'...  (100,000 characters)``)."""
    if not isinstance(value, str):
        return shown(value, width)
    if len(value) <= width:
        return repr(value)
    return f"{value[:width]!r}... ({len(value):,} characters)"


# --- files --------------------------------------------------------------------------------------


def read_text(path: str | os.PathLike, what: str, max_bytes: int, why: str, error: ErrorType) -> str:
    """The text of the regular file at ``path``, at most ``max_bytes`` bytes of UTF-8 (a byte-order
    mark is dropped); anything else is one ``error`` naming ``what`` and the path."""
    name = shown(os.fspath(path), PATH_WIDTH)
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it has no
    # effect on regular files, and anything that is not one is refused before the first read.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"cannot read {what} {name}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((label for test, label in _KINDS if test(info.st_mode)), "not a file")
            raise error(f"{what} {name} is {kind}, not a regular file; give a file")
        if info.st_size > max_bytes:
            raise error(f"{what} {name} is {info.st_size:,} bytes; at most {max_bytes:,} are read ({why})")
        # read one byte past the cap: a file that grows while read (or a /proc file, whose size
        # says 0) is still held to it
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise error(f"cannot read {what} {name}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise error(f"{what} {name} is over {max_bytes:,} bytes; at most {max_bytes:,} are read ({why})")
    data = b"".join(chunks)
    if data.startswith(codecs.BOM_UTF8):  # what Windows editors put first; not part of the text
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{what} {name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None


def check_path_usable(path: str | os.PathLike, what: str, error: ErrorType) -> None:
    """One ``error`` line when the operating system refuses the path itself (a name too long, a
    symlink loop, no permission to look), where ``Path.is_dir()`` and friends would raise; a
    path that merely does not exist is left to the caller to name."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise error(f"cannot use {what} {shown(os.fspath(path), PATH_WIDTH)}: {exc.strerror}") from None


# --- YAML ---------------------------------------------------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: ~10x faster


class _Refused(Exception):
    """A YAML construct refused while loading; carries the one-line reason."""


class _StrictLoader(_Loader):  # type: ignore[misc, valid-type]
    """The safe loader, refusing duplicate keys, merge keys and integers Python cannot convert."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if not isinstance(node, yaml.MappingNode):
            raise _Refused(f"line {node.start_mark.line + 1}: expected a mapping")
        mapping: dict = {}
        first_line: dict = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(f"line {line}: merge keys (<<) are not allowed; write the keys out")
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise _Refused(f"line {line}: a key must be a plain value, not a list or a mapping")
            if key in mapping:
                raise _Refused(
                    f"line {line}: duplicate key {quoted(key)} (first at line {first_line[key]}); "
                    "each key may appear once"
                )
            first_line[key] = line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        body = self.construct_scalar(node).replace("_", "").lstrip("+-")
        if body[:2].lower() in ("0x", "0o", "0b"):
            body = body[2:]
        digits = sum(ch.isalnum() for ch in body)
        if digits > int_digits_max():
            raise _Refused(
                f"line {node.start_mark.line + 1}: an integer of {digits:,} digits; "
                f"at most {int_digits_max():,} are read (no figure tierwise takes is near that)"
            )
        return super().construct_yaml_int(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def _refuse_aliases(text: str) -> None:
    """Anchors and aliases are refused from the event stream, before anything is composed: an
    alias bomb never gets the chance to expand."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                f"line {event.start_mark.line + 1}: YAML anchors and aliases (&name, *name) are not "
                "allowed; write the value out"
            )


def load_yaml(text: str, origin: str, error: ErrorType) -> Any:
    """The data of one YAML document, or one ``error`` line starting with ``origin``."""
    try:
        _refuse_aliases(text)
        loader = _StrictLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _Refused as exc:
        raise error(f"{origin}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise error(f"{origin} is not valid YAML ({where}{problem})") from None
    except RecursionError:
        raise error(f"{origin} nests too deeply to be read") from None


# --- JSON ---------------------------------------------------------------------------------------


def _int(text: str) -> int:
    if len(text.lstrip("-")) > int_digits_max():
        raise _Refused(
            f"holds an integer of {len(text.lstrip('-')):,} digits; at most {int_digits_max():,} are read "
            "(no figure tierwise takes is near that)"
        )
    return int(text)


def load_json(text: str, origin: str, error: ErrorType) -> Any:
    """The data of a JSON document, or one ``error`` line starting with ``origin``."""
    try:
        return json.loads(text, parse_int=_int)
    except _Refused as exc:
        raise error(f"{origin} {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{origin} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise error(f"{origin} nests too deeply to be a CloudFormation or CDK document") from None
