"""lambda-gguf: a container-image Lambda function running llama.cpp on a GGUF, behind an
IAM-authenticated Function URL (construct: tiers/lambda_gguf/).

Fit: the GGUF, its KV cache and llama.cpp's buffers plus the Lambda runtime client, with 10%
headroom, within Lambda's memory; the file within the image or /tmp. Speed: CPU decode is
memory-bandwidth bound and vCPUs come with memory (1 per 1,769 MB), so the memory size is
chosen as the cheapest per request that meets the target (more memory ends a request sooner
for the same GB-seconds). Bill: requests, GB-seconds, /tmp above 512 MB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.facts import lambda_limits, speed_model
from tierwise.sizing import MIB, estimate_gguf_profile, fmt_bytes, lambda_runtime_bytes
from tierwise.throughput import Speed, cpu_speed
from tierwise.tiers.base import (
    HEADROOM, Ask, Option, Rejection, TierModule, Usage, meets, peak_concurrency, peak_requests_per_second,
    timeout_limitations,
)
from tierwise.quant import recipe_names
from tierwise.tiers.gguf import gguf_file, kv_read_per_token, lambda_idle_seconds

ID = "lambda-gguf"


class LambdaGgufSettings(TierSettings):
    memory_mb: int = Field(ge=128, le=10240)
    vcpus: float = Field(gt=0)
    # room for the GGUF in /tmp when loaded from S3; a model baked into the image keeps 512
    ephemeral_storage_mb: int = Field(ge=512, le=10240)
    timeout_s: int = Field(ge=1, le=900)
    architecture: Literal["x86_64", "arm64"]
    n_ctx: int = Field(gt=0)
    threads: int = Field(ge=1)
    gguf_file: str
    gguf_url: str
    gguf_sha256: str | None
    # how the deployed function gets the GGUF: baked into the image built from gguf_url (the plan's
    # own), or read at start into /tmp (-c model_uri / -c image_uri: the construct keeps
    # ephemeral_storage_mb of room). Set by `deployed`, not by the plan; not part of its JSON.
    model_baked: bool = Field(True, exclude=True)
    file_bytes: int = Field(gt=0)
    # None: reserving fails on new accounts whose concurrency limit is 10
    reserved_concurrency: int | None


class LambdaGguf(TierModule):
    id = ID
    summary = "container-image Lambda running llama.cpp on a GGUF"
    hosting = "self"
    billing = "per-use"
    settings_models = (LambdaGgufSettings,)
    options = frozenset({"quant", "model_uri", "image_uri", "architecture", "alarm_topic_arn",
                         "vpc_id", "subnet_type", "subnet_ids", "vpc_endpoints"})
    image_region_rule = "lambda_image"
    construct = "tiers.lambda_gguf.construct:LambdaGgufEndpoint"
    streaming = (True, "Function URL in RESPONSE_STREAM invoke mode (server-sent events as tokens are generated)")
    uses_key = True
    alarms = ("Errors", "Throttles", "Duration")
    client_door = "function-url"
    vpc_endpoints = {"lambda": "callers inside the VPC invoke the function (Invoke API) without leaving it"}
    serving_resource_types = ("AWS::Lambda::Function",)

    def settle(self, ask: Ask) -> Option:
        profile, recipe, context, workload, target = ask.profile, ask.recipe, ask.context, ask.workload, ask.target
        lim = lambda_limits()
        if not profile.generative:
            raise Rejection(f"the lambda-gguf tier runs generative GGUF models; {profile.name} is a {profile.task} model")
        self.check_quant(ask)
        est = estimate_gguf_profile(profile, recipe, context)
        file, url, sha = gguf_file(profile, recipe)
        in_lambda = est.total_bytes + lambda_runtime_bytes()
        need_mb = math.ceil(in_lambda * HEADROOM / MIB)
        if need_mb > lim.memory_mb_max:
            raise Rejection(
                f"needs {need_mb:,} MB ({fmt_bytes(in_lambda)} with the Lambda runtime, + 10% headroom) at {recipe}, "
                f"context {context}; Lambda allows at most {lim.memory_mb_max:,} MB"
            )
        file_mb = math.ceil(est.file_bytes / MIB)
        if file_mb > lim.ephemeral_storage_mb_max and est.file_bytes > lim.image_bytes_max:
            raise Rejection(f"the {file_mb:,} MB GGUF fits neither the 10 GB image nor /tmp's "
                            f"{lim.ephemeral_storage_mb_max:,} MB")
        # at least one whole vCPU: below 1,769 MB llama.cpp's threads share a fraction of a core
        smallest = max(need_mb, lim.mb_per_vcpu)
        sizes = sorted({smallest, *range(math.ceil(smallest / 1024) * 1024, lim.memory_mb_max, 1024), lim.memory_mb_max})
        requests_price = ask.book.lambda_requests(ask.region)

        def per_request(memory_mb: int, arch: str, seconds: float) -> float | None:
            quote = ask.book.lambda_duration(ask.region, arch)
            if quote is None or requests_price is None:
                return None
            return requests_price.value / 1e6 + quote.value * memory_mb / 1024 * seconds

        tried: list[tuple[float | None, int, str, Speed, float]] = []
        misses: list[str] = []
        for arch in ("x86_64", "arm64"):
            for memory_mb in sizes:
                vcpus = min(lim.vcpus_max, memory_mb / lim.mb_per_vcpu)
                speed = cpu_speed(vcpus=vcpus, weights_bytes=est.weights_bytes, kv_bytes_per_token_read=kv_read_per_token(est),
                                  parameters=profile.parameters_per_token, architecture=arch, experts=est.experts)
                seconds = speed.request_seconds(workload.input_tokens, workload.output_tokens)
                try:
                    meets(target, speed, seconds, lim.timeout_s_max, f"at {memory_mb:,} MB ({vcpus:.2f} vCPUs)")
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
            how = f"the fastest size: Lambda's {ask.region} prices are unknown, so sizes cannot be compared by cost"
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
            "gguf_file": file,
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
            fits = int(max(0.0, (timeout_s / 1.5 - workload.output_tokens / speed.decode_tokens_per_second))
                       * speed.prompt_tokens_per_second)
            covers = (f"timeout {timeout_s} s does not cover a full {context:,}-token prompt (~{worst_s:.0f} s at these "
                      f"rates): prompts up to ~{fits:,} tokens finish in time")
        reasons = [
            f"{recipe} at context {context} needs {fmt_bytes(est.total_bytes)}, {fmt_bytes(in_lambda)} with the Lambda "
            f"runtime client and boto3; with 10% headroom {need_mb:,} MB (Lambda allows up to {lim.memory_mb_max:,} MB)",
            f"{memory_mb:,} MB {arch} is {how}: {vcpus:.2f} vCPUs, ~{speed.decode_tokens_per_second:.1f} tokens/s "
            f"({speed.basis})",
            f"a {workload.input_tokens}-token prompt + {workload.output_tokens}-token answer takes ~{seconds:.1f} s warm; "
            f"{covers}",
        ]
        warnings = []
        if arch == "arm64":
            reasons.append(
                f"arm64 is 20% cheaper per GB-second and decodes {speed_model().cpu.arm64_speed_ratio:g}x as fast per "
                f"vCPU ({speed_model().cpu.arm64_speed_source}); the image must be built for "
                "linux/arm64 (docker buildx --platform linux/arm64, QEMU or an arm64 builder) with "
                "CMAKE_ARGS=-DGGML_NATIVE=OFF so llama.cpp does not assume the build host's CPU"
            )
        concurrency = peak_concurrency(workload, seconds)
        capacity = {
            "peak_requests_per_second": round(peak_requests_per_second(workload), 4),
            "peak_concurrency": concurrency,
            "concurrency_quota": lim.concurrent_executions_default,
        }
        if concurrency > lim.concurrent_executions_default:
            warnings.append(
                f"peak load needs ~{concurrency:,} concurrent Lambda executions; the default account quota is "
                f"{lim.concurrent_executions_default:,}: request an increase of 'Concurrent executions' (Service "
                f"Quotas, AWS Lambda) to at least {concurrency:,} before deploying"
            )
        cold, _ = self.cold_start(LambdaGgufSettings(**settings))
        return Option(settings, reasons, est, recipe, speed, seconds, speed.time_to_first_token(workload.input_tokens),
                      cold, capacity, warnings)

    def quants(self) -> tuple[str, ...]:
        return recipe_names()

    def idle_seconds(self, settings: TierSettings) -> tuple[float | None, str] | None:
        return lambda_idle_seconds()

    def deployed(self, settings: TierSettings, options: Mapping[str, Any]) -> TierSettings:
        # the construct keeps /tmp room for a GGUF it does not bake (LambdaGgufEndpoint.for_placement)
        if options.get("model_uri") is not None or options.get("image_uri") is not None:
            return self.settings(settings).model_copy(update={"model_baked": False})
        return settings

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        return bills.lambda_function(
            book, region, memory_mb=float(s.memory_mb), architecture=s.architecture,
            ephemeral_storage_mb=float(deployed_ephemeral_mb(s)), requests=usage.workload.requests_per_month,
            seconds=usage.seconds_per_request,
        )

    def bills_request_time(self) -> bool:
        return True

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        s = self.settings(settings)
        rt = speed_model().cold_start
        gb = s.file_bytes / 1e9
        return (rt.lambda_base_s + rt.lambda_image_s_per_gb * gb,
                f"scales to zero; a cold start pulls the image and loads {gb:.1f} GB of weights")

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        s = self.settings(settings)
        lim = lambda_limits()
        return ["no GPU", *timeout_limitations("timeout", s.timeout_s, seconds),
                f"no payload over {lim.sync_payload_bytes_max // 2**20} MB"]


def deployed_ephemeral_mb(settings: LambdaGgufSettings) -> int:
    """The /tmp size the function is deployed with: a plan names the GGUF that LambdaGgufEndpoint
    bakes into the image (gguf_url), so /tmp holds nothing of the model and the construct keeps
    Lambda's minimum; ephemeral_storage_mb is the room a model read from S3 needs (-c model_uri)."""
    if settings.gguf_url and settings.model_baked:
        return lambda_limits().ephemeral_storage_mb_min
    return settings.ephemeral_storage_mb


TIER = LambdaGguf()
