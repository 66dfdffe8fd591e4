"""The tier contract: one Tier enum, one settings model per tier, read the same everywhere."""

from __future__ import annotations

import pytest

from model_profiles import load_profile
from tierwise.contract import (
    OPTION_TIERS,
    SETTINGS_MODELS,
    TIERS,
    LambdaGgufSettings,
    ServerlessHfSettings,
    Tier,
    settings_for,
)
from tierwise.errors import TierwiseError
from tierwise.placement import plan


def test_every_tier_has_a_settings_model_and_a_construct():
    from tiers import TIER_CONSTRUCTS, construct_for

    assert set(SETTINGS_MODELS) == set(Tier) == set(TIER_CONSTRUCTS)
    for tier in Tier:
        assert construct_for(tier).TIER == tier.value
    assert set(TIERS) == {t.value for t in Tier}
    assert all(set(tiers) <= set(Tier) for tiers in OPTION_TIERS.values())


def test_a_plan_carries_its_tiers_settings_model():
    p = plan(load_profile("distilbert-sst2"))
    assert p.tier is Tier.SAGEMAKER_SERVERLESS
    assert isinstance(p.settings, ServerlessHfSettings)
    forced = plan(load_profile("tinyllama-1.1b"), tier="lambda-gguf")
    assert isinstance(forced.settings, LambdaGgufSettings)
    assert forced.contract()["settings"]["memory_mb"] == forced.settings.memory_mb


def test_settings_outside_the_tiers_limits_are_refused():
    good = plan(load_profile("tinyllama-1.1b"), tier="lambda-gguf").settings.model_dump()
    assert settings_for("lambda-gguf", good).memory_mb == good["memory_mb"]
    with pytest.raises(TierwiseError, match="memory_mb"):
        settings_for("lambda-gguf", {**good, "memory_mb": 20_000})
    with pytest.raises(TierwiseError, match="unknown tier 'lambda'"):
        settings_for("lambda", good)
    with pytest.raises(TierwiseError, match="are not sagemaker-gpu settings"):
        settings_for("sagemaker-gpu", LambdaGgufSettings(**good))
