"""What the two GGUF tiers (lambda-gguf, sagemaker-serverless's llama.cpp container) share:
the published GGUF file a plan deploys, and how much KV cache a decoded token reads."""

from __future__ import annotations

from model_profiles.schema import ModelProfile
from tierwise.facts import cold_starts
from tierwise.sizing import MemoryEstimate
from tierwise.tiers.base import Rejection


def gguf_file(profile: ModelProfile, recipe: str) -> tuple[str, str, str | None]:
    """(file name, download URL, sha256) of the profile's published GGUF at `recipe`."""
    if profile.gguf is None or recipe not in profile.gguf.files:
        have = ", ".join(profile.gguf.files) if profile.gguf else "none"
        raise Rejection(f"no published {recipe} GGUF file for {profile.name} (published: {have})")
    f = profile.gguf.files[recipe]
    return f.file, profile.gguf.url(recipe), f.sha256


def kv_read_per_token(est: MemoryEstimate) -> int:
    """KV cache bytes one decoded token reads: it attends to half the context on average."""
    return est.kv_cache_bytes // 2


def lambda_idle_seconds() -> tuple[float, str]:
    """How long Lambda keeps an idle execution environment: AWS publishes no figure, so the
    shortest lifetime a published study measured (a conservative figure: more requests cold)."""
    facts = cold_starts()
    measured = [st for st in facts.studies_of("lambda") if st.idle_s_min is not None]
    shortest = min(measured, key=lambda st: st.idle_s_min)
    return float(shortest.idle_s_min), (f"Lambda keeps an idle environment ~{shortest.idle_s_min / 60:g} min, the "
                                        f"shortest published ({shortest.source})")


def serverless_idle_basis() -> str:
    """Why a serverless plan cannot say how many requests are cold."""
    tier = cold_starts().tiers["sagemaker_serverless"]
    return f"AWS publishes no idle time for serverless inference and no study measured one ({tier.source})"
