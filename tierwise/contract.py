"""What the layers agree on: the base of every tier's settings model, the tags every resource of
a tierwise stack carries, and the one reading of Bedrock model ids.

The tiers themselves live in tierwise/tiers (one module each, found through its registry);
the template metadata a stack carries for the review is tierwise/stack_metadata.py.
Plain pydantic, no aws_cdk import: the core, the cost review and the constructs all read it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TierSettings(BaseModel):
    """What placement decides for a tier and its construct takes as props (one model per tier,
    in that tier's module; docs/CONTRACTS.md lists the fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- tags every resource of a tierwise stack carries (read back by the cost review) --------

TAG_MODEL = "tierwise:model"
TAG_TIER = "tierwise:tier"
TAG_QUANT = "tierwise:quant"
NO_QUANT = "none"  # the tierwise:quant value when the tier has no quantization


# --- Bedrock model ids ----------------------------------------------------------------------

# System (cross-region) inference profile ids start with a geography, e.g. "us.anthropic...".
# Source: https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html
# (checked 2026-11-27)
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.")


def is_inference_profile(model_id: str) -> bool:
    return model_id.startswith(INFERENCE_PROFILE_PREFIXES)


def base_model_id(model_id: str) -> str:
    """The foundation model id behind a system inference profile id (else the id itself)."""
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix):]
    return model_id
