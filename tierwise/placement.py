"""Where a model runs: the article's task -> model -> compute reasoning, made executable.

`candidates()` asks every registered tier (tierwise/tiers) to settle its settings for the model
and workload, or to say which limit or target it misses. `plan()` applies the hosting policy
and picks the cheapest candidate that meets the requirement, counting every line its stack is
billed for; an unknown price never decides silently (see `rank_by_cost`). Every step writes its
reasons into the plan. Nothing here knows a tier by name: that is each tier module's job.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from model_profiles import load_catalogue, load_profile
from model_profiles.loader import register_check
from model_profiles.schema import GENERATIVE_TASKS, ModelProfile, Task
from tierwise import tiers
from tierwise.contract import TierSettings
from tierwise.cost.bills import CostComponent, TierCost
from tierwise.cost.estimates import estimate
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.errors import TierwiseError
from tierwise.own_weights import explain as explain_own_weights
from tierwise.quant import check_profile_recipes, check_recipe
from tierwise.sizing import MemoryEstimate, check_context
from tierwise.tiers.base import Ask, Rejection
from tierwise.workload import Workload

# the catalogue sits below tierwise and knows no llama.cpp recipes: the planner, which every
# command and the CDK app go through, adds the check to every profile file read
register_check(check_profile_recipes)

Hosting = Literal["auto", "self", "managed"]
HOSTING: tuple[str, ...] = get_args(Hosting)
DEFAULT_REGION = "us-east-1"


class Placement(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: str
    tier: str
    quant: str | None
    context: int
    settings: SerializeAsAny[TierSettings]
    reasons: list[str]
    rejected: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    profile: ModelProfile
    memory: MemoryEstimate | None = None
    workload: Workload = Field(default_factory=Workload)
    region: str = DEFAULT_REGION
    tokens_per_second: float | None = Field(None, description="decode rate one request sees; None: not generative")
    prompt_tokens_per_second: float | None = None
    time_to_first_token_s: float | None = None
    seconds_per_request: float | None = Field(None, description="warm, p50: prompt + answer")
    cold_start_s: float | None = None
    capacity: dict[str, Any] = Field(default_factory=dict)
    target: dict[str, Any] = Field(default_factory=dict)
    hosting: str = "auto"
    monthly_cost_usd: float | None = None
    bill: list[CostComponent] = Field(default_factory=list, description="every line the stack is billed for")
    runner_up: dict[str, Any] | None = None

    @field_validator("tier")
    @classmethod
    def _registered(cls, value: str) -> str:
        return tiers.get(value).id

    @model_validator(mode="before")
    @classmethod
    def _typed_settings(cls, values: Any) -> Any:
        # a dict of settings becomes the tier's settings model (and is checked against it)
        if isinstance(values, dict) and "tier" in values and isinstance(values.get("settings"), dict):
            values = {**values, "settings": tiers.get(values["tier"]).settings(values["settings"])}
        return values

    def module(self) -> tiers.TierModule:
        return tiers.get(self.tier)

    def streaming(self) -> tuple[bool, str]:
        """Whether a client of the deployed model gets tokens as they are generated, and how."""
        if self.tokens_per_second is None:
            return False, "a predictive model answers once: there are no tokens to stream"
        return self.module().streaming

    def contract(self) -> dict[str, Any]:
        """The `tierwise plan --json` contract."""

        def r(value: float | None, digits: int = 2) -> float | None:
            return None if value is None else round(value, digits)

        out = {
            "model": self.model,
            "tier": self.tier,
            "quant": self.quant,
            "context": self.context,
            "settings": self.settings.model_dump(),
            "reasons": self.reasons,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "tokens_per_second": r(self.tokens_per_second),
            "time_to_first_token_s": r(self.time_to_first_token_s, 3),
            "seconds_per_request": r(self.seconds_per_request, 3),
            "cold_start_s": r(self.cold_start_s, 1),
            "capacity": self.capacity,
            "target": self.target,
            "hosting": self.hosting,
            "region": self.region,
            "monthly_cost_usd": r(self.monthly_cost_usd),
            "bill": [_bill_line(c) for c in self.bill],
            "runner_up": self.runner_up,
            "workload": self.workload.model_dump(),
            "streaming": self.streaming()[0],
            "streaming_via": self.streaming()[1],
        }
        if self.memory is not None:
            out["memory"] = self.memory.contract()
        return out


def _bill_line(c: CostComponent) -> dict[str, Any]:
    return {"name": c.name, "unit": c.unit, "monthly_quantity": c.monthly_quantity, "price": c.price,
            "monthly_cost_usd": None if c.monthly_cost is None else round(c.monthly_cost, 4),
            "price_key": c.price_key, "usage_based": c.usage_based, "estimated": not c.not_estimated}


def candidates(
    profile: ModelProfile,
    quant: str | None = None,
    context: int | None = None,
    workload: Workload | None = None,
    commitment: str | None = None,
    region: str = DEFAULT_REGION,
    prices: PriceBook | None = None,
) -> dict[str, Placement | str]:
    """Every registered tier: a Placement it would get, or the reason it cannot take the model."""
    workload = workload or Workload()
    book = prices or load_prices()
    recipe = check_recipe(quant or profile.default_quant) if profile.architecture else None
    ctx = check_context(profile, context) if profile.architecture else (context or 4096)
    target = workload.target(profile.generative)
    ask = Ask(profile, recipe, ctx, workload, target, book, region, commitment)
    out: dict[str, Placement | str] = {}
    for module in tiers.modules():
        try:
            if module.hosting == "self" and profile.architecture is None:
                raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
            opt = module.settle(ask)
        except Rejection as exc:
            out[module.id] = str(exc)
            continue
        out[module.id] = Placement(
            model=profile.name, tier=module.id, quant=opt.quant, context=ctx, settings=module.settings(opt.settings),
            reasons=opt.reasons, warnings=opt.warnings, profile=profile, memory=opt.memory, workload=workload,
            region=region,
            tokens_per_second=opt.speed.decode_tokens_per_second if opt.speed and profile.generative else None,
            prompt_tokens_per_second=opt.speed.prompt_tokens_per_second if opt.speed else None,
            time_to_first_token_s=opt.ttft, seconds_per_request=opt.seconds, cold_start_s=opt.cold_start_s,
            capacity={"peak_factor": workload.peak_factor, **opt.capacity}, target=target.contract(),
        )
    return out


def tier_cost(p: Placement, region: str | None = None, prices: PriceBook | None = None) -> TierCost:
    """The monthly bill of a candidate's whole stack (tierwise.cost.bills.TierCost)."""
    return estimate(p, region or p.region, prices)


def _monthly_costs(feasible: dict[str, Placement], region: str, book: PriceBook) -> dict[str, TierCost]:
    return {tier: tier_cost(p, region, book) for tier, p in feasible.items()}


def rank_by_cost(costs: dict[str, tuple[float | None, float]]) -> tuple[list[str], bool]:
    """Tiers cheapest first by what is known, and whether that order is certain.

    A tier with an unknown price counts as its known part, a lower bound. The order is
    certain when the first tier's total is known and every tier with an unknown total has
    a lower bound at or above it (the lower bound already loses). Otherwise the first tier
    may not be the cheapest, and the caller says which price would settle it."""
    order = tiers.ids()

    def value(t: str) -> float:
        total, known = costs[t]
        return total if total is not None else known

    ranked = sorted(costs, key=lambda t: (value(t), costs[t][0] is None, order.index(t) if t in order else len(order)))
    first_total = costs[ranked[0]][0]
    certain = first_total is not None and all(
        costs[t][0] is not None or costs[t][1] >= first_total for t in ranked[1:]
    )
    return ranked, certain


def plan(
    profile: ModelProfile,
    quant: str | None = None,
    context: int | None = None,
    workload: Workload | None = None,
    tier: str | None = None,
    commitment: str | None = None,
    region: str = DEFAULT_REGION,
    task: str | None = None,
    hosting: str = "auto",
    prices: PriceBook | None = None,
) -> Placement:
    """The tier for this model and workload, its settings, why, and why not the others."""
    workload = workload or Workload()
    book = prices or load_prices()
    if tier is not None:
        tier = tiers.get(tier).id
    if hosting not in HOSTING:
        raise TierwiseError(f"unknown hosting {hosting!r}; allowed: {', '.join(HOSTING)}")
    if quant is not None and profile.architecture is None:
        raise TierwiseError(f"{profile.name} is served by Bedrock only; --quant does not apply to it")
    options = candidates(profile, quant, context, workload, commitment, region, book)
    feasible = {t: p for t, p in options.items() if isinstance(p, Placement)}
    rejected = {t: r for t, r in options.items() if isinstance(r, str)}
    warnings = []
    if task is not None:
        if task not in get_args(Task):
            raise TierwiseError(f"unknown task {task!r}; allowed: {', '.join(get_args(Task))}")
        if profile.generative and task not in GENERATIVE_TASKS:
            fitting = [p.name for p in load_catalogue().values() if p.task == task]
            instead = f"; a {task} model such as {', '.join(fitting)} needs no generative runtime" if fitting else ""
            warnings.append(
                f"{profile.name} is a generative model planned for a {task} task: a bulldozer to mow a lawn{instead}"
            )

    target = workload.target(profile.generative)
    if tier is not None:
        if tier not in feasible:
            raise TierwiseError(f"tier {tier} cannot serve {profile.name}: {rejected[tier]}")
        chosen = feasible[tier]
        why = [f"tier {tier} was asked for (--tier)"]
        cost = tier_cost(chosen, region, book)
        chosen = chosen.model_copy(update={"monthly_cost_usd": cost.monthly_usd, "bill": cost.components})
        for t in feasible:
            if t != tier:
                rejected[t] = f"feasible, but --tier asked for {tier}"
    else:
        pool = _policy_pool(profile, feasible, rejected, hosting)
        if not pool:
            detail = "; ".join(f"{t}: {r}" for t, r in rejected.items())
            raise TierwiseError(f"no tier can serve {profile.name} ({target.describe()}, hosting {hosting}): {detail}")
        bills_by_tier = _monthly_costs(pool, region, book)
        costs = {t: (c.monthly_usd, c.known_usd) for t, c in bills_by_tier.items()}
        ranked, certain = rank_by_cost(costs)
        first = ranked[0]
        total0, known0 = costs[first]
        if total0 is not None:
            why = [f"cheapest tier that meets the requirement ({target.describe()}) for "
                   f"{workload.requests_per_month:,} requests/month in {region}: ${total0:,.2f}/month (hosting {hosting})"]
        else:
            why = [f"lowest known cost that meets the requirement ({target.describe()}) for "
                   f"{workload.requests_per_month:,} requests/month in {region}: {first}, at least ${known0:,.2f}/month "
                   f"(hosting {hosting})"]
        if not certain:
            if total0 is None:
                missing = bills_by_tier[first].unknown
                others = [t for t in ranked[1:] if costs[t][0] is not None and costs[t][0] < known0 + 100]
                why.append(f"undecided in part: {first}'s total lacks {'; '.join(missing)}; its known part alone "
                           f"is the lowest figure" + (f" (and within $100 of {', '.join(others)})" if others else ""))
            doubt = [t for t in ranked[1:] if costs[t][0] is None and (total0 is None or costs[t][1] < total0)]
            for t in doubt:
                why.append(f"undecided: {t} could still be cheaper (${costs[t][1]:,.2f}/month known, missing "
                           f"{'; '.join(bills_by_tier[t].unknown)})")
        runner_up = None
        if len(ranked) > 1:
            runner = ranked[1]
            c1, k1 = costs[runner]
            runner_up = {
                "tier": runner,
                "monthly_cost_usd": None if c1 is None else round(c1, 2),
                "at_least_usd": round(k1, 2),
                "more_per_month_usd": None if total0 is None or c1 is None else round(c1 - total0, 2),
            }
        chosen = pool[first].model_copy(update={"monthly_cost_usd": total0, "runner_up": runner_up,
                                                "bill": bills_by_tier[first].components})
        warnings += _cheaper_elsewhere(feasible, pool, (total0, known0), region, book, hosting)
        for t in ranked[1:]:
            c, k = costs[t]
            cost_text = f"${c:,.2f}/month" if c is not None else f"at least ${k:,.2f}/month (a price is unknown)"
            rejected[t] = f"feasible, {cost_text} against {first}'s " + (
                f"${total0:,.2f}" if total0 is not None else "unpriced total")
    why += explain_own_weights(profile, options, chosen.tier, region, book)
    if not profile.generative:
        why.insert(0, f"task first: {profile.task} is predictive, so no generative model: a CPU tier that fits, priced per request")
    return chosen.model_copy(update={
        "reasons": why + chosen.reasons, "rejected": rejected, "warnings": warnings + chosen.warnings,
        "hosting": hosting,
    })


def _policy_pool(profile: ModelProfile, feasible: dict[str, Placement], rejected: dict[str, str],
                 hosting: str) -> dict[str, Placement]:
    """The tiers the hosting policy allows. `auto`: every tier, Bedrock on demand included;
    `self`: the tiers we host (private weights, network isolation, data residency);
    `managed`: Bedrock. A tier may also step aside from an automatic choice for a reason of its
    own (provisioned throughput where on demand serves the same model)."""
    pool = dict(feasible)
    for t in list(pool):
        module = tiers.get(t)
        if hosting == "self" and module.hosting == "managed":
            rejected[t] = f"--hosting self keeps to tiers we host (force it with --tier {t})"
            del pool[t]
        elif hosting == "managed" and module.hosting == "self":
            rejected[t] = f"--hosting managed keeps to Bedrock (force it with --tier {t})"
            del pool[t]
    for t in list(pool):
        reason = tiers.get(t).set_aside(profile, pool)
        if reason is not None:
            rejected[t] = reason
            del pool[t]
    return pool


def _cheaper_elsewhere(
    feasible: dict[str, Placement], pool: dict[str, Placement], chosen_usd: tuple[float | None, float], region: str,
    book: PriceBook, hosting: str,
) -> list[str]:
    """Say so when a tier the policy set aside would cost less, and by how much (at least, when
    a price of the chosen tier is unknown: its known part is a lower bound)."""
    chosen_total, chosen_known = chosen_usd
    bound = chosen_total if chosen_total is not None else chosen_known
    set_aside = {t: p for t, p in feasible.items() if t not in pool}
    out = []
    for tier, cost in _monthly_costs(set_aside, region, book).items():
        total = cost.monthly_usd
        if total is not None and total < bound:
            what = "a managed API" if tiers.get(tier).hosting == "managed" else "hosting it ourselves"
            against = f"${bound:,.2f}" if chosen_total is not None else f"at least ${bound:,.2f}"
            out.append(
                f"{tier} would cost ${total:,.2f}/month against {against} ({'at least ' if chosen_total is None else ''}"
                f"${bound - total:,.2f} more under --hosting {hosting}); choose it with --tier {tier} (-c tier={tier}) "
                f"if {what} is acceptable"
            )
    return out


def plan_by_name(name: str, **kwargs) -> Placement:
    return plan(load_profile(name), **kwargs)
