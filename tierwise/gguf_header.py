"""What a GGUF header must say before tierwise sizes the file from it.

`tierwise size --gguf` reads any file a user hands it, so a damaged, hand-edited or exotic
header is ordinary input, not an internal error: 0 attention heads, a context length of 0, a
string where a number belongs, an architecture whose memory tierwise cannot model. Each is
caught here and named in one line (the key, the value found, what is allowed) before any
arithmetic divides by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model_profiles.schema import SHAPE_RANGES, VOCABULARY_MAX
from tierwise.errors import TierwiseError

# llama.cpp architecture names (its LLM_ARCH table) whose memory is what tierwise's formula
# computes: every layer keeps K and V of `head_count_kv` heads x `key_length` for the whole
# context. Architectures with compressed (deepseek2's MLA), recurrent (mamba, rwkv) or
# hybrid caches, or other sliding-window patterns (gemma3), would be sized wrong, so they
# are refused rather than sized as llama.
SIZEABLE_ARCHITECTURES = (
    "command-r", "gemma", "gemma2", "granite", "internlm2", "llama", "olmo", "phi2", "phi3",
    "qwen2", "qwen3", "stablelm", "starcoder2",
)

# Plausible ranges, the same a catalogue profile is held to (model_profiles/schema.py), by the
# header's key: a value outside them means the header is damaged, not that the model is unusual.
_RANGES: dict[str, tuple[int, int, str]] = {key: (lo, hi, meaning) for key, lo, hi, meaning in SHAPE_RANGES.values()}


@dataclass(frozen=True)
class GgufArray:
    """A header array, kept as its length and element type: the vocabulary's strings and
    scores are never needed one by one, and reading 150 k of them costs seconds."""

    length: int
    element_type: str


@dataclass(frozen=True)
class GgufShape:
    architecture: str
    layers: int
    max_context: int
    embedding_width: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_width: int
    vocabulary: int
    sliding_window: int | None
    name: str | None


def _describe(value: Any) -> str:
    if isinstance(value, GgufArray):
        return f"a list of {value.length} {value.element_type.lower()} values"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, bool):
        return f"the boolean {value}"
    return repr(value)


def shape_from_header(fields: dict[str, Any], tensors: list[tuple], where: str) -> GgufShape:
    """The model shape a header declares, every value checked; `where` names the file."""
    arch = fields.get("general.architecture")
    if arch is None:
        raise TierwiseError(f"{where} has no general.architecture key; it is not a model GGUF")
    if not isinstance(arch, str) or not arch.strip():
        raise TierwiseError(
            f"{where}: general.architecture is {_describe(arch)}; it must name the model's architecture"
        )
    if arch not in SIZEABLE_ARCHITECTURES:
        raise TierwiseError(
            f"{where}: architecture {arch[:40]!r} is not one tierwise can size (its KV cache differs "
            f"from standard attention or is unknown); allowed: {', '.join(SIZEABLE_ARCHITECTURES)}"
        )
    if not tensors:
        raise TierwiseError(f"{where} holds no tensors (a vocabulary-only GGUF?); give a model file")

    def number(suffix: str, default: int | None = None, required: bool = True) -> int | None:
        key = f"{arch}.{suffix}"
        value = fields.get(key)
        if value is None:
            if default is None and required:
                raise TierwiseError(f"{where} lacks the {key} key needed for sizing")
            return default
        lo, hi, meaning = _RANGES[suffix]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise TierwiseError(
                f"{where}: header key {key} is {_describe(value)}; {meaning} must be a whole number "
                f"from {lo:,} to {hi:,} (the file is damaged or was edited)"
            )
        return value

    layers = number("block_count")
    max_context = number("context_length")
    embd = number("embedding_length")
    heads = number("attention.head_count")
    kv_heads = number("attention.head_count_kv", heads)
    if kv_heads > heads or heads % kv_heads:
        raise TierwiseError(
            f"{where}: {arch}.attention.head_count_kv is {kv_heads} with {heads} attention heads; "
            "KV heads must divide the attention heads"
        )
    head_dim = number("attention.key_length", embd // heads or None, required=False)
    if head_dim is None:
        raise TierwiseError(
            f"{where}: {arch}.embedding_length {embd} is smaller than its {heads} attention heads and "
            f"there is no {arch}.attention.key_length; a head must be at least 1 wide"
        )
    ffn = number("feed_forward_length", 4 * embd)
    window = number("attention.sliding_window", required=False)

    tokens = fields.get("tokenizer.ggml.tokens")
    if tokens is not None and not isinstance(tokens, GgufArray):
        raise TierwiseError(f"{where}: tokenizer.ggml.tokens is {_describe(tokens)}; it must be the list of tokens")
    vocab = tokens.length if tokens is not None else 0
    if not vocab:
        vocab = next((shape[1] for name, _, _, _, shape in tensors if name == "token_embd.weight" and len(shape) > 1), 0)
    if not 0 <= vocab <= VOCABULARY_MAX:
        raise TierwiseError(f"{where}: a vocabulary of {vocab:,} tokens is beyond any model (at most {VOCABULARY_MAX:,})")

    name = fields.get("general.name")
    return GgufShape(
        architecture=arch, layers=layers, max_context=max_context, embedding_width=embd, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, ffn_width=ffn, vocabulary=vocab, sliding_window=window,
        name=name.strip() or None if isinstance(name, str) else None,
    )
