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
from tierwise.facts import speed_model
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

    def settle(self, ask: Ask) -> Option:
        offer, model_id, facts, speed = bedrock.offer_of(ask)
        bedrock.check_context(ask, model_id, facts)
        seconds = bedrock.request_seconds(ask, speed)
        peak_rpm = peak_requests_per_second(ask.workload) * 60
        peak_tpm = peak_rpm * (ask.workload.input_tokens + ask.workload.output_tokens)
        if not offer.on_demand or offer.custom_model:
            why = "a custom (fine-tuned) model" if offer.custom_model else "not offered on demand"
            raise Rejection(f"{model_id} is {why}: only provisioned throughput serves it")
        warnings = bedrock.lifecycle_check(model_id, facts)
        meets(ask.target, speed, seconds, math.inf, "on Bedrock")
        capacity: dict[str, Any] = {"peak_tokens_per_minute": round(peak_tpm),
                                    "peak_requests_per_minute": round(peak_rpm, 1)}
        if facts is not None and facts.on_demand_quotas is not None:
            q = facts.on_demand_quotas
            tpm, rpm = q.tokens_per_minute.in_region(ask.region), q.requests_per_minute.in_region(ask.region)
            capacity.update(tokens_per_minute_quota=tpm, requests_per_minute_quota=rpm)
            if peak_tpm > tpm or peak_rpm > rpm:
                raise Rejection(
                    f"peak load is ~{peak_tpm:,.0f} tokens and {peak_rpm:,.0f} requests a minute; the default "
                    f"on-demand quotas for {model_id} in {ask.region} are {tpm:,} tokens and {rpm:,} requests a "
                    f"minute ({q.source})"
                )
        else:
            warnings.append(f"on-demand quotas for {model_id} are not in the data: peak load of ~{peak_tpm:,.0f} "
                            "tokens a minute is unchecked")
        reasons = [
            f"Bedrock serves {model_id} on demand: pay per token, no capacity of ours",
            f"~{speed.decode_tokens_per_second:g} tokens/s: {speed.basis}",
            f"peak ~{peak_tpm:,.0f} tokens a minute"
            + (f" against a default quota of {capacity['tokens_per_minute_quota']:,}"
               if "tokens_per_minute_quota" in capacity else ""),
        ]
        return Option({"model_id": model_id, "model_units": 0}, reasons, None, None, speed, seconds,
                      speed.time_to_first_token(ask.workload.input_tokens), speed_model().cold_start.bedrock_s,
                      capacity, warnings)

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        return bills.bedrock_tokens(book, region, model_id=self.settings(settings).model_id, workload=usage.workload)

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        return speed_model().cold_start.bedrock_s, "none: AWS keeps the model loaded"

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        return ["no custom or fine-tuned weights (those need provisioned throughput)",
                "no guaranteed throughput: account quotas throttle"]


TIER = BedrockOnDemand()
