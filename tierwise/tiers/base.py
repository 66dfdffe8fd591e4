"""What a tier is, in the core: the contract every tier module fulfils, and what tiers share.

A tier module (one per tier in this package) holds everything the decision knows about its
tier: the id users type, its settings model, whether we host it, the context options it reads,
how it fits a model and meets a workload (``settle``), its bill (``bill``), its cold start, its
limits, how a client streams from it, what its stack carries around it (a KMS key, alarms), its
network needs in a VPC, and the construct that deploys it (named by import path: the core
imports no CDK and nothing above it).

Plain Python over pydantic models: placement, compare, validation, the client and the review
ask the registry (tierwise/tiers/__init__.py) instead of branching on tier ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import ValidationError

from model_profiles.schema import ModelProfile
from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.errors import TierwiseError
from tierwise.naming import option
from tierwise.sizing import MemoryEstimate
from tierwise.throughput import Speed
from tierwise.workload import Target, Workload

HEADROOM = 1.10  # memory above the estimate, for allocator slack and the OS
Hosting = Literal["self", "managed"]


class Rejection(Exception):
    """A tier cannot serve this model; the message names the limit and the numbers."""


@dataclass(frozen=True)
class Ask:
    """What the planner asks every tier: serve this model, at this context, for this workload."""

    profile: ModelProfile
    recipe: str | None  # the llama.cpp recipe GGUF tiers run (None for a closed model)
    context: int
    workload: Workload
    target: Target
    book: PriceBook
    region: str
    commitment: str | None = None
    quant: str | None = None  # what --quant asked for, canonical (a llama.cpp recipe or a GPU dtype); None: each tier's default
    instance_type: str | None = None  # --instance-type: the GPU instance the tier must use
    prefix: str = "--"  # how the user named options: "--" on the command line, "-c " in the CDK app

    def option(self, name: str) -> str:
        """An option as the user typed it: --instance-type, or -c instance_type."""
        return f"{self.prefix}{name.replace('_', '-')}" if self.prefix == "--" else f"{self.prefix}{name}"


@dataclass
class Option:
    """What a tier settles for an Ask: its settings and how it performs for the workload."""

    settings: dict[str, Any]
    reasons: list[str]
    memory: MemoryEstimate | None
    quant: str | None
    speed: Speed | None
    seconds: float
    ttft: float
    cold_start_s: float
    capacity: dict[str, Any]
    warnings: list[str] = field(default_factory=list)  # something the user should act on
    notes: list[str] = field(default_factory=list)  # context, not a reason or a call to act (plan --verbose)


@dataclass(frozen=True)
class Usage:
    """What a deployment does in a month, as the bill needs it: the workload, and how long one
    request runs where that bills (None: unknown)."""

    workload: Workload
    seconds_per_request: float | None


class TierModule:
    """One tier, whole. Subclasses set the class attributes and implement ``settle`` and ``bill``."""

    id: ClassVar[str]
    summary: ClassVar[str]  # what runs, in a few words
    hosting: ClassVar[Hosting]  # "self": we run the weights; "managed": AWS serves the model
    # "per-use": billed by the request or token, nothing when idle; "always-on": by the hour
    billing: ClassVar[Literal["per-use", "always-on"]]
    settings_models: ClassVar[tuple[type[TierSettings], ...]]
    # the `-c` options (and CLI flags) this tier reads beyond the plan itself
    options: ClassVar[frozenset[str]] = frozenset()
    # the construct that deploys it, "module:Class" (resolved by tiers.construct_for, never here)
    construct: ClassVar[str]
    # (streams, the door that streams or why it cannot)
    streaming: ClassVar[tuple[bool, str]]
    # what the stack carries around the tier's construct and is billed for
    uses_key: ClassVar[bool] = False
    alarms: ClassVar[tuple[str, ...]] = ()
    # how tierwise.client reaches it: "function-url", "sagemaker-endpoint", "bedrock" (Converse) or
    # "bedrock-imported" (InvokeModel with OpenAI bodies); a door the client does not open (batch
    # work) comes with why and what to use instead, after "stack {stack} (tier ...) " ({stack} is
    # filled in)
    client_door: ClassVar[str]
    client_refusal: ClassVar[str | None] = None
    # interface endpoints its compute needs in a private VPC (service -> why), and whether it must
    # also reach beyond AWS; None: the tier runs nothing in the account's network
    vpc_endpoints: ClassVar[Mapping[str, str] | None] = None
    needs_internet: ClassVar[bool] = False
    # a setting's value in words where the value alone misleads a reader (plan's settings table):
    # {field: {value: words}}; every other value is shown by tierwise.text.words
    setting_words: ClassVar[Mapping[str, Mapping[Any, str]]] = {}
    # the CloudFormation types of the resource that serves requests (the review prices its usage)
    serving_resource_types: ClassVar[tuple[str, ...]] = ()
    # which service pulls an `image_uri` it reads, as a same_region rule of
    # tierwise/data/aws_names.yaml ("lambda_image", "sagemaker_image"); None: it reads none
    image_region_rule: ClassVar[str | None] = None

    # --- the decision ---------------------------------------------------------------------

    def settle(self, ask: Ask) -> Option:
        """This tier's settings for the ask, or a Rejection saying which limit or target it misses."""
        raise NotImplementedError

    def deployed(self, settings: TierSettings, options: Mapping[str, Any]) -> TierSettings:
        """The settings as the construct deploys them given the stack's `options` (-c model_uri, …),
        where an option changes what is billed; the plan's settings otherwise."""
        return settings

    def quants(self) -> tuple[str, ...]:
        """The --quant values this tier serves (empty: it serves one precision, --quant does not apply)."""
        return ()

    def check_quant(self, ask: Ask) -> None:
        """Reject an ask whose --quant names a precision this tier does not serve."""
        if ask.quant is None or ask.quant in self.quants():
            return
        if not self.quants():
            raise Rejection(f"{ask.option('quant')} {ask.quant} does not apply: {self.id} serves the model at one "
                            f"precision {'of its own' if self.hosting == 'managed' else 'it chooses'}")
        raise Rejection(f"{ask.option('quant')} {ask.quant} is not a precision {self.id} serves "
                        f"({', '.join(self.quants())})")

    def idle_seconds(self, settings: TierSettings) -> tuple[float | None, str] | None:
        """How long an idle copy stays warm, and where that figure comes from; (None, why) when
        no source gives it; None when the tier does not scale to zero (no request is cold)."""
        return None

    def set_aside(self, profile: ModelProfile, pool: Mapping[str, Any]) -> str | None:
        """Why an automatic choice should leave this feasible tier out (None: it competes)."""
        return None

    def check_request(self, placement: Any, prefix: str) -> None:
        """Refuse a request of the workload that the deployed settings could not take."""

    def check_options(self, placement: Any, options: Mapping[str, Any], *, forced: bool) -> None:
        """Refuse a context option value this tier cannot honour for this placement."""

    def missing(self, placement: Any, options: Mapping[str, Any]) -> str | None:
        """What the deployment cannot start without that `options` do not give (a gated model's
        Hub token), as the error line; None: nothing is missing. The app refuses it for one
        model; with model=all the construct warns instead, so the catalogue still synthesizes."""
        return None
    def needs_internet_with(self, options: Mapping[str, Any]) -> bool:
        """Whether what the tier runs must reach beyond AWS, given the stack's options."""
        return self.needs_internet

    def reads(self, option: str, placement: Any) -> bool:
        """Whether the deployment of `placement` on this tier uses `option` (quant, model_uri, ...)."""
        return option in self.options

    def refusal(self, option: str) -> str | None:
        """Why this tier cannot take `option` at all, when that deserves more than 'applies to ...'."""
        return None

    def weights(self, placement: Any) -> str:
        """What this tier serves, for messages: 'which serves AWS's own weights'."""
        return "which serves AWS's own weights" if self.hosting == "managed" else f"which serves {placement.quant} weights"

    # --- the bill -------------------------------------------------------------------------

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        """The tier's own bill lines for a month of `usage` (the resources that run the model)."""
        raise NotImplementedError

    def stack_bill(self, book: PriceBook, region: str) -> list[CostComponent]:
        """What the stack around the construct is billed for: its key and alarms."""
        lines = bills.kms_key(book, region) if self.uses_key else []
        return lines + [bills.alarm(book, region) for _ in self.alarms]

    def bills_request_time(self) -> bool:
        """Whether the bill depends on how long a request runs (GB-seconds)."""
        return False

    def instances(self, settings: TierSettings) -> int | None:
        """Instances running at the minimum, for tiers that grow in whole instances."""
        return None

    # --- what the comparison shows --------------------------------------------------------

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        raise NotImplementedError

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        raise NotImplementedError

    # --- settings -------------------------------------------------------------------------

    def settings_model_for(self, values: Mapping[str, Any]) -> type[TierSettings]:
        (model,) = self.settings_models
        return model

    def settings(self, values: TierSettings | Mapping[str, Any]) -> TierSettings:
        """`values` as this tier's settings model (a dict is validated; another tier's model is
        an error), so every reader gets typed settings whatever it was handed."""
        if isinstance(values, self.settings_models):
            return values
        if isinstance(values, TierSettings):
            raise TierwiseError(f"{type(values).__name__} are not {self.id} settings")
        try:
            return self.settings_model_for(values).model_validate(dict(values))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise TierwiseError(f"{self.id} settings: {where}: {err['msg']}") from None

    def __repr__(self) -> str:
        return f"<tier {self.id}>"


# --- what tiers share ---------------------------------------------------------------------------


def peak_requests_per_second(workload: Workload) -> float:
    return workload.rates_per_second()[2]


def average_requests_per_second(workload: Workload) -> float:
    return workload.rates_per_second()[0]


# a request is cold when its p95 is: more than 1 in 20 requests start a copy
P95_SHARE = 0.05


def cold_request_share(workload: Workload, idle_s: float) -> float:
    """The share of requests that find no warm copy: Poisson arrivals, each copy kept `idle_s`
    after its last request, so a request is cold when the gap before it exceeds `idle_s`; the
    rate of each hour of the workload's load shape (peak hours and the rest) weighs its requests."""
    _, off_peak, peak = workload.rates_per_second()
    hours = workload.peak_hours_per_day
    periods = [(peak, hours), (off_peak, 24.0 - hours)]
    requests = sum(rate * h for rate, h in periods)
    if requests <= 0:
        return 0.0
    return sum(rate * h * math.exp(-rate * idle_s) for rate, h in periods) / requests


def p95_seconds(warm_s: float, cold_start_s: float | None, share: float | None) -> float:
    """The 95th-percentile request time: a cold start on top when more than 5% of requests are cold
    (an unknown share counts as cold: no source says otherwise)."""
    if cold_start_s is None or cold_start_s <= 0:
        return warm_s
    if share is None or share > P95_SHARE:
        return warm_s + cold_start_s
    return warm_s


def peak_concurrency(workload: Workload, seconds: float) -> int:
    """Requests in flight at peak when each takes `seconds`."""
    if workload.requests_per_month == 0:
        return 0
    return max(1, math.ceil(peak_requests_per_second(workload) * seconds))


def meets(target: Target, speed: Speed | None, seconds: float, hard_limit_s: float, where: str) -> None:
    """Reject when a request breaks the tier's hard limit or misses the latency target."""
    if seconds > hard_limit_s:
        raise Rejection(f"a request takes ~{seconds:,.0f} s {where}; the tier stops at {hard_limit_s:g} s")
    if target.max_seconds is not None and seconds > target.max_seconds:
        raise Rejection(
            f"a request takes ~{seconds:,.1f} s {where}, over the {target.max_seconds:g} s target "
            f"({target.why}; {option('max_seconds')} or {option('batch', True)} change it)"
        )
    if speed is not None and speed.decode_tokens_per_second < target.tokens_per_second_floor:
        raise Rejection(
            f"~{speed.decode_tokens_per_second:.1f} tokens/s {where} is below the "
            f"{target.tokens_per_second_floor:g} tokens/s floor ({target.why})"
        )


def timeout_limitations(what: str, timeout_s: float, seconds: float | None) -> list[str]:
    """'no request longer than N s', led by a warning when this workload's requests break it."""
    out = [f"no request longer than {timeout_s:g} s"]
    if seconds is not None and seconds > float(timeout_s):
        out.insert(0, f"this workload's requests take {seconds:.0f} s, over the {timeout_s:g} s {what}")
    return out
