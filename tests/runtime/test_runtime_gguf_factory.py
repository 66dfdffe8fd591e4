"""tests/gguf_factory.py writes the files it says it writes."""

from __future__ import annotations

import pytest
from gguf import GGUFReader

from tests.gguf_factory import BYTE_VOCAB_SIZE, llama_tensor_specs, parameter_count, write_tiny_llama


def field(reader, key):
    return reader.fields[key].contents()


def test_header_tensor_types_and_sizes(chat_model):
    reader = GGUFReader(chat_model)
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "llama.block_count") == 2
    assert field(reader, "llama.attention.head_count_kv") == 2
    assert field(reader, "tokenizer.ggml.model") == "llama"
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert len(tokens) == BYTE_VOCAB_SIZE and tokens[3] == "<0x00>" and tokens[-1] == "<0xFF>"
    assert "tokenizer.chat_template" in reader.fields
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == "Q8_0"
    assert types["token_embd.weight"] == "F16"
    assert types["blk.1.ffn_norm.weight"] == "F32"
    assert len(set(types.values())) == 3
    assert sum(int(t.n_elements) for t in reader.tensors) == parameter_count()
    # Q8_0: 32 weights in 34 bytes
    q = next(t for t in reader.tensors if t.name == "blk.0.ffn_down.weight")
    assert int(q.n_bytes) == 64 * 128 // 32 * 34


def test_padded_vocabulary_overrides_and_k_quants(tmp_path):
    path = write_tiny_llama(tmp_path / "k.gguf", n_embd=256, n_ff=512, n_head=4, n_head_kv=4, vocab_size=1000,
                            weight_type="Q4_K", output_type="Q6_K",
                            tensor_types={"blk.0.ffn_down.weight": "Q8_0"}, architecture="llama",
                            extra_metadata={"general.organization": "tierwise-tests"})
    reader = GGUFReader(path)
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.1.attn_k.weight"] == "Q4_K"
    assert types["output.weight"] == "Q6_K"
    assert types["blk.0.ffn_down.weight"] == "Q8_0"
    assert len(field(reader, "tokenizer.ggml.tokens")) == 1000
    assert field(reader, "general.organization") == "tierwise-tests"
    q4k = next(t for t in reader.tensors if t.name == "blk.1.ffn_up.weight")
    assert int(q4k.n_bytes) == 512 * 256 // 256 * 144


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(n_embd=48, weight_type="Q8_0"), "not a multiple of the Q8_0 block size 32"),
    (dict(n_embd=64, weight_type="Q4_K"), "block size 256"),
    (dict(weight_type="Q9_9"), "unknown GGML type"),
    (dict(n_head=3), "divisible by n_head"),
    (dict(vocab_size=10), "at least 259"),
    (dict(tensor_types={"blk.9.attn_q.weight": "F16"}), "does not have"),
])
def test_impossible_shapes_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_tiny_llama(tmp_path / "x.gguf", **kwargs)


def test_specs_without_writing():
    specs = llama_tensor_specs(n_layers=1, n_embd=64, n_head=4, n_head_kv=1, n_ff=128, n_vocab=259)
    by_name = {s.name: s for s in specs}
    assert by_name["blk.0.attn_k.weight"].shape == (16, 64)
    assert by_name["blk.0.ffn_down.weight"].shape == (64, 128)
    assert len(specs) == 1 + 9 + 2
