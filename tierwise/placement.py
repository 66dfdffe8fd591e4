"""Where a model runs: the article's task -> model -> compute reasoning, made executable.

`candidates()` sizes the model for every tier and settles that tier's settings for the
workload (memory sized for speed where it costs nothing more, instances from peak load),
or says which limit or target it misses, with the figures. `plan()` applies the hosting
policy and picks the cheapest candidate that meets the requirement; an unknown price never
decides silently (see `rank_by_cost`). Every step writes its reasons into the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from model_profiles import load_catalogue, load_profile
from model_profiles.loader import register_check
from model_profiles.schema import GENERATIVE_TASKS, ModelProfile, Task
from tierwise.contract import MANAGED, SELF_HOSTED, TIERS, Settings, Tier, settings_for, tier_of  # noqa: F401 (TIERS re-exported)
from tierwise.cost.estimates import HOURS_PER_MONTH, estimate_tier_cost
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.errors import TierwiseError
from tierwise.facts import (
    GpuInstance,
    bedrock_model,
    bedrock_provisioned_limits,
    gpu_instances,
    gpu_runtime,
    jumpstart_model,
    lambda_limits,
    realtime_limits,
    serverless_limits,
    speed_model,
)
from tierwise.quant import check_profile_recipes, check_recipe
from tierwise.sizing import (
    GIB,
    MIB,
    MemoryEstimate,
    check_context,
    estimate_framework,
    estimate_gguf_profile,
    estimate_gpu,
    fmt_bytes,
    lambda_runtime_bytes,
)
from tierwise.throughput import Speed, bedrock_speed, cpu_prompt_tokens_per_second, cpu_speed, gpu_speed
from tierwise.workload import Target, Workload

# the catalogue sits below tierwise and knows no llama.cpp recipes: the planner, which every
# command and the CDK app go through, adds the check to every profile file read
register_check(check_profile_recipes)

# When prices cannot rank two tiers, this is the order they usually cost in for a modest
# workload: pay-per-use CPU, then an always-on GPU, then Bedrock capacity.
NATURAL_ORDER = TIERS
HEADROOM = 1.10  # memory above the estimate, for allocator slack and the OS
Hosting = Literal["auto", "self", "managed"]
HOSTING: tuple[str, ...] = get_args(Hosting)
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


# How a client gets tokens as they are generated from what each tier's construct deploys
# (issue #11): (streams, the door or why not). README "Calling a deployed model" says the same.
STREAMING: dict[Tier, tuple[bool, str]] = {
    Tier.LAMBDA_GGUF: (True, "Function URL in RESPONSE_STREAM invoke mode (server-sent events as tokens are generated)"),
    Tier.SAGEMAKER_GPU: (True, "InvokeEndpointWithResponseStream relays the container's chunked answer"),
    Tier.SAGEMAKER_SERVERLESS: (False, "InvokeEndpoint only: SageMaker streams responses from real-time endpoints, "
                                       "not serverless ones, so the events arrive together at the end"),
    Tier.BEDROCK_ON_DEMAND: (True, "ConverseStream"),
    Tier.BEDROCK_PROVISIONED: (True, "ConverseStream on the provisioned model's ARN"),
}


class Placement(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: str
    tier: Tier
    quant: str | None
    context: int
    settings: Settings
    reasons: list[str]
    rejected: dict[str, str] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    profile: ModelProfile
    memory: MemoryEstimate | None = None
    workload: Workload = Field(default_factory=Workload)
    tokens_per_second: float | None = Field(None, description="decode rate one request sees; None: not generative")
    prompt_tokens_per_second: float | None = None
    time_to_first_token_s: float | None = None
    seconds_per_request: float | None = Field(None, description="warm, p50: prompt + answer")
    cold_start_s: float | None = None
    capacity: dict[str, Any] = Field(default_factory=dict)
    target: dict[str, Any] = Field(default_factory=dict)
    hosting: str = "auto"
    monthly_cost_usd: float | None = None
    runner_up: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_settings(cls, values: Any) -> Any:
        # a dict of settings becomes the tier's settings model (and is checked against it)
        if isinstance(values, dict) and "tier" in values and isinstance(values.get("settings"), dict):
            values = {**values, "settings": settings_for(values["tier"], values["settings"])}
        return values

    def streaming(self) -> tuple[bool, str]:
        """Whether a client of the deployed model gets tokens as they are generated, and how."""
        if self.tokens_per_second is None:
            return False, "a predictive model answers once: there are no tokens to stream"
        return STREAMING[self.tier]

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
            "monthly_cost_usd": r(self.monthly_cost_usd),
            "runner_up": self.runner_up,
            "workload": self.workload.model_dump(),
            "streaming": self.streaming()[0],
            "streaming_via": self.streaming()[1],
        }
        if self.memory is not None:
            out["memory"] = self.memory.contract()
        return out


class Rejection(Exception):
    """A tier cannot serve this model; the message names the limit and the numbers."""


@dataclass
class _Option:
    """What a tier function settles: its settings and how it performs for the workload."""

    settings: dict[str, Any]
    reasons: list[str]
    memory: MemoryEstimate | None
    quant: str | None
    speed: Speed | None
    seconds: float
    ttft: float
    cold_start_s: float
    capacity: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def peak_requests_per_second(workload: Workload) -> float:
    return workload.requests_per_month / SECONDS_PER_MONTH * workload.peak_factor


def average_requests_per_second(workload: Workload) -> float:
    return workload.requests_per_month / SECONDS_PER_MONTH


def _peak_concurrency(workload: Workload, seconds: float) -> int:
    if workload.requests_per_month == 0:
        return 0
    return max(1, math.ceil(peak_requests_per_second(workload) * seconds))


def _meets(target: Target, speed: Speed | None, seconds: float, hard_limit_s: float, where: str) -> None:
    """Reject when a request breaks the tier's hard limit or misses the latency target."""
    if seconds > hard_limit_s:
        raise Rejection(f"a request takes ~{seconds:,.0f} s {where}; the tier stops at {hard_limit_s:g} s")
    if target.max_seconds is not None and seconds > target.max_seconds:
        raise Rejection(
            f"a request takes ~{seconds:,.1f} s {where}, over the {target.max_seconds:g} s target "
            f"({target.why}; --max-seconds or --batch change it)"
        )
    if speed is not None and speed.decode_tokens_per_second < target.tokens_per_second_floor:
        raise Rejection(
            f"~{speed.decode_tokens_per_second:.1f} tokens/s {where} is below the "
            f"{target.tokens_per_second_floor:g} tokens/s floor ({target.why})"
        )


# --- one function per tier: an _Option, or a Rejection ------------------------------------------


def _gguf_file(profile: ModelProfile, recipe: str) -> tuple[str, str, str | None]:
    if profile.gguf is None or recipe not in profile.gguf.files:
        have = ", ".join(profile.gguf.files) if profile.gguf else "none"
        raise Rejection(f"no published {recipe} GGUF file for {profile.name} (published: {have})")
    f = profile.gguf.files[recipe]
    return f.file, profile.gguf.url(recipe), f.sha256


def _kv_read_per_token(est: MemoryEstimate) -> int:
    # a token attends to half the context on average
    return est.kv_cache_bytes // 2


def _lambda(profile: ModelProfile, recipe: str, context: int, workload: Workload, target: Target,
            book: PriceBook, region: str) -> _Option:
    lim = lambda_limits()
    if not profile.generative:
        raise Rejection(f"the lambda-gguf tier runs generative GGUF models; {profile.name} is a {profile.task} model")
    est = estimate_gguf_profile(profile, recipe, context)
    gguf_file, url, sha = _gguf_file(profile, recipe)
    in_lambda = est.total_bytes + lambda_runtime_bytes()
    need_mb = math.ceil(in_lambda * HEADROOM / MIB)
    if need_mb > lim.memory_mb_max:
        raise Rejection(
            f"needs {need_mb:,} MB ({fmt_bytes(in_lambda)} with the Lambda runtime, + 10% headroom) at {recipe}, context {context}; "
            f"Lambda allows at most {lim.memory_mb_max:,} MB"
        )
    file_mb = math.ceil(est.file_bytes / MIB)
    if file_mb > lim.ephemeral_storage_mb_max and est.file_bytes > lim.image_bytes_max:
        raise Rejection(f"the {file_mb:,} MB GGUF fits neither the 10 GB image nor /tmp's {lim.ephemeral_storage_mb_max:,} MB")
    # at least one whole vCPU: below 1,769 MB llama.cpp's threads share a fraction of a core
    smallest = max(need_mb, lim.mb_per_vcpu)
    sizes = sorted({smallest, *range(math.ceil(smallest / 1024) * 1024, lim.memory_mb_max, 1024), lim.memory_mb_max})
    requests_price = book.lambda_requests(region)

    def per_request(memory_mb: int, arch: str, seconds: float) -> float | None:
        quote = book.lambda_duration(region, arch)
        if quote is None or requests_price is None:
            return None
        return requests_price.value / 1e6 + quote.value * memory_mb / 1024 * seconds

    tried: list[tuple[float | None, int, str, Speed, float]] = []
    misses: list[str] = []
    for arch in ("x86_64", "arm64"):
        for memory_mb in sizes:
            vcpus = min(lim.vcpus_max, memory_mb / lim.mb_per_vcpu)
            speed = cpu_speed(vcpus=vcpus, weights_bytes=est.weights_bytes, kv_bytes_per_token_read=_kv_read_per_token(est),
                              parameters=profile.parameters_per_token, architecture=arch, experts=est.experts)
            seconds = speed.request_seconds(workload.input_tokens, workload.output_tokens)
            try:
                _meets(target, speed, seconds, lim.timeout_s_max, f"at {memory_mb:,} MB ({vcpus:.2f} vCPUs)")
            except Rejection as exc:
                misses.append(str(exc))
                continue
            tried.append((per_request(memory_mb, arch, seconds), memory_mb, arch, speed, seconds))
    if not tried:
        raise Rejection(misses[-1] if misses else "no memory size meets the target")
    priced = [t for t in tried if t[0] is not None]
    if priced:
        cheapest = min(t[0] for t in priced)
        # the cheapest per request; among sizes within 0.5% of it, the fastest (more memory
        # buys vCPUs, and GB-seconds stay flat because the request ends sooner)
        pick = max((t for t in priced if t[0] <= cheapest * 1.005), key=lambda t: (t[1], t[2] == "arm64"))
        how = (f"the cheapest per request that meets the target (${pick[0] * 1000:.4f} per 1,000 requests); "
               f"more memory buys vCPUs, so a request ends sooner for the same GB-seconds")
    else:
        pick = max(tried, key=lambda t: (t[1], t[2] == "x86_64"))
        how = f"the fastest size: Lambda's {region} prices are unknown, so sizes cannot be compared by cost"
    _, memory_mb, arch, speed, seconds = pick
    vcpus = min(lim.vcpus_max, memory_mb / lim.mb_per_vcpu)
    worst_s = speed.request_seconds(context, workload.output_tokens)
    timeout_s = min(lim.timeout_s_max, max(60, math.ceil(worst_s * 1.5)))
    ephemeral_mb = min(lim.ephemeral_storage_mb_max, max(lim.ephemeral_storage_mb_min, math.ceil(file_mb * HEADROOM)))
    settings = {
        "memory_mb": memory_mb,
        "vcpus": round(vcpus, 2),
        "ephemeral_storage_mb": ephemeral_mb,
        "timeout_s": timeout_s,
        "architecture": arch,
        "n_ctx": context,
        "threads": max(1, math.floor(vcpus)),
        "gguf_file": gguf_file,
        "gguf_url": url,
        "gguf_sha256": sha,
        "file_bytes": est.file_bytes,
        # None: reserving concurrency fails on new accounts whose limit is 10 (AWS keeps 10
        # unreserved); LambdaGgufEndpoint(reserved_concurrency=N) caps it explicitly
        "reserved_concurrency": None,
    }
    if worst_s * 1.5 <= timeout_s:
        covers = f"timeout {timeout_s} s covers a full {context:,}-token prompt (~{worst_s:.0f} s) with 50% margin"
    else:
        fits = int(max(0.0, (timeout_s / 1.5 - workload.output_tokens / speed.decode_tokens_per_second)) * speed.prompt_tokens_per_second)
        covers = (f"timeout {timeout_s} s does not cover a full {context:,}-token prompt (~{worst_s:.0f} s at these rates): "
                  f"prompts up to ~{fits:,} tokens finish in time")
    reasons = [
        f"{recipe} at context {context} needs {fmt_bytes(est.total_bytes)}, {fmt_bytes(in_lambda)} with the Lambda "
        f"runtime client and boto3; with 10% headroom {need_mb:,} MB (Lambda allows up to {lim.memory_mb_max:,} MB)",
        f"{memory_mb:,} MB {arch} is {how}: {vcpus:.2f} vCPUs, ~{speed.decode_tokens_per_second:.1f} tokens/s ({speed.basis})",
        f"a {workload.input_tokens}-token prompt + {workload.output_tokens}-token answer takes ~{seconds:.1f} s warm; {covers}",
    ]
    warnings = []
    if arch == "arm64":
        reasons.append(
            f"arm64 is 20% cheaper per GB-second and decodes {speed_model().cpu.arm64_speed_ratio:g}x as fast per vCPU "
            f"({speed_model().cpu.arm64_speed_source}); the image must be built for "
            "linux/arm64 (docker buildx --platform linux/arm64, QEMU or an arm64 builder) with "
            "CMAKE_ARGS=-DGGML_NATIVE=OFF so llama.cpp does not assume the build host's CPU"
        )
    concurrency = _peak_concurrency(workload, seconds)
    capacity = {
        "peak_requests_per_second": round(peak_requests_per_second(workload), 4),
        "peak_concurrency": concurrency,
        "concurrency_quota": lim.concurrent_executions_default,
    }
    if concurrency > lim.concurrent_executions_default:
        warnings.append(
            f"peak load needs ~{concurrency:,} concurrent Lambda executions; the default account quota is "
            f"{lim.concurrent_executions_default:,}: request an increase of 'Concurrent executions' (Service Quotas, "
            f"AWS Lambda) to at least {concurrency:,} before deploying"
        )
    rt = speed_model().cold_start
    cold = rt.lambda_base_s + rt.lambda_image_s_per_gb * est.file_bytes / 1e9
    return _Option(settings, reasons, est, recipe, speed, seconds, speed.time_to_first_token(workload.input_tokens),
                   cold, capacity, warnings)


def _serverless(profile: ModelProfile, recipe: str, context: int, workload: Workload, target: Target,
                book: PriceBook, region: str) -> _Option:
    lim = serverless_limits()
    cpu = speed_model().cpu
    if profile.generative:
        est = estimate_gguf_profile(profile, recipe, context)
        gguf_file, url, sha = _gguf_file(profile, recipe)
    else:
        est = estimate_framework(profile, context)
    need_mb = math.ceil(est.total_bytes * HEADROOM / MIB)
    fitting = [m for m in lim.memory_mb_allowed if m >= need_mb]
    if not fitting:
        raise Rejection(
            f"needs {need_mb:,} MB ({fmt_bytes(est.total_bytes)} + 10% headroom); serverless endpoints "
            f"offer at most {lim.memory_mb_allowed[-1]:,} MB (CPU only, no GPU)"
        )
    options: list[tuple[float | None, int, Speed | None, float]] = []
    misses: list[str] = []
    for memory_mb in fitting:
        vcpus = max(1.0, memory_mb / cpu.serverless_mb_per_vcpu)
        if profile.generative:
            speed: Speed | None = cpu_speed(vcpus=vcpus, weights_bytes=est.weights_bytes,
                                            kv_bytes_per_token_read=_kv_read_per_token(est),
                                            parameters=profile.parameters_per_token, experts=est.experts)
            seconds = speed.request_seconds(workload.input_tokens, workload.output_tokens)
        else:
            # a classifier reads the prompt once: one forward pass, no generated tokens
            speed = None
            seconds = workload.input_tokens / cpu_prompt_tokens_per_second(vcpus, profile.parameters)
        try:
            _meets(target, speed, seconds, lim.invocation_timeout_s, f"at {memory_mb:,} MB")
        except Rejection as exc:
            misses.append(str(exc))
            continue
        quote = book.serverless_gb_second(region, memory_mb)
        options.append((None if quote is None else quote.value * memory_mb / 1024 * seconds, memory_mb, speed, seconds))
    if not options:
        raise Rejection(misses[-1])
    priced = [o for o in options if o[0] is not None]
    if priced:
        cheapest = min(o[0] for o in priced)
        pick = max((o for o in priced if o[0] <= cheapest * 1.005), key=lambda o: o[1])
        how = "the cheapest per request that meets the target"
    else:
        pick = options[0]
        how = f"the smallest that fits: serverless prices in {region} are unknown"
    _, memory_mb, speed, seconds = pick
    vcpus = max(1.0, memory_mb / cpu.serverless_mb_per_vcpu)
    concurrency = _peak_concurrency(workload, seconds)
    if concurrency > lim.max_concurrency_max:
        raise Rejection(
            f"peak load needs ~{concurrency:,} concurrent requests ({peak_requests_per_second(workload):.1f}/s x "
            f"{seconds:.1f} s); a serverless endpoint serves at most {lim.max_concurrency_max}"
        )
    max_concurrency = min(lim.max_concurrency_max, max(workload.max_concurrency, concurrency))
    settings: dict[str, Any] = {
        "memory_mb": memory_mb,
        "max_concurrency": max_concurrency,
        "provisioned_concurrency": None,
    }
    reasons = [
        f"needs {fmt_bytes(est.total_bytes)}; with 10% headroom {need_mb:,} MB -> {memory_mb:,} MB, {how} "
        f"(sizes are 1,024-6,144 MB in 1 GB steps)",
    ]
    if profile.generative:
        settings.update(
            container="gguf", n_ctx=context, threads=max(1, math.floor(vcpus)), gguf_file=gguf_file,
            gguf_url=url, gguf_sha256=sha, file_bytes=est.file_bytes,
        )
        reasons.append(f"~{speed.decode_tokens_per_second:.1f} tokens/s; a request takes ~{seconds:.1f} s of the "
                       f"{lim.invocation_timeout_s} s limit")
    else:
        if profile.hf_model_id is None:
            raise Rejection(f"{profile.name} names no hf_model_id for the CPU inference container")
        settings.update(container="huggingface-cpu", hf_model_id=profile.hf_model_id, hf_task=_hf_task(profile))
        reasons.append(
            f"a {profile.task} model needs no generative runtime: a CPU inference container serves it, one forward "
            f"pass of {workload.input_tokens} tokens per request (~{seconds * 1000:.0f} ms), priced per request"
        )
    reasons.append(f"peak ~{concurrency:,} concurrent requests; max concurrency {max_concurrency} "
                   f"(the endpoint allows up to {lim.max_concurrency_max})")
    capacity = {
        "peak_requests_per_second": round(peak_requests_per_second(workload), 4),
        "peak_concurrency": concurrency,
        "concurrency_quota": lim.max_concurrency_max,
    }
    cold = speed_model().cold_start.serverless_base_s
    ttft = speed.time_to_first_token(workload.input_tokens) if speed else seconds
    return _Option(settings, reasons, est, recipe if profile.generative else "F32", speed, seconds, ttft, cold, capacity)


def _hf_task(profile: ModelProfile) -> str:
    return {"classification": "text-classification", "token-classification": "token-classification", "embedding": "feature-extraction"}.get(profile.task, "text-generation")


def _engine_refusal(profile: ModelProfile, inst: GpuInstance, dtype: str) -> str | None:
    """Why the pinned serving engine cannot run this model on this GPU family, if it cannot."""
    arch = profile.architecture
    # the data names architectures as their vendors do ("Gemma 2 (gemma2 architecture)")
    names = {"gemma2": "Gemma 2"}
    for note in inst.spec.engine_support:
        if not note.supported and arch is not None and names.get(arch.gguf_architecture, "\0") in note.applies_to:
            return f"{note.engine} cannot serve {note.applies_to} on {inst.spec.gpu} ({inst.spec.architecture}): {note.reason} ({note.source})"
    rt = gpu_runtime()
    if dtype == "FP8" and inst.spec.compute_capability_value < rt.fp8_min_compute_capability:
        return (f"FP8 weights need compute capability {rt.fp8_min_compute_capability:g} or newer "
                f"({rt.fp8_source}); {inst.spec.gpu} is {inst.spec.compute_capability}")
    return None


def _gpu(profile: ModelProfile, context: int, workload: Workload, target: Target, book: PriceBook, region: str) -> _Option:
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
            _meets(target, speed1, seconds1, hard_s, f"on {inst.instance_type}")
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
                _meets(target, s, secs, hard_s, "")
            except Rejection:
                break
            best = (c, s, secs)
        c, speed_c, seconds_c = best
        per_instance_rps = c / seconds_c
        minimum = max(1, math.ceil(avg_rps / per_instance_rps))
        peak = max(minimum, math.ceil(peak_rps / per_instance_rps))
        quote = book.instance_hour(region, inst.instance_type)
        monthly = None if quote is None else quote.value * minimum * HOURS_PER_MONTH
        offers.append((monthly, inst, dtype, usable, sequences, c, speed1, seconds1, speed_c, seconds_c,
                       per_instance_rps, minimum, peak, quote))
    if not offers:
        if set_aside:
            raise Rejection("; ".join(f"{k}: {v}" for k, v in list(set_aside.items())[:3]))
        biggest = max(gpu_instances(), key=lambda i: i.gpu_count * i.spec.usable_memory_per_gpu_mib)
        raise Rejection(
            f"needs {fmt_bytes(one.weights_bytes + one.runtime_bytes + kv_per_sequence)} of GPU memory at {one.quant} "
            f"(context {context}, one sequence); the largest instance, {biggest.instance_type}, has "
            f"{biggest.gpu_count} x {biggest.spec.usable_memory_per_gpu_mib:,} MiB usable"
        )
    priced = [o for o in offers if o[0] is not None]
    if priced:
        pick = min(priced, key=lambda o: (o[0], o[1].gpu_count, o[1].vcpus))
        unpriced = [o[1].instance_type for o in offers if o[0] is None]
    else:
        raise Rejection(f"no SageMaker price in {region} for any instance that serves it "
                        f"({', '.join(o[1].instance_type for o in offers[:4])}): the choice cannot be priced")
    (monthly, inst, dtype, usable, sequences, c, speed1, seconds1, speed_c, seconds_c, per_rps, minimum, peak, quote) = pick
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
        f"{one.quant} weights {fmt_bytes(one.weights_bytes)} + activations {fmt_bytes(one.runtime_bytes)} + KV cache "
        f"{fmt_bytes(kv_per_sequence)} per {context}-token sequence",
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
        reasons.append(f"not compared, no {region} price in tierwise/data/prices.yaml: {', '.join(unpriced)}")
    reasons.append(_against_jumpstart(profile, inst, book, region, quote.value, minimum))
    capacity = {
        "instances": peak,
        "min_instances": minimum,
        "max_instances": peak,
        "requests_per_second_per_instance": round(per_rps, 3),
        "batch_per_instance": c,
        "peak_requests_per_second": round(peak_requests_per_second(workload), 4),
    }
    return _Option(settings, reasons, est, dtype, speed_c, seconds_c, speed_c.time_to_first_token(workload.input_tokens),
                   speed_model().cold_start.gpu_s, capacity)


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


def _bedrock_facts(model_id: str) -> tuple[str | None, Any]:
    facts = bedrock_model(model_id)
    if facts is None:
        return None, None
    return facts.lifecycle, facts


def _lifecycle_check(model_id: str, facts: Any) -> list[str]:
    """Reject a Legacy/EOL model for a new deployment; say so when the state is unknown."""
    if facts is None:
        return [f"tierwise/data/bedrock_models.yaml has no entry for {model_id}: lifecycle and quotas unknown"]
    if facts.lifecycle in ("Legacy", "EOL"):
        when = f" (EOL {facts.eol_date})" if facts.eol_date else ""
        raise Rejection(f"{model_id} is {facts.lifecycle} on Bedrock{when}: not chosen for a new deployment "
                        f"({facts.lifecycle_source})")
    if facts.lifecycle is None:
        return [f"{model_id}'s Bedrock lifecycle state is not confirmed by a source ({facts.lifecycle_source})"]
    return []


def _bedrock(profile: ModelProfile, tier: Tier, commitment: str | None, context: int, workload: Workload,
             target: Target, region: str) -> _Option:
    offer = profile.bedrock
    if offer is None:
        raise Rejection(f"Bedrock does not serve {profile.name}")
    model_id = offer.model_ids[0]
    _, facts = _bedrock_facts(model_id)
    speed = bedrock_speed(model_id)
    seconds = speed.request_seconds(workload.input_tokens, workload.output_tokens)
    peak_rpm = peak_requests_per_second(workload) * 60
    peak_tpm = peak_rpm * (workload.input_tokens + workload.output_tokens)
    if tier is Tier.BEDROCK_ON_DEMAND:
        if not offer.on_demand or offer.custom_model:
            why = "a custom (fine-tuned) model" if offer.custom_model else "not offered on demand"
            raise Rejection(f"{model_id} is {why}: only provisioned throughput serves it")
        notes = [] if offer.custom_model else _lifecycle_check(model_id, facts)
        _meets(target, speed, seconds, math.inf, "on Bedrock")
        capacity: dict[str, Any] = {"peak_tokens_per_minute": round(peak_tpm), "peak_requests_per_minute": round(peak_rpm, 1)}
        warnings = [n for n in notes]
        if facts is not None and facts.on_demand_quotas is not None:
            q = facts.on_demand_quotas
            tpm, rpm = q.tokens_per_minute.in_region(region), q.requests_per_minute.in_region(region)
            capacity.update(tokens_per_minute_quota=tpm, requests_per_minute_quota=rpm)
            if peak_tpm > tpm or peak_rpm > rpm:
                raise Rejection(
                    f"peak load is ~{peak_tpm:,.0f} tokens and {peak_rpm:,.0f} requests a minute; the default on-demand "
                    f"quotas for {model_id} in {region} are {tpm:,} tokens and {rpm:,} requests a minute ({q.source})"
                )
        else:
            warnings.append(f"on-demand quotas for {model_id} are not in the data: peak load of ~{peak_tpm:,.0f} "
                            "tokens a minute is unchecked")
        reasons = [
            f"Bedrock serves {model_id} on demand: pay per token, no capacity of ours",
            f"~{speed.decode_tokens_per_second:g} tokens/s: {speed.basis}",
            f"peak ~{peak_tpm:,.0f} tokens a minute"
            + (f" against a default quota of {capacity['tokens_per_minute_quota']:,}" if "tokens_per_minute_quota" in capacity else ""),
        ]
        return _Option({"model_id": model_id, "model_units": 0}, reasons, None, None, speed, seconds,
                       speed.time_to_first_token(workload.input_tokens), speed_model().cold_start.bedrock_s, capacity, warnings)
    if not offer.provisioned_throughput:
        raise Rejection(f"Bedrock offers no provisioned throughput for {model_id}")
    allowed = bedrock_provisioned_limits().commitments
    if commitment not in allowed:
        raise TierwiseError(f"unknown commitment {commitment!r}; allowed: none, OneMonth, SixMonths")
    if offer.custom_model:
        pt_id, source = model_id, offer.source
    else:
        _lifecycle_check(model_id, facts)
        pt_id, source = _pt_model_id(model_id, facts, context)
    _meets(target, speed, seconds, math.inf, "on one model unit")
    reasons = [
        f"provisioned throughput for {pt_id} (the id the PT table lists for a {context:,}-token context, {source}): "
        f"1 model unit, {'no commitment' if commitment is None else commitment + ' commitment'}",
    ]
    capacity = {"peak_tokens_per_minute": round(peak_tpm), "model_units": 1}
    warnings = ["throughput per model unit is not published per model: one unit is assumed to carry the load"]
    if commitment is None and not offer.custom_model:
        # "Custom models support all levels of commitment. To see which base models support no
        # commitment, see Supported regions and models for Provisioned Throughput" (Bedrock API
        # reference, CreateProvisionedModelThroughput commitmentDuration, read 2026-12-01)
        warnings.append(f"only some base models can be bought with no commitment: check {pt_id} in the PT support "
                        f"table ({source}) or plan with --commitment OneMonth")
    return _Option({"model_id": pt_id, "model_units": 1, "commitment": commitment}, reasons, None, None, speed, seconds,
                   speed.time_to_first_token(workload.input_tokens), speed_model().cold_start.bedrock_s, capacity,
                   warnings)


def _pt_model_id(model_id: str, facts: Any, context: int) -> tuple[str, str]:
    """The provisioned-throughput id with the smallest context variant that holds `context`."""
    if facts is None or facts.provisioned_throughput_ids is None:
        raise Rejection(f"the provisioned-throughput ids for {model_id} are not in tierwise/data/bedrock_models.yaml "
                        "(the PT support table row was not verified)")
    ids = facts.provisioned_throughput_ids
    if not ids:
        raise Rejection(f"provisioned throughput cannot be bought for {model_id} ({facts.provisioned_throughput_source})")

    def window(pt_id: str) -> int:
        suffix = pt_id.rsplit(":", 1)[-1]
        return int(suffix[:-1]) * 1000 if suffix.endswith("k") and suffix[:-1].isdigit() else 0

    holding = sorted((i for i in ids if window(i) >= context), key=window)
    if not holding:
        raise Rejection(f"no provisioned-throughput variant of {model_id} holds a {context:,}-token context "
                        f"(variants: {', '.join(ids)})")
    return holding[0], facts.provisioned_throughput_source


# --- the decision -----------------------------------------------------------------------------


def candidates(
    profile: ModelProfile,
    quant: str | None = None,
    context: int | None = None,
    workload: Workload | None = None,
    commitment: str | None = None,
    region: str = "us-east-1",
    prices: PriceBook | None = None,
) -> dict[str, Placement | str]:
    """Every tier: a Placement it would get, or the reason it cannot take the model."""
    workload = workload or Workload()
    book = prices or load_prices()
    recipe = check_recipe(quant or profile.default_quant) if profile.architecture else None
    ctx = check_context(profile, context) if profile.architecture else (context or 4096)
    target = workload.target(profile.generative)
    out: dict[str, Placement | str] = {}
    for tier in Tier:
        try:
            if tier in SELF_HOSTED and profile.architecture is None:
                raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
            if tier is Tier.LAMBDA_GGUF:
                opt = _lambda(profile, recipe, ctx, workload, target, book, region)
            elif tier is Tier.SAGEMAKER_SERVERLESS:
                opt = _serverless(profile, recipe, ctx, workload, target, book, region)
            elif tier is Tier.SAGEMAKER_GPU:
                opt = _gpu(profile, ctx, workload, target, book, region)
            else:
                opt = _bedrock(profile, tier, commitment, ctx, workload, target, region)
        except Rejection as exc:
            out[tier.value] = str(exc)
            continue
        out[tier.value] = Placement(
            model=profile.name, tier=tier, quant=opt.quant, context=ctx, settings=opt.settings, reasons=opt.reasons,
            warnings=opt.warnings, profile=profile, memory=opt.memory, workload=workload,
            tokens_per_second=opt.speed.decode_tokens_per_second if opt.speed and profile.generative else None,
            prompt_tokens_per_second=opt.speed.prompt_tokens_per_second if opt.speed else None,
            time_to_first_token_s=opt.ttft, seconds_per_request=opt.seconds, cold_start_s=opt.cold_start_s,
            capacity={"peak_factor": workload.peak_factor, **opt.capacity}, target=target.contract(),
        )
    return out


def tier_cost(p: Placement, region: str, prices: PriceBook | None = None):
    """The monthly bill of a candidate (tierwise.cost.estimates.TierCost)."""
    return estimate_tier_cost(
        p.tier, p.settings, p.profile, p.workload, region, p.tokens_per_second,
        prompt_tokens_per_second=p.prompt_tokens_per_second, seconds_per_request=p.seconds_per_request,
        prices=prices,
    )


def _monthly_costs(feasible: dict[str, Placement], region: str, book: PriceBook) -> dict[str, tuple[float | None, float]]:
    """tier -> (monthly total or None when a price is unknown, the known part: a lower bound)."""
    costs: dict[str, tuple[float | None, float]] = {}
    for tier, p in feasible.items():
        cost = tier_cost(p, region, book)
        costs[tier] = (cost.monthly_usd, cost.known_usd)
    return costs


def rank_by_cost(costs: dict[str, tuple[float | None, float]]) -> tuple[list[str], bool]:
    """Tiers cheapest first by what is known, and whether that order is certain.

    A tier with an unknown price counts as its known part, a lower bound. The order is
    certain when the first tier's total is known and every tier with an unknown total has
    a lower bound at or above it (the lower bound already loses). Otherwise the first tier
    may not be the cheapest, and the caller says which price would settle it."""
    def value(t: str) -> float:
        total, known = costs[t]
        return total if total is not None else known

    ranked = sorted(costs, key=lambda t: (value(t), costs[t][0] is None, NATURAL_ORDER.index(t)))
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
    region: str = "us-east-1",
    task: str | None = None,
    hosting: str = "auto",
    prices: PriceBook | None = None,
) -> Placement:
    """The tier for this model and workload, its settings, why, and why not the others."""
    workload = workload or Workload()
    book = prices or load_prices()
    if tier is not None:
        tier = tier_of(tier)
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
        chosen = chosen.model_copy(update={"monthly_cost_usd": cost.monthly_usd})
        for t in feasible:
            if t != tier:
                rejected[t] = f"feasible, but --tier asked for {tier}"
    else:
        pool = _policy_pool(profile, feasible, rejected, hosting)
        if not pool:
            detail = "; ".join(f"{t}: {r}" for t, r in rejected.items())
            raise TierwiseError(f"no tier can serve {profile.name} ({target.describe()}, hosting {hosting}): {detail}")
        costs = _monthly_costs(pool, region, book)
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
                missing = tier_cost(pool[first], region, book).unknown
                others = [t for t in ranked[1:] if costs[t][0] is not None and costs[t][0] < known0 + 100]
                why.append(f"undecided in part: {first}'s total lacks {'; '.join(missing)}; its known part alone "
                           f"is the lowest figure" + (f" (and within $100 of {', '.join(others)})" if others else ""))
            doubt = [t for t in ranked[1:] if costs[t][0] is None and (total0 is None or costs[t][1] < total0)]
            for t in doubt:
                missing = tier_cost(pool[t], region, book).unknown
                why.append(f"undecided: {t} could still be cheaper (${costs[t][1]:,.2f}/month known, missing "
                           f"{'; '.join(missing)})")
        chosen = pool[first]
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
        chosen = chosen.model_copy(update={"monthly_cost_usd": total0, "runner_up": runner_up})
        warnings += _cheaper_elsewhere(feasible, pool, (total0, known0), region, book, hosting)
        for t in ranked[1:]:
            c, k = costs[t]
            cost_text = f"${c:,.2f}/month" if c is not None else f"at least ${k:,.2f}/month (a price is unknown)"
            rejected[t] = f"feasible, {cost_text} against {first}'s " + (
                f"${total0:,.2f}" if total0 is not None else "unpriced total")
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
    `managed`: Bedrock. Provisioned throughput is for custom models, or when it is the only
    way Bedrock serves the model: on demand serves the same model with no commitment."""
    pool = dict(feasible)
    if hosting == "self":
        for t in list(pool):
            if Tier(t) in MANAGED:
                rejected[t] = f"--hosting self keeps to tiers we host (force it with --tier {t})"
                del pool[t]
    elif hosting == "managed":
        for t in list(pool):
            if Tier(t) in SELF_HOSTED:
                rejected[t] = f"--hosting managed keeps to Bedrock (force it with --tier {t})"
                del pool[t]
    pt, od = Tier.BEDROCK_PROVISIONED.value, Tier.BEDROCK_ON_DEMAND.value
    custom = bool(profile.bedrock and profile.bedrock.custom_model)
    if pt in pool and not custom and len(pool) > 1:
        rejected[pt] = (
            ("on-demand serves this model with no commitment; " if od in pool else "")
            + "provisioned throughput is for custom models or guaranteed capacity (its price is quoted on request; "
            f"force it with --tier {pt})"
        )
        del pool[pt]
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
    for tier, (total, _) in _monthly_costs(set_aside, region, book).items():
        if total is not None and total < bound:
            what = "a managed API" if Tier(tier) in MANAGED else "hosting it ourselves"
            against = f"${bound:,.2f}" if chosen_total is not None else f"at least ${bound:,.2f}"
            out.append(
                f"{tier} would cost ${total:,.2f}/month against {against} ({'at least ' if chosen_total is None else ''}"
                f"${bound - total:,.2f} more under --hosting {hosting}); choose it with --tier {tier} (-c tier={tier}) "
                f"if {what} is acceptable"
            )
    return out


def plan_by_name(name: str, **kwargs) -> Placement:
    return plan(load_profile(name), **kwargs)
