"""bedrock-provisioned: Bedrock provisioned throughput, model units bought by the hour with an
optional commitment (construct: tiers/bedrock/provisioned.py, a custom resource: CloudFormation
has no resource for it).

Fit: the model is offered with provisioned throughput (a custom model, or a base model in the
PT support table, the smallest context variant that holds the context). Bill: model-unit-hours
at the commitment's rate, around the clock. An automatic choice leaves it out where on demand
serves the same model: PT is for custom models or guaranteed capacity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from model_profiles.schema import ModelProfile
from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.errors import TierwiseError
from tierwise.facts import BedrockModel, bedrock_provisioned_limits, speed_model
from tierwise.naming import option
from tierwise.tiers import bedrock
from tierwise.tiers.bedrock_on_demand import ID as ON_DEMAND
from tierwise.tiers.base import Ask, Option, Rejection, TierModule, Usage, meets, peak_requests_per_second

ID = "bedrock-provisioned"
Commitment = Literal["OneMonth", "SixMonths"] | None


class BedrockProvisionedSettings(TierSettings):
    model_id: str
    model_units: int = Field(ge=1)
    commitment: Commitment


class BedrockProvisioned(TierModule):
    id = ID
    summary = "Bedrock provisioned throughput: model units by the hour"
    hosting = "managed"
    billing = "always-on"
    settings_models = (BedrockProvisionedSettings,)
    options = frozenset({"commitment"})
    construct = "tiers.bedrock.provisioned:BedrockProvisionedThroughput"
    streaming = (True, "ConverseStream on the provisioned model's ARN")
    uses_key = True
    client_door = "bedrock"
    serving_resource_types = ("Custom::BedrockProvisionedThroughput",)
    setting_words = {"commitment": {None: "none: billed by the hour, no term"}}

    def settle(self, ask: Ask) -> Option:
        self.check_quant(ask)
        offer, model_id, facts, speed = bedrock.offer_of(ask)
        bedrock.check_context(ask, model_id, facts)
        seconds = bedrock.request_seconds(ask, speed)
        peak_tpm = peak_requests_per_second(ask.workload) * 60 * (ask.workload.input_tokens + ask.workload.output_tokens)
        if not offer.provisioned_throughput:
            raise Rejection(f"Bedrock offers no provisioned throughput for {model_id}")
        allowed = bedrock_provisioned_limits().commitments
        if ask.commitment not in allowed:
            raise TierwiseError(f"unknown commitment {ask.commitment!r}; allowed: none, OneMonth, SixMonths")
        if offer.custom_model:
            pt_id, source = model_id, offer.source
        else:
            bedrock.lifecycle_check(model_id, facts)
            # the variant must hold the planned context and every request of the workload
            pt_id, source = _pt_model_id(model_id, facts, max(ask.context, bedrock.request_tokens(ask)))
        meets(ask.target, speed, seconds, math.inf, "on one model unit")
        commitment = ask.commitment
        reasons = [
            f"provisioned throughput for {pt_id} (the id the PT table lists for a {ask.context:,}-token context, "
            f"{source}): 1 model unit, {'no commitment' if commitment is None else commitment + ' commitment'}",
        ]
        capacity = {"peak_tokens_per_minute": round(peak_tpm), "model_units": 1}
        warnings = ["throughput per model unit is not published per model: one unit is assumed to carry the load"]
        if commitment is None and not offer.custom_model:
            # "Custom models support all levels of commitment. To see which base models support no
            # commitment, see Supported regions and models for Provisioned Throughput" (Bedrock API
            # reference, CreateProvisionedModelThroughput commitmentDuration, read 2026-12-01)
            warnings.append(f"only some base models can be bought with no commitment: check {pt_id} in the PT support "
                            f"table ({source}) or plan with {option('commitment', 'OneMonth')}")
        return Option({"model_id": pt_id, "model_units": 1, "commitment": commitment}, reasons, None, None, speed,
                      seconds, speed.time_to_first_token(ask.workload.input_tokens),
                      speed_model().cold_start.bedrock_s, capacity, warnings)

    def set_aside(self, profile: ModelProfile, pool: Mapping[str, Any]) -> str | None:
        custom = bool(profile.bedrock and profile.bedrock.custom_model)
        if custom or len(pool) <= 1:
            return None
        return (("on-demand serves this model with no commitment; " if ON_DEMAND in pool else "")
                + "provisioned throughput is for custom models or guaranteed capacity (its price is quoted on request; "
                f"force it with {option('tier', ID)})")

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        return [bills.provisioned_throughput(book, region, model_id=s.model_id, model_units=s.model_units,
                                             commitment=s.commitment)]

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        return speed_model().cold_start.bedrock_s, "none: AWS keeps the model loaded"

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        commitment = self.settings(settings).commitment
        out = [f"no cancelling before the {commitment} commitment ends"] if commitment else []
        return out + ["no model outside Bedrock's provisioned-throughput list"]


def _pt_model_id(model_id: str, facts: BedrockModel | None, context: int) -> tuple[str, str]:
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


TIER = BedrockProvisioned()
