"""The tensors a GGUF file of a given architecture holds, with their shapes.

This mirrors what llama.cpp's convert_hf_to_gguf.py writes for each architecture tierwise
knows (names as in gguf-py's TENSOR_NAMES). `row_length` is ne[0], the dimension a
quantization block runs along; sizing needs it because a row that is not a multiple of
the block size changes the type llama.cpp picks.
"""

from __future__ import annotations

from dataclasses import dataclass

from model_profiles.schema import Architecture


@dataclass(frozen=True)
class TensorSpec:
    name: str
    role: str  # name without "blk.N." and ".weight"/".bias"
    layer: int | None
    row_length: int  # ne[0]
    rows: int  # product of the other dimensions (1 for a 1-D tensor)
    matrix: bool  # 2-D weight that llama-quantize may quantize

    @property
    def elements(self) -> int:
        return self.row_length * self.rows


def _vec(name: str, role: str, layer: int | None, n: int) -> TensorSpec:
    return TensorSpec(name, role, layer, n, 1, False)


def _mat(name: str, role: str, layer: int | None, n_in: int, n_out: int) -> TensorSpec:
    return TensorSpec(name, role, layer, n_in, n_out, True)


def _exp(name: str, role: str, layer: int, n_in: int, n_out: int, experts: int) -> TensorSpec:
    """A 3-D expert tensor ([n_in, n_out, experts] in ggml order): rows of n_in, quantized like a matrix."""
    return TensorSpec(name, role, layer, n_in, n_out * experts, True)


def gguf_tensors(arch: Architecture) -> list[TensorSpec]:
    """Every tensor of the model, in file order."""
    kind = arch.gguf_architecture
    d = arch.embedding_width
    q_out = arch.attention_heads * arch.head_dim
    kv_out = arch.kv_heads * arch.head_dim
    tensors: list[TensorSpec] = []
    embd_role = "token_embd_tied" if arch.tied_embeddings else "token_embd"
    tensors.append(_mat("token_embd.weight", embd_role, None, d, arch.vocabulary))
    if kind == "bert":
        tensors.append(_mat("position_embd.weight", "position_embd", None, d, arch.max_context))
        tensors.append(_mat("token_types.weight", "token_types", None, d, 2))
        tensors.append(_vec("token_embd_norm.weight", "token_embd_norm", None, d))
        tensors.append(_vec("token_embd_norm.bias", "token_embd_norm", None, d))
    for i in range(arch.layers):
        blk = f"blk.{i}."
        if kind == "bert":
            tensors += _bert_block(blk, i, d, arch.ffn_width)
            continue
        tensors.append(_vec(blk + "attn_norm.weight", "attn_norm", i, d))
        if kind == "phi3":
            tensors.append(_mat(blk + "attn_qkv.weight", "attn_qkv", i, d, q_out + 2 * kv_out))
        else:
            tensors.append(_mat(blk + "attn_q.weight", "attn_q", i, d, q_out))
            tensors.append(_mat(blk + "attn_k.weight", "attn_k", i, d, kv_out))
            tensors.append(_mat(blk + "attn_v.weight", "attn_v", i, d, kv_out))
            if arch.attention_bias:
                tensors.append(_vec(blk + "attn_q.bias", "attn_q_bias", i, q_out))
                tensors.append(_vec(blk + "attn_k.bias", "attn_k_bias", i, kv_out))
                tensors.append(_vec(blk + "attn_v.bias", "attn_v_bias", i, kv_out))
        tensors.append(_mat(blk + "attn_output.weight", "attn_output", i, q_out, d))
        if arch.attention_output_bias:
            tensors.append(_vec(blk + "attn_output.bias", "attn_output_bias", i, d))
        if kind == "gemma2":
            tensors.append(_vec(blk + "post_attention_norm.weight", "post_attention_norm", i, d))
        tensors.append(_vec(blk + "ffn_norm.weight", "ffn_norm", i, d))
        if arch.experts is not None:
            tensors += _moe_block(blk, i, arch)
        elif kind == "phi3":
            tensors.append(_mat(blk + "ffn_up.weight", "ffn_up", i, d, 2 * arch.ffn_width))
        else:
            tensors.append(_mat(blk + "ffn_gate.weight", "ffn_gate", i, d, arch.ffn_width))
            tensors.append(_mat(blk + "ffn_up.weight", "ffn_up", i, d, arch.ffn_width))
        if arch.experts is None:
            tensors.append(_mat(blk + "ffn_down.weight", "ffn_down", i, arch.ffn_width, d))
            if arch.ffn_bias:
                tensors += [_vec(blk + "ffn_gate.bias", "ffn_gate_bias", i, arch.ffn_width),
                            _vec(blk + "ffn_up.bias", "ffn_up_bias", i, arch.ffn_width),
                            _vec(blk + "ffn_down.bias", "ffn_down_bias", i, d)]
        if kind == "gemma2":
            tensors.append(_vec(blk + "post_ffw_norm.weight", "post_ffw_norm", i, d))
    if kind != "bert":
        tensors.append(_vec("output_norm.weight", "output_norm", None, d))
        if not arch.tied_embeddings:
            tensors.append(_mat("output.weight", "output", None, d, arch.vocabulary))
    return tensors


def _moe_block(blk: str, i: int, arch: Architecture) -> list[TensorSpec]:
    """A mixture-of-experts FFN as llama.cpp's converter writes it: the router (kept in F32, never
    quantized), the routed experts merged into 3-D tensors, and the shared expert if there is one."""
    d, ffn, n = arch.embedding_width, arch.ffn_width, arch.experts
    router = TensorSpec(blk + "ffn_gate_inp.weight", "ffn_gate_inp", i, d, n, False)
    out = [
        router,
        _exp(blk + "ffn_gate_exps.weight", "ffn_gate_exps", i, d, ffn, n),
        _exp(blk + "ffn_down_exps.weight", "ffn_down_exps", i, ffn, d, n),
        _exp(blk + "ffn_up_exps.weight", "ffn_up_exps", i, d, ffn, n),
    ]
    shared = arch.shared_expert_ffn_width
    if shared is not None:
        out += [
            _vec(blk + "ffn_gate_inp_shexp.weight", "ffn_gate_inp_shexp", i, d),
            _mat(blk + "ffn_gate_shexp.weight", "ffn_gate_shexp", i, d, shared),
            _mat(blk + "ffn_up_shexp.weight", "ffn_up_shexp", i, d, shared),
            _mat(blk + "ffn_down_shexp.weight", "ffn_down_shexp", i, shared, d),
        ]
    return out


def is_routed_expert(spec: TensorSpec) -> bool:
    """A routed expert's weights: read only when a token is routed to that expert."""
    return spec.role.endswith("_exps")


def _bert_block(blk: str, i: int, d: int, ffn: int) -> list[TensorSpec]:
    out = []
    for role in ("attn_q", "attn_k", "attn_v"):
        out.append(_mat(blk + role + ".weight", role, i, d, d))
        out.append(_vec(blk + role + ".bias", role + "_bias", i, d))
    out.append(_mat(blk + "attn_output.weight", "attn_output", i, d, d))
    out.append(_vec(blk + "attn_output.bias", "attn_output_bias", i, d))
    out.append(_vec(blk + "attn_output_norm.weight", "attn_output_norm", i, d))
    out.append(_vec(blk + "attn_output_norm.bias", "attn_output_norm", i, d))
    out.append(_mat(blk + "ffn_up.weight", "ffn_up", i, d, ffn))
    out.append(_vec(blk + "ffn_up.bias", "ffn_up_bias", i, ffn))
    out.append(_mat(blk + "ffn_down.weight", "ffn_down", i, ffn, d))
    out.append(_vec(blk + "ffn_down.bias", "ffn_down_bias", i, d))
    out.append(_vec(blk + "layer_output_norm.weight", "layer_output_norm", i, d))
    out.append(_vec(blk + "layer_output_norm.bias", "layer_output_norm", i, d))
    return out


def parameter_count(arch: Architecture) -> int:
    return sum(t.elements for t in gguf_tensors(arch))
