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
        if kind == "gemma2":
            tensors.append(_vec(blk + "post_attention_norm.weight", "post_attention_norm", i, d))
        tensors.append(_vec(blk + "ffn_norm.weight", "ffn_norm", i, d))
        if kind == "phi3":
            tensors.append(_mat(blk + "ffn_up.weight", "ffn_up", i, d, 2 * arch.ffn_width))
        else:
            tensors.append(_mat(blk + "ffn_gate.weight", "ffn_gate", i, d, arch.ffn_width))
            tensors.append(_mat(blk + "ffn_up.weight", "ffn_up", i, d, arch.ffn_width))
        tensors.append(_mat(blk + "ffn_down.weight", "ffn_down", i, arch.ffn_width, d))
        if kind == "gemma2":
            tensors.append(_vec(blk + "post_ffw_norm.weight", "post_ffw_norm", i, d))
    if kind != "bert":
        tensors.append(_vec("output_norm.weight", "output_norm", None, d))
        if not arch.tied_embeddings:
            tensors.append(_mat("output.weight", "output", None, d, arch.vocabulary))
    return tensors


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
