"""The context a deployment is sized for: what the request needs, with headroom, up to the
model's maximum (the deployed max_model_len on GPUs, n_ctx on the GGUF tiers). A request the
model cannot hold at all is the only one refused."""

from __future__ import annotations

import math

from model_profiles.schema import ModelProfile
from tierwise.errors import TierwiseError
from tierwise.sizing import default_context

# A deployment's context covers the request with this much to spare (prompts vary around the
# mean a workload states, and the chat template adds tokens), in whole blocks of this many tokens.
CONTEXT_HEADROOM = 1.25
CONTEXT_STEP = 256


def context_for_request(profile: ModelProfile, input_tokens: int, output_tokens: int) -> int:
    """The context a deployment is sized for when none is asked: the default (4,096, or the
    model's maximum if smaller), or more when input + output with headroom need it, up to the
    model's maximum. A request the model cannot hold at all is an error naming its maximum."""
    arch = profile.architecture
    if arch is None:
        raise TierwiseError(f"{profile.name} is a closed model: it has no context to size")
    need = input_tokens + output_tokens
    if need > arch.max_context:
        raise TierwiseError(
            f"{input_tokens:,} input + {output_tokens:,} output = {need:,} tokens do not fit {profile.name}, whose "
            f"context holds at most {arch.max_context:,} tokens: shorten the request or pick a longer-context model"
        )
    wanted = math.ceil(need * CONTEXT_HEADROOM / CONTEXT_STEP) * CONTEXT_STEP
    return min(arch.max_context, max(default_context(profile), wanted))


