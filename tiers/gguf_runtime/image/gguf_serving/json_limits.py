"""JSON decoding with the limits a request body needs, each a 400 instead of a crash.

Python's decoder turns deep nesting into RecursionError and an integer over 4,300 digits
into ValueError (its int-conversion limit), neither of which is a JSONDecodeError: before
this module both ended as a 500 on SageMaker and crashed the Lambda loop. NaN and Infinity
are not JSON (RFC 8259) although Python accepts them.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import RequestError

# The deepest a legitimate request goes is a JSON schema in response_format; 64 levels
# leave room for any schema a grammar can follow.
MAX_JSON_DEPTH = 64
# 2**64 has 20 digits; no request field needs a bigger number.
MAX_INT_DIGITS = 20


def _too_deep() -> RequestError:
    return RequestError(f"request body is nested too deeply; JSON here may be at most {MAX_JSON_DEPTH} "
                        f"levels deep", code="nested_too_deep")


def _integer(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise RequestError(f"request body holds a {digits}-digit integer; numbers in a request have at "
                           f"most {MAX_INT_DIGITS} digits", code="integer_too_long")
    return int(text)


def _constant(name: str) -> Any:
    raise RequestError(f"request body is not valid JSON: {name} is not a JSON number", code="nan_or_infinity")


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def check_depth(value: Any) -> Any:
    """``value`` (already decoded, e.g. a Lambda event) unless it nests deeper than MAX_JSON_DEPTH."""
    if depth_exceeds(value, MAX_JSON_DEPTH):
        raise _too_deep()
    return value


def loads(text: str | bytes) -> Any:
    """Decode a request body or Lambda event; every failure is a RequestError with a code:
    invalid_json, nested_too_deep, integer_too_long or nan_or_infinity."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(f"request body is not UTF-8 text: {exc}", code="invalid_json") from None
    try:
        value = json.loads(text, parse_int=_integer, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        # the C decoder counts its nesting against the interpreter's recursion limit
        raise _too_deep() from None
    return check_depth(value)
