"""The plan a tierwise stack carries in its template (``Metadata.tierwise``), written at synth and
read back by the cost review and the budget guard, so both price the workload that was planned
instead of guessing it again.

CloudFormation takes no floating-point numbers in template Metadata (cfn-lint E4002), so every
non-integer figure is a decimal string at full precision. Keys (camelCase, as CloudFormation
documents its own): ``model``, ``tier``, ``region`` (when the app knew it), ``hosting``,
``workload`` (``requestsPerMonth``, ``inputTokens``, ``outputTokens``, ``tokensPerSecondFloor``,
``maxSeconds``, ``batch``, ``peakFactor``, ``maxConcurrency``, ``peakHoursPerDay``,
``targetUtilization``), ``decodeTokensPerSecond``,
``promptTokensPerSecond``, ``secondsPerRequest`` (warm request time as planned),
``plannedInputTokens``, ``memoryMb``, ``monthlyCostUsd`` (the plan's bill of the whole stack),
``servingResourceTypes`` (the CloudFormation types of the resources that serve requests: the
review prices their usage, so it needs no tier registry and prices a template of a tier it does
not know), ``requestsPerSecondPerInstance`` (what one instance of a tier that grows in instances
serves at its operating concurrency: the review sizes the instances a workload needs from it).
A template without them (any other CDK app) is priced from flags, a usage file or cdk.json.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tierwise.errors import TierwiseError
from tierwise.workload import Workload

KEY = "tierwise"
# Workload field -> metadata key
WORKLOAD_KEYS = {
    "requests_per_month": "requestsPerMonth",
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "tokens_per_second_floor": "tokensPerSecondFloor",
    "max_seconds": "maxSeconds",
    "batch": "batch",
    "peak_factor": "peakFactor",
    "max_concurrency": "maxConcurrency",
    "peak_hours_per_day": "peakHoursPerDay",
    "target_utilization": "targetUtilization",
}


def _decimal(value: float) -> str:
    return repr(float(value))


def _value(value: Any) -> Any:
    """A metadata value CloudFormation accepts: ints and booleans as they are, floats as strings."""
    if isinstance(value, bool) or isinstance(value, int) or value is None or isinstance(value, str):
        return value
    return _decimal(value)


def planned_metadata(placement: Any, region: str | None) -> dict[str, Any]:
    """``Metadata.tierwise`` for the stack that deploys `placement` (a tierwise Placement)."""
    from tierwise import tiers  # the writer knows the tiers; the reader (the review) needs none

    memory_mb = getattr(placement.settings, "memory_mb", None)
    meta: dict[str, Any] = {"model": placement.model, "tier": str(placement.tier),
                            "servingResourceTypes": list(tiers.get(placement.tier).serving_resource_types)}
    for key, value in (("decodeTokensPerSecond", placement.tokens_per_second),
                       ("promptTokensPerSecond", placement.prompt_tokens_per_second)):
        if value is not None:
            meta[key] = _decimal(value)
    if memory_mb is not None:
        meta["memoryMb"] = int(memory_mb)
    if placement.seconds_per_request is not None:
        meta["secondsPerRequest"] = _decimal(placement.seconds_per_request)
        # a classifier's forward pass is linear in the prompt: the review scales it from here
        meta["plannedInputTokens"] = int(placement.workload.input_tokens)
    if region:
        meta["region"] = region
    meta["hosting"] = placement.hosting
    meta["workload"] = {WORKLOAD_KEYS[name]: _value(value) for name, value in placement.workload.model_dump().items()
                        if value is not None}
    if placement.monthly_cost_usd is not None:
        meta["monthlyCostUsd"] = _decimal(placement.monthly_cost_usd)
    per_instance = placement.capacity.get("requests_per_second_per_instance")
    if per_instance:
        # what one instance serves at its operating concurrency: the review sizes the instances
        # another workload needs from it (at that workload's target utilization)
        meta["requestsPerSecondPerInstance"] = _decimal(per_instance)
    return meta


@dataclass(frozen=True)
class PlannedStack:
    """What a template says it was planned for (each field None when the template does not say)."""

    model: str | None = None
    tier: str | None = None
    region: str | None = None
    hosting: str | None = None
    workload: Workload | None = None
    decode_tokens_per_second: float | None = None
    prompt_tokens_per_second: float | None = None
    seconds_per_request: float | None = None
    planned_input_tokens: int | None = None
    memory_mb: float | None = None
    monthly_cost_usd: float | None = None
    serving_resource_types: tuple[str, ...] = ()
    requests_per_second_per_instance: float | None = None


def _number(meta: Mapping[str, Any], key: str, where: str, *, positive: bool = True) -> float | None:
    raw = meta.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise TierwiseError(f"{where}: Metadata.tierwise.{key} is true/false; it must be a number")
    try:
        value = float(str(raw)[:64])
    except ValueError:
        raise TierwiseError(f"{where}: Metadata.tierwise.{key} is {str(raw)[:40]!r}; it must be a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise TierwiseError(f"{where}: Metadata.tierwise.{key} is {str(raw)[:40]}; it must be a finite number "
                            f"{'above' if positive else 'at least'} 0")
    return value


def read_planned(meta: Any, where: str) -> PlannedStack:
    """The plan recorded in a template's ``Metadata.tierwise`` (`where` names the template in
    errors): every figure checked, one error line for a value no plan could have written."""
    if not isinstance(meta, Mapping):
        return PlannedStack()
    workload = None
    recorded = meta.get("workload")
    if isinstance(recorded, Mapping):
        values = {name: recorded[key] for name, key in WORKLOAD_KEYS.items() if key in recorded}
        for name in ("tokens_per_second_floor", "max_seconds", "peak_factor", "peak_hours_per_day",
                     "target_utilization"):
            if isinstance(values.get(name), str):
                values[name] = _number(recorded, WORKLOAD_KEYS[name], where, positive=False)
        try:
            workload = Workload(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = WORKLOAD_KEYS.get(str(err["loc"][0]), str(err["loc"][0])) if err["loc"] else "workload"
            raise TierwiseError(f"{where}: Metadata.tierwise.workload.{key}: {err['msg']}") from None
    input_tokens = _number(meta, "plannedInputTokens", where)
    text = {k: meta.get(k) if isinstance(meta.get(k), str) else None for k in ("model", "tier", "region", "hosting")}
    serving = meta.get("servingResourceTypes")
    serving_types = tuple(t for t in serving if isinstance(t, str))[:16] if isinstance(serving, list) else ()
    return PlannedStack(
        model=text["model"], tier=text["tier"], region=text["region"], hosting=text["hosting"], workload=workload,
        decode_tokens_per_second=_number(meta, "decodeTokensPerSecond", where),
        prompt_tokens_per_second=_number(meta, "promptTokensPerSecond", where),
        seconds_per_request=_number(meta, "secondsPerRequest", where),
        planned_input_tokens=None if input_tokens is None else int(input_tokens),
        memory_mb=_number(meta, "memoryMb", where),
        monthly_cost_usd=_number(meta, "monthlyCostUsd", where, positive=False),
        serving_resource_types=serving_types,
        requests_per_second_per_instance=_number(meta, "requestsPerSecondPerInstance", where),
    )
