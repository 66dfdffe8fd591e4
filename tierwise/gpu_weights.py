"""Weight bytes a GPU engine holds at each precision the GPU tier serves: 16-bit weights, FP8
quantized by vLLM at load (the embedding and output head stay in 16 bits) and a published INT4
(AWQ) checkpoint (4 bits plus its group scales and zero points)."""

from __future__ import annotations

import math

from model_profiles.schema import Architecture, ModelProfile
from tierwise.errors import TierwiseError
from tierwise.sizing import _require_arch, fmt_bytes, nominal_bits


def embedding_parameters(arch: Architecture) -> int:
    """Parameters of the token embedding and, when not tied to it, the output head."""
    return arch.vocabulary * arch.embedding_width * (1 if arch.tied_embeddings else 2)


def gpu_weights_bytes(profile: ModelProfile, dtype: str) -> int:
    """Weight bytes a GPU engine holds at `dtype`. At FP8 vLLM quantizes the linear layers and
    keeps the embedding and the output head in 16 bits (they are not linear layers it quantizes)."""
    arch = _require_arch(profile)
    kept = min(profile.parameters, embedding_parameters(arch))
    if dtype == "FP8":
        return (profile.parameters - kept) + kept * 2
    if dtype == "INT4":
        return math.ceil((profile.parameters - kept) * int4_bits_per_weight(profile) / 8) + kept * 2
    return math.ceil(profile.parameters * nominal_bits(dtype) / 8)


def int4_bits_per_weight(profile: ModelProfile) -> float:
    """Bits per linear-layer weight of the profile's INT4 (AWQ) checkpoint: 4, plus a 16-bit scale
    and a 4-bit zero point for every group of `group_size` weights."""
    if profile.int4_checkpoint is None:
        raise TierwiseError(f"{profile.name} has no INT4 checkpoint in the catalogue")
    return 4 + (16 + 4) / profile.int4_checkpoint.group_size


def gpu_weights_step(profile: ModelProfile, dtype: str, weights: int) -> str:
    kept = min(profile.parameters, embedding_parameters(_require_arch(profile)))
    if dtype == "FP8":
        return (f"weights: {profile.parameters - kept:,} linear-layer parameters x 1 byte (FP8) + {kept:,} embedding "
                f"and output-head parameters x 2 bytes (kept in 16 bits) = {fmt_bytes(weights)}")
    if dtype == "INT4":
        return (f"weights: {profile.parameters - kept:,} linear-layer parameters x {int4_bits_per_weight(profile):.3g} "
                f"bits (INT4 AWQ with its group scales and zeros, {profile.int4_checkpoint.hf_model_id}) + {kept:,} "
                f"embedding and output-head parameters x 2 bytes = {fmt_bytes(weights)}")
    return (f"weights: {profile.parameters:,} parameters x {nominal_bits(dtype) / 8:g} bytes ({dtype}) = "
            f"{fmt_bytes(weights)}")
