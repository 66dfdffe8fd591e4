"""Where a model runs: the article's task -> model -> compute reasoning, made executable.

`candidates()` sizes the model for every tier and either settles that tier's settings or
says which limit it breaks; `plan()` picks the cheapest feasible one (by the price file when
every feasible tier can be priced, else by the tiers' natural cost order) and keeps the
reasons and the rejections, so the user sees why.
"""

from __future__ import annotations

import math
from typing import Any, Callable, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from model_profiles import load_catalogue, load_profile
from model_profiles.schema import GENERATIVE_TASKS, ModelProfile, Task
from tierwise.contract import SELF_HOSTED, TIERS, Settings, Tier, settings_for, tier_of
from tierwise.cost.estimates import estimate_tier_cost
from tierwise.errors import TierwiseError
from tierwise.facts import load
from tierwise.cost.prices import gpu_instance_hourly
from tierwise.quant import check_recipe
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
from tierwise.throughput import Speed, bedrock_speed, cpu_speed, gpu_speed
from tierwise.workload import Workload

# Without prices, this is the order tiers cost in for a modest workload: pay-per-use CPU,
# then an always-on GPU, then Bedrock capacity.
NATURAL_ORDER = TIERS
HEADROOM = 1.10  # memory above the estimate, for allocator slack and the OS


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
    tokens_per_second: float | None = None
    prompt_tokens_per_second: float | None = None
    monthly_cost_usd: float | None = None
    runner_up: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_settings(cls, values: Any) -> Any:
        # a dict of settings becomes the tier's settings model (and is checked against it)
        if isinstance(values, dict) and "tier" in values and isinstance(values.get("settings"), dict):
            values = {**values, "settings": settings_for(values["tier"], values["settings"])}
        return values

    def contract(self) -> dict[str, Any]:
        """The `tierwise plan --json` contract."""
        out = {
            "model": self.model,
            "tier": self.tier,
            "quant": self.quant,
            "context": self.context,
            "settings": self.settings.model_dump(),
            "reasons": self.reasons,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "tokens_per_second": None if self.tokens_per_second is None else round(self.tokens_per_second, 2),
            "monthly_cost_usd": None if self.monthly_cost_usd is None else round(self.monthly_cost_usd, 2),
            "runner_up": self.runner_up,
            "workload": self.workload.model_dump(),
        }
        if self.memory is not None:
            out["memory"] = self.memory.contract()
        return out


class Rejection(Exception):
    """A tier cannot serve this model; the message names the limit and the numbers."""


def _limits() -> dict[str, Any]:
    return load("aws_limits")


# --- one function per tier: settings, or a Rejection ----------------------------------------


def _gguf_file(profile: ModelProfile, recipe: str) -> tuple[str, str, str | None]:
    if profile.gguf is None or recipe not in profile.gguf.files:
        have = ", ".join(profile.gguf.files) if profile.gguf else "none"
        raise Rejection(f"no published {recipe} GGUF file for {profile.name} (published: {have})")
    f = profile.gguf.files[recipe]
    return f.file, profile.gguf.url(recipe), f.sha256


def _kv_read_per_token(est: MemoryEstimate) -> int:
    # a token attends to half the context on average
    return est.kv_cache_bytes // 2


def _lambda(profile: ModelProfile, recipe: str, context: int, workload: Workload) -> tuple[dict, list[str], MemoryEstimate, Speed]:
    lim = _limits()["lambda"]
    if not profile.generative:
        raise Rejection(f"the lambda-gguf tier runs generative GGUF models; {profile.name} is a {profile.task} model")
    est = estimate_gguf_profile(profile, recipe, context)
    gguf_file, url, sha = _gguf_file(profile, recipe)
    in_lambda = est.total_bytes + lambda_runtime_bytes()
    need_mb = math.ceil(in_lambda * HEADROOM / MIB)
    if need_mb > lim["memory_mb_max"]:
        raise Rejection(
            f"needs {need_mb:,} MB ({fmt_bytes(in_lambda)} with the Lambda runtime, + 10% headroom) at {recipe}, context {context}; "
            f"Lambda allows at most {lim['memory_mb_max']:,} MB"
        )
    file_mb = math.ceil(est.file_bytes / MIB)
    if file_mb > lim["ephemeral_storage_mb_max"] and est.file_bytes > lim["image_bytes_max"]:
        raise Rejection(f"the {file_mb:,} MB GGUF fits neither the 10 GB image nor /tmp's {lim['ephemeral_storage_mb_max']:,} MB")
    # at least one whole vCPU: below 1,769 MB llama.cpp's threads share a fraction of a core
    memory_mb = max(need_mb, lim["mb_per_vcpu"])
    speed = None
    while True:
        vcpus = min(lim["vcpus_max"], memory_mb / lim["mb_per_vcpu"])
        speed = cpu_speed(vcpus=vcpus, weights_bytes=est.weights_bytes, kv_bytes_per_token_read=_kv_read_per_token(est), parameters=profile.parameters)
        if speed.decode_tokens_per_second >= workload.tokens_per_second_floor or memory_mb >= lim["memory_mb_max"]:
            break
        memory_mb = min(lim["memory_mb_max"], memory_mb + 512)
    if speed.decode_tokens_per_second < workload.tokens_per_second_floor:
        raise Rejection(
            f"~{speed.decode_tokens_per_second:.1f} tokens/s at 6 vCPUs ({speed.basis}) is below the "
            f"{workload.tokens_per_second_floor:g} tokens/s floor"
        )
    worst_s = speed.request_seconds(context, workload.output_tokens)
    typical_s = speed.request_seconds(workload.input_tokens, workload.output_tokens)
    if typical_s > lim["timeout_s_max"]:
        raise Rejection(
            f"a {workload.input_tokens}-token prompt + {workload.output_tokens}-token answer takes ~{typical_s:.0f} s; "
            f"Lambda stops at {lim['timeout_s_max']} s"
        )
    timeout_s = min(lim["timeout_s_max"], max(60, math.ceil(worst_s * 1.5)))
    ephemeral_mb = min(lim["ephemeral_storage_mb_max"], max(lim["ephemeral_storage_mb_min"], math.ceil(file_mb * HEADROOM)))
    settings = {
        "memory_mb": memory_mb,
        "vcpus": round(vcpus, 2),
        "ephemeral_storage_mb": ephemeral_mb,
        "timeout_s": timeout_s,
        "architecture": "x86_64",
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
    reasons = [
        f"{recipe} at context {context} needs {fmt_bytes(est.total_bytes)}, {fmt_bytes(in_lambda)} with the Lambda "
        f"runtime client and boto3; with 10% headroom {need_mb:,} MB, "
        f"{lim['memory_mb_max'] - memory_mb:,} MB under Lambda's {lim['memory_mb_max']:,} MB limit",
        f"{memory_mb:,} MB gives {vcpus:.2f} vCPUs: ~{speed.decode_tokens_per_second:.1f} tokens/s ({speed.basis})",
        f"a {workload.input_tokens}-token prompt + {workload.output_tokens}-token answer takes ~{typical_s:.0f} s; "
        f"timeout {timeout_s} s covers a full {context}-token prompt",
    ]
    return settings, reasons, est, speed


def _serverless(profile: ModelProfile, recipe: str, context: int, workload: Workload) -> tuple[dict, list[str], MemoryEstimate, Speed]:
    lim = _limits()["sagemaker_serverless"]
    cpu = load("throughput")["cpu"]
    if profile.generative:
        est = estimate_gguf_profile(profile, recipe, context)
        gguf_file, url, sha = _gguf_file(profile, recipe)
    else:
        est = estimate_framework(profile, context)
    need_mb = math.ceil(est.total_bytes * HEADROOM / MIB)
    allowed = lim["memory_mb_allowed"]
    fitting = [m for m in allowed if m >= need_mb]
    if not fitting:
        raise Rejection(
            f"needs {need_mb:,} MB ({fmt_bytes(est.total_bytes)} + 10% headroom); serverless endpoints "
            f"offer at most {allowed[-1]:,} MB (CPU only, no GPU)"
        )
    memory_mb = fitting[0]
    vcpus = max(1.0, memory_mb / cpu["serverless_mb_per_vcpu"])
    speed = cpu_speed(vcpus=vcpus, weights_bytes=est.weights_bytes, kv_bytes_per_token_read=_kv_read_per_token(est), parameters=profile.parameters)
    settings: dict[str, Any] = {
        "memory_mb": memory_mb,
        "max_concurrency": min(lim["max_concurrency_max"], workload.max_concurrency),
        "provisioned_concurrency": None,
    }
    reasons = [
        f"needs {fmt_bytes(est.total_bytes)}; with 10% headroom {need_mb:,} MB -> the {memory_mb:,} MB size "
        f"({memory_mb - need_mb:,} MB spare; sizes are 1,024-6,144 MB in 1 GB steps)",
    ]
    if profile.generative:
        typical_s = speed.request_seconds(workload.input_tokens, workload.output_tokens)
        if typical_s > lim["invocation_timeout_s"]:
            raise Rejection(
                f"a {workload.input_tokens}-token prompt + {workload.output_tokens}-token answer takes ~{typical_s:.0f} s "
                f"at ~{speed.decode_tokens_per_second:.1f} tokens/s ({speed.basis}); serverless invocations end at "
                f"{lim['invocation_timeout_s']} s"
            )
        if speed.decode_tokens_per_second < workload.tokens_per_second_floor:
            raise Rejection(
                f"~{speed.decode_tokens_per_second:.1f} tokens/s is below the {workload.tokens_per_second_floor:g} tokens/s floor"
            )
        settings.update(
            container="gguf", n_ctx=context, threads=max(1, math.floor(vcpus)), gguf_file=gguf_file,
            gguf_url=url, gguf_sha256=sha, file_bytes=est.file_bytes,
        )
        reasons.append(f"~{speed.decode_tokens_per_second:.1f} tokens/s; a typical request takes ~{typical_s:.0f} s of the 60 s limit")
    else:
        if profile.hf_model_id is None:
            raise Rejection(f"{profile.name} names no hf_model_id for the CPU inference container")
        settings.update(container="huggingface-cpu", hf_model_id=profile.hf_model_id, hf_task=_hf_task(profile))
        reasons.append(f"a {profile.task} model needs no generative runtime: a CPU inference container serves it")
    return settings, reasons, est, speed


def _hf_task(profile: ModelProfile) -> str:
    return {"classification": "text-classification", "token-classification": "token-classification", "embedding": "feature-extraction"}.get(profile.task, "text-generation")


def gpu_instances() -> list[dict[str, Any]]:
    data = load("gpu_instances")
    out = []
    for name, (gpus, vcpus, host_gib) in data["instances"].items():
        family = name.rsplit(".", 1)[0]
        fam = data["families"][family]
        out.append(
            {
                "instance_type": name, "family": family, "gpu_count": gpus, "vcpus": vcpus, "host_memory_gib": host_gib,
                "gpu_memory_gb": fam["memory_per_gpu_gib"], "local_nvme": fam["local_nvme"], "gpu": fam["gpu"],
            }
        )
    return out


def _gpu(profile: ModelProfile, context: int, workload: Workload, price_of: Callable[[str], float | None] | None) -> tuple[dict, list[str], MemoryEstimate, Speed]:
    rt = load("runtime_model")["gpu"]
    arch = profile.architecture
    if arch is None:
        raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
    batch = workload.max_concurrency
    est = estimate_gpu(profile, context, batch=batch)
    candidates = []
    for inst in gpu_instances():
        n = inst["gpu_count"]
        if arch.attention_heads % n:
            continue  # tensor parallelism splits heads evenly across GPUs
        usable = n * (inst["gpu_memory_gb"] * GIB * rt["gpu_memory_utilization"] - rt["per_gpu_overhead_bytes"])
        if est.total_bytes <= usable:
            candidates.append((inst, usable))
    fits = bool(candidates)
    candidates = [
        (inst, usable) for inst, usable in candidates
        if gpu_speed(family=inst["family"], gpu_count=inst["gpu_count"], weights_bytes=est.weights_bytes,
                     parameters=profile.parameters).decode_tokens_per_second >= workload.tokens_per_second_floor
    ]
    if fits and not candidates:
        raise Rejection(
            f"no GPU instance that holds {fmt_bytes(est.total_bytes)} reaches the "
            f"{workload.tokens_per_second_floor:g} tokens/s floor"
        )
    if not candidates:
        biggest = max(gpu_instances(), key=lambda i: i["gpu_count"] * i["gpu_memory_gb"])
        raise Rejection(
            f"needs {fmt_bytes(est.total_bytes)} of GPU memory at {est.quant} (context {context}, batch {batch}); "
            f"the largest instance, {biggest['instance_type']}, has {biggest['gpu_count']} x {biggest['gpu_memory_gb']} GiB"
        )

    def order(c):
        inst, _ = c
        price = price_of(inst["instance_type"]) if price_of else None
        return (price if price is not None else math.inf, inst["gpu_count"] * inst["gpu_memory_gb"], inst["vcpus"])

    inst, usable = min(candidates, key=order)
    priced = price_of(inst["instance_type"]) if price_of else None
    speed = gpu_speed(family=inst["family"], gpu_count=inst["gpu_count"], weights_bytes=est.weights_bytes, parameters=profile.parameters)
    weights_gb = est.weights_bytes / 1e9
    family = load("gpu_instances")["families"][inst["family"]]
    dtype = est.quant
    if dtype == "BF16" and not family.get("bf16", True):
        dtype = "F16"  # same memory; the GPU computes in FP16
    settings = {
        "instance_type": inst["instance_type"],
        "gpu_count": inst["gpu_count"],
        "gpu_memory_gb": inst["gpu_memory_gb"],
        "tensor_parallel_degree": inst["gpu_count"],
        "serving_dtype": dtype,
        "hf_model_id": profile.hf_model_id,
        "max_model_len": context,
        "max_batch_size": batch,
        "volume_size_gb": min(512, max(30, math.ceil(weights_gb * 2 + 10))),
        # download at ~100 MB/s + load and warm-up
        "startup_health_check_timeout_s": min(3600, max(600, math.ceil(weights_gb * 10 + 300))),
        "min_instances": 1,
        "max_instances": 2,
        "local_nvme": inst["local_nvme"],
    }
    how = f"at ${priced:.2f}/h the cheapest" if priced is not None else "the smallest"
    reasons = [
        f"{est.quant} weights {fmt_bytes(est.weights_bytes)} + KV cache {fmt_bytes(est.kv_cache_bytes)} "
        f"(context {context} x batch {batch}) + activations = {fmt_bytes(est.total_bytes)}",
        f"{inst['instance_type']} is {how} instance that holds it: {inst['gpu_count']} x {inst['gpu']} "
        f"{inst['gpu_memory_gb']} GiB, {fmt_bytes(usable)} usable after CUDA overhead and the 90% memory "
        f"utilization ({fmt_bytes(usable - est.total_bytes)} spare)",
        f"tensor-parallel degree {inst['gpu_count']}; ~{speed.decode_tokens_per_second:.0f} tokens/s ({speed.basis})",
    ]
    return settings, reasons, est, speed


def _bedrock(profile: ModelProfile, tier: str, commitment: str | None) -> tuple[dict, list[str], None, Speed]:
    offer = profile.bedrock
    if offer is None:
        raise Rejection(f"Bedrock does not serve {profile.name}")
    if tier == "bedrock-on-demand":
        if not offer.on_demand or offer.custom_model:
            why = "a custom (fine-tuned) model" if offer.custom_model else "not offered on demand"
            raise Rejection(f"{offer.model_ids[0]} is {why}: only provisioned throughput serves it")
        return (
            {"model_id": offer.model_ids[0], "model_units": 0},
            [f"Bedrock serves {offer.model_ids[0]} on demand: pay per token, no capacity of ours"],
            None,
            bedrock_speed(),
        )
    if not offer.provisioned_throughput:
        raise Rejection(f"Bedrock offers no provisioned throughput for {offer.model_ids[0]}")
    allowed = _limits()["bedrock_provisioned"]["commitments"]
    if commitment not in allowed:
        raise TierwiseError(f"unknown commitment {commitment!r}; allowed: none, OneMonth, SixMonths")
    return (
        {"model_id": offer.model_ids[0], "model_units": 1, "commitment": commitment},
        [f"provisioned throughput for {offer.model_ids[0]}: 1 model unit, "
         f"{'no commitment' if commitment is None else commitment + ' commitment'}"],
        None,
        bedrock_speed(1),
    )


# --- the decision -----------------------------------------------------------------------------


def candidates(
    profile: ModelProfile,
    quant: str | None = None,
    context: int | None = None,
    workload: Workload | None = None,
    commitment: str | None = None,
    price_of_instance: Callable[[str], float | None] | None = None,
) -> dict[str, Placement | str]:
    """Every tier: a Placement it would get, or the reason it cannot take the model."""
    workload = workload or Workload()
    recipe = check_recipe(quant or profile.default_quant) if profile.architecture else None
    ctx = check_context(profile, context) if profile.architecture else (context or 4096)
    if price_of_instance is None:
        price_of_instance = _instance_price_lookup()
    out: dict[str, Placement | str] = {}
    for tier in TIERS:
        try:
            if tier == "lambda-gguf":
                if profile.architecture is None:
                    raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
                settings, reasons, est, speed = _lambda(profile, recipe, ctx, workload)
                q = recipe
            elif tier == "sagemaker-serverless":
                if profile.architecture is None:
                    raise Rejection(f"{profile.name} is a closed model: its weights cannot be hosted")
                settings, reasons, est, speed = _serverless(profile, recipe, ctx, workload)
                q = recipe if profile.generative else "F32"
            elif tier == "sagemaker-gpu":
                settings, reasons, est, speed = _gpu(profile, ctx, workload, price_of_instance)
                q = settings["serving_dtype"]
            else:
                settings, reasons, est, speed = _bedrock(profile, tier, commitment)
                q = None
        except Rejection as exc:
            out[tier] = str(exc)
            continue
        out[tier] = Placement(
            model=profile.name, tier=tier, quant=q, context=ctx, settings=settings, reasons=reasons,
            profile=profile, memory=est, workload=workload, tokens_per_second=speed.decode_tokens_per_second,
            prompt_tokens_per_second=speed.prompt_tokens_per_second,
        )
    return out


def _instance_price_lookup() -> Callable[[str], float | None]:
    # us-east-1 has the most sourced instance prices; they order instances in any region
    # (relative prices move together), while the tier's own cost is priced in its region
    return lambda instance_type: gpu_instance_hourly(instance_type, "us-east-1")


def _monthly_costs(feasible: dict[str, Placement], region: str) -> dict[str, tuple[float | None, float]]:
    """tier -> (monthly total or None when a price is unknown, the known part: a lower bound)."""
    costs: dict[str, tuple[float | None, float]] = {}
    for tier, p in feasible.items():
        cost = estimate_tier_cost(
            tier, p.settings, p.profile, p.workload, region, p.tokens_per_second,
            prompt_tokens_per_second=p.prompt_tokens_per_second,
        )
        costs[tier] = (cost.monthly_usd, cost.known_usd)
    return costs


def rank_by_cost(costs: dict[str, tuple[float | None, float]]) -> tuple[list[str], bool]:
    """Tiers cheapest first, and whether that order is certain.

    A tier with an unknown price costs at least its known part. The order is certain when
    the first tier's total is known and no other tier's lower bound is below it."""
    def key(t):
        total, known = costs[t]
        return (total if total is not None else known, NATURAL_ORDER.index(t))

    ranked = sorted(costs, key=key)
    best_total = costs[ranked[0]][0]
    certain = best_total is not None and all(
        costs[t][0] is not None or costs[t][1] >= best_total for t in ranked[1:]
    )
    if not certain:
        # fall back to the natural order among the tiers that could still be cheapest
        best_known = min((c[0] for c in costs.values() if c[0] is not None), default=None)
        open_tiers = [t for t in costs if best_known is None or costs[t][1] <= best_known]
        ranked = sorted(open_tiers, key=NATURAL_ORDER.index) + [t for t in ranked if t not in open_tiers]
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
) -> Placement:
    """The tier for this model and workload, its settings, why, and why not the others."""
    workload = workload or Workload()
    if tier is not None:
        tier = tier_of(tier)
    if quant is not None and profile.architecture is None:
        raise TierwiseError(f"{profile.name} is served by Bedrock only; --quant does not apply to it")
    options = candidates(profile, quant, context, workload, commitment)
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

    if tier is not None:
        if tier not in feasible:
            raise TierwiseError(f"tier {tier} cannot serve {profile.name}: {rejected[tier]}")
        chosen = feasible[tier]
        why = [f"tier {tier} was asked for (--tier)"]
        for t in feasible:
            if t != tier:
                rejected[t] = f"feasible, but --tier asked for {tier}"
    else:
        pool = _policy_pool(profile, feasible, rejected)
        if not pool:
            detail = "; ".join(f"{t}: {r}" for t, r in rejected.items())
            raise TierwiseError(f"no tier can serve {profile.name}: {detail}")
        costs = _monthly_costs(pool, region)
        ranked, certain = rank_by_cost(costs)
        total0 = costs[ranked[0]][0]
        if certain:
            why = [f"cheapest feasible tier for {workload.requests_per_month:,} requests/month in {region}: "
                   f"${total0:,.2f}/month"]
        else:
            unknown = [t for t in ranked if costs[t][0] is None]
            why = [f"first feasible tier in cost order (pay-per-use CPU, always-on GPU, Bedrock capacity): "
                   f"the price file cannot total {', '.join(unknown)} in {region}"]
        chosen = pool[ranked[0]]
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
        warnings += _cheaper_managed_tiers(feasible, pool, total0, region)
        for t in ranked[1:]:
            c, k = costs[t]
            cost_text = f"${c:,.2f}/month" if c is not None else f"at least ${k:,.2f}/month (a price is unknown)"
            rejected[t] = f"feasible, {cost_text} against {ranked[0]}'s " + (
                f"${total0:,.2f}" if total0 is not None else "unpriced total")
    if not profile.generative:
        why.insert(0, f"task first: {profile.task} is predictive, so no generative model; the smallest CPU tier that fits")
    return chosen.model_copy(
        update={"reasons": why + chosen.reasons, "rejected": rejected, "warnings": warnings + chosen.warnings}
    )


def _policy_pool(profile: ModelProfile, feasible: dict[str, Placement], rejected: dict[str, str]) -> dict[str, Placement]:
    """Bedrock on demand is for models we cannot host (DESIGN.md): an open model that fits a
    tier of ours is hosted; provisioned throughput is for custom models or when nothing else
    serves the model."""
    hosted = {t: p for t, p in feasible.items() if t in SELF_HOSTED}
    if hosted:
        for t in ("bedrock-on-demand", "bedrock-provisioned"):
            if t in feasible:
                rejected[t] = (
                    f"{profile.name} fits a tier we host ({', '.join(hosted)}); Bedrock is for models we cannot "
                    f"host (force it with --tier {t})"
                )
        return hosted
    if profile.bedrock and profile.bedrock.custom_model and "bedrock-provisioned" in feasible:
        return {"bedrock-provisioned": feasible["bedrock-provisioned"]}
    if "bedrock-on-demand" in feasible:
        if "bedrock-provisioned" in feasible:
            rejected["bedrock-provisioned"] = (
                "on-demand serves this model with no commitment; provisioned throughput is for custom models "
                "or guaranteed capacity (force it with --tier bedrock-provisioned)"
            )
        return {"bedrock-on-demand": feasible["bedrock-on-demand"]}
    return {t: p for t, p in feasible.items()}


def _cheaper_managed_tiers(
    feasible: dict[str, Placement], pool: dict[str, Placement], chosen_usd: float | None, region: str
) -> list[str]:
    """Say so when a Bedrock tier the policy set aside would cost less: the user may accept a
    managed API for an open model, and should know what hosting it costs them."""
    if chosen_usd is None:
        return []
    set_aside = {t: p for t, p in feasible.items() if t not in pool}
    out = []
    for tier, (total, _) in _monthly_costs(set_aside, region).items():
        if total is not None and total < chosen_usd:
            out.append(
                f"{tier} would cost ${total:,.2f}/month against ${chosen_usd:,.2f} for hosting it ourselves; "
                f"choose it with --tier {tier} (-c tier={tier}) if a managed API is acceptable"
            )
    return out


def plan_by_name(name: str, **kwargs) -> Placement:
    return plan(load_profile(name), **kwargs)
