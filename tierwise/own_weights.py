"""Your own weights (a folder, a fine-tune, a LoRA adapter): the plan explains the choice the way the
source article frames it for a fine-tuned model. The article said such a model, "even if the
foundation model is serverless, need[s] provisioned throughput"; since Bedrock Custom Model
Import it can also be imported and served on demand, or we host it ourselves. The three ways are
read from the registry (a managed tier billed per use, a managed tier billed by the hour, a tier we
host), each with its monthly figure or the reason it cannot serve the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model_profiles.schema import ModelProfile
from tierwise import tiers
from tierwise.cost.prices import PriceBook
from tierwise.facts import custom_model_import

# (hosting, billing) -> the article's name for that way of serving a fine-tuned model
WAYS = {("managed", "per-use"): "import on demand", ("managed", "always-on"): "provisioned throughput",
        ("self", None): "self-hosted"}


def own_weights(profile: ModelProfile) -> str | None:
    """What makes `profile` your own weights, or None for a model others publish as such."""
    if profile.adapter is not None:
        return f"a LoRA adapter on {profile.adapter.base_model}"
    if profile.hf_folder is not None:
        return f"a {profile.hf_folder.model_type} folder, {profile.hf_folder.path}"
    if profile.bedrock is not None and profile.bedrock.custom_model:
        return "a model customized in Bedrock"
    return None


def _way(module: tiers.TierModule) -> str:
    return WAYS[(module.hosting, module.billing if module.hosting == "managed" else None)]


def explain(profile: ModelProfile, options: Mapping[str, Any], chosen: str, region: str,
            book: PriceBook) -> list[str]:
    """The plan's lines for `profile` when it is your own weights (else none): each way with its
    cheapest tier and monthly cost, or why none serves it, and which one this plan takes.
    `options` maps every tier to its Placement or the reason it cannot serve the model."""
    what = own_weights(profile)
    if what is None:
        return []
    from tierwise.placement import Placement, tier_cost

    parts = []
    for way in dict.fromkeys(WAYS.values()):
        members = [m for m in tiers.modules() if _way(m) == way]
        costs = {m.id: tier_cost(options[m.id], region, book) for m in members
                 if isinstance(options.get(m.id), Placement)}
        priced = {t: c.monthly_usd for t, c in costs.items() if c.monthly_usd is not None}
        if priced:
            best = min(priced, key=priced.get)
            parts.append(f"{way}: {best} ${priced[best]:,.2f}/month")
        elif costs:
            best = min(costs, key=lambda t: costs[t].known_usd)
            parts.append(f"{way}: {best} at least ${costs[best].known_usd:,.2f}/month (a price is unknown)")
        elif way == "provisioned throughput" and not custom_model_import().scaling.provisioned_throughput \
                and not (profile.bedrock and profile.bedrock.custom_model):
            parts.append(f"{way}: not for imported weights (AWS offers none for an imported model, "
                         f"{custom_model_import().scaling.source}; it serves models customized inside Bedrock)")
        else:
            reasons = "; ".join(f"{m.id}: {options[m.id]}" for m in members if isinstance(options.get(m.id), str))
            parts.append(f"{way}: none ({reasons[:300]})")
    return [f"{profile.name} is your own weights ({what}). The article's choice for a fine-tuned model, "
            f"now three ways: {'; '.join(parts)}. This plan takes {_way(tiers.get(chosen))} ({chosen})"]
