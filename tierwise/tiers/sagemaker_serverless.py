"""sagemaker-serverless: a SageMaker Serverless Inference endpoint on CPU, running the GGUF
runtime image (generative models) or the Hugging Face CPU container (predictive models)
(construct: tiers/sagemaker_serverless/).

Fit: memory from the sizing with 10% headroom, in the sizes serverless offers (1-6 GB); no GPU.
Speed: CPU, one vCPU per 1,769 MB as on Lambda (AWS publishes no figure; compute scales with
memory). Bill: GB-seconds per request and the data processed in and out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag

from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.errors import TierwiseError
from tierwise.facts import serverless_limits, speed_model
from tierwise.sizing import MIB, estimate_framework, estimate_gguf_profile, fmt_bytes
from tierwise.throughput import Speed, cpu_prompt_tokens_per_second, cpu_speed
from tierwise.tiers.base import (
    HEADROOM, Ask, Option, Rejection, TierModule, Usage, meets, peak_concurrency, peak_requests_per_second,
    timeout_limitations,
)
from tierwise.quant import recipe_names
from tierwise.tiers.gguf import gguf_file, kv_read_per_token, serverless_idle_basis

ID = "sagemaker-serverless"
GGUF_CONTAINER = "gguf"
HF_CONTAINER = "huggingface-cpu"
# the Hugging Face inference toolkit's task names for the catalogue's predictive tasks
NO_VPC = ("SageMaker Serverless Inference supports no VPC configuration (a documented feature exclusion, "
          "docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html), so it cannot run in the VPC")
HF_TASKS = {"classification": "text-classification", "token-classification": "token-classification",
            "embedding": "feature-extraction"}


class _ServerlessBase(TierSettings):
    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144]
    max_concurrency: int = Field(ge=1, le=200)
    provisioned_concurrency: int | None


class ServerlessGgufSettings(_ServerlessBase):
    """The tier's llama.cpp runtime image serving a GGUF."""

    container: Literal["gguf"] = GGUF_CONTAINER
    n_ctx: int = Field(gt=0)
    threads: int = Field(ge=1)
    gguf_file: str
    gguf_url: str
    gguf_sha256: str | None
    file_bytes: int = Field(gt=0)


class ServerlessHfSettings(_ServerlessBase):
    """The Hugging Face CPU inference container serving a predictive model."""

    container: Literal["huggingface-cpu"] = HF_CONTAINER
    hf_model_id: str
    hf_task: str
    # the Hub commit the container downloads (the profile's hub pin); None: the repository's main
    hf_revision: str | None = Field(None, pattern=r"^[0-9a-f]{40}$")


SageMakerServerlessSettings = Annotated[
    Union[Annotated[ServerlessGgufSettings, Tag(GGUF_CONTAINER)], Annotated[ServerlessHfSettings, Tag(HF_CONTAINER)]],
    Discriminator(lambda v: v.get("container") if isinstance(v, dict) else getattr(v, "container", None)),
]


class SageMakerServerless(TierModule):
    id = ID
    summary = "SageMaker Serverless Inference endpoint, CPU only"
    hosting = "self"
    billing = "per-use"
    settings_models = (ServerlessGgufSettings, ServerlessHfSettings)
    options = frozenset({"quant", "model_uri", "image_uri", "alarm_topic_arn"})
    image_region_rule = "sagemaker_image"
    construct = "tiers.sagemaker_serverless.construct:SageMakerServerlessEndpoint"
    streaming = (False, "InvokeEndpoint only: SageMaker streams responses from real-time endpoints, "
                        "not serverless ones, so the events arrive together at the end")
    uses_key = True
    alarms = ("Errors", "Latency")
    client_door = "sagemaker-endpoint"
    serving_resource_types = ("AWS::SageMaker::EndpointConfig",)

    def settings_model_for(self, values: Mapping[str, Any]) -> type[TierSettings]:
        return ServerlessHfSettings if values.get("container") == HF_CONTAINER else ServerlessGgufSettings

    def settle(self, ask: Ask) -> Option:
        profile, recipe, context, workload, target = ask.profile, ask.recipe, ask.context, ask.workload, ask.target
        lim = serverless_limits()
        cpu = speed_model().cpu
        if profile.generative:
            self.check_quant(ask)
            est = estimate_gguf_profile(profile, recipe, context)
            file, url, sha = gguf_file(profile, recipe)
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
                                                kv_bytes_per_token_read=kv_read_per_token(est),
                                                parameters=profile.parameters_per_token, experts=est.experts)
                seconds = speed.request_seconds(workload.input_tokens, workload.output_tokens)
            else:
                # a classifier reads the prompt once: one forward pass, no generated tokens
                speed = None
                seconds = workload.input_tokens / cpu_prompt_tokens_per_second(vcpus, profile.parameters)
            try:
                meets(target, speed, seconds, lim.invocation_timeout_s, f"at {memory_mb:,} MB")
            except Rejection as exc:
                misses.append(str(exc))
                continue
            quote = ask.book.serverless_gb_second(ask.region, memory_mb)
            options.append((None if quote is None else quote.value * memory_mb / 1024 * seconds, memory_mb, speed,
                            seconds))
        if not options:
            raise Rejection(misses[-1])
        priced = [o for o in options if o[0] is not None]
        if priced:
            cheapest = min(o[0] for o in priced)
            pick = max((o for o in priced if o[0] <= cheapest * 1.005), key=lambda o: o[1])
            how = "the cheapest per request that meets the target"
        else:
            pick = options[0]
            how = f"the smallest that fits: serverless prices in {ask.region} are unknown"
        _, memory_mb, speed, seconds = pick
        vcpus = max(1.0, memory_mb / cpu.serverless_mb_per_vcpu)
        concurrency = peak_concurrency(workload, seconds)
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
                container=GGUF_CONTAINER, n_ctx=context, threads=max(1, math.floor(vcpus)), gguf_file=file,
                gguf_url=url, gguf_sha256=sha, file_bytes=est.file_bytes,
            )
            reasons.append(f"~{speed.decode_tokens_per_second:.1f} tokens/s; a request takes ~{seconds:.1f} s of the "
                           f"{lim.invocation_timeout_s} s limit")
        else:
            if profile.hf_model_id is None:
                raise Rejection(f"{profile.name} names no hf_model_id for the CPU inference container")
            settings.update(container=HF_CONTAINER, hf_model_id=profile.hf_model_id,
                            hf_task=HF_TASKS.get(profile.task, "text-generation"),
                            hf_revision=profile.hub.revision if profile.hub else None)
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
        ttft = speed.time_to_first_token(workload.input_tokens) if speed else seconds
        return Option(settings, reasons, est, recipe if profile.generative else "F32", speed, seconds, ttft,
                      speed_model().cold_start.serverless_base_s, capacity)

    def quants(self) -> tuple[str, ...]:
        return recipe_names()

    def idle_seconds(self, settings: TierSettings) -> tuple[float | None, str] | None:
        if self.settings(settings).provisioned_concurrency:
            return None
        return None, serverless_idle_basis()

    def check_options(self, placement: Any, options: Mapping[str, Any], *, forced: bool) -> None:
        if placement.settings.container != GGUF_CONTAINER:
            for name in ("model_uri", "image_uri"):
                if name in options:
                    raise TierwiseError(f"-c {name} applies to GGUF models; {placement.model} runs the Hugging Face "
                                        "CPU container")

    def reads(self, option: str, placement: Any) -> bool:
        gguf = placement.settings.container == GGUF_CONTAINER
        return option in self.options and (gguf or option not in ("quant", "model_uri", "image_uri"))

    def refusal(self, option: str) -> str | None:
        if option in ("vpc_id", "subnet_type", "subnet_ids", "vpc_endpoints"):
            return NO_VPC
        return None

    def weights(self, placement: Any) -> str:
        if placement.settings.container == GGUF_CONTAINER:
            return f"which runs {placement.quant} GGUF weights with llama.cpp"
        return "with the Hugging Face CPU container, which serves F32"

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        return bills.serverless_variant(book, region, memory_mb=s.memory_mb,
                                        provisioned_concurrency=s.provisioned_concurrency, workload=usage.workload,
                                        seconds=usage.seconds_per_request)

    def bills_request_time(self) -> bool:
        return True

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        s = self.settings(settings)
        if s.provisioned_concurrency:
            return 0.0, f"{s.provisioned_concurrency} provisioned instance(s) kept warm; beyond them, cold starts"
        return speed_model().cold_start.serverless_base_s, "scales to zero; a cold start starts the container"

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        lim = serverless_limits()
        return ["no GPU", *timeout_limitations("limit", lim.invocation_timeout_s, seconds),
                f"no payload over {lim.payload_bytes_max // 2**20} MB",
                f"no more than {max(lim.memory_mb_allowed)} MB of memory"]


TIER = SageMakerServerless()
