"""How much memory a model needs where it runs: weights + KV cache + runtime, each explained.

Three targets, one estimate shape:
- `estimate_gguf_profile`: a catalogue model as a llama.cpp GGUF on CPU (lambda-gguf,
  sagemaker-serverless), tensor by tensor with llama.cpp's quantization recipes;
- `estimate_gguf_file`: any local .gguf, read from its header without loading the weights;
- `estimate_gpu`: a model served at its precision on GPUs (sagemaker-gpu);
- `estimate_framework`: a predictive model in a CPU framework container.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections import defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from model_profiles.schema import Architecture, ModelProfile
from model_profiles.userinput import shown
from tierwise.errors import TierwiseError
from tierwise.facts import framework_runtime, gpu_runtime, llama_cpp_runtime, recipes
from tierwise.gguf_header import GgufArray, shape_from_header
from tierwise.quant import check_recipe, quant_type, tensor_type
from tierwise.tensors import gguf_tensors, is_routed_expert
from tierwise.validate import check_gguf_path

GIB = 1024**3
MIB = 1024**2
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
GGUF_ALIGNMENT = 32
GGUF_VERSIONS = (2, 3)  # the versions gguf 0.19's reader accepts; v1 files predate August 2023


class ExpertWeights(BaseModel):
    """A mixture of experts' routed experts: all held in memory, each read only when a token is
    routed to it."""

    model_config = ConfigDict(frozen=True)

    weights_bytes: int = Field(ge=0, description="every routed expert's weights, all layers")
    count: int = Field(ge=2)
    per_token: int = Field(ge=1)

    def touched_fraction(self, tokens: int = 1) -> float:
        """The expected share of the experts a decode step reads when `tokens` tokens are each
        routed to `per_token` of `count` experts. Routing is taken as uniform and independent;
        a real router is less even and tokens of one text share experts, so fewer distinct
        experts are touched: this bounds the bytes read from above."""
        return 1 - (1 - self.per_token / self.count) ** max(1, tokens)

    def read_bytes(self, tokens: int = 1) -> int:
        return math.ceil(self.weights_bytes * self.touched_fraction(tokens))


class MemoryEstimate(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    quant: str
    context: int = Field(gt=0)
    target: Literal["cpu-gguf", "gpu", "cpu-framework"]
    weights_bytes: int = Field(ge=0, description="tensor data")
    file_bytes: int = Field(ge=0, description="the whole model file as shipped")
    kv_cache_bytes: int = Field(ge=0)
    runtime_bytes: int = Field(ge=0)
    total_bytes: int = Field(ge=0)
    naive_bytes: int | None = Field(None, description="parameters x nominal bytes per parameter")
    parameters: int | None = None
    active_parameters: int | None = Field(None, description="a mixture of experts: parameters a token runs through")
    experts: ExpertWeights | None = None
    batch: int = 1
    kv_cache_type: str = "f16"
    tensor_bytes_by_type: dict[str, int] = Field(default_factory=dict)
    steps: list[str] = Field(default_factory=list)

    @property
    def weights_read_per_token(self) -> int:
        """Weight bytes one decode step of one sequence reads: all of them, or in a mixture of
        experts everything outside the routed experts plus the experts a token is routed to."""
        if self.experts is None:
            return self.weights_bytes
        return self.weights_bytes - self.experts.weights_bytes + self.experts.read_bytes(1)

    @property
    def naive_error_pct(self) -> float | None:
        if not self.naive_bytes:
            return None
        return (self.naive_bytes - self.total_bytes) / self.total_bytes * 100

    def contract(self) -> dict:
        """The `tierwise size --json` contract."""
        return {
            "model": self.model,
            "quant": self.quant,
            "context": self.context,
            "target": self.target,
            "parameters": self.parameters,
            "active_parameters": self.active_parameters if self.active_parameters is not None else self.parameters,
            "weights_bytes": self.weights_bytes,
            "active_weights_bytes": self.weights_read_per_token,
            "file_bytes": self.file_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "runtime_bytes": self.runtime_bytes,
            "total_bytes": self.total_bytes,
            "naive_bytes": self.naive_bytes,
            "naive_error_pct": None if self.naive_error_pct is None else round(self.naive_error_pct, 1),
            "kv_cache_type": self.kv_cache_type,
            "tensor_bytes_by_type": self.tensor_bytes_by_type,
            "steps": self.steps,
        }


def fmt_bytes(n: int | float) -> str:
    try:
        if n >= GIB:
            return f"{n / GIB:.2f} GiB"
        return f"{n / MIB:.1f} MiB"
    except OverflowError:  # an integer beyond any float (a damaged shape): say it, never raise
        return f"{shown(n // GIB)} GiB"


def nominal_bits(recipe: str) -> int:
    """The bits per weight a recipe's name promises (the article's 'bytes per parameter')."""
    if recipe in ("F32",):
        return 32
    if recipe in ("F16", "BF16", "FP8"):
        return 16 if recipe != "FP8" else 8
    m = re.match(r"I?Q(\d)", recipe)
    if not m:
        raise TierwiseError(f"cannot tell the bits per weight of {recipe!r}")
    return int(m.group(1))


# --- KV cache -------------------------------------------------------------------------------


def kv_cache_bytes(
    *,
    layers: int,
    kv_heads: int,
    head_dim: int,
    context: int,
    element_bytes: float,
    batch: int = 1,
    sliding_layers: int = 0,
    sliding_window: int | None = None,
) -> int:
    """2 (K and V) x layers x positions x KV heads x head dim x bytes per element.

    A sliding-window layer only keeps the last `sliding_window` positions.
    """
    global_layers = layers - sliding_layers
    positions = global_layers * context
    if sliding_layers:
        positions += sliding_layers * min(context, sliding_window or context)
    return math.ceil(2 * positions * kv_heads * head_dim * element_bytes * batch)


def cache_element_bytes(cache_type: str) -> float:
    if cache_type not in KV_CACHE_TYPES:
        raise TierwiseError(f"unknown KV cache type {cache_type!r}; allowed: {', '.join(KV_CACHE_TYPES)}")
    qt = quant_type(cache_type.upper())
    return qt.block_bytes / qt.block_weights


def _kv_for_arch(arch: Architecture, context: int, element_bytes: float, batch: int = 1) -> int:
    return kv_cache_bytes(
        layers=arch.layers,
        kv_heads=arch.kv_heads,
        head_dim=arch.head_dim,
        context=context,
        element_bytes=element_bytes,
        batch=batch,
        sliding_layers=arch.sliding_layers,
        sliding_window=arch.sliding_window,
    )


def _kv_step(arch: Architecture, context: int, cache_type: str, kv: int, batch: int = 1) -> str:
    window = ""
    if arch.sliding_layers:
        window = (
            f"; {arch.sliding_layers} of {arch.layers} layers use a {arch.sliding_window}-token "
            f"sliding window, so they keep min({context}, {arch.sliding_window}) positions"
        )
    per_batch = f" x batch {batch}" if batch > 1 else ""
    return (
        f"KV cache: 2 (K,V) x {arch.layers} layers x {context} tokens x {arch.kv_heads} KV heads "
        f"x {arch.head_dim} head dim x {cache_element_bytes(cache_type):g} bytes ({cache_type}){per_batch}"
        f"{window} = {fmt_bytes(kv)}"
    )


# --- llama.cpp runtime ------------------------------------------------------------------------


def llama_cpp_runtime_bytes(
    *, context: int, attention_heads: int, embedding_width: int, ffn_width: int, vocabulary: int
) -> tuple[int, list[str]]:
    """Compute buffers and the serving process for llama.cpp on CPU, worst case: a prompt
    that fills the context. Coefficients are calibrated data (runtime_model.yaml).
    ffn_width is accepted for the record: the FFN intermediates are not live at the peak."""
    rt = llama_cpp_runtime()
    ubatch = min(rt.ubatch_tokens, context)
    scores = math.ceil(context * ubatch * attention_heads * rt.score_bytes_per_element * rt.score_buffers)
    mask = context * ubatch * rt.mask_bytes_per_element
    activations = 4 * ubatch * rt.activation_embd_tensors * embedding_width
    logits = 4 * vocabulary * rt.logits_rows
    process = rt.process_baseline_bytes + rt.compute_fixed_bytes
    total = scores + mask + activations + logits + process
    steps = [
        f"runtime: attention scores of one {ubatch}-token ubatch against {context} positions x "
        f"{attention_heads} heads x 4 bytes x {rt.score_buffers:g} (scores and softmax overlap) "
        f"= {fmt_bytes(scores)}, + the mask {fmt_bytes(mask)} (a prompt that fills the context)",
        f"runtime: activations 4 bytes x {ubatch} x {rt.activation_embd_tensors} x {embedding_width} "
        f"= {fmt_bytes(activations)}; logits {fmt_bytes(logits)}",
        f"runtime: Python + llama.cpp process and graph buffers = {fmt_bytes(process)} "
        "(calibrated against measured peak RSS, see the README)",
    ]
    return total, steps


def lambda_runtime_bytes() -> int:
    """What a Lambda adds to the serving process: the runtime client and boto3's S3 client."""
    return llama_cpp_runtime().lambda_runtime_bytes


# --- GGUF file layout -------------------------------------------------------------------------


def _tokenizer_is_bpe(arch: Architecture) -> bool:
    # Llama 3 and Qwen2 ship GPT-2 style BPE vocabularies (tokens + merges, no scores);
    # Llama 2 / Mistral / TinyLlama / Phi-3 / Gemma ship SentencePiece (tokens + scores).
    return arch.gguf_architecture == "qwen2" or (
        arch.gguf_architecture == "llama" and arch.vocabulary > 100_000
    )


def gguf_overhead_bytes(arch: Architecture, tensor_names: list[str]) -> int:
    """Header, metadata (mostly the vocabulary) and tensor directory of a GGUF file."""
    avg_token_bytes = 7  # measured on Llama 3 / Gemma vocabularies: 6-8 UTF-8 bytes
    per_token = 8 + avg_token_bytes + 4  # string length + text + token_type (int32)
    vocab = arch.vocabulary * per_token
    if _tokenizer_is_bpe(arch):
        vocab += arch.vocabulary * (8 + 2 * avg_token_bytes + 1)  # ~one merge per token
    else:
        vocab += arch.vocabulary * 4  # float32 score per token
    general_metadata = 8 * 1024  # ~40 scalar keys and a chat template
    directory = sum(8 + len(n) + 4 + 2 * 8 + 4 + 8 for n in tensor_names)
    header = 24
    padding = GGUF_ALIGNMENT // 2 * (len(tensor_names) + 1)
    return header + general_metadata + vocab + directory + padding


def estimate_gguf_profile(
    profile: ModelProfile, quant: str | None = None, context: int | None = None, cache_type: str = "f16"
) -> MemoryEstimate:
    """Memory for a catalogue model quantized with a llama.cpp recipe, served by llama.cpp."""
    arch = _require_arch(profile)
    recipe = check_recipe(quant or profile.default_quant)
    context = check_context(profile, context)
    element = cache_element_bytes(cache_type)
    gqa = arch.attention_heads // arch.kv_heads
    by_type: dict[str, int] = defaultdict(int)
    changed: dict[tuple[str, str], int] = defaultdict(int)
    base = recipes().recipes[recipe].base
    if profile.gguf is not None and profile.gguf.separate_output and arch.tied_embeddings:
        arch = arch.model_copy(update={"tied_embeddings": False})
    tensors = gguf_tensors(arch)
    expert_bytes = 0
    for t in tensors:
        kind = tensor_type(
            recipe,
            role=t.role,
            layer=t.layer,
            layers=arch.layers,
            row_length=t.row_length,
            quantizable=t.matrix,
            source_type="F32",
            gqa=gqa,
            experts=arch.experts,
        )
        size = quant_type(kind).bytes_for(t.elements, t.row_length)
        by_type[kind] += size
        if is_routed_expert(t):
            expert_bytes += size
        if t.matrix and kind != base:
            changed[(t.role, kind)] += 1
    weights = sum(by_type.values())
    experts = _expert_weights(arch, expert_bytes)
    file_bytes = weights + gguf_overhead_bytes(arch, [t.name for t in tensors])
    kv = _kv_for_arch(arch, context, element)
    runtime, runtime_steps = llama_cpp_runtime_bytes(
        context=context,
        attention_heads=arch.attention_heads,
        embedding_width=arch.embedding_width,
        ffn_width=arch.ffn_width,
        vocabulary=arch.vocabulary,
    )
    total = weights + kv + runtime
    naive = _gguf_parameters(profile) * nominal_bits(recipe) // 8
    steps = [
        f"weights: {len(tensors)} tensors quantized with llama.cpp's {recipe} recipe "
        f"(base type {base}); bytes per type: "
        + ", ".join(f"{k} {fmt_bytes(v)}" for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])),
    ]
    if changed:
        steps.append(
            "weights: kept at another type than the base: "
            + ", ".join(f"{n} x {role} -> {kind}" for (role, kind), n in sorted(changed.items()))
        )
    steps += [
        f"weights total = {fmt_bytes(weights)} ({weights * 8 / _gguf_parameters(profile):.2f} bits per parameter)",
        *_moe_steps(profile, weights, experts),
        f"file: weights + header, metadata ({arch.vocabulary}-token vocabulary) and tensor directory "
        f"= {fmt_bytes(file_bytes)}",
        _kv_step(arch, context, cache_type, kv),
        *runtime_steps,
        *_total_and_naive_steps(total, naive, _gguf_parameters(profile), nominal_bits(recipe), recipe),
    ]
    return MemoryEstimate(
        model=profile.name,
        quant=recipe,
        context=context,
        target="cpu-gguf",
        weights_bytes=weights,
        file_bytes=file_bytes,
        kv_cache_bytes=kv,
        runtime_bytes=runtime,
        total_bytes=total,
        naive_bytes=naive,
        parameters=profile.parameters,
        active_parameters=profile.active_parameters,
        experts=experts,
        kv_cache_type=cache_type,
        tensor_bytes_by_type=dict(by_type),
        steps=[*_source_steps(profile, "gguf"), *steps],
    )


def _gguf_parameters(profile: ModelProfile) -> int:
    """Parameters in a GGUF of the profile: an adapter is merged into the base's weights."""
    return profile.adapter.base_parameters if profile.adapter is not None else profile.parameters


def _expert_weights(arch: Architecture, expert_bytes: int) -> ExpertWeights | None:
    if arch.experts is None:
        return None
    return ExpertWeights(weights_bytes=expert_bytes, count=arch.experts, per_token=arch.experts_per_token)


def _moe_steps(profile: ModelProfile, weights: int, experts: ExpertWeights | None) -> list[str]:
    if experts is None:
        return []
    per_token = weights - experts.weights_bytes + experts.read_bytes(1)
    return [
        f"mixture of experts: memory holds all {experts.count} experts of every layer ({fmt_bytes(experts.weights_bytes)} "
        f"of the {fmt_bytes(weights)}); a token is routed to {experts.per_token} of them, so one sequence's decode "
        f"reads {fmt_bytes(per_token)} a token ({profile.active_parameters:,} of {profile.parameters:,} parameters active)"
    ]


def _source_steps(profile: ModelProfile, target: str) -> list[str]:
    """Where a profile read from a local folder got its figures, and what an adapter becomes."""
    steps = []
    folder = profile.hf_folder
    if folder is not None and profile.adapter is None:
        steps.append(f"model: {folder.path} ({folder.model_type}), {profile.parameters:,} parameters from "
                     f"{folder.weights_from}" + (f" of {folder.shards} file(s), {folder.tensors} tensors"
                                                 if folder.shards else "") + f", stored as {folder.stored_dtype}")
    a = profile.adapter
    if a is not None:
        how = (f"merged into {a.base_model}'s weights before conversion (llama.cpp serves one GGUF file): sized as "
               f"the base's {a.base_parameters:,} parameters" if target == "gguf" else
               f"served beside {a.base_model}'s weights (vLLM loads LoRA adapters): "
               f"{a.base_parameters:,} + {a.parameters:,} parameters")
        steps.append(f"LoRA adapter, rank {a.rank} on {', '.join(a.target_modules)} ({a.adapted_matrices} matrices, "
                     f"{a.parameters:,} parameters from {a.weights_from}): {how}")
    return steps


def estimate_gpu(
    profile: ModelProfile, context: int | None = None, batch: int = 1, dtype: str | None = None
) -> MemoryEstimate:
    """Memory for a model served at its precision (BF16 by default) on GPUs, before overhead
    per GPU: weights + KV cache for `batch` sequences of `context` tokens + activations."""
    arch = _require_arch(profile)
    dtype = dtype or profile.serving_dtype
    context = check_context(profile, context)
    if batch <= 0:
        raise TierwiseError(f"batch must be a positive number, got {batch}")
    bytes_per = nominal_bits(dtype) / 8
    weights = math.ceil(profile.parameters * bytes_per)
    experts = None
    if arch.experts is not None:
        # parameters - active = the routed experts x (1 - per_token / experts)
        routed = round((profile.parameters - profile.active_parameters) * arch.experts
                       / (arch.experts - arch.experts_per_token))
        experts = _expert_weights(arch, math.ceil(routed * bytes_per))
    kv = _kv_for_arch(arch, context, 2, batch)
    gpu = gpu_runtime()
    activations = 4 * gpu.batched_tokens * (4 * arch.embedding_width + 2 * arch.ffn_width)
    total = weights + kv + activations
    naive = weights
    steps = [
        *_source_steps(profile, "gpu"),
        f"weights: {profile.parameters:,} parameters x {bytes_per:g} bytes ({dtype}) = {fmt_bytes(weights)}",
        *_moe_steps(profile, weights, experts),
        _kv_step(arch, context, "f16", kv, batch),
        f"runtime: activations of one {gpu.batched_tokens}-token forward pass = {fmt_bytes(activations)};"
        f" plus {fmt_bytes(gpu.per_gpu_overhead_bytes)} per GPU for CUDA, counted when GPUs are chosen",
        f"total (before per-GPU overhead) = {fmt_bytes(total)}",
    ]
    return MemoryEstimate(
        model=profile.name,
        quant=dtype,
        context=context,
        target="gpu",
        weights_bytes=weights,
        file_bytes=weights,
        kv_cache_bytes=kv,
        runtime_bytes=activations,
        total_bytes=total,
        naive_bytes=naive,
        parameters=profile.parameters,
        active_parameters=profile.active_parameters,
        experts=experts,
        batch=batch,
        steps=steps,
    )


def estimate_framework(profile: ModelProfile, context: int | None = None) -> MemoryEstimate:
    """A predictive model (e.g. a BERT classifier) in F32 in a CPU framework container."""
    arch = _require_arch(profile)
    context = check_context(profile, context)
    weights = profile.parameters * 4
    rt = framework_runtime()
    activations = 4 * context * (6 * arch.embedding_width + arch.ffn_width) + 4 * context * context * arch.attention_heads
    runtime = rt.process_baseline_bytes + activations
    total = weights + runtime
    steps = [
        f"weights: {profile.parameters:,} parameters x 4 bytes (F32 in PyTorch) = {fmt_bytes(weights)}",
        "KV cache: none (an encoder classifies in one pass)",
        f"runtime: framework process {fmt_bytes(rt.process_baseline_bytes)} ({rt.source}) + "
        f"activations for one {context}-token input {fmt_bytes(activations)}",
        f"total = {fmt_bytes(total)}",
    ]
    return MemoryEstimate(
        model=profile.name,
        quant="F32",
        context=context,
        target="cpu-framework",
        weights_bytes=weights,
        file_bytes=weights,
        kv_cache_bytes=0,
        runtime_bytes=runtime,
        total_bytes=total,
        naive_bytes=weights,
        parameters=profile.parameters,
        steps=steps,
    )


def _total_and_naive_steps(total: int, naive: int, parameters: int, bits: int, label: str) -> list[str]:
    return [
        f"total = weights + KV cache + runtime = {fmt_bytes(total)}",
        f"naive (the article's formula): {parameters:,} parameters x {bits / 8:g} bytes ({label}) = "
        f"{fmt_bytes(naive)}, {abs(naive - total) / total * 100:.0f}% {'below' if naive < total else 'above'} the total",
    ]


def default_context(profile: ModelProfile) -> int:
    """4,096 tokens, or the model's maximum if that is smaller: long enough for chat, and
    what a CPU tier can hold for 8B-class models."""
    arch = _require_arch(profile)
    return min(4096, arch.max_context)


def check_context(profile: ModelProfile, context: int | None) -> int:
    arch = _require_arch(profile)
    if context is None:
        return default_context(profile)
    if context <= 0:
        raise TierwiseError(f"context must be a positive number of tokens, got {context}")
    if context > arch.max_context:
        raise TierwiseError(
            f"context {context} is above {profile.name}'s maximum of {arch.max_context} tokens"
        )
    return context


def _require_arch(profile: ModelProfile) -> Architecture:
    if profile.architecture is None or profile.parameters is None:
        raise TierwiseError(
            f"{profile.name} is a closed model: its size is not published, so it cannot be sized"
        )
    return profile.architecture


# --- a local .gguf file -----------------------------------------------------------------------


def read_gguf(path: str | os.PathLike) -> dict:
    """Architecture, tensor types and exact tensor bytes from a GGUF header (memory-mapped:
    the weights are not read)."""
    p = check_gguf_path(path, "--gguf")
    _check_preamble(p)
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(p), "r")
        fields = {name: _field_value(f) for name, f in reader.fields.items()}
        tensors = [
            (t.name, t.tensor_type.name, int(t.n_bytes), int(t.n_elements), [int(x) for x in t.shape])
            for t in reader.tensors
        ]
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except TierwiseError:
        raise
    except Exception as exc:  # the gguf package raises many kinds on a damaged file
        detail = " ".join(str(exc).split())[:160]
        raise TierwiseError(
            f"{p} is truncated or damaged: its header does not parse ({type(exc).__name__}: {detail})"
        ) from None
    size = p.stat().st_size
    if end > size:
        raise TierwiseError(f"{p} is truncated: its tensors end at byte {end} but the file has {size}")
    return {"fields": fields, "tensors": tensors, "file_bytes": size}


def _check_preamble(p: Path) -> None:
    """Version and counts from the first 24 bytes, checked against the file's size before the
    gguf reader loops over them: a damaged count of 2**60 entries must not become a hang."""
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24:
        raise TierwiseError(f"{p} is truncated: a GGUF header needs 24 bytes, the file has {size}")
    version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:])
    if version & 0xFFFF == 0:  # written on a big-endian machine, as gguf's reader also detects
        version, n_tensors, n_kv = struct.unpack(">IQQ", head[4:])
    if version not in GGUF_VERSIONS:
        raise TierwiseError(
            f"{p}: GGUF version {version} is not one tierwise reads (allowed: {', '.join(map(str, GGUF_VERSIONS))})"
        )
    # the smallest key/value pair takes 13 bytes (empty key, type, one byte); a tensor info 24
    if n_kv * 13 + n_tensors * 24 > size - 24:
        raise TierwiseError(
            f"{p} is truncated or damaged: its header announces {n_kv:,} keys and {n_tensors:,} tensors, "
            f"more than {size:,} bytes can hold"
        )


def _field_value(field):
    """A header value as Python: numbers and booleans as themselves, text as str (invalid
    UTF-8 replaced), arrays as their length and element type only."""
    from gguf import GGUFValueType

    if not field.types:
        return None
    if field.types[0] == GGUFValueType.ARRAY:
        element = field.types[1].name if len(field.types) > 1 else "UNKNOWN"
        return GgufArray(length=len(field.data), element_type=element)
    value = field.parts[field.data[0]]
    if field.types[0] == GGUFValueType.STRING:
        return bytes(value).decode("utf-8", errors="replace")
    value = value.tolist()[0] if hasattr(value, "tolist") else value
    if field.types[0] == GGUFValueType.BOOL:
        return bool(value)
    return value


def estimate_gguf_file(
    path: str | os.PathLike, context: int | None = None, cache_type: str = "f16"
) -> MemoryEstimate:
    info = read_gguf(path)
    shape = shape_from_header(info["fields"], info["tensors"], str(path))
    arch_name, layers, max_context = shape.architecture, shape.layers, shape.max_context
    embd, heads, kv_heads, head_dim = shape.embedding_width, shape.heads, shape.kv_heads, shape.head_dim
    ffn, window, vocab = shape.ffn_width, shape.sliding_window, shape.vocabulary
    if context is None:
        context = min(4096, max_context)
    elif context <= 0:
        raise TierwiseError(f"--context: must be a positive number of tokens (got {context})")
    elif context > max_context:
        raise TierwiseError(f"--context: {context} is above this file's maximum of {max_context} tokens")
    by_type: dict[str, int] = defaultdict(int)
    parameters = 0
    for _, kind, n_bytes, n_elements, _ in info["tensors"]:
        by_type[kind] += n_bytes
        parameters += n_elements
    weights = sum(by_type.values())
    sliding_layers = layers - layers // 2 if (window and arch_name.startswith("gemma2")) else 0
    kv = kv_cache_bytes(
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        context=context,
        element_bytes=cache_element_bytes(cache_type),
        sliding_layers=sliding_layers,
        sliding_window=window,
    )
    runtime, runtime_steps = llama_cpp_runtime_bytes(
        context=context, attention_heads=heads, embedding_width=embd, ffn_width=ffn, vocabulary=vocab
    )
    total = weights + kv + runtime
    file_type = _dominant_type(by_type)
    naive = parameters * _type_nominal_bits(file_type) // 8
    name = shape.name or Path(path).stem
    steps = [
        f"header: architecture {arch_name}, {layers} layers, {embd} wide, {heads} heads / {kv_heads} KV heads"
        f" x {head_dim}, FFN {ffn}, vocabulary {vocab}, trained context {max_context}",
        f"weights: {len(info['tensors'])} tensors, exact bytes from the header: "
        + ", ".join(f"{k} {fmt_bytes(v)}" for k, v in sorted(by_type.items(), key=lambda kv: -kv[1]))
        + f" = {fmt_bytes(weights)}",
        f"file: {fmt_bytes(info['file_bytes'])} on disk ({fmt_bytes(info['file_bytes'] - weights)} of header,"
        " metadata and alignment)",
        f"KV cache: 2 x {layers} layers x {context} tokens x {kv_heads} KV heads x {head_dim} x "
        f"{cache_element_bytes(cache_type):g} bytes ({cache_type}) = {fmt_bytes(kv)}",
        *runtime_steps,
        *_total_and_naive_steps(total, naive, parameters, _type_nominal_bits(file_type), file_type),
    ]
    return MemoryEstimate(
        model=str(name),
        quant=file_type,
        context=context,
        target="cpu-gguf",
        weights_bytes=weights,
        file_bytes=info["file_bytes"],
        kv_cache_bytes=kv,
        runtime_bytes=runtime,
        total_bytes=total,
        naive_bytes=naive,
        parameters=parameters,
        kv_cache_type=cache_type,
        tensor_bytes_by_type=dict(by_type),
        steps=steps,
    )


# Alias the runtime benchmark imports.
estimate_gguf = estimate_gguf_file


def _dominant_type(by_type: dict[str, int]) -> str:
    matrices = {k: v for k, v in by_type.items() if k not in ("F32",)} or by_type
    return max(matrices, key=matrices.get) if matrices else "F32"


def _type_nominal_bits(kind: str) -> int:
    try:
        return nominal_bits(kind)
    except TierwiseError:
        qt = quant_type(kind)
        return round(qt.bits_per_weight)
