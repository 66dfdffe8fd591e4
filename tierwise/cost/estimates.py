"""Monthly cost of running one tier for a workload, priced from tierwise/data/prices.yaml.

Each tier is billed along different lines, and the workload decides which line dominates:

- ``lambda-gguf``: GB-seconds of the function's memory for as long as each request runs
  (prompt time + output tokens / tokens per second), requests, and /tmp beyond 512 MB;
- ``sagemaker-serverless``: GB-seconds of the endpoint's memory per request, plus data
  processed in and out;
- ``sagemaker-gpu``: instance-hours at the autoscaling minimum, around the clock
  (730 hours a month), plus data processed;
- ``bedrock-provisioned``: model-unit-hours at the commitment's rate, around the clock;
- ``bedrock-on-demand``: input and output tokens.

A price the file does not know makes the tier's ``monthly_usd`` None and is named in
``unknown``; ``known_usd`` still adds up what is known, so a report can say "at least".
All costs are linear in requests per month (no free tier, first pricing tier only), which
is what makes a break-even point between two tiers a single number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tierwise.contract import TIERS, TierSettings
from tierwise.errors import TierwiseError
from tierwise.facts import lambda_limits, realtime_limits, serverless_limits, speed_model
from tierwise.cost.prices import PriceBook, Quote, commitment_key, load_prices, price_key
from tierwise.workload import Workload

HOURS_PER_MONTH = 730.0  # AWS's own convention for monthly estimates (8,760 h / 12)
# Request and response bodies are text: about four bytes per token of English (the rule of
# thumb tokenizer documentation gives: a token is ~4 characters). Used only for the
# SageMaker "data processed" line, which is tiny next to compute.
BYTES_PER_TOKEN = 4
BYTES_PER_GB = 1024**3
LAMBDA_FREE_EPHEMERAL_MB = 512
# Requests per month at which the per-request slope of a tier is measured.
_SLOPE_REQUESTS = 1_000_000


class CostComponent(BaseModel):
    """One line of a bill: quantity per month times price per unit."""

    model_config = ConfigDict(frozen=True)

    name: str
    unit: str = Field(description="unit of the quantity, which the price is quoted per")
    monthly_quantity: float | None
    price: float | None = Field(description="USD per unit; None when the price is unknown")
    monthly_cost: float | None
    price_key: str | None = None
    source: str | None = None
    usage_based: bool = Field(False, description="the quantity comes from the workload")
    not_estimated: bool = Field(
        False,
        description="usage-based line with no usage modelled (like Infracost without a usage file): "
        "shown with its price, left out of totals",
    )


class TierCost(BaseModel):
    model_config = ConfigDict(frozen=True)

    tier: str
    region: str
    monthly_usd: float | None = Field(description="None when any price or quantity needed is unknown")
    known_usd: float = Field(description="the sum of the components whose cost is known")
    components: list[CostComponent]
    unknown: list[str] = Field(default_factory=list, description="what could not be priced, and why")
    notes: list[str] = Field(default_factory=list)
    request_seconds: float | None = Field(None, description="how long one request runs, where it bills")


def component(
    name: str,
    unit: str,
    quantity: float | None,
    quote: Quote | None,
    key: str,
    *,
    usage_based: bool = False,
) -> CostComponent:
    """A bill line; a zero quantity costs zero even when its price is unknown."""
    if quantity is None:
        cost = None
    elif quantity == 0:
        cost = 0.0
    elif quote is None:
        cost = None
    else:
        cost = quantity * quote.value
    return CostComponent(
        name=name,
        unit=unit,
        monthly_quantity=quantity,
        price=quote.value if quote else None,
        monthly_cost=cost,
        price_key=quote.key if quote else key,
        source=quote.source if quote else None,
        usage_based=usage_based,
    )


def total(components: list[CostComponent]) -> tuple[float | None, float, list[str]]:
    """(monthly total or None, known part, what is unknown) of a list of components."""
    known = 0.0
    unknown: list[str] = []
    for c in components:
        if c.not_estimated:
            continue
        if c.monthly_cost is not None:
            known += c.monthly_cost
        elif c.monthly_quantity is None:
            unknown.append(f"{c.name}: quantity unknown")
        else:
            unknown.append(f"{c.name}: price unknown ({c.price_key})")
    return (None if unknown else known), known, unknown


def _setting(settings: TierSettings | Mapping[str, Any], key: str, tier: str) -> Any:
    """A required setting, from the tier's settings model or a mapping of some of its fields
    (the template review prices resources it read back, not a Placement)."""
    if isinstance(settings, TierSettings):
        if key not in type(settings).model_fields:
            raise TierwiseError(f"{tier} settings have no {key!r}; see tierwise/contract.py for each tier's fields")
        return getattr(settings, key)
    if key not in settings:
        raise TierwiseError(f"{tier} settings lack {key!r}; see tierwise/contract.py for each tier's fields")
    return settings[key]


def _optional(settings: TierSettings | Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A setting only some variants of a tier have (or a partial mapping leaves out)."""
    if isinstance(settings, TierSettings):
        return getattr(settings, key, default)
    return settings.get(key, default)


def request_seconds(
    workload: Workload,
    tokens_per_second: float | None,
    prompt_tokens_per_second: float | None,
) -> tuple[float | None, list[str]]:
    """How long one request runs: prompt processing plus generation."""
    notes: list[str] = []
    if tokens_per_second is None or not math.isfinite(tokens_per_second) or tokens_per_second <= 0:
        return None, notes
    seconds = workload.output_tokens / tokens_per_second
    if prompt_tokens_per_second and prompt_tokens_per_second > 0:
        seconds += workload.input_tokens / prompt_tokens_per_second
    else:
        notes.append("prompt processing time not counted: no prompt tokens-per-second given")
    return seconds, notes


def _usage(requests: float, seconds: float | None, gb: float) -> float | None:
    """GB-seconds a month; zero requests bill nothing even when the duration is unknown."""
    if requests == 0:
        return 0.0
    return None if seconds is None else requests * seconds * gb


def _data_processed(book: PriceBook, region: str, workload: Workload) -> list[CostComponent]:
    requests = workload.requests_per_month
    gb_in = requests * workload.input_tokens * BYTES_PER_TOKEN / BYTES_PER_GB
    gb_out = requests * workload.output_tokens * BYTES_PER_TOKEN / BYTES_PER_GB
    return [
        component("Data processed in", "GB", gb_in, book.sagemaker_data_in(region),
                  price_key(region, "sagemaker", "data_processed_in_gb"), usage_based=True),
        component("Data processed out", "GB", gb_out, book.sagemaker_data_out(region),
                  price_key(region, "sagemaker", "data_processed_out_gb"), usage_based=True),
    ]


def _deployed_ephemeral_mb(settings: TierSettings | Mapping[str, Any]) -> int:
    """The /tmp size the function is deployed with: a plan's settings name the GGUF that
    LambdaGgufEndpoint bakes into the image (gguf_url), and then /tmp holds nothing of the model
    and the construct keeps Lambda's minimum; ephemeral_storage_mb is the room a model read from
    S3 would need, billed only when the settings say the model comes from there."""
    if _optional(settings, "gguf_url"):
        return lambda_limits().ephemeral_storage_mb_min
    return int(_optional(settings, "ephemeral_storage_mb", LAMBDA_FREE_EPHEMERAL_MB))


def lambda_components(
    book: PriceBook,
    region: str,
    *,
    memory_mb: float,
    architecture: str,
    ephemeral_storage_mb: float,
    requests: float,
    seconds: float | None,
) -> list[CostComponent]:
    """The bill lines of one Lambda function (shared with the template review)."""
    gb_seconds = _usage(requests, seconds, memory_mb / 1024)
    extra_storage_gb = max(0.0, ephemeral_storage_mb - LAMBDA_FREE_EPHEMERAL_MB) / 1024
    lines = [
        component("Requests", "1M requests", requests / 1e6, book.lambda_requests(region),
                  price_key(region, "lambda", "requests_per_million"), usage_based=True),
        component(f"Duration ({architecture})", "GB-seconds", gb_seconds,
                  book.lambda_duration(region, architecture),
                  price_key(region, "lambda", "duration_gb_second", architecture), usage_based=True),
    ]
    if extra_storage_gb > 0:
        storage = _usage(requests, seconds, extra_storage_gb)
        lines.append(
            component("Ephemeral storage above 512 MB", "GB-seconds", storage,
                      book.lambda_ephemeral_storage(region),
                      price_key(region, "lambda", "ephemeral_storage_gb_second"), usage_based=True)
        )
    return lines


def provisioned_concurrency_component(region: str, provisioned: int, memory_mb: float) -> CostComponent:
    """Serverless provisioned concurrency bills per GB-second while provisioned, around the
    clock; the price file has no figure for it yet, so the line is priced unknown."""
    return CostComponent(
        name=f"Provisioned concurrency ({provisioned})",
        unit="GB-seconds",
        monthly_quantity=provisioned * memory_mb / 1024 * HOURS_PER_MONTH * 3600,
        price=None,
        monthly_cost=None,
        price_key=price_key(region, "sagemaker", "serverless_provisioned_concurrency"),
    )


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
    """Monthly cost of ``tier`` with its Placement ``settings`` for ``workload`` in ``region``.

    ``tokens_per_second`` is the decode rate the tier delivers for the model (from
    ``tierwise.throughput``); it sets how long each request bills on Lambda and SageMaker
    Serverless. ``seconds_per_request``, when given, is how long one request bills instead
    (a classifier reads its prompt once and generates nothing). ``profile`` is the
    ModelProfile (used for its name in notes only).
    """
    book = prices or load_prices()
    if tier not in TIERS:
        raise TierwiseError(f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}")
    requests = workload.requests_per_month
    notes: list[str] = []
    seconds: float | None = None
    lines: list[CostComponent]

    def billed_seconds() -> tuple[float | None, list[str]]:
        if seconds_per_request is not None:
            return seconds_per_request, []
        return request_seconds(workload, tokens_per_second, prompt_tokens_per_second)

    if tier == "lambda-gguf":
        seconds, notes = billed_seconds()
        lines = lambda_components(
            book,
            region,
            memory_mb=float(_setting(settings, "memory_mb", tier)),
            architecture=str(_setting(settings, "architecture", tier)),
            ephemeral_storage_mb=float(_deployed_ephemeral_mb(settings)),
            requests=requests,
            seconds=seconds,
        )
    elif tier == "sagemaker-serverless":
        seconds, notes = billed_seconds()
        memory_mb = int(_setting(settings, "memory_mb", tier))
        gb_seconds = _usage(requests, seconds, memory_mb / 1024)
        lines = [
            component(f"Serverless inference ({memory_mb} MB)", "GB-seconds", gb_seconds,
                      book.serverless_gb_second(region, memory_mb),
                      price_key(region, "sagemaker", "serverless_gb_second", memory_mb), usage_based=True),
            *_data_processed(book, region, workload),
        ]
        provisioned = _optional(settings, "provisioned_concurrency")
        if provisioned:
            lines.append(provisioned_concurrency_component(region, provisioned, memory_mb))
    elif tier == "sagemaker-gpu":
        instance_type = str(_setting(settings, "instance_type", tier))
        minimum = int(_setting(settings, "min_instances", tier))
        lines = [
            component(f"Instance ({instance_type}) x {minimum}", "instance-hours", minimum * HOURS_PER_MONTH,
                      book.instance_hour(region, instance_type),
                      price_key(region, "sagemaker", "instance_hour", instance_type)),
            *_data_processed(book, region, workload),
        ]
        if minimum == 0:
            notes.append("min_instances is 0: hours spent scaled up from zero are not modelled")
    elif tier == "bedrock-provisioned":
        model_id = str(_setting(settings, "model_id", tier))
        units = int(_setting(settings, "model_units", tier))
        commitment = _optional(settings, "commitment")
        lines = [
            component(f"Provisioned throughput ({units} MU, {commitment_key(commitment)})",
                      "model-unit-hours", units * HOURS_PER_MONTH,
                      book.bedrock_model_unit_hour(region, model_id, commitment),
                      price_key(region, "bedrock", "provisioned_model_unit_hour", model_id,
                                commitment_key(commitment))),
        ]
    else:  # bedrock-on-demand
        model_id = str(_setting(settings, "model_id", tier))
        lines = [
            component("Input tokens", "1K tokens", requests * workload.input_tokens / 1000,
                      book.bedrock_input(region, model_id),
                      price_key(region, "bedrock", "on_demand", model_id, "input_per_1k_tokens"),
                      usage_based=True),
            component("Output tokens", "1K tokens", requests * workload.output_tokens / 1000,
                      book.bedrock_output(region, model_id),
                      price_key(region, "bedrock", "on_demand", model_id, "output_per_1k_tokens"),
                      usage_based=True),
        ]

    monthly, known, unknown = total(lines)
    if seconds is None and tier in ("lambda-gguf", "sagemaker-serverless") and requests > 0:
        unknown.append("tokens per second unknown, so request duration is unknown")
    return TierCost(
        tier=tier,
        region=region,
        monthly_usd=monthly,
        known_usd=known,
        components=lines,
        unknown=unknown,
        notes=notes,
        request_seconds=seconds,
    )


# -- comparing tiers -----------------------------------------------------------------------

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


def cold_start(tier: str, settings: TierSettings | Mapping[str, Any]) -> tuple[float | None, str]:
    """Estimated seconds to a first token after scaling from zero, and what drives it."""
    est = speed_model().cold_start
    if tier == "lambda-gguf":
        gb = float(_optional(settings, "file_bytes") or 0) / 1e9
        seconds = est.lambda_base_s + est.lambda_image_s_per_gb * gb
        return seconds, f"scales to zero; a cold start pulls the image and loads {gb:.1f} GB of weights"
    if tier == "sagemaker-serverless":
        warm = _optional(settings, "provisioned_concurrency")
        if warm:
            return 0.0, f"{warm} provisioned instance(s) kept warm; beyond them, cold starts"
        return est.serverless_base_s, "scales to zero; a cold start starts the container"
    if tier == "sagemaker-gpu":
        if int(_optional(settings, "min_instances", 1)) >= 1:
            return est.gpu_s, "none: min_instances stay running"
        return None, "scales to zero: a new GPU instance takes minutes"
    return est.bedrock_s, "none: AWS keeps the model loaded"


def limitations(tier: str, settings: TierSettings | Mapping[str, Any], seconds: float | None) -> list[str]:
    """What a tier cannot do, including where this workload's requests would break a limit."""
    out: list[str] = []
    if tier == "lambda-gguf":
        lam = lambda_limits()
        timeout = _optional(settings, "timeout_s") or lam.timeout_s_max
        out += ["no GPU", f"no request longer than {timeout} s",
                f"no payload over {lam.sync_payload_bytes_max // 2**20} MB"]
        if seconds is not None and seconds > float(timeout):
            out.insert(0, f"this workload's requests take {seconds:.0f} s, over the {timeout} s timeout")
    elif tier == "sagemaker-serverless":
        sls = serverless_limits()
        timeout = sls.invocation_timeout_s
        out += ["no GPU", f"no request longer than {timeout} s",
                f"no payload over {sls.payload_bytes_max // 2**20} MB",
                f"no more than {max(sls.memory_mb_allowed)} MB of memory"]
        if seconds is not None and seconds > float(timeout):
            out.insert(0, f"this workload's requests take {seconds:.0f} s, over the {timeout} s limit")
    elif tier == "sagemaker-gpu":
        timeout = realtime_limits().invocation_timeout_s
        out += [f"no scale to zero: {_optional(settings, 'min_instances', 1)} instance(s) bill around the clock",
                f"no request longer than {timeout} s"]
        if seconds is not None and seconds > float(timeout):
            out.insert(0, f"this workload's requests take {seconds:.0f} s, over the {timeout} s limit")
    elif tier == "bedrock-provisioned":
        commitment = _optional(settings, "commitment")
        if commitment:
            out.append(f"no cancelling before the {commitment} commitment ends")
        out.append("no model outside Bedrock's provisioned-throughput list")
    else:
        out += ["no custom or fine-tuned weights (those need provisioned throughput)",
                "no guaranteed throughput: account quotas throttle"]
    return out


ThroughputFn = Callable[[Any], "tuple[float | None, float | None]"]


def compare_tiers(
    candidates: Mapping[str, Any],
    workload: Workload,
    region: str,
    throughput: ThroughputFn,
    *,
    chosen_tier: str | None = None,
    model: str = "",
    prices: PriceBook | None = None,
) -> Comparison:
    """Every candidate tier side by side, with break-even requests/month between feasible ones.

    ``candidates`` maps tier -> a Placement (tier, settings, profile) or a rejection reason
    (str), as ``tierwise.placement.candidates`` returns. ``throughput(placement)`` gives
    (decode tokens/s, prompt tokens/s).
    """
    book = prices or load_prices()
    options: list[TierOption] = []
    for tier, placement in candidates.items():
        if isinstance(placement, str) or placement is None:
            options.append(TierOption(tier=tier, feasible=False, rejected_because=str(placement),
                                      chosen=tier == chosen_tier))
            continue
        tps, prompt_tps = throughput(placement)
        settings = placement.settings
        profile = getattr(placement, "profile", None)
        # placement's own request time (a classifier's forward pass has no tokens/s)
        seconds = getattr(placement, "seconds_per_request", None)

        def estimate(w: Workload, _t=tier, _s=settings, _p=profile, _tps=tps, _ptps=prompt_tps, _sec=seconds) -> TierCost:
            return estimate_tier_cost(_t, _s, _p, w, region, _tps,
                                      prompt_tokens_per_second=_ptps, seconds_per_request=_sec, prices=book)

        cost = estimate(workload)
        seconds_cold, what = cold_start(tier, settings)
        options.append(
            TierOption(
                tier=tier,
                feasible=True,
                cost=cost,
                line=linear_cost(estimate, workload, tier),
                known_line=linear_cost(estimate, workload, tier, known_only=True),
                tokens_per_second=tps,
                seconds_per_request=seconds if seconds is not None else cost.request_seconds,
                cold_start_s=seconds_cold,
                cold_start=what,
                cannot=limitations(tier, settings, cost.request_seconds),
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
