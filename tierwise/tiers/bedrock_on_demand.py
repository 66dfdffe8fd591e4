"""bedrock-on-demand: a foundation model served by AWS, paid per token, with an application
inference profile of ours for cost attribution (construct: tiers/bedrock/on_demand.py).

Fit: Bedrock serves the model on demand (not a custom model, not Legacy/EOL). Capacity: the
account's default tokens- and requests-per-minute quotas for the model in the region.
Bill: input and output tokens.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.contract import base_model_id
from tierwise.facts import ModelQuotas, bedrock_quotas, model_quotas, speed_model
from tierwise.tiers import bedrock
from tierwise.tiers.base import Ask, Option, Rejection, TierModule, Usage, meets, peak_requests_per_second

ID = "bedrock-on-demand"


class BedrockOnDemandSettings(TierSettings):
    model_id: str
    model_units: Literal[0] = 0  # nothing is provisioned


class BedrockOnDemand(TierModule):
    id = ID
    summary = "Bedrock on demand: AWS serves the model, paid per token"
    hosting = "managed"
    billing = "per-use"
    settings_models = (BedrockOnDemandSettings,)
    construct = "tiers.bedrock.on_demand:BedrockOnDemand"
    streaming = (True, "ConverseStream")
    client_door = "bedrock"
    serving_resource_types = ("AWS::Bedrock::ApplicationInferenceProfile",)
    setting_words = {"model_units": {0: "none: on demand, billed per token"}}

    def settle(self, ask: Ask) -> Option:
        self.check_quant(ask)
        offer, model_id, facts, speed = bedrock.offer_of(ask)
        bedrock.check_context(ask, model_id, facts)
        seconds = bedrock.request_seconds(ask, speed)
        peak_rpm = peak_requests_per_second(ask.workload) * 60
        peak_tpm = peak_rpm * (ask.workload.input_tokens + ask.workload.output_tokens)
        if not offer.on_demand or offer.custom_model:
            why = "a custom (fine-tuned) model" if offer.custom_model else "not offered on demand"
            raise Rejection(f"{model_id} is {why}: only provisioned throughput serves it")
        notes = bedrock.lifecycle_check(model_id, facts)
        warnings: list[str] = []
        meets(ask.target, speed, seconds, math.inf, "on Bedrock")
        capacity: dict[str, Any] = {"peak_tokens_per_minute": round(peak_tpm),
                                    "peak_requests_per_minute": round(peak_rpm, 1)}
        quotas = model_quotas(model_id)
        if quotas is not None:
            warnings += _within_quotas(model_id, quotas, ask, peak_tpm, peak_rpm, capacity)
        else:
            warnings.append(f"on-demand quotas for {model_id} are not in tierwise/data/bedrock_quotas.yaml: peak "
                            f"load of ~{peak_tpm:,.0f} tokens a minute is unchecked")
        reasons = [
            f"Bedrock serves {model_id} on demand: pay per token, no capacity of ours",
            f"~{speed.decode_tokens_per_second:g} tokens/s: {speed.basis}",
            f"peak ~{peak_tpm:,.0f} tokens a minute"
            + (f" against a default quota of {capacity['tokens_per_minute_quota']:,}"
               if "tokens_per_minute_quota" in capacity else ""),
        ]
        return Option({"model_id": model_id, "model_units": 0}, reasons, None, None, speed, seconds,
                      speed.time_to_first_token(ask.workload.input_tokens), speed_model().cold_start.bedrock_s,
                      capacity, warnings, notes)

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        return bills.bedrock_tokens(book, region, model_id=self.settings(settings).model_id, workload=usage.workload)

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        return speed_model().cold_start.bedrock_s, "none: AWS keeps the model loaded"

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        return ["no custom or fine-tuned weights (those need provisioned throughput)",
                "no guaranteed throughput: account quotas throttle"]


def _within_quotas(model_id: str, quotas: ModelQuotas, ask: Ask, peak_tpm: float, peak_rpm: float,
                   capacity: dict[str, Any]) -> list[str]:
    """Hold the peak load to the account's default quotas (tierwise/data/bedrock_quotas.yaml): a
    quota Service Quotas can raise stays on demand with the increase named (its name and code);
    one it cannot raise rejects the tier. A model called through a cross-region inference profile
    (us.*, eu.*) is held to the cross-region quotas."""
    cross = base_model_id(model_id) != model_id
    tpm_q = quotas.cross_region_tpm if cross and quotas.cross_region_tpm else quotas.on_demand_tpm
    rpm_q = quotas.cross_region_rpm if cross and quotas.cross_region_rpm else quotas.on_demand_rpm
    region = ask.region
    tpm, rpm = tpm_q.in_region(region), rpm_q.in_region(region)
    capacity.update(tokens_per_minute_quota=tpm, requests_per_minute_quota=rpm)
    w = ask.workload
    per_day = w.requests_per_month / (bills.HOURS_PER_MONTH / 24) * (w.input_tokens + w.output_tokens)
    limits = [(peak_tpm, tpm_q, tpm, "tokens a minute at peak"), (peak_rpm, rpm_q, rpm, "requests a minute at peak")]
    if quotas.tokens_per_day is not None:
        # "doubled for cross-region calls" (the quota's own name)
        daily = quotas.tokens_per_day.in_region(region) * (2 if cross else 1)
        limits.append((per_day, quotas.tokens_per_day, daily, "tokens a day"))
    account = bedrock_quotas().account.get("cross_model_tokens_per_day")
    if account is not None:
        limits.append((per_day, account, account.in_region(region), "tokens a day across the account's models"))
    warnings, increases = [], []
    for load, quota, value, what in limits:
        if load <= value:
            continue
        if not quota.adjustable:
            other = quotas.cross_region_tpm if not cross and quota is tpm_q else None
            hint = (f"; the cross-region quota '{other.name}' ({other.code}) can be raised, through a cross-region "
                    "inference profile" if other is not None and other.adjustable else "")
            raise Rejection(f"~{load:,.0f} {what} against the default quota of {value:,} ('{quota.name}', "
                            f"{model_id}, {region}), which Service Quotas cannot raise{hint}")
        needed = math.ceil(load)
        increases.append({"name": quota.name, "code": quota.code, "default": value, "needed": needed})
        warnings.append(f"~{load:,.0f} {what} exceeds the default quota of {value:,}: before deploying, request an "
                        f"increase of '{quota.name}' (Service Quotas code {quota.code}) to at least {needed:,}")
    if increases:
        capacity["quota_increases"] = increases
    return warnings


TIER = BedrockOnDemand()
