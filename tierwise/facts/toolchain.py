"""The toolchain the CDK app runs on: which Node.js lines jsii supports, and which end-of-life
line tierwise is tested on (tierwise/data/toolchain.yaml)."""

from __future__ import annotations

from functools import cache

from tierwise.facts.base import _Fact, _typed


class NodeSupport(_Fact):
    supported: tuple[int, ...]
    silenced: tuple[int, ...]
    end_of_life: dict[int, str]
    source: str
    taken: str


@cache
def node_support() -> NodeSupport:
    return _typed("toolchain", NodeSupport, "node")
