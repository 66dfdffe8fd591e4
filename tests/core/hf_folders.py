"""Hugging Face model folders written for the tests: config.json, real .safetensors files (through
the safetensors package) named the way transformers names each family's weights, and headers
written byte by byte where a test needs a dtype numpy lacks or a damaged file.

The tensor names here are written out independently of model_profiles/hf_config.py, so the
counts a test expects come from the arrays it wrote, not from the code under test.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "max_position_embeddings": 2048, "num_attention_heads": 4, "num_hidden_layers": 3, "num_key_value_heads": 2,
    "tie_word_embeddings": False, "torch_dtype": "float16", "vocab_size": 256,
}
TINY_MIXTRAL = {
    "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 64, "intermediate_size": 96,
    "max_position_embeddings": 4096, "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
    "num_local_experts": 4, "num_experts_per_tok": 2, "tie_word_embeddings": False, "torch_dtype": "float16",
    "vocab_size": 128,
}


def write_config(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def _rand(rng: np.random.Generator, *shape: int, dtype=np.float16) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def llama_state(config: dict, dtype=np.float16, seed: int = 0) -> dict[str, np.ndarray]:
    """The tensors LlamaForCausalLM saves (out x in matrices, as nn.Linear stores them)."""
    rng = np.random.default_rng(seed)
    d, ffn, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    hd = d // config["num_attention_heads"]
    kv = config["num_key_value_heads"] * hd
    state = {"model.embed_tokens.weight": _rand(rng, v, d, dtype=dtype), "model.norm.weight": _rand(rng, d, dtype=dtype)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        state.update({
            p + "input_layernorm.weight": _rand(rng, d, dtype=dtype),
            p + "post_attention_layernorm.weight": _rand(rng, d, dtype=dtype),
            p + "self_attn.q_proj.weight": _rand(rng, d, d, dtype=dtype),
            p + "self_attn.k_proj.weight": _rand(rng, kv, d, dtype=dtype),
            p + "self_attn.v_proj.weight": _rand(rng, kv, d, dtype=dtype),
            p + "self_attn.o_proj.weight": _rand(rng, d, d, dtype=dtype),
        })
        if "num_local_experts" in config:
            state[p + "block_sparse_moe.gate.weight"] = _rand(rng, config["num_local_experts"], d, dtype=dtype)
            for e in range(config["num_local_experts"]):
                q = p + f"block_sparse_moe.experts.{e}."
                state.update({q + "w1.weight": _rand(rng, ffn, d, dtype=dtype),
                              q + "w2.weight": _rand(rng, d, ffn, dtype=dtype),
                              q + "w3.weight": _rand(rng, ffn, d, dtype=dtype)})
        else:
            state.update({p + "mlp.gate_proj.weight": _rand(rng, ffn, d, dtype=dtype),
                          p + "mlp.up_proj.weight": _rand(rng, ffn, d, dtype=dtype),
                          p + "mlp.down_proj.weight": _rand(rng, d, ffn, dtype=dtype)})
    if not config.get("tie_word_embeddings"):
        state["lm_head.weight"] = _rand(rng, v, d, dtype=dtype)
    return state


def write_shards(folder: Path, state: dict[str, np.ndarray], shards: int = 2) -> list[Path]:
    """The state in `shards` files with model.safetensors.index.json, as save_pretrained shards it."""
    names = sorted(state)
    files = []
    weight_map = {}
    for k in range(shards):
        part = names[k::shards]
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors" if shards > 1 else "model.safetensors"
        save_file({n: state[n] for n in part}, str(folder / file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
        files.append(folder / file)
    if shards > 1:
        total = sum(a.nbytes for a in state.values())
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}), encoding="utf-8")
    return files


DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "F8_E4M3": 1}


def write_raw(path: Path, tensors: dict[str, tuple[str, list[int]]], *, sparse: bool = False,
              header_length: int | None = None, trailing: bytes = b"") -> int:
    """A safetensors file written byte by byte: 8-byte length, JSON header, data. `sparse` leaves
    the data as a hole (a header-only file that still has its full size); `header_length` writes
    a different length than the header has, to damage it. Returns the data's size in bytes."""
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = int(np.prod(shape, dtype=np.int64)) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw) if header_length is None else header_length))
        fh.write(raw)
        if sparse:
            fh.truncate(8 + len(raw) + offset)
        else:
            fh.write(bytes(offset))
        fh.seek(0, 2)
        fh.write(trailing)
    return offset


def one_error_line(capsys, argv: list[str]) -> str:
    """Run the CLI; it must exit 2 with one `error:` line and no traceback. Returns the line."""
    from tierwise.cli import main

    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]
