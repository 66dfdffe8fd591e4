"""The tier registry: every tier tierwise can place a model on, one module each.

``get(tier_id)`` is the tier's module (tierwise.tiers.base.TierModule): its fit, speed and
capacity (``settle``), its bill, cold start, limits, streaming, options, the stack parts it is
billed for and the construct that deploys it. Placement, compare, validation, the client and
the cost review ask the registry; nothing else branches on a tier id. An id not registered is
an error naming the tiers that are, never another tier's code.

The built-in tiers register in the order used to break ties when prices cannot rank them
(pay-per-use CPU, then an always-on GPU and its asynchronous form, then Bedrock capacity, on
demand and batch). ``register`` adds a tier
(a plug-in, or a test's toy tier); ``registered`` does it for the length of a ``with`` block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tierwise.errors import TierwiseError
from tierwise.tiers.base import TierModule

_REGISTRY: dict[str, TierModule] = {}


def register(module: TierModule) -> TierModule:
    """Add `module` as the tier `module.id` (an id already registered is an error)."""
    if not isinstance(module, TierModule):
        raise TypeError(f"a tier is a tierwise.tiers.base.TierModule, not {type(module).__name__}")
    if module.id in _REGISTRY:
        raise ValueError(f"tier {module.id!r} is already registered")
    _REGISTRY[module.id] = module
    return module


def unregister(tier_id: str) -> None:
    _REGISTRY.pop(tier_id, None)


@contextmanager
def registered(module: TierModule) -> Iterator[TierModule]:
    """`module` registered inside the block, removed after it."""
    register(module)
    try:
        yield module
    finally:
        unregister(module.id)


def get(tier: str) -> TierModule:
    """The module of the tier a user or a template named, or one line saying which tiers exist."""
    module = _REGISTRY.get(str(tier))
    if module is None:
        raise TierwiseError(f"unknown tier {str(tier)[:60]!r}; allowed: {', '.join(_REGISTRY)}")
    return module


def get_or_none(tier: object) -> TierModule | None:
    return _REGISTRY.get(tier) if isinstance(tier, str) else None


def modules() -> tuple[TierModule, ...]:
    """Every registered tier, in tie-break order."""
    return tuple(_REGISTRY.values())


def ids() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def is_tier(value: object) -> bool:
    return isinstance(value, str) and value in _REGISTRY


def reading(option: str) -> tuple[str, ...]:
    """The tiers that read `option` (a context option such as model_uri, or quant, commitment)."""
    return tuple(m.id for m in _REGISTRY.values() if option in m.options)


def options() -> frozenset[str]:
    """Every option some tier reads."""
    return frozenset().union(*(m.options for m in _REGISTRY.values()))


def _register_builtins() -> None:
    from tierwise.tiers import (
        bedrock_batch, bedrock_custom, bedrock_on_demand, bedrock_provisioned, lambda_gguf, sagemaker_async,
        sagemaker_gpu, sagemaker_serverless,
    )

    for module in (lambda_gguf, sagemaker_serverless, sagemaker_gpu, sagemaker_async, bedrock_provisioned,
                   bedrock_on_demand, bedrock_batch, bedrock_custom):
        register(module.TIER)


_register_builtins()
