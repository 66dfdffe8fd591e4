"""sagemaker-gpu: a SageMaker real-time endpoint on a GPU instance running the LMI container
(vLLM), weights from the Hugging Face Hub, or from an S3 folder (`-c weights_uri`) that SageMaker
downloads itself, so the container runs with network isolation (construct: tiers/sagemaker_gpu/).

Fit: weights at the serving precision, activations and CUDA overhead within the instance's
usable GPU memory (as nvidia-smi reports it, times the engine's memory-utilization fraction), the
rest KV cache, which must hold at least one sequence of the deployed max_model_len. Speed and
capacity: the serving model of tierwise/serving.py (continuous batching over paged KV, each step
bound by what it reads or computes), its curve over concurrency, and the highest concurrency that
still meets the requirement; each instance is planned at the workload's target utilization of
that. Instances: enough for the off-peak load all month, more for the daily peak hours. Bill:
the instance-hours that run, and data processed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from model_profiles.schema import ModelProfile
from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import HOURS_PER_MONTH, CostComponent
from tierwise.cost.prices import PriceBook, Quote
from tierwise.errors import TierwiseError
from tierwise.facts import GpuInstance, gpu_instances, gpu_runtime, jumpstart_model, realtime_limits, speed_model
from tierwise.facts.serving import family_efficiency
from tierwise.serving import CurvePoint, ModelShape, Server, curve, highest_concurrency, max_concurrency
from tierwise.sizing import MemoryEstimate, estimate_gpu, fmt_bytes
from tierwise.throughput import Speed
from tierwise.tiers.base import Ask, Option, Rejection, TierModule, Usage, timeout_limitations
from tierwise.workload import Target

ID = "sagemaker-gpu"
# what the LMI container loads (--quant on this tier): 16-bit weights, FP8 quantized at load time
# on GPUs with FP8 tensor cores, or a published 4-bit (AWQ) checkpoint of the model
GPU_DTYPES = ("BF16", "F16", "FP8", "INT4")
SECONDS_PER_HOUR = 3600


class SageMakerGpuSettings(TierSettings):
    instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    gpu_count: int = Field(ge=1)
    gpu_memory_gb: int | float = Field(gt=0, description="GiB per GPU")
    tensor_parallel_degree: int = Field(ge=1)
    serving_dtype: Literal["F32", "F16", "BF16", "FP8", "INT4"]
    hf_model_id: str | None
    # the Hub commit LMI downloads (the profile's hub pin); None: the repository's main at start-up
    hf_revision: str | None = Field(None, pattern=r"^[0-9a-f]{40}$")
    max_model_len: int = Field(gt=0)
    max_batch_size: int = Field(ge=1)
    volume_size_gb: int = Field(ge=1, le=512)
    startup_health_check_timeout_s: int = Field(ge=60, le=3600)
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=1)
    # NVMe instance storage: the endpoint config takes no KMS key for the volume
    local_nvme: bool
    # autoscaling's target: invocations a minute per instance at the planned utilization
    invocations_per_instance_target: int = Field(ge=1)


@dataclass(frozen=True)
class Offer:
    """One instance type serving the model at one precision, sized for the workload."""

    inst: GpuInstance
    dtype: str
    est: MemoryEstimate
    shape: ModelShape
    server: Server
    operating: CurvePoint
    single: CurvePoint
    top: int
    baseline: int
    peak: int
    instance_hours: float
    quote: Quote | None

    @property
    def monthly(self) -> float | None:
        return None if self.quote is None else self.quote.value * self.instance_hours

    @property
    def planned_rps(self) -> float:
        """Requests a second one instance is planned for: its capacity at the target utilization."""
        return self.operating.requests_per_second

    def key(self) -> tuple:
        return (self.monthly, self.inst.gpu_count, self.inst.vcpus)


class SageMakerGpu(TierModule):
    id = ID
    summary = "SageMaker real-time endpoint on a GPU instance (LMI/vLLM)"
    hosting = "self"
    billing = "always-on"
    settings_models = (SageMakerGpuSettings,)
    image_region_rule = "sagemaker_image"
    options = frozenset({"quant", "instance_type", "image_uri", "min_instances", "max_instances", "hf_token_secret",
                         "alarm_topic_arn", "vpc_id", "subnet_type", "subnet_ids", "vpc_endpoints", "weights_uri",
                         "weights_key"})
    construct = "tiers.sagemaker_gpu.construct:SageMakerGpuEndpoint"
    streaming = (True, "InvokeEndpointWithResponseStream relays the container's chunked answer")
    uses_key = True
    alarms = ("Errors", "GpuMemory")
    client_door = "sagemaker-endpoint"
    vpc_endpoints = {
        "sagemaker.runtime": "callers inside the VPC call InvokeEndpoint without leaving it",
        "ecr.api": "the model container's registry API (image manifests, login tokens) from the VPC",
        "ecr.dkr": "the model container's image layers from the VPC",
        "logs": "the model container's log stream to CloudWatch Logs from the VPC",
    }
    # the LMI container downloads hf_model_id from the Hugging Face Hub at start-up (not with
    # weights_uri: needs_internet_with)
    needs_internet = True
    serving_resource_types = ("AWS::SageMaker::EndpointConfig",)

    def quants(self) -> tuple[str, ...]:
        return GPU_DTYPES

    def settle(self, ask: Ask) -> Option:
        profile = ask.profile
        if profile.architecture is None:
            raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
        if not profile.generative:
            raise Rejection(f"the GPU tier runs a text-generation container; {profile.name} is a {profile.task} model "
                            "that a CPU inference container serves per request")
        self.check_quant(ask)
        dtype = ask.quant or profile.serving_dtype
        if dtype == "INT4" and profile.int4_checkpoint is None:
            raise Rejection(f"{ask.option('quant')} INT4 needs a published 4-bit checkpoint of {profile.name}; the catalogue has none "
                            f"(it serves {', '.join(d for d in GPU_DTYPES if d != 'INT4')})")
        instances = _instances(ask.instance_type, ask.option("instance_type"))
        offers, set_aside = [], {}
        estimates: dict[str, MemoryEstimate] = {}
        for inst in instances:
            offer, why = _offer(ask, inst, dtype, estimates)
            if offer is not None:
                offers.append(offer)
            elif why:
                set_aside.setdefault(inst.instance_type if ask.instance_type else inst.family, why)
        if not offers:
            raise Rejection(_no_offer(profile, ask, dtype, set_aside))
        priced = [o for o in offers if o.monthly is not None]
        if not priced:
            raise Rejection(f"no SageMaker price in {ask.region} for any instance that serves it "
                            f"({', '.join(o.inst.instance_type for o in offers[:4])}): the choice cannot be priced")
        pick = min(priced, key=Offer.key)
        unpriced = [o.inst.instance_type for o in offers if o.monthly is None]
        return _option(ask, pick, set_aside, unpriced, offers)

    def check_options(self, placement: Any, options: Mapping[str, Any], *, forced: bool) -> None:
        from_s3 = "weights_uri" in options
        if options.get("subnet_type") == "isolated" and not from_s3:
            raise TierwiseError(
                f"-c subnet_type=isolated: {placement.model} on {ID} downloads its weights from the Hugging Face "
                "Hub at start-up, so its subnets need a route to the internet through a NAT: use -c subnet_type=private, "
                "or put the weights in S3 (-c weights_uri=s3://bucket/prefix/) to run isolated"
            )
        if from_s3 and "hf_token_secret" in options:
            raise TierwiseError("-c hf_token_secret: with -c weights_uri the endpoint reads its weights from S3 and "
                                "never calls the Hugging Face Hub; give one of them")
        if "weights_key" in options and not from_s3:
            raise TierwiseError("-c weights_key names the KMS key of the weights' bucket: give the weights too "
                                "(-c weights_uri=s3://bucket/prefix/)")

    def needs_internet_with(self, options: Mapping[str, Any]) -> bool:
        # weights from S3 are downloaded by SageMaker through the VPC's S3 gateway: nothing leaves AWS
        return "weights_uri" not in options

    def missing(self, placement: Any, options: Mapping[str, Any]) -> str | None:
        hub = placement.profile.hub
        if hub is None or not hub.gated or options.get("hf_token_secret") or options.get("weights_uri"):
            return None  # a token given, or weights from S3: the Hub is never called
        return (f"-c hf_token_secret is needed: {placement.model} on {ID} downloads {placement.profile.hf_model_id} "
                f"from the Hugging Face Hub at start, and the repository is gated ({hub.gated_source}); give "
                "-c hf_token_secret=NAME (or the secret's full ARN), a Secrets Manager secret holding the token of a "
                "Hub account that accepted the model's licence")

    def weights(self, placement: Any) -> str:
        return f"which serves {placement.quant} weights on GPUs"

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        return [*bills.instances_at_load(book, region, instance_type=s.instance_type, baseline=s.min_instances,
                                         peak=s.max_instances, workload=usage.workload),
                *bills.sagemaker_data_processed(book, region, usage.workload)]

    def instances(self, settings: TierSettings) -> int | None:
        return self.settings(settings).min_instances

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        if self.settings(settings).min_instances >= 1:
            return speed_model().cold_start.gpu_s, "none: min_instances stay running"
        return None, "scales to zero: a new GPU instance takes minutes"

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        s = self.settings(settings)
        return [f"no scale to zero: {s.min_instances} instance(s) bill around the clock",
                *timeout_limitations("limit", realtime_limits().invocation_timeout_s, seconds)]


# --- one instance type ----------------------------------------------------------------------------


def _instances(pinned: str | None, option: str) -> tuple[GpuInstance, ...]:
    if pinned is None:
        return gpu_instances()
    known = {i.instance_type: i for i in gpu_instances()}
    if pinned not in known:
        raise TierwiseError(f"{option} {pinned!r} is not a GPU instance tierwise knows; allowed: "
                            f"{', '.join(known)}")
    return (known[pinned],)


def _served_dtype(inst: GpuInstance, dtype: str) -> str:
    """BF16 weights on a GPU without bfloat16 (Turing) are served as FP16: the same bytes."""
    return "F16" if dtype == "BF16" and not inst.spec.bf16 else dtype


def meets_target(target: Target, hard_s: float):
    def meets(p: CurvePoint) -> bool:
        if p.seconds_per_request > hard_s:
            return False
        if target.max_seconds is not None and p.seconds_per_request > target.max_seconds:
            return False
        return p.decode_tokens_per_second >= target.tokens_per_second_floor
    return meets


def _offer(ask: Ask, inst: GpuInstance, asked: str,
           estimates: dict[str, MemoryEstimate]) -> tuple[Offer | None, str | None]:
    """`inst` sized for the ask, or why it cannot serve it (None when it is merely too small)."""
    profile, workload = ask.profile, ask.workload
    arch = profile.architecture
    n = inst.gpu_count
    if arch.attention_heads % n:
        return None, (f"tensor parallelism splits {arch.attention_heads} attention heads evenly; "
                      f"{inst.instance_type}'s {n} GPUs do not" if ask.instance_type else None)
    dtype = _served_dtype(inst, asked)
    refusal = _engine_refusal(profile, inst, dtype)
    if refusal:
        return None, refusal
    if dtype not in estimates:
        estimates[dtype] = estimate_gpu(profile, ask.context, batch=1, dtype=dtype)
    est = estimates[dtype]
    shape = ModelShape.of(profile, est)
    server = Server.for_instance(inst, dtype, est.weights_bytes, est.runtime_bytes)
    if server.kv_room_bytes < shape.kv_bytes(ask.context) * max(1.0, n / shape.kv_heads):
        return None, (f"{fmt_bytes(max(0.0, server.kv_room_bytes))} of KV room after {fmt_bytes(est.weights_bytes)} of "
                      f"{dtype} weights: not one {ask.context:,}-token sequence" if ask.instance_type else None)
    hard_s = realtime_limits().invocation_timeout_s
    i, o = workload.input_tokens, workload.output_tokens
    operating = highest_concurrency(shape, server, i, o, meets_target(ask.target, hard_s))
    single = curve(shape, server, i, o)[0]
    if operating is None:
        return None, _misses(ask, single, hard_s, inst.instance_type)
    capacity = operating.requests_per_second * workload.target_utilization
    baseline, peak = bills.instances_for_load(workload, capacity)
    hours = baseline * HOURS_PER_MONTH + bills.peak_instance_hours(workload, baseline, peak)
    top = max_concurrency(shape, server, i, o)
    return Offer(inst, dtype, est, shape, server, operating, single, top, baseline, peak, hours,
                 ask.book.instance_hour(ask.region, inst.instance_type)), None


def _misses(ask: Ask, p: CurvePoint, hard_s: float, where: str) -> str:
    target = ask.target
    if p.seconds_per_request > hard_s:
        return f"a request takes ~{p.seconds_per_request:,.0f} s on {where}; the tier stops at {hard_s:g} s"
    if target.max_seconds is not None and p.seconds_per_request > target.max_seconds:
        return (f"a request takes ~{p.seconds_per_request:,.1f} s on {where} even alone, over the "
                f"{target.max_seconds:g} s target ({target.why}; {ask.option('max_seconds')} or {ask.option('batch')} "
                "change it)")
    return (f"~{p.decode_tokens_per_second:.1f} tokens/s on {where} even alone is below the "
            f"{target.tokens_per_second_floor:g} tokens/s floor ({target.why})")


def _no_offer(profile: ModelProfile, ask: Ask, dtype: str, set_aside: dict[str, str]) -> str:
    if set_aside:
        # what stopped the instances that hold the model (a target, a time limit) says more than
        # which GPUs the engine refuses
        ranked = sorted(set_aside.items(), key=lambda kv: "target" not in kv[1] and "stops at" not in kv[1])
        return "; ".join(f"{k}: {v}" for k, v in ranked[:3])
    est = estimate_gpu(profile, ask.context, batch=1, dtype=dtype)
    biggest = max(gpu_instances(), key=lambda i: i.gpu_count * i.spec.usable_memory_per_gpu_mib)
    return (f"needs {fmt_bytes(est.weights_bytes + est.runtime_bytes + est.kv_cache_bytes)} of GPU memory at {dtype} "
            f"(context {ask.context:,}, one sequence); the largest instance, {biggest.instance_type}, has "
            f"{biggest.gpu_count} x {biggest.spec.usable_memory_per_gpu_mib:,} MiB usable")


# --- the option the plan gets ---------------------------------------------------------------------


def _option(ask: Ask, pick: Offer, set_aside: dict[str, str], unpriced: list[str], offers: list[Offer]) -> Option:
    profile, workload = ask.profile, ask.workload
    inst, est, op = pick.inst, pick.est, pick.operating
    weights_gb = est.weights_bytes / 1e9
    hf_model_id = profile.int4_checkpoint.hf_model_id if pick.dtype == "INT4" else profile.hf_model_id
    utilization = workload.target_utilization
    settings = {
        "instance_type": inst.instance_type,
        "gpu_count": inst.gpu_count,
        "gpu_memory_gb": inst.spec.memory_per_gpu_gib,
        "tensor_parallel_degree": inst.gpu_count,
        "serving_dtype": pick.dtype,
        "hf_model_id": hf_model_id,
        # the Hub commit of the profile's own repository; a 4-bit checkpoint is another repository
        "hf_revision": profile.hub.revision if profile.hub and hf_model_id == profile.hf_model_id else None,
        "max_model_len": ask.context,
        "max_batch_size": op.concurrency,
        "volume_size_gb": min(realtime_limits().volume_size_gb_max, max(30, math.ceil(weights_gb * 2 + 10))),
        # download at ~100 MB/s + load and warm-up
        "startup_health_check_timeout_s": min(3600, max(600, math.ceil(weights_gb * 10 + 300))),
        "min_instances": pick.baseline,
        "max_instances": pick.peak,
        "local_nvme": inst.spec.local_nvme,
        "invocations_per_instance_target": max(1, math.floor(pick.planned_rps * utilization * 60)),
    }
    _, off_peak, peak = workload.rates_per_second()
    capacity_hours = pick.instance_hours * SECONDS_PER_HOUR * op.requests_per_second
    load = workload.requests_per_month
    eff = family_efficiency(inst.family)
    reasons = [
        f"{pick.dtype} weights {fmt_bytes(est.weights_bytes)} + activations {fmt_bytes(est.runtime_bytes)}; the KV "
        f"cache holds each sequence's tokens ({fmt_bytes(pick.shape.kv_bytes(workload.input_tokens + workload.output_tokens))} "
        f"for {workload.input_tokens:,} in + {workload.output_tokens:,} out), max_model_len {ask.context:,}",
        f"{inst.instance_type} at ${pick.quote.value:.3f}/h: {inst.gpu_count} x {inst.spec.gpu} with "
        f"{inst.spec.usable_memory_per_gpu_mib:,} MiB usable each (as nvidia-smi reports it); "
        f"{fmt_bytes(pick.server.kv_room_bytes)} of KV room after weights, CUDA and the 90% memory utilization: "
        f"up to {pick.top} sequences at once",
        f"serving model ({eff.basis} on {inst.spec.gpu}: {eff.bandwidth_efficiency:.0%} of {inst.spec.gpu_bandwidth_gbps:g} "
        f"GB/s, {pick.server.flops / 1e12:.0f} TFLOP/s per GPU; tierwise/data/serving_model.yaml): one request alone "
        f"~{pick.single.decode_tokens_per_second:.0f} tokens/s, {pick.single.seconds_per_request:.1f} s",
        f"operating point: {op.concurrency} requests in flight, each ~{op.decode_tokens_per_second:.0f} tokens/s and "
        f"~{op.seconds_per_request:.1f} s ({op.output_tokens_per_second:,.0f} tokens/s per instance, "
        f"{op.requests_per_second:.2f} requests/s); planned at {utilization:.0%} of that: "
        f"{op.requests_per_second * utilization:.2f} requests/s per instance",
        f"load: {off_peak:.3f} requests/s off-peak, {peak:.3f} at peak (x{workload.peak_factor:g} for "
        f"{workload.peak_hours_per_day:g} h a day) -> {pick.baseline} instance(s) all month, "
        f"{pick.peak} at peak: {pick.instance_hours:,.0f} instance-hours, "
        f"{load / capacity_hours if capacity_hours else 0:.0%} of their capacity used",
    ]
    if pick.dtype != (ask.quant or profile.serving_dtype):
        reasons.append(f"{inst.spec.gpu} has no bfloat16: served as {pick.dtype} (same bytes per weight)")
    for family, why in set_aside.items():
        if family.count(".") == 1:
            reasons.append(f"not {family}: {why}")
    if unpriced:
        reasons.append(f"not compared, no {ask.region} price in tierwise/data/prices.yaml: {', '.join(unpriced)}")
    compared = _against_jumpstart(profile, inst, ask.book, ask.region, pick.quote.value, pick.baseline)
    if compared is not None:
        reasons.append(compared)
    points = [p.contract() for p in curve(pick.shape, pick.server, workload.input_tokens, workload.output_tokens)]
    capacity = {
        "instances": pick.peak,
        "min_instances": pick.baseline,
        "max_instances": pick.peak,
        "concurrency_per_instance": op.concurrency,
        "max_concurrency_per_instance": pick.top,
        "batch_per_instance": op.concurrency,
        "requests_per_second_per_instance": round(op.requests_per_second, 4),
        "planned_requests_per_second_per_instance": round(op.requests_per_second * utilization, 4),
        "target_utilization": utilization,
        "peak_hours_per_day": workload.peak_hours_per_day,
        "average_requests_per_second": round(workload.rates_per_second()[0], 5),
        "off_peak_requests_per_second": round(off_peak, 5),
        "peak_requests_per_second": round(peak, 5),
        "instance_hours_per_month": round(pick.instance_hours, 1),
        "utilization": round(load / capacity_hours, 4) if capacity_hours else 0.0,
        "curve": points,
        "operating_point": op.contract(),
    }
    speed = Speed(op.decode_tokens_per_second, workload.input_tokens / max(op.time_to_first_token_s, 1e-9),
                  f"{op.concurrency} streams batched on {inst.gpu_count} x {inst.spec.gpu}")
    return Option(settings, reasons, est, pick.dtype, speed, op.seconds_per_request, op.time_to_first_token_s,
                  speed_model().cold_start.gpu_s, capacity)


def _engine_refusal(profile: ModelProfile, inst: GpuInstance, dtype: str) -> str | None:
    """Why the pinned serving engine cannot run this model on this GPU family, if it cannot."""
    arch = profile.architecture
    # the data names architectures as their vendors do ("Gemma 2 (gemma2 architecture)")
    names = {"gemma2": "Gemma 2"}
    for note in inst.spec.engine_support:
        if not note.supported and arch is not None and names.get(arch.gguf_architecture, "\0") in note.applies_to:
            return (f"{note.engine} cannot serve {note.applies_to} on {inst.spec.gpu} ({inst.spec.architecture}): "
                    f"{note.reason} ({note.source})")
    rt = gpu_runtime()
    if dtype == "FP8" and inst.spec.compute_capability_value < rt.fp8_min_compute_capability:
        return (f"FP8 weights need compute capability {rt.fp8_min_compute_capability:g} or newer "
                f"({rt.fp8_source}); {inst.spec.gpu} is {inst.spec.compute_capability}")
    return None


def _against_jumpstart(profile: ModelProfile, inst: GpuInstance, book: PriceBook, region: str, hourly: float,
                       count: int) -> str | None:
    """The instance SageMaker JumpStart deploys this model to by default, and why ours differs;
    None when JumpStart has no such model or tierwise does not know its default."""
    js = jumpstart_model(profile.name)
    if js is None or js.default_instance_type.value is None:
        return None
    default = js.default_instance_type
    if default.value == inst.instance_type:
        return f"JumpStart deploys {js.jumpstart_model_id} to the same {inst.instance_type} by default ({default.source})"
    theirs = next((i for i in gpu_instances() if i.instance_type == default.value), None)
    quote = book.instance_hour(region, default.value)
    price = f"${quote.value:.3f}/h" if quote else "an unknown price"
    shape = f"{theirs.gpu_count} x {theirs.spec.gpu}" if theirs else "an instance outside tierwise's list"
    return (
        f"JumpStart deploys {js.jumpstart_model_id} to {default.value} by default ({shape}, {price}; {default.source}); "
        f"tierwise sizes to this model and load instead: {count} x {inst.instance_type} at ${hourly:.3f}/h holds the "
        f"weights and the KV cache and meets the target, where JumpStart's one default must fit every context and "
        f"batch its container allows"
    )


TIER = SageMakerGpu()
