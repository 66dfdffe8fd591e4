"""Where a model runs: the article's task -> model -> compute reasoning, made executable.

`candidates()` asks every registered tier (tierwise/tiers) to settle its settings for the model
and workload, or to say which limit or target it misses. `plan()` applies the hosting policy
and picks the cheapest candidate that meets the requirement, counting every line its stack is
billed for; an unknown price never decides silently (see `rank_by_cost`). Every step writes its
reasons into the plan. Nothing here knows a tier by name: that is each tier module's job.
"""

from __future__ import annotations

from collections import OrderedDict
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
from tierwise.naming import option
from tierwise.own_weights import explain as explain_own_weights
from tierwise.quant import check_profile_recipes, recipe_names
from tierwise.context import context_for_request
from tierwise.sizing import MemoryEstimate, check_context
from tierwise.tiers.base import P95_SHARE, Ask, Rejection, cold_request_share, p95_seconds
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
    notes: list[str] = Field(default_factory=list, description="context shown by plan --verbose")
    profile: ModelProfile
    memory: MemoryEstimate | None = None
    workload: Workload = Field(default_factory=Workload)
    region: str = DEFAULT_REGION
    tokens_per_second: float | None = Field(None, description="decode rate one request sees; None: not generative")
    prompt_tokens_per_second: float | None = None
    time_to_first_token_s: float | None = None
    seconds_per_request: float | None = Field(None, description="warm, p50: prompt + answer")
    cold_start_s: float | None = None
    cold_request_share: float | None = Field(0.0, description="requests that find no warm copy; None: unknown")
    p95_seconds_per_request: float | None = None
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
            "notes": self.notes,
            "tokens_per_second": r(self.tokens_per_second),
            "time_to_first_token_s": r(self.time_to_first_token_s, 3),
            "seconds_per_request": r(self.seconds_per_request, 3),
            "p95_seconds_per_request": r(self.p95_seconds_per_request, 3),
            "cold_request_share": r(self.cold_request_share, 4),
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
    instance_type: str | None = None,
    only: tuple[str, ...] | None = None,
    prefix: str = "--",
) -> dict[str, Placement | str]:
    """Every registered tier: a Placement it would get, or the reason it cannot take the model.

    Plans are pure functions of their inputs: `compare` re-plans the same model at many volumes,
    so results are kept (the profile and price book objects are held with them, so an id is
    never reused for another object while its entry lives)."""
    workload = workload or Workload()
    book = prices or load_prices()
    key = (id(profile), quant, context, workload, commitment, region, id(book), instance_type, only, prefix,
           tiers.ids())
    hit = _CANDIDATES.get(key)
    if hit is not None and hit[0] is profile and hit[1] is book:
        _CANDIDATES.move_to_end(key)
        return dict(hit[2])
    out = _candidates(profile, quant, context, workload, commitment, region, book, instance_type, only, prefix)
    _CANDIDATES[key] = (profile, book, out)
    if len(_CANDIDATES) > _CANDIDATES_MAX:
        _CANDIDATES.popitem(last=False)
    return dict(out)


_CANDIDATES: OrderedDict = OrderedDict()
_CANDIDATES_MAX = 4096


def _candidates(profile: ModelProfile, quant: str | None, context: int | None, workload: Workload,
                commitment: str | None, region: str, book: PriceBook, instance_type: str | None,
                only: tuple[str, ...] | None, prefix: str) -> dict[str, Placement | str]:
    asked = canonical_quant(quant, prefix) if profile.architecture else None
    recipe = (asked if asked in recipe_names() else profile.default_quant) if profile.architecture else None
    if profile.architecture is None:
        ctx = context or 4096
    elif context is not None:
        ctx = check_context(profile, context)
    else:
        ctx = context_for_request(profile, workload.input_tokens, workload.output_tokens if profile.generative else 0)
    target = workload.target(profile.generative)
    ask = Ask(profile, recipe, ctx, workload, target, book, region, commitment, quant=asked,
              instance_type=instance_type, prefix=prefix)
    out: dict[str, Placement | str] = {}
    for module in tiers.modules():
        if only is not None and module.id not in only:
            continue
        try:
            if module.hosting == "self" and profile.architecture is None:
                raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
            opt = module.settle(ask)
            typed = module.settings(opt.settings)
            share, p95, idle = _cold_requests(module, typed, workload, opt)
            if target.max_seconds is not None and p95 > target.max_seconds + 1e-9:
                raise Rejection(
                    f"its p95 request takes ~{p95:,.1f} s (a {opt.cold_start_s:,.0f} s cold start on top of "
                    f"{opt.seconds:,.1f} s warm: {idle}), over the {target.max_seconds:g} s target ({target.why})"
                )
        except Rejection as exc:
            out[module.id] = str(exc)
            continue
        out[module.id] = Placement(
            model=profile.name, tier=module.id, quant=opt.quant, context=ctx, settings=typed,
            reasons=opt.reasons, warnings=opt.warnings, notes=opt.notes, profile=profile, memory=opt.memory,
            workload=workload,
            region=region,
            tokens_per_second=opt.speed.decode_tokens_per_second if opt.speed and profile.generative else None,
            prompt_tokens_per_second=opt.speed.prompt_tokens_per_second if opt.speed else None,
            time_to_first_token_s=opt.ttft, seconds_per_request=opt.seconds, cold_start_s=opt.cold_start_s,
            cold_request_share=share, p95_seconds_per_request=p95,
            capacity={"peak_factor": workload.peak_factor, **opt.capacity}, target=target.contract(),
        )
    return out


def _cold_requests(module: tiers.TierModule, settings: TierSettings, workload: Workload,
                   opt: Any) -> tuple[float | None, float, str]:
    """(share of cold requests or None when unknown, p95 request seconds, the idle-time basis)."""
    idle = module.idle_seconds(settings)
    if idle is None:
        return 0.0, opt.seconds, "it keeps its capacity running"
    idle_s, basis = idle
    share = None if idle_s is None else cold_request_share(workload, idle_s)
    if share is None:
        basis = f"{basis}, so every request is counted as possibly cold"
    elif share > P95_SHARE:
        basis = f"{share:.0%} of requests find no warm copy ({basis})"
    return share, p95_seconds(opt.seconds, opt.cold_start_s, share), basis


def canonical_quant(quant: str | None, prefix: str = "--") -> str | None:
    """What --quant asked for, in its canonical spelling: a llama.cpp recipe (the GGUF tiers) or a
    precision a GPU tier serves; anything else is one error line naming both lists."""
    if quant is None:
        return None
    text = str(quant).strip()
    for module in tiers.modules():
        for known in module.quants():
            if known.lower() == text.lower():
                return known
    served = {}
    for module in tiers.modules():
        if module.quants():
            served.setdefault(module.quants(), []).append(module.id)
    allowed = "; ".join(f"{', '.join(values)} ({', '.join(ids)})" for values, ids in served.items())
    raise TierwiseError(f"{prefix}quant: unknown quantization {text[:40]!r}; allowed: {allowed}")


def tier_cost(p: Placement, region: str | None = None, prices: PriceBook | None = None) -> TierCost:
    """The monthly bill of a candidate's whole stack (tierwise.cost.bills.TierCost)."""
    return estimate(p, region or p.region, prices)


def _monthly_costs(feasible: dict[str, Placement], region: str, book: PriceBook) -> dict[str, TierCost]:
    return {tier: tier_cost(p, region, book) for tier, p in feasible.items()}


def rank_by_cost(costs: dict[str, tuple[float | None, float]]) -> tuple[list[str], bool]:
    """Tiers cheapest first, and whether the first one's total is known.

    Tiers with a known total come first, cheapest first; a tier whose price is unknown follows
    them, ranked by its known part (a lower bound). The order is certain when the first tier's
    total is known; when every total is unknown the caller says which price would settle it."""
    order = tiers.ids()

    def value(t: str) -> float:
        total, known = costs[t]
        return total if total is not None else known

    # a tier whose price is unknown is never ranked above a tier with a known total: its known part
    # is only a lower bound, and choosing it would deploy something nobody can say the cost of
    ranked = sorted(costs, key=lambda t: (costs[t][0] is None, value(t), order.index(t) if t in order else len(order)))
    first_total = costs[ranked[0]][0]
    certain = first_total is not None
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
    instance_type: str | None = None,
    prefix: str = "--",
) -> Placement:
    """The tier for this model and workload, its settings, why, and why not the others."""
    workload = workload or Workload()
    book = prices or load_prices()
    pinned_by = None
    if instance_type is not None and tier is None:
        # an instance type belongs to the tier that reads it: pinning one asks for that tier
        tier, pinned_by = tiers.reading("instance_type")[0], instance_type
    if tier is not None:
        tier = tiers.get(tier).id
    if hosting not in HOSTING:
        raise TierwiseError(f"unknown hosting {hosting!r}; allowed: {', '.join(HOSTING)}")
    if quant is not None and profile.architecture is None:
        raise TierwiseError(f"{profile.name} is served by Bedrock only; {option('quant')} does not apply to it")
    options = candidates(profile, quant, context, workload, commitment, region, book, instance_type=instance_type,
                         prefix=prefix)
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
        why = [f"tier {tier} was asked for ({option('tier', tier)})" if pinned_by is None else
               f"tier {tier}: instance type {pinned_by} is one of its instances"]
        cost = tier_cost(chosen, region, book)
        chosen = chosen.model_copy(update={"monthly_cost_usd": cost.monthly_usd, "bill": cost.components})
        for t in feasible:
            if t != tier:
                rejected[t] = f"feasible, but {option('tier', tier)} was asked for"
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
            if c is None and total0 is not None:
                rejected[t] = (f"feasible, but its price is unknown (at least ${k:,.2f}/month known, missing "
                               f"{'; '.join(bills_by_tier[t].unknown)}): a tier whose price is known goes first")
                continue
            cost_text = f"${c:,.2f}/month" if c is not None else f"at least ${k:,.2f}/month (a price is unknown)"
            rejected[t] = f"feasible, {cost_text} against {first}'s " + (
                f"${total0:,.2f}" if total0 is not None else "unpriced total")
    warnings += _out_of_proportion(chosen, profile, workload, region, book)
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
            rejected[t] = f"{option('hosting', 'self')} keeps to tiers we host (force it with {option('tier', t)})"
            del pool[t]
        elif hosting == "managed" and module.hosting == "self":
            rejected[t] = f"{option('hosting', 'managed')} keeps to Bedrock (force it with {option('tier', t)})"
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
                f"${bound - total:,.2f} more under {option('hosting', hosting)}); choose it with {option('tier', tier)} "
                f"if {what} is acceptable"
            )
    return out


# A bill is out of proportion at about a dollar a request, or at this many times what a managed
# model of similar ability in the catalogue would cost for the same workload (and a cent a
# request or more). "Similar ability":
# at least this share of the model's parameters, or a managed model whose size is undisclosed.
PER_REQUEST_ALARM_USD = 1.0
MANAGED_MULTIPLE_ALARM = 10.0
# below a cent a request no bill is called out of proportion, whatever the multiple
MULTIPLE_FLOOR_USD = 0.01
SIMILAR_PARAMETERS_SHARE = 0.25


def managed_alternatives(profile: ModelProfile, workload: Workload, region: str,
                         book: PriceBook) -> list[tuple[str, str, float]]:
    """(model, tier, monthly USD) of every other catalogue model of similar ability a managed,
    per-use tier serves for this workload at a known price, cheapest first."""
    out = []
    managed = [m for m in tiers.modules() if m.hosting == "managed" and m.billing == "per-use"]
    for other in load_catalogue().values():
        if other.name == profile.name or other.generative != profile.generative:
            continue
        if profile.parameters and other.parameters and other.parameters < profile.parameters * SIMILAR_PARAMETERS_SHARE:
            continue
        try:
            found = candidates(other, workload=workload, region=region, prices=book,
                               only=tuple(m.id for m in managed))
        except TierwiseError:
            continue  # the request does not fit that model
        for tier, p in found.items():
            if isinstance(p, Placement):
                cost = tier_cost(p, region, book)
                if cost.monthly_usd is not None:
                    out.append((other.name, tier, cost.monthly_usd))
    return sorted(out, key=lambda x: x[2])


def _out_of_proportion(chosen: Placement, profile: ModelProfile, workload: Workload, region: str,
                       book: PriceBook) -> list[str]:
    """A warning when the bill is out of proportion to the work: about a dollar a request or more,
    or many times what a managed model of similar ability would cost; it names the alternatives."""
    monthly, requests = chosen.monthly_cost_usd, workload.requests_per_month
    if monthly is None or requests == 0 or not profile.generative:
        return []
    per_request = monthly / requests
    alternatives = [a for a in managed_alternatives(profile, workload, region, book) if a[0] != chosen.model]
    cheapest = alternatives[0][2] if alternatives else None
    far_more = cheapest is not None and monthly >= cheapest * MANAGED_MULTIPLE_ALARM and per_request >= MULTIPLE_FLOOR_USD
    if per_request < PER_REQUEST_ALARM_USD and not far_more:
        return []
    named = "; ".join(f"{m} on {t} ${c:,.2f}/month (${c / requests:,.4f} a request)" for m, t, c in alternatives[:3])
    each = f"${per_request:,.2f}" if per_request >= 1 else f"${per_request:,.4f}"
    return [f"out of proportion: ${monthly:,.2f}/month for {requests:,} requests is {each} a request; "
            + (f"managed models of similar ability in the catalogue would serve this workload: {named}"
               if named else "no managed model of similar ability in the catalogue serves this workload")]


def plan_by_name(name: str, **kwargs) -> Placement:
    return plan(load_profile(name), **kwargs)
