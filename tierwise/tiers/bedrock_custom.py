"""bedrock-custom: your own weights imported into Bedrock (Custom Model Import) and served on
demand, billed per Custom Model Unit (CMU) per minute a model copy is active, in 5-minute windows,
plus storage per CMU-month (construct: tiers/bedrock_custom/, a custom resource: CloudFormation
has no resource for an import).

Fit: an architecture AWS lists (config.json's model_type), offered in the region, weights under
AWS's size limit, a context within 128K; a LoRA adapter is imported merged into its base. CMUs
per copy: AWS sets them at import and publishes no formula, so tierwise estimates them from the
published points (tierwise/data/bedrock_custom_import.yaml: estimates) and says so. Speed: an
estimate on the hardware those CMUs fit (the data's `estimates.speed`). Bill: CMUs x copies x
the per-minute rate x the minutes of the 5-minute windows that have traffic, plus storage; a copy
scales to zero when idle, so a request after an idle spell waits for a cold start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from model_profiles.schema import ModelProfile
from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import SECONDS_PER_MONTH, CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.errors import TierwiseError
from tierwise.facts import CustomModelImport, cold_starts, custom_model_import
from tierwise.sizing import estimate_gpu, fmt_bytes
from tierwise import serving
from tierwise.facts import gpu_instances, serving_facts
from tierwise.throughput import Speed
from tierwise.tiers.base import (
    Ask, Option, Rejection, TierModule, Usage, average_requests_per_second, meets, peak_requests_per_second,
)

ID = "bedrock-custom"
STUDY_TIER = "bedrock_custom_import"  # the tier's key in tierwise/data/cold_starts.yaml


class BedrockCustomSettings(TierSettings):
    model_type: str = Field(description="config.json's model_type, which the import checks")
    architecture: str = Field(description="the architecture AWS lists that takes it")
    custom_model_units: int = Field(ge=1, description="CMUs per model copy (estimated: AWS sets them at import)")
    copies: int = Field(ge=1, description="model copies the average load keeps active")
    peak_copies: int = Field(ge=1, description="model copies at peak (Bedrock adds them itself)")
    weights_gb: float = Field(gt=0, description="the weights to upload, GB")
    context_tokens: int = Field(gt=0, description="the context a copy is sized for (max_position_embeddings)")
    merge_adapter: bool = Field(description="a LoRA adapter: merged into its base before the upload")


# --- what AWS does not publish: CMUs per copy, estimated from the published points -------------


def copy_bytes(*, parameters: int, layers: int, kv_heads: int, head_dim: int, context: int) -> float:
    """What one copy must hold: its weights and a KV cache for its whole context, both BF16."""
    est = custom_model_import().estimates.cmu_memory
    kv = 2 * layers * kv_heads * head_dim * context * est.kv_bytes_per_value
    return parameters * est.weight_bytes_per_parameter + kv


def cmu_memory_bytes() -> float:
    """The memory behind one CMU: the lowest value every published example allows
    (need / CMUs <= M < need / (CMUs - 1)), so a count is never estimated low."""
    examples = custom_model_import().pricing.cmu_examples
    low = max(_need(e) / e.cmus for e in examples)
    high = min((_need(e) / (e.cmus - 1) for e in examples if e.cmus > 1), default=math.inf)
    if low >= high:
        raise TierwiseError("tierwise/data/bedrock_custom_import.yaml: the published CMU examples contradict each "
                            f"other (one CMU would need at least {low / 1e9:.1f} GB and less than {high / 1e9:.1f} GB)")
    return low


def _need(example) -> float:
    s = example.shape
    return copy_bytes(parameters=s.parameters, layers=s.layers, kv_heads=s.kv_heads, head_dim=s.head_dim,
                      context=s.context_tokens)


def import_parameters(profile: ModelProfile) -> int:
    """The parameters of the weights that are imported: an adapter is merged into its base."""
    return profile.adapter.base_parameters if profile.adapter is not None else profile.parameters


def estimate_cmus(profile: ModelProfile) -> tuple[int, float, int]:
    """(CMUs per copy, bytes a copy holds, the context it is sized for) for `profile`."""
    arch = profile.architecture
    context = min(arch.max_context, custom_model_import().limits.context_tokens_max)
    need = copy_bytes(parameters=import_parameters(profile), layers=arch.layers, kv_heads=arch.kv_heads,
                      head_dim=arch.head_dim, context=context)
    return max(1, math.ceil(need / cmu_memory_bytes())), need, context


def model_type(profile: ModelProfile) -> str | None:
    """config.json's model_type: the profile's, or the folder's it was read from (an adapter's
    base)."""
    if profile.architecture is not None and profile.architecture.model_type:
        return profile.architecture.model_type
    if profile.hf_folder is not None:
        return profile.hf_folder.model_type.removeprefix("lora:")
    return None


# --- the bill's window arithmetic lives in tierwise/cost/bills.py (shared with the review) -------


def cold_start_share(requests_per_month: float, idle_minutes: float) -> float:
    """The share of requests that arrive after `idle_minutes` without one (Poisson arrivals):
    they find the copy unloaded."""
    if requests_per_month <= 0:
        return 0.0
    return math.exp(-requests_per_month / SECONDS_PER_MONTH * idle_minutes * 60)


def _share(fraction: float) -> str:
    return "under 0.1%" if fraction < 0.001 else f"~{fraction:.1%}"


def measured_cold_start() -> tuple[float, str]:
    studies = [s for s in cold_starts().studies_of(STUDY_TIER) if s.cold_start_s is not None]
    if not studies:
        raise TierwiseError("tierwise/data/cold_starts.yaml has no measured Custom Model Import cold start")
    study = max(studies, key=lambda s: s.cold_start_s)
    return study.cold_start_s, study.source


class BedrockCustom(TierModule):
    id = ID
    summary = "Bedrock Custom Model Import: your weights served on demand, per CMU-minute"
    hosting = "managed"
    billing = "per-use"
    settings_models = (BedrockCustomSettings,)
    options = frozenset({"weights_uri", "weights_key"})
    construct = "tiers.bedrock_custom.construct:BedrockImportedModel"
    streaming = (True, "InvokeModelWithResponseStream on the imported model's ARN")
    uses_key = True
    client_door = "bedrock-imported"
    serving_resource_types = ("Custom::BedrockImportedModel",)

    def settle(self, ask: Ask) -> Option:
        profile, workload, target = ask.profile, ask.workload, ask.target
        cmi = custom_model_import()
        arch = profile.architecture
        if arch is None or not profile.open_weights:
            raise Rejection(f"{profile.name} is a closed model: there are no weights to import")
        supported = self._supported(profile, cmi, ask.region)
        limit = cmi.limits.context_tokens_max
        if arch.max_context > limit:
            raise Rejection(f"Custom Model Import takes a maximum context below 128K ({limit:,} tokens); "
                            f"{profile.name}'s max_position_embeddings is {arch.max_context:,} ({cmi.limits.source})")
        weights_bytes = import_parameters(profile) * cmi.estimates.cmu_memory.weight_bytes_per_parameter
        if profile.hf_folder is not None and profile.hf_folder.stored_bytes and profile.adapter is None:
            weights_bytes = profile.hf_folder.stored_bytes
        if weights_bytes > cmi.limits.weights_gb_max_text * 1e9:
            raise Rejection(f"the weights are {weights_bytes / 1e9:,.0f} GB; Custom Model Import takes less than "
                            f"{cmi.limits.weights_gb_max_text} GB for a text model ({cmi.limits.source})")
        cmus, need, context = estimate_cmus(profile)
        per_cmu = cmu_memory_bytes()
        one = estimate_gpu(profile, ask.context, batch=1, dtype="BF16")
        family = cmi.estimates.speed.gpu_family
        speed1 = self._speed(profile, one, cmus, family, 1, workload)
        seconds1 = speed1.request_seconds(workload.input_tokens, workload.output_tokens)
        meets(target, speed1, seconds1, math.inf, f"on an imported copy of {cmus} CMU (estimated)")
        room = cmus * per_cmu - one.weights_bytes
        sequences = max(1, min(serving_facts().engine.max_num_seqs, int(room // one.kv_cache_bytes)))
        best = (1, speed1, seconds1)
        c = 2
        while c <= sequences:
            s = self._speed(profile, one, cmus, family, c, workload)
            secs = s.request_seconds(workload.input_tokens, workload.output_tokens)
            try:
                meets(target, s, secs, math.inf, "")
            except Rejection:
                break
            best = (c, s, secs)
            c = c + 1 if c < 8 else int(c * 1.25)
        batch, speed_c, seconds_c = best
        per_copy_rps = batch / seconds_c
        avg_rps, peak_rps = average_requests_per_second(workload), peak_requests_per_second(workload)
        copies = max(1, math.ceil(avg_rps / per_copy_rps))
        peak_copies = max(copies, math.ceil(peak_rps / per_copy_rps))
        windows, active = bills.import_windows_per_month(), bills.active_import_windows(workload.requests_per_month)
        window_min = cmi.pricing.billing_window_minutes
        cold_s, cold_source = measured_cold_start()
        unload_min = cmi.scaling.idle_minutes_before_unload
        share_hour, share_window = (cold_start_share(workload.requests_per_month, m) for m in (unload_min, window_min))
        adapter = profile.adapter
        examples = "; ".join(f"{e.model} = {e.cmus}" for e in cmi.pricing.cmu_examples[:2])
        reasons = [
            f"Custom Model Import takes {model_type(profile)} models ({supported.name}) in {ask.region} "
            f"({cmi.architectures_source}): your weights, served on demand with nothing provisioned",
            f"~{cmus} CMU per copy, an estimate (AWS sets the count at import): BF16 weights and a KV cache for "
            f"{context:,} tokens come to {fmt_bytes(need)}, at {per_cmu / 2**30:.1f} GiB per CMU, the least the "
            f"published points allow ({examples})",
            f"~{speed1.decode_tokens_per_second:.0f} tokens/s one stream, an estimate ({speed1.basis}: no speed of an "
            f"imported model is published, so one CMU counts as one of the slowest 24 GB GPUs tierwise knows); {batch} streams per copy at "
            f"~{speed_c.decode_tokens_per_second:.0f} tokens/s each, ~{per_copy_rps:.2f} requests/s per copy",
            f"{workload.requests_per_month:,} requests/month fall in ~{active:,.0f} of the month's {windows:,.0f} "
            f"{window_min}-minute windows; {copies} cop{'y' if copies == 1 else 'ies'} for the average load "
            f"({peak_copies} at peak, added by Bedrock), billed only in windows with traffic "
            f"({cmi.pricing.billed_windows_source})",
        ]
        warnings = []
        if adapter is not None:
            warnings.append(
                f"Custom Model Import takes merged weights, not a LoRA adapter: merge the adapter into "
                f"{adapter.base_model} (PEFT merge_and_unload) and upload the merged safetensors with config.json and "
                f"the tokenizer files; it is sized here as the merged model ({import_parameters(profile):,} "
                f"parameters) ({cmi.limits.source})")
        if workload.requests_per_month > 0:
            warnings.append(
                f"an idle copy is unloaded: {_share(share_hour)} of requests (after {unload_min} min idle, the "
                f"Knowledge Center's figure) to {_share(share_window)} (after {window_min} min, the AWS blog's) wait "
                f"~{cold_s:.0f} s for a copy, a measured figure ({cold_source}) (ModelNotReadyException, retried by "
                "the SDK)")
        settings = {
            "model_type": model_type(profile), "architecture": supported.name, "custom_model_units": cmus,
            "copies": copies, "peak_copies": peak_copies, "weights_gb": round(weights_bytes / 1e9, 2),
            "context_tokens": context, "merge_adapter": adapter is not None,
        }
        capacity = {
            "custom_model_units": cmus, "copies": copies, "peak_copies": peak_copies,
            "requests_per_second_per_copy": round(per_copy_rps, 3), "batch_per_copy": batch,
            "active_windows": round(active, 1), "windows": round(windows),
            "peak_requests_per_second": round(peak_rps, 4),
            "cold_start_share": [round(share_hour, 4), round(share_window, 4)],
        }
        return Option(settings, reasons, None, None, speed_c, seconds_c,
                      speed_c.time_to_first_token(workload.input_tokens), cold_s, capacity, warnings)

    def _supported(self, profile: ModelProfile, cmi: CustomModelImport, region: str):
        mtype = model_type(profile)
        if mtype is None:
            raise Rejection(f"{profile.name}'s profile does not record config.json's model_type, which Custom Model "
                            "Import checks (architecture.model_type)")
        supported = cmi.architecture(mtype)
        if supported is None:
            names = sorted({t for a in cmi.architectures for t in a.model_types})
            raise Rejection(f"Custom Model Import does not take {mtype} models; it takes {', '.join(names)} "
                            f"({cmi.architectures_source})")
        if not cmi.offered_in(supported, region):
            where = supported.regions or cmi.regions
            raise Rejection(f"Custom Model Import of {supported.name} models is offered in {', '.join(where)}, "
                            f"not {region} ({cmi.regions_source})")
        return supported

    @staticmethod
    def _speed(profile: ModelProfile, one, cmus: int, family: str, concurrency: int, workload) -> Speed:
        """One copy as `cmus` GPUs of `family` under the GPU tier's serving model (tierwise/serving.py),
        `concurrency` requests in flight, as the speed of one stream."""
        inst = min((i for i in gpu_instances() if i.family == family), key=lambda i: i.gpu_count)
        shape = serving.ModelShape.of(profile, one)
        server = serving.Server.for_instance(inst, "BF16", one.weights_bytes, one.runtime_bytes, gpus=cmus)
        q = serving.point(shape, server, workload.input_tokens, workload.output_tokens, concurrency)
        prompt = workload.input_tokens / q.time_to_first_token_s
        decode = workload.output_tokens / max(q.seconds_per_request - q.time_to_first_token_s, 1e-9)
        return Speed(decode, prompt, f"{cmus} x {inst.spec.gpu} under the GPU serving model, {concurrency} in flight")

    def check_options(self, placement: Any, options: Mapping[str, Any], *, forced: bool) -> None:
        if "weights_key" in options and "weights_uri" not in options:
            raise TierwiseError("-c weights_key names the KMS key of the weights' bucket: give the weights too "
                                "(-c weights_uri=s3://bucket/prefix/)")

    def weights(self, placement: Any) -> str:
        return "which serves your own weights, imported"

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        return bills.custom_model_import(book, region, cmus=s.custom_model_units, copies=s.copies,
                                         workload=usage.workload)

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        seconds, _ = measured_cold_start()
        return seconds, "scales to zero when idle: the first request waits for a copy (measured)"

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        cmi = custom_model_import()
        quota = cmi.quotas.imported_models_per_account
        return [
            "no provisioned throughput for an imported model (AWS offers none)",
            f"{quota.value} imported models per account and region (adjustable, {quota.code}), one import job at a time",
            "InvokeModel with OpenAI chat bodies, not Converse",
            f"CMUs per copy are set by AWS at import: the bill scales with the real count "
            f"(~{self.settings(settings).custom_model_units} estimated)",
        ]


TIER = BedrockCustom()
