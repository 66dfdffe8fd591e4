"""Tiers side by side: each feasible tier's bill at the workload, its cost as a line in requests
per month (fixed + per request), break-even volumes between tiers, and the structures `tierwise
compare` prints and charts (tierwise/cost/compare_cli.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tierwise import tiers
from tierwise.cost.bills import TierCost
from tierwise.cost.estimates import estimate
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.workload import Workload

# Requests per month at which the per-request slope of a tier is measured.
_SLOPE_REQUESTS = 1_000_000


class LinearCost(BaseModel):
    """cost(requests) = fixed_usd + per_request_usd * requests, for one tier."""

    model_config = ConfigDict(frozen=True)

    tier: str
    fixed_usd: float | None
    per_request_usd: float | None

    def at(self, requests_per_month: float) -> float | None:
        if self.fixed_usd is None or self.per_request_usd is None:
            return None
        return self.fixed_usd + self.per_request_usd * requests_per_month


def linear_cost(
    estimate: Callable[[Workload], TierCost], workload: Workload, tier: str, *, known_only: bool = False
) -> LinearCost:
    """Fit the (exactly linear) cost of a tier from two evaluations of ``estimate``.

    ``known_only`` fits the known part instead: a lower bound when some price is unknown.
    """
    def cost(requests: int) -> float | None:
        tc = estimate(workload.model_copy(update={"requests_per_month": requests}))
        return tc.known_usd if known_only else tc.monthly_usd

    at_zero = cost(0)
    at_ref = cost(_SLOPE_REQUESTS)
    slope = None if at_zero is None or at_ref is None else (at_ref - at_zero) / _SLOPE_REQUESTS
    return LinearCost(tier=tier, fixed_usd=at_zero, per_request_usd=slope)


def break_even_requests(a: LinearCost, b: LinearCost) -> float | None:
    """Requests per month at which ``a`` and ``b`` cost the same (None: never, or unknown)."""
    if None in (a.fixed_usd, a.per_request_usd, b.fixed_usd, b.per_request_usd):
        return None
    slope_gap = a.per_request_usd - b.per_request_usd  # type: ignore[operator]
    if abs(slope_gap) < 1e-15:
        return None
    requests = (b.fixed_usd - a.fixed_usd) / slope_gap  # type: ignore[operator]
    return requests if requests > 0 else None


class TierOption(BaseModel):
    """One tier in a comparison: what it costs and what it gives up, or why it cannot run."""

    model_config = ConfigDict(frozen=True)

    tier: str
    feasible: bool
    rejected_because: str | None = None
    cost: TierCost | None = None
    line: LinearCost | None = None
    known_line: LinearCost | None = Field(None, description="lower bound from the known prices only")
    tokens_per_second: float | None = None
    seconds_per_request: float | None = None
    cold_start_s: float | None = None
    cold_start: str = ""
    cannot: list[str] = Field(default_factory=list)
    chosen: bool = False


class BreakEven(BaseModel):
    model_config = ConfigDict(frozen=True)

    tiers: tuple[str, str]
    requests_per_month: float
    cheaper_below: str
    cheaper_above: str


class VolumeStep(BaseModel):
    """Every tier's monthly cost at one volume, re-planned for that load (GPU instances are
    added as the load grows, so a tier's cost is a step function of volume)."""

    model_config = ConfigDict(frozen=True)

    requests_per_month: int
    monthly_cost_usd: dict[str, float | None] = Field(description="tier -> total; None: infeasible or unpriced")
    known_usd: dict[str, float] = Field(description="tier -> known part (a lower bound)")
    instances: dict[str, int] = Field(default_factory=dict, description="GPU instances running at this load")


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    region: str
    workload: Workload
    chosen_tier: str | None
    options: list[TierOption]
    break_evens: list[BreakEven]
    steps: list[VolumeStep] = Field(default_factory=list)
    self_vs_managed: list[BreakEven] = Field(
        default_factory=list, description="volumes where the cheapest self-hosted tier and Bedrock on demand swap")

    def feasible(self) -> list[TierOption]:
        return [o for o in self.options if o.feasible]


def compare_tiers(
    candidates: Mapping[str, Any],
    workload: Workload,
    region: str,
    *,
    chosen_tier: str | None = None,
    model: str = "",
    prices: PriceBook | None = None,
) -> Comparison:
    """Every candidate tier side by side, with break-even requests/month between feasible ones.

    ``candidates`` maps tier -> a Placement or a rejection reason (str), as
    ``tierwise.placement.candidates`` returns. Each tier is billed as ``plan`` bills it: the
    whole stack (tierwise.cost.estimates.estimate), at its settings for this workload.
    """
    book = prices or load_prices()
    options: list[TierOption] = []
    for tier, placement in candidates.items():
        if isinstance(placement, str) or placement is None:
            options.append(TierOption(tier=tier, feasible=False, rejected_because=str(placement),
                                      chosen=tier == chosen_tier))
            continue

        def bill(w: Workload, _p=placement) -> TierCost:
            return estimate(_p.model_copy(update={"workload": w}), region, book)

        cost = bill(workload)
        module = tiers.get(tier)
        seconds_cold, what = module.cold_start(placement.settings)
        options.append(
            TierOption(
                tier=tier,
                feasible=True,
                cost=cost,
                line=linear_cost(bill, workload, tier),
                known_line=linear_cost(bill, workload, tier, known_only=True),
                tokens_per_second=placement.tokens_per_second,
                seconds_per_request=placement.seconds_per_request,
                cold_start_s=seconds_cold,
                cold_start=what,
                cannot=module.limitations(placement.settings, cost.request_seconds),
                chosen=tier == chosen_tier,
            )
        )
    breaks: list[BreakEven] = []
    lines = [o.line for o in options if o.feasible and o.line is not None]
    for i, a in enumerate(lines):
        for b in lines[i + 1:]:
            r = break_even_requests(a, b)
            if r is None:
                continue
            # Below the crossing the tier with the smaller fixed cost is cheaper.
            low, high = (a, b) if (a.fixed_usd or 0) <= (b.fixed_usd or 0) else (b, a)
            breaks.append(BreakEven(tiers=(a.tier, b.tier), requests_per_month=r,
                                    cheaper_below=low.tier, cheaper_above=high.tier))
    breaks.sort(key=lambda be: be.requests_per_month)
    return Comparison(model=model, region=region, workload=workload, chosen_tier=chosen_tier,
                      options=options, break_evens=breaks)
