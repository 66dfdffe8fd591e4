"""A deployment's monthly bill before synth, from its plan: the tier's own lines (its module in
tierwise/tiers builds them with tierwise/cost/bills.py, the functions the template review uses)
and what the stack around it is billed for (its KMS key, its alarms).

Each tier is billed along different lines, and the workload decides which line dominates:
``lambda-gguf`` GB-seconds and requests; ``sagemaker-serverless`` GB-seconds and data processed;
``sagemaker-gpu`` instance-hours at the autoscaling minimum and data processed;
``bedrock-provisioned`` model-unit-hours; ``bedrock-on-demand`` tokens.

A price the file does not know makes ``monthly_usd`` None and is named in ``unknown``;
``known_usd`` still adds up what is known, so a report can say "at least".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierwise import tiers
from tierwise.contract import TierSettings
from tierwise.cost.bills import CostComponent, TierCost, request_seconds, total
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.tiers.base import Usage
from tierwise.workload import Workload


def _cost(tier: str, lines: list[CostComponent], region: str, seconds: float | None, requests: int,
          notes: list[str]) -> TierCost:
    monthly, known, unknown = total(lines)
    if seconds is None and tiers.get(tier).bills_request_time() and requests > 0:
        unknown.append("tokens per second unknown, so request duration is unknown")
    return TierCost(tier=tier, region=region, monthly_usd=monthly, known_usd=known, components=lines,
                    unknown=unknown, notes=notes,
                    request_seconds=seconds if tiers.get(tier).bills_request_time() else None)


def estimate_tier_cost(
    tier: str,
    settings: TierSettings | Mapping[str, Any],
    profile: Any,
    workload: Workload,
    region: str,
    tokens_per_second: float | None,
    *,
    prompt_tokens_per_second: float | None = None,
    seconds_per_request: float | None = None,
    prices: PriceBook | None = None,
) -> TierCost:
    """The tier's own monthly bill (the resources that run the model, not the stack around
    them) for ``settings`` and ``workload`` in ``region``.

    How long a request bills (Lambda, serverless) is ``seconds_per_request`` when given (a
    classifier's forward pass), else prompt tokens / ``prompt_tokens_per_second`` + output
    tokens / ``tokens_per_second``. ``profile`` is accepted for callers that have one; the bill
    does not depend on it.
    """
    module = tiers.get(tier)
    book = prices or load_prices()
    notes: list[str] = []
    if seconds_per_request is not None:
        seconds: float | None = seconds_per_request
    else:
        seconds, notes = request_seconds(workload, tokens_per_second, prompt_tokens_per_second)
    lines = module.bill(module.settings(settings), Usage(workload, seconds), book, region)
    return _cost(module.id, lines, region, seconds, workload.requests_per_month, notes)


def estimate(placement: Any, region: str | None = None, prices: PriceBook | None = None) -> TierCost:
    """The monthly bill of the whole stack that deploys `placement`: the tier's lines, then the
    stack's own (what `tierwise cost` of the synthesized stack prices, line for line)."""
    module = tiers.get(placement.tier)
    book = prices or load_prices()
    region = region or placement.region
    usage = Usage(placement.workload, placement.seconds_per_request)
    lines = module.bill(placement.settings, usage, book, region) + module.stack_bill(book, region)
    return _cost(module.id, lines, region, placement.seconds_per_request, placement.workload.requests_per_month, [])
