"""CDK stacks: ModelStack turns one Placement into a deployable stack; app_context reads
`cdk -c` context into plans before any construct exists."""

from __future__ import annotations

from typing import Any

__all__ = ["ModelStack"]


def __getattr__(name: str) -> Any:
    if name == "ModelStack":
        from stacks.model_stack import ModelStack

        return ModelStack
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
