"""Tiers side by side: each feasible tier's bill at the workload, its cost as a line in requests
per month (fixed + per request, for the chart), the volumes where the cheaper of two tiers
changes on the re-planned step functions (one break-even per pair, with its cause), and the
structures `tierwise compare` prints and charts (tierwise/cost/compare_cli.py)."""

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
    settings: dict[str, Any] = Field(default_factory=dict, description="what the tier would deploy")
    p95_seconds_per_request: float | None = None
    cold_request_share: float | None = None


class BreakEven(BaseModel):
    """Where the cheaper of two tiers changes as volume grows, found on the re-planned step
    functions: below `requests_per_month` `cheaper_below` wins, above it `cheaper_above`.
    `cause`: `cost` (the bills cross), `quota` (past an account quota the cheaper tier cannot
    carry the load) or `limit` (another limit of the tier: a latency target, a service maximum)."""

    model_config = ConfigDict(frozen=True)

    tiers: tuple[str, str]
    requests_per_month: float
    cheaper_below: str
    cheaper_above: str
    cause: str = "cost"
    why: str = ""


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
    break_evens: list[BreakEven] = Field(default_factory=list, description="one per pair of tiers whose order flips")
    steps: list[VolumeStep] = Field(default_factory=list)
    rejections: dict[int, dict[str, str]] = Field(default_factory=dict, description="volume -> tier -> why not")

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
                settings=placement.settings.model_dump(),
                p95_seconds_per_request=placement.p95_seconds_per_request,
                cold_request_share=placement.cold_request_share,
            )
        )
    return Comparison(model=model, region=region, workload=workload, chosen_tier=chosen_tier, options=options)


def _cheaper(step: VolumeStep, a: str, b: str) -> str | None:
    """Which of `a` and `b` serves this volume for less: a tier that cannot serve it loses; a
    total that is unknown decides nothing (None)."""
    ca, cb = step.monthly_cost_usd.get(a), step.monthly_cost_usd.get(b)
    fa, fb = a in step.known_usd, b in step.known_usd
    if fa and fb:
        if ca is None or cb is None or ca == cb:
            return None
        return a if ca < cb else b
    if fa and ca is not None:
        return a
    if fb and cb is not None:
        return b
    return None


def step_break_evens(steps: list[VolumeStep], at: Callable[[int], VolumeStep],
                     why_not: Callable[[int, str], str | None], bisections: int = 6) -> list[BreakEven]:
    """One break-even per pair of tiers: the lowest volume where the cheaper of the two changes,
    on the step functions (every tier re-planned at each volume; between two grid volumes where
    the order flips, bisection in log volume). Its cause says why the order flips: the bills
    cross (`cost`), or the tier that was cheaper cannot serve the higher volume (`quota` when an
    account quota stops it, `limit` for any other limit)."""
    names = [t for t in steps[0].monthly_cost_usd] if steps else []
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for lo, hi in zip(steps, steps[1:]):
                first, second = _cheaper(lo, a, b), _cheaper(hi, a, b)
                if first is None or second is None or first == second:
                    continue
                low, high = lo.requests_per_month, hi.requests_per_month
                for _ in range(bisections):
                    mid = int(round((low * high) ** 0.5))
                    if mid in (low, high):
                        break
                    side = _cheaper(at(mid), a, b)
                    if side == first:
                        low = mid
                    elif side == second:
                        high = mid
                    else:
                        break
                reason = why_not(high, first)
                cause = "cost" if reason is None else ("quota" if "quota" in reason else "limit")
                out.append(BreakEven(tiers=(a, b), requests_per_month=float(high), cheaper_below=first,
                                     cheaper_above=second, cause=cause, why=reason or ""))
                break
    return sorted(out, key=lambda be: be.requests_per_month)
