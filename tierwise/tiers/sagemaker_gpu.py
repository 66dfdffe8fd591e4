"""sagemaker-gpu: a SageMaker real-time endpoint on a GPU instance running the LMI container
(vLLM), weights from the Hugging Face Hub, or from an S3 folder (`-c weights_uri`) that SageMaker
downloads itself, so the container runs with network isolation (construct: tiers/sagemaker_gpu/).

Fit: weights at the serving dtype, activations and CUDA overhead within the instance's usable
GPU memory (as nvidia-smi reports it, times the engine's memory-utilization fraction), the rest
KV cache. Speed: decode bandwidth-bound, extra sequences of a batch compute-bound, tensor
parallel across the instance's GPUs. Capacity: instances for the average load, more at peak.
Bill: instance-hours at the autoscaling minimum, around the clock, and data processed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from model_profiles.schema import ModelProfile
from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import HOURS_PER_MONTH, CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.errors import TierwiseError
from tierwise.facts import GpuInstance, gpu_instances, gpu_runtime, jumpstart_model, realtime_limits, speed_model
from tierwise.sizing import MIB, estimate_gpu, fmt_bytes
from tierwise.throughput import gpu_speed
from tierwise.tiers.base import (
    Ask, Option, Rejection, TierModule, Usage, average_requests_per_second, meets, peak_requests_per_second,
    timeout_limitations,
)

ID = "sagemaker-gpu"


class SageMakerGpuSettings(TierSettings):
    instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    gpu_count: int = Field(ge=1)
    gpu_memory_gb: int | float = Field(gt=0, description="GiB per GPU")
    tensor_parallel_degree: int = Field(ge=1)
    serving_dtype: str
    hf_model_id: str | None
    max_model_len: int = Field(gt=0)
    max_batch_size: int = Field(ge=1)
    volume_size_gb: int = Field(ge=1, le=512)
    startup_health_check_timeout_s: int = Field(ge=60, le=3600)
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=1)
    # NVMe instance storage: the endpoint config takes no KMS key for the volume
    local_nvme: bool


class SageMakerGpu(TierModule):
    id = ID
    summary = "SageMaker real-time endpoint on a GPU instance (LMI/vLLM)"
    hosting = "self"
    billing = "always-on"
    settings_models = (SageMakerGpuSettings,)
    options = frozenset({"image_uri", "min_instances", "max_instances", "hf_token_secret",
                         "vpc_id", "subnet_type", "subnet_ids", "vpc_endpoints", "weights_uri", "weights_key"})
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

    def settle(self, ask: Ask) -> Option:
        profile, context, workload, target = ask.profile, ask.context, ask.workload, ask.target
        rt = gpu_runtime()
        arch = profile.architecture
        if arch is None:
            raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
        if not profile.generative:
            raise Rejection(f"the GPU tier runs a text-generation container; {profile.name} is a {profile.task} model "
                            "that a CPU inference container serves per request")
        hard_s = realtime_limits().invocation_timeout_s
        one = estimate_gpu(profile, context, batch=1)
        kv_per_sequence = one.kv_cache_bytes
        max_sequences = speed_model().gpu.max_sequences_per_instance
        avg_rps, peak_rps = average_requests_per_second(workload), peak_requests_per_second(workload)
        set_aside: dict[str, str] = {}
        offers = []
        for inst in gpu_instances():
            n = inst.gpu_count
            if arch.attention_heads % n:
                continue  # tensor parallelism splits heads evenly across GPUs
            dtype = one.quant
            if dtype == "BF16" and not inst.spec.bf16:
                dtype = "F16"  # same memory; the GPU computes in FP16
            refusal = _engine_refusal(profile, inst, dtype)
            if refusal:
                set_aside.setdefault(inst.family, refusal)
                continue
            usable = n * (inst.spec.usable_memory_per_gpu_mib * MIB * rt.gpu_memory_utilization - rt.per_gpu_overhead_bytes)
            room = usable - one.weights_bytes - one.runtime_bytes
            sequences = min(max_sequences, int(room // kv_per_sequence)) if room > 0 else 0
            if sequences < 1:
                continue
            speed1 = gpu_speed(family=inst.family, gpu_count=n, weights_bytes=one.weights_bytes,
                               parameters=profile.parameters_per_token, experts=one.experts)
            seconds1 = speed1.request_seconds(workload.input_tokens, workload.output_tokens)
            try:
                meets(target, speed1, seconds1, hard_s, f"on {inst.instance_type}")
            except Rejection as exc:
                set_aside.setdefault(inst.instance_type, str(exc))
                continue
            # the most streams one instance batches while each still meets the target
            best = (1, speed1, seconds1)
            for c in _batch_sizes(sequences):
                s = gpu_speed(family=inst.family, gpu_count=n, weights_bytes=one.weights_bytes,
                              parameters=profile.parameters_per_token, concurrency=c, experts=one.experts)
                secs = s.request_seconds(workload.input_tokens, workload.output_tokens)
                try:
                    meets(target, s, secs, hard_s, "")
                except Rejection:
                    break
                best = (c, s, secs)
            c, speed_c, seconds_c = best
            per_instance_rps = c / seconds_c
            minimum = max(1, math.ceil(avg_rps / per_instance_rps))
            peak = max(minimum, math.ceil(peak_rps / per_instance_rps))
            quote = ask.book.instance_hour(ask.region, inst.instance_type)
            monthly = None if quote is None else quote.value * minimum * HOURS_PER_MONTH
            offers.append((monthly, inst, dtype, usable, sequences, c, speed1, seconds1, speed_c, seconds_c,
                           per_instance_rps, minimum, peak, quote))
        if not offers:
            if set_aside:
                raise Rejection("; ".join(f"{k}: {v}" for k, v in list(set_aside.items())[:3]))
            biggest = max(gpu_instances(), key=lambda i: i.gpu_count * i.spec.usable_memory_per_gpu_mib)
            raise Rejection(
                f"needs {fmt_bytes(one.weights_bytes + one.runtime_bytes + kv_per_sequence)} of GPU memory at "
                f"{one.quant} (context {context}, one sequence); the largest instance, {biggest.instance_type}, has "
                f"{biggest.gpu_count} x {biggest.spec.usable_memory_per_gpu_mib:,} MiB usable"
            )
        priced = [o for o in offers if o[0] is not None]
        if not priced:
            raise Rejection(f"no SageMaker price in {ask.region} for any instance that serves it "
                            f"({', '.join(o[1].instance_type for o in offers[:4])}): the choice cannot be priced")
        pick = min(priced, key=lambda o: (o[0], o[1].gpu_count, o[1].vcpus))
        unpriced = [o[1].instance_type for o in offers if o[0] is None]
        (monthly, inst, dtype, usable, sequences, c, speed1, seconds1, speed_c, seconds_c, per_rps, minimum, peak,
         quote) = pick
        est = estimate_gpu(profile, context, batch=c, dtype=None)
        weights_gb = one.weights_bytes / 1e9
        settings = {
            "instance_type": inst.instance_type,
            "gpu_count": inst.gpu_count,
            "gpu_memory_gb": inst.spec.memory_per_gpu_gib,
            "tensor_parallel_degree": inst.gpu_count,
            "serving_dtype": dtype,
            "hf_model_id": profile.hf_model_id,
            "max_model_len": context,
            "max_batch_size": c,
            "volume_size_gb": min(realtime_limits().volume_size_gb_max, max(30, math.ceil(weights_gb * 2 + 10))),
            # download at ~100 MB/s + load and warm-up
            "startup_health_check_timeout_s": min(3600, max(600, math.ceil(weights_gb * 10 + 300))),
            "min_instances": minimum,
            "max_instances": peak,
            "local_nvme": inst.spec.local_nvme,
        }
        reasons = [
            f"{one.quant} weights {fmt_bytes(one.weights_bytes)} + activations {fmt_bytes(one.runtime_bytes)} + KV "
            f"cache {fmt_bytes(kv_per_sequence)} per {context}-token sequence",
            f"{inst.instance_type} at ${quote.value:.3f}/h x {minimum} is the cheapest instance that serves the load: "
            f"{inst.gpu_count} x {inst.spec.gpu} with {inst.spec.usable_memory_per_gpu_mib:,} MiB usable each "
            f"(as nvidia-smi reports it), {fmt_bytes(usable)} after CUDA overhead and the 90% memory utilization, "
            f"room for {sequences} sequences",
            f"tensor-parallel degree {inst.gpu_count}; one stream ~{speed1.decode_tokens_per_second:.0f} tokens/s "
            f"({speed1.basis}); batching {c} streams keeps each at ~{speed_c.decode_tokens_per_second:.0f} tokens/s and "
            f"~{seconds_c:.1f} s a request: ~{per_rps:.2f} requests/s per instance",
            f"load: {average_requests_per_second(workload):.3f} requests/s on average, "
            f"{peak_requests_per_second(workload):.3f} at peak (x{workload.peak_factor:g}) -> {minimum} instance(s) "
            f"running, up to {peak} at peak",
        ]
        if dtype != one.quant:
            reasons.append(f"{inst.spec.gpu} has no bfloat16: served as {dtype} (same bytes per weight)")
        for family, why in set_aside.items():
            if family.count(".") == 1:
                reasons.append(f"not {family}: {why}")
        if unpriced:
            reasons.append(f"not compared, no {ask.region} price in tierwise/data/prices.yaml: {', '.join(unpriced)}")
        reasons.append(_against_jumpstart(profile, inst, ask.book, ask.region, quote.value, minimum))
        capacity = {
            "instances": peak,
            "min_instances": minimum,
            "max_instances": peak,
            "requests_per_second_per_instance": round(per_rps, 3),
            "batch_per_instance": c,
            "peak_requests_per_second": round(peak_requests_per_second(workload), 4),
        }
        return Option(settings, reasons, est, dtype, speed_c, seconds_c,
                      speed_c.time_to_first_token(workload.input_tokens), speed_model().cold_start.gpu_s, capacity)

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

    def weights(self, placement: Any) -> str:
        return f"which serves {placement.quant} weights on GPUs"

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        return [bills.instance_hours(book, region, instance_type=s.instance_type, count=s.min_instances),
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
                       count: int) -> str:
    """The instance SageMaker JumpStart deploys this model to by default, and why ours differs."""
    js = jumpstart_model(profile.name)
    if js is None:
        return f"SageMaker JumpStart offers no model for {profile.name} to compare with"
    default = js.default_instance_type
    if default.value is None:
        return f"JumpStart's default instance for {js.jumpstart_model_id} is not known to tierwise ({default.note})"
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


def _batch_sizes(limit: int) -> list[int]:
    sizes, c = [], 2
    while c <= limit:
        sizes.append(c)
        c = c + 1 if c < 8 else int(c * 1.25)
    return sizes


TIER = SageMakerGpu()
