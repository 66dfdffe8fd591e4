"""How a message names an option: the flag on the command line (`--max-seconds`), the context
key in the CDK app (`-c max_seconds=…`).

The planner and the tier modules write their reasons once; the same rejection reaches a user of
`tierwise plan` and of `cdk synth`, and each must be told what they can type. The CDK app plans
inside `context_keys()` (stacks/app_context.py); everything else is the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_AS_CONTEXT: ContextVar[bool] = ContextVar("tierwise_options_as_context_keys", default=False)


def option(name: str, value: Any = None) -> str:
    """`name` (a context key, snake_case) as the user types it, with `value` when given:
    `--tier sagemaker-gpu` / `-c tier=sagemaker-gpu`; a switch (value True) is `--batch` /
    `-c batch=true`; no value is `--max-seconds` / `-c max_seconds=…`."""
    if _AS_CONTEXT.get():
        shown = "true" if value is True else "…" if value is None else value
        return f"-c {name}={shown}"
    flag = "--" + name.replace("_", "-")
    return flag if value is None or value is True else f"{flag} {value}"


def as_context_keys() -> bool:
    return _AS_CONTEXT.get()


@contextmanager
def context_keys() -> Iterator[None]:
    """Messages made inside name context keys (the CDK app reading `-c` and cdk.json)."""
    token = _AS_CONTEXT.set(True)
    try:
        yield
    finally:
        _AS_CONTEXT.reset(token)
