"""A Hugging Face config.json read into the transformer's shape, and the weights that shape implies.

Each supported `model_type` names its keys the way its transformers configuration class does
(LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config, Qwen2MoeConfig, GemmaConfig,
Gemma2Config, Phi3Config); a key the class defaults is read with that default and the profile
says so. `weights()` lists every weight by its module name in the checkpoint, with the role it
plays at decode (always read, or only when a token is routed to its expert), so parameter counts,
active parameters and LoRA targets all come from one inventory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model_profiles.errors import ProfileError


@dataclass(frozen=True)
class Family:
    model_type: str
    architecture: str  # the transformers class config.json's "architectures" names
    gguf: str  # llama.cpp's architecture for the converted file
    tied_default: bool  # tie_word_embeddings when config.json leaves it out
    qkv_bias: bool = False  # q/k/v projections always carry a bias
    fused: bool = False  # qkv_proj and gate_up_proj (Phi-3)
    extra_norms: bool = False  # pre/post feed-forward norms (Gemma 2)
    experts_key: str | None = None  # the key naming routed experts
    expert_width_key: str = "intermediate_size"
    shared_expert: bool = False


FAMILIES: dict[str, Family] = {f.model_type: f for f in (
    Family("llama", "LlamaForCausalLM", "llama", tied_default=False),
    Family("mistral", "MistralForCausalLM", "llama", tied_default=False),
    Family("mixtral", "MixtralForCausalLM", "llama", tied_default=False, experts_key="num_local_experts"),
    Family("qwen2", "Qwen2ForCausalLM", "qwen2", tied_default=False, qkv_bias=True),
    Family("qwen2_moe", "Qwen2MoeForCausalLM", "qwen2moe", tied_default=False, qkv_bias=True,
           experts_key="num_experts", expert_width_key="moe_intermediate_size", shared_expert=True),
    Family("gemma", "GemmaForCausalLM", "gemma", tied_default=True),
    Family("gemma2", "Gemma2ForCausalLM", "gemma2", tied_default=True, extra_norms=True),
    Family("phi3", "Phi3ForCausalLM", "phi3", tied_default=False, fused=True),
)}
BY_CLASS = {f.architecture: f for f in FAMILIES.values()}
DTYPES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}


@dataclass(frozen=True)
class Shape:
    """What config.json says, with the key (or default) each figure came from."""

    family: Family
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int  # a dense FFN's width, or one routed expert's
    vocabulary: int
    tied: bool
    max_context: int
    attention_bias: bool
    attention_output_bias: bool
    ffn_bias: bool
    experts: int | None
    experts_per_token: int | None
    shared_ffn: int | None
    sliding_window: int | None  # Gemma 2's local layers only
    dtype: str | None
    figures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Weight:
    name: str  # module path in the checkpoint, e.g. model.layers.0.self_attn.q_proj
    elements: int
    role: str  # "always" (read for every token), "expert" (a routed expert), "embedding"
    layer: int | None = None
    n_in: int = 0  # a Linear's in/out features (0 for norms and the embedding)
    n_out: int = 0

    @property
    def linear(self) -> bool:
        return self.n_in > 0


def family_of(config: dict[str, Any], where: str) -> Family:
    model_type = config.get("model_type")
    classes = config.get("architectures") or []
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    for name in classes if isinstance(classes, list) else []:
        if name in BY_CLASS:
            return BY_CLASS[name]
    named = f"model_type {model_type!r}" + (f" ({', '.join(map(str, classes))})" if classes else "")
    raise ProfileError(
        f"{where}: {named} is not an architecture tierwise sizes; supported: "
        f"{', '.join(sorted(FAMILIES))}"
    )


class _Reader:
    def __init__(self, config: dict[str, Any], where: str):
        self.config, self.where, self.figures = config, where, {}

    def int(self, field: str, key: str, default: int | None = None, why: str = "", low: int = 1) -> int:
        value = self.config.get(key)
        if value is None:
            if default is None:
                raise ProfileError(f"{self.where}: {key} is missing (needed for {field})")
            self.figures.setdefault(field, why or f"{key} absent: transformers' default {default}")
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 10**9:
            raise ProfileError(f"{self.where}: {key} must be a whole number from {low} to 10^9 (got {str(value)[:40]})")
        self.figures.setdefault(field, f"config.json {key}")
        return value

    def bool(self, field: str, key: str, default: bool) -> bool:
        value = self.config.get(key)
        if value is None:
            self.figures.setdefault(field, f"{key} absent: transformers' default {str(default).lower()}")
            return default
        if not isinstance(value, bool):
            raise ProfileError(f"{self.where}: {key} must be true or false (got {str(value)[:40]})")
        self.figures.setdefault(field, f"config.json {key}")
        return value


def read_shape(config: dict[str, Any], where: str) -> Shape:
    """The shape config.json describes, or one line naming the key that is missing or wrong."""
    family = family_of(config, where)
    if config.get("quantization_config") is not None:
        method = config["quantization_config"].get("quant_method", "?") if isinstance(config["quantization_config"], dict) else "?"
        raise ProfileError(
            f"{where}: a quantized checkpoint (quantization_config.quant_method {method!r}) stores packed integers, "
            "not the model's parameters; give the folder of the unquantized model")
    r = _Reader(config, where)
    layers = r.int("layers", "num_hidden_layers")
    hidden = r.int("embedding_width", "hidden_size")
    heads = r.int("attention_heads", "num_attention_heads")
    kv_heads = r.int("kv_heads", "num_key_value_heads", heads,
                     "num_key_value_heads absent: equals num_attention_heads (multi-head attention)")
    if hidden % heads and config.get("head_dim") is None:
        raise ProfileError(f"{where}: hidden_size {hidden} is not a multiple of num_attention_heads {heads} and no head_dim is given")
    head_dim = r.int("head_dim", "head_dim", hidden // heads, "hidden_size / num_attention_heads")
    vocabulary = r.int("vocabulary", "vocab_size")
    max_context = r.int("max_context", "max_position_embeddings")
    tied = r.bool("tied_embeddings", "tie_word_embeddings", family.tied_default)
    experts = per_token = shared = None
    if family.experts_key:
        experts = r.int("experts", family.experts_key, low=2)
        per_token = r.int("experts_per_token", "num_experts_per_tok")
        if per_token > experts:
            raise ProfileError(f"{where}: num_experts_per_tok {per_token} exceeds {family.experts_key} {experts}")
        ffn = r.int("ffn_width", family.expert_width_key)
        if family.shared_expert:
            shared = r.int("shared_expert_ffn_width", "shared_expert_intermediate_size")
            if r.config.get("decoder_sparse_step", 1) != 1 or r.config.get("mlp_only_layers"):
                raise ProfileError(f"{where}: dense layers among the expert layers (decoder_sparse_step, "
                                   "mlp_only_layers) are not sized; every layer must route to experts")
    else:
        ffn = r.int("ffn_width", "intermediate_size")
    llama_bias = family.model_type == "llama" and r.bool("attention_bias", "attention_bias", False)
    ffn_bias = family.model_type == "llama" and r.bool("ffn_bias", "mlp_bias", False)
    if family.qkv_bias:
        r.figures["attention_bias"] = f"{family.architecture} gives q/k/v projections a bias"
    window = None
    notes = []
    if family.model_type == "gemma2":
        window = r.int("sliding_window", "sliding_window")
        r.figures["sliding_window_pattern"] = "Gemma 2 alternates local (sliding-window) and global layers"
    elif isinstance(config.get("sliding_window"), int) and config.get("use_sliding_window", True):
        notes.append(f"config.json's sliding_window {config['sliding_window']} is not applied: the KV cache is "
                     "sized for the whole context, an upper bound")
    dtype = config.get("torch_dtype", config.get("dtype"))
    if dtype is not None and dtype not in DTYPES:
        raise ProfileError(f"{where}: torch_dtype {str(dtype)[:30]!r} is not one of {', '.join(DTYPES)}")
    return Shape(
        family=family, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=ffn,
        vocabulary=vocabulary, tied=tied, max_context=max_context,
        attention_bias=family.qkv_bias or llama_bias, attention_output_bias=llama_bias, ffn_bias=ffn_bias,
        experts=experts, experts_per_token=per_token, shared_ffn=shared, sliding_window=window,
        dtype=DTYPES.get(dtype), figures=r.figures, notes=notes,
    )


def shape_of(arch) -> Shape:
    """The shape of a catalogue profile's Architecture, named as its transformers class names it
    (the base of a LoRA adapter that names a catalogue model)."""
    by_gguf = {"qwen2": "qwen2", "qwen2moe": "qwen2_moe", "gemma": "gemma", "gemma2": "gemma2", "phi3": "phi3"}
    model_type = by_gguf.get(arch.gguf_architecture) or ("mixtral" if arch.experts else "llama")
    if arch.gguf_architecture not in (*by_gguf, "llama"):
        raise ProfileError(f"a {arch.gguf_architecture} model has no Hugging Face module layout tierwise knows")
    return Shape(
        family=FAMILIES[model_type], layers=arch.layers, hidden=arch.embedding_width, heads=arch.attention_heads,
        kv_heads=arch.kv_heads, head_dim=arch.head_dim, ffn=arch.ffn_width, vocabulary=arch.vocabulary,
        tied=arch.tied_embeddings, max_context=arch.max_context, attention_bias=arch.attention_bias,
        attention_output_bias=arch.attention_output_bias, ffn_bias=arch.ffn_bias, experts=arch.experts,
        experts_per_token=arch.experts_per_token, shared_ffn=arch.shared_expert_ffn_width,
        sliding_window=arch.sliding_window, dtype=None,
    )


def weights(s: Shape) -> list[Weight]:
    """Every weight of the model as its transformers class names it."""
    d, q_out, kv_out = s.hidden, s.heads * s.head_dim, s.kv_heads * s.head_dim
    out = [Weight("model.embed_tokens", s.vocabulary * d, "embedding")]

    def linear(name: str, layer: int, n_in: int, n_out: int, bias: bool = False, role: str = "always") -> None:
        out.append(Weight(name, n_in * n_out + (n_out if bias else 0), role, layer, n_in, n_out))

    for i in range(s.layers):
        p = f"model.layers.{i}."
        norms = ["input_layernorm", "post_attention_layernorm"]
        if s.family.extra_norms:
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        out += [Weight(p + n, d, "always", i) for n in norms]
        if s.family.fused:
            linear(p + "self_attn.qkv_proj", i, d, q_out + 2 * kv_out)
        else:
            linear(p + "self_attn.q_proj", i, d, q_out, s.attention_bias)
            linear(p + "self_attn.k_proj", i, d, kv_out, s.attention_bias)
            linear(p + "self_attn.v_proj", i, d, kv_out, s.attention_bias)
        linear(p + "self_attn.o_proj", i, q_out, d, s.attention_output_bias)
        if s.family.model_type == "mixtral":
            linear(p + "block_sparse_moe.gate", i, d, s.experts)
            for e in range(s.experts):
                for w, n_in, n_out in (("w1", d, s.ffn), ("w2", s.ffn, d), ("w3", d, s.ffn)):
                    linear(p + f"block_sparse_moe.experts.{e}.{w}", i, n_in, n_out, role="expert")
        elif s.family.model_type == "qwen2_moe":
            linear(p + "mlp.gate", i, d, s.experts)
            for e in range(s.experts):
                _swiglu(linear, p + f"mlp.experts.{e}.", i, d, s.ffn, False, "expert")
            _swiglu(linear, p + "mlp.shared_expert.", i, d, s.shared_ffn, False, "always")
            linear(p + "mlp.shared_expert_gate", i, d, 1)
        elif s.family.fused:
            linear(p + "mlp.gate_up_proj", i, d, 2 * s.ffn)
            linear(p + "mlp.down_proj", i, s.ffn, d)
        else:
            _swiglu(linear, p + "mlp.", i, d, s.ffn, s.ffn_bias, "always")
    out.append(Weight("model.norm", d, "always"))
    if not s.tied:
        out.append(Weight("lm_head", s.vocabulary * d, "always", None, d, s.vocabulary))
    return out


def _swiglu(linear, prefix: str, layer: int, d: int, ffn: int, bias: bool, role: str) -> None:
    linear(prefix + "gate_proj", layer, d, ffn, bias, role)
    linear(prefix + "up_proj", layer, d, ffn, bias, role)
    linear(prefix + "down_proj", layer, ffn, d, bias, role)


def counts(inventory: list[Weight], experts: int | None, per_token: int | None) -> tuple[int, int]:
    """(parameters, parameters one token runs through): every routed expert is held, a token
    runs through `per_token` of `experts` of them."""
    total = sum(w.elements for w in inventory)
    routed = sum(w.elements for w in inventory if w.role == "expert")
    if not experts:
        return total, total
    return total, total - routed + routed * per_token // experts
