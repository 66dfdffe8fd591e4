"""Write small, real GGUF model files for tests and benchmarks.

`write_tiny_llama` produces a llama-architecture GGUF with random weights that
llama.cpp (llama-cpp-python) loads and runs, in milliseconds for the default shape.
It is shared by the runtime tests (real inference through the handler), by the
sizing tests (`tierwise size --gguf` reads the header and tensor table) and by
benchmarks/runtime_bench.py (models of 10-100+ M parameters for memory
measurements), so every shape, type and metadata choice is a parameter.

The vocabulary is a byte-level SentencePiece ("llama") vocabulary: <unk>, <s>, </s>
and the 256 byte tokens <0x00>..<0xFF>, so any text tokenizes (one token per UTF-8
byte, spaces become the 3-byte "▁"). ``vocab_size`` pads it with unreachable normal
pieces to reach a realistic vocabulary size (the output matrix and the logits buffer
grow with it, which matters when memory is measured).

Random weights generate random bytes, which makes assertions on text awkward. With
``printable_bias`` (on by default) the weights get one deliberate direction:
dimension 0 of every token embedding is large and positive, so the final hidden
state always points along it, and output.weight gives printable-ASCII byte tokens a
positive and every other token (</s> included) a negative weight on that dimension.
Greedy or sampled text is then printable ASCII that never ends early on </s>; the
rest of the weights stay random so which character comes next still varies. Set it
to 0 for plain random weights.

Tensor types: 2-D layer weights use ``weight_type``, token_embd ``embedding_type``,
output.weight ``output_type`` (defaults to ``embedding_type``), 1-D norms
``norm_type``; ``tensor_types`` overrides single tensors by name. Types that the
gguf package can quantize (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, ...) get
real random weights; the others (the K and IQ quants) are written as zero-filled
blocks of the right byte size: the file has the exact layout and size, loads in
llama.cpp and runs, but the tensor computes zeros, so use it for header and size
tests rather than for text.

Example::

    from tests.gguf_factory import write_tiny_llama
    path = write_tiny_llama(tmp_path / "m.gguf", weight_type="Q8_0",
                            chat_template="{% for m in messages %}...{% endfor %}")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import gguf
from gguf import GGMLQuantizationType, LlamaFileType, TokenType

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
BYTE_TOKEN_OFFSET = len(SPECIAL_TOKENS)
BYTE_VOCAB_SIZE = BYTE_TOKEN_OFFSET + 256
PRINTABLE_BYTES = range(0x20, 0x7F)

# A plain chat template in the Jinja dialect llama-cpp-python renders from GGUF
# metadata (tokenizer.chat_template); tests use it to prove the template is applied.
SIMPLE_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_FILE_TYPE_BY_WEIGHT_TYPE = {
    "F32": LlamaFileType.ALL_F32,
    "F16": LlamaFileType.MOSTLY_F16,
    "BF16": LlamaFileType.MOSTLY_BF16,
    "Q8_0": LlamaFileType.MOSTLY_Q8_0,
    "Q4_0": LlamaFileType.MOSTLY_Q4_0,
    "Q4_1": LlamaFileType.MOSTLY_Q4_1,
    "Q5_0": LlamaFileType.MOSTLY_Q5_0,
    "Q5_1": LlamaFileType.MOSTLY_Q5_1,
    "Q2_K": LlamaFileType.MOSTLY_Q2_K,
    "Q3_K": LlamaFileType.MOSTLY_Q3_K_M,
    "Q4_K": LlamaFileType.MOSTLY_Q4_K_M,
    "Q5_K": LlamaFileType.MOSTLY_Q5_K_M,
    "Q6_K": LlamaFileType.MOSTLY_Q6_K,
    "IQ4_XS": LlamaFileType.MOSTLY_IQ4_XS,
    "IQ4_NL": LlamaFileType.MOSTLY_IQ4_NL,
}


@dataclass(frozen=True)
class TensorSpec:
    """One tensor as written: GGUF name, numpy-order shape (rows, row length), type."""

    name: str
    shape: tuple[int, ...]
    type_name: str

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_bytes(self) -> int:
        block, block_bytes = gguf.GGML_QUANT_SIZES[GGMLQuantizationType[self.type_name]]
        return self.n_elements // block * block_bytes


def _qtype(type_name: str, *, what: str) -> GGMLQuantizationType:
    try:
        return GGMLQuantizationType[type_name.upper()]
    except KeyError:
        allowed = ", ".join(t.name for t in GGMLQuantizationType)
        raise ValueError(f"{what}: unknown GGML type {type_name!r}; allowed: {allowed}") from None


def byte_vocab(vocab_size: int | None = None) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of the byte-level SPM vocabulary.

    Padding tokens ("▁pad<N>") are normal pieces no merge can reach, so they change
    the vocabulary size (and tensor sizes) without changing how text tokenizes.
    """
    size = BYTE_VOCAB_SIZE if vocab_size is None else vocab_size
    if size < BYTE_VOCAB_SIZE:
        raise ValueError(f"vocab_size must be at least {BYTE_VOCAB_SIZE} (3 specials + 256 bytes), got {size}")
    tokens = list(SPECIAL_TOKENS) + [f"<0x{b:02X}>" for b in range(256)]
    types = [int(TokenType.UNKNOWN), int(TokenType.CONTROL), int(TokenType.CONTROL)]
    types += [int(TokenType.BYTE)] * 256
    scores = [0.0] * len(tokens)
    for i in range(size - BYTE_VOCAB_SIZE):
        tokens.append(f"\u2581pad{i}")
        types.append(int(TokenType.NORMAL))
        scores.append(-1000.0 - i)
    return tokens, scores, types


def llama_tensor_specs(
    *,
    n_layers: int,
    n_embd: int,
    n_head: int,
    n_head_kv: int,
    n_ff: int,
    n_vocab: int,
    weight_type: str = "Q8_0",
    embedding_type: str = "F16",
    output_type: str | None = None,
    norm_type: str = "F32",
    tensor_types: Mapping[str, str] | None = None,
) -> list[TensorSpec]:
    """The llama tensor table (names, shapes, types) for a shape, without writing it."""
    head_dim = n_embd // n_head
    overrides = dict(tensor_types or {})
    output_type = output_type or embedding_type
    specs: list[TensorSpec] = []

    def add(name: str, shape: tuple[int, ...], type_name: str) -> None:
        specs.append(TensorSpec(name, shape, overrides.pop(name, type_name).upper()))

    add("token_embd.weight", (n_vocab, n_embd), embedding_type)
    for i in range(n_layers):
        p = f"blk.{i}."
        add(p + "attn_norm.weight", (n_embd,), norm_type)
        add(p + "attn_q.weight", (n_head * head_dim, n_embd), weight_type)
        add(p + "attn_k.weight", (n_head_kv * head_dim, n_embd), weight_type)
        add(p + "attn_v.weight", (n_head_kv * head_dim, n_embd), weight_type)
        add(p + "attn_output.weight", (n_embd, n_head * head_dim), weight_type)
        add(p + "ffn_norm.weight", (n_embd,), norm_type)
        add(p + "ffn_gate.weight", (n_ff, n_embd), weight_type)
        add(p + "ffn_up.weight", (n_ff, n_embd), weight_type)
        add(p + "ffn_down.weight", (n_embd, n_ff), weight_type)
    add("output_norm.weight", (n_embd,), norm_type)
    add("output.weight", (n_vocab, n_embd), output_type)
    if overrides:
        raise ValueError(f"tensor_types names tensors this model does not have: {sorted(overrides)}")
    for spec in specs:
        block, _ = gguf.GGML_QUANT_SIZES[_qtype(spec.type_name, what=spec.name)]
        if spec.shape[-1] % block:
            raise ValueError(
                f"{spec.name}: a row of {spec.shape[-1]} values is not a multiple of the "
                f"{spec.type_name} block size {block}; choose dimensions that are"
            )
    return specs


def _random_weights(rng: np.random.Generator, spec: TensorSpec, std: float) -> np.ndarray:
    return rng.standard_normal(spec.shape, dtype=np.float32) * np.float32(std)


def _encode(values: np.ndarray | None, spec: TensorSpec) -> tuple[np.ndarray, GGMLQuantizationType]:
    qtype = _qtype(spec.type_name, what=spec.name)
    if qtype == GGMLQuantizationType.F32:
        return values.astype(np.float32, copy=False), qtype
    if qtype == GGMLQuantizationType.F16:
        return values.astype(np.float16), qtype
    try:
        return gguf.quants.quantize(values, qtype), qtype
    except NotImplementedError:
        # No Python quantizer for this type (K / IQ quants): zero blocks keep the
        # exact layout and byte size and still compute (as zeros) in llama.cpp.
        block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        row_bytes = spec.shape[-1] // block * block_bytes
        return np.zeros((*spec.shape[:-1], row_bytes), dtype=np.uint8), qtype


def write_tiny_llama(
    path: str | Path,
    *,
    n_layers: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 128,
    n_ctx_train: int = 512,
    vocab_size: int | None = None,
    weight_type: str = "Q8_0",
    embedding_type: str = "F16",
    output_type: str | None = None,
    norm_type: str = "F32",
    tensor_types: Mapping[str, str] | None = None,
    architecture: str = "llama",
    chat_template: str | None = None,
    name: str = "tiny-llama",
    printable_bias: float = 1.0,
    rms_eps: float = 1e-5,
    rope_freq_base: float = 10000.0,
    extra_metadata: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """Write a random-weight llama GGUF to ``path`` and return the path.

    Shape: ``n_layers`` blocks, hidden size ``n_embd``, ``n_head`` query heads and
    ``n_head_kv`` key/value heads (grouped-query attention when fewer), feed-forward
    size ``n_ff``, trained context ``n_ctx_train`` (llama.cpp warns, but runs, when a
    larger context is asked for). ``vocab_size`` defaults to the 259-token byte
    vocabulary. Row lengths (``n_embd``, ``n_ff``) must be multiples of the block
    size of the types used (32 for Q8_0/Q4_0, 256 for K quants).

    ``architecture`` only changes the metadata (general.architecture and the key
    prefix); the tensors are always llama's, so anything other than "llama" is for
    header-reading tests. ``chat_template`` is stored as tokenizer.chat_template.
    ``extra_metadata`` adds string/int/float/bool keys as given.
    """
    if n_embd % n_head:
        raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
    if n_head % n_head_kv:
        raise ValueError(f"n_head ({n_head}) must be divisible by n_head_kv ({n_head_kv})")
    head_dim = n_embd // n_head
    tokens, scores, token_types = byte_vocab(vocab_size)
    n_vocab = len(tokens)
    specs = llama_tensor_specs(
        n_layers=n_layers, n_embd=n_embd, n_head=n_head, n_head_kv=n_head_kv, n_ff=n_ff,
        n_vocab=n_vocab, weight_type=weight_type, embedding_type=embedding_type,
        output_type=output_type, norm_type=norm_type, tensor_types=tensor_types,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    writer = gguf.GGUFWriter(path, architecture)
    writer.add_name(name)
    writer.add_context_length(n_ctx_train)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(rope_freq_base)
    writer.add_layer_norm_rms_eps(rms_eps)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(int(_FILE_TYPE_BY_WEIGHT_TYPE.get(weight_type.upper(), LlamaFileType.GUESSED)))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(token_types)
    writer.add_unk_token_id(UNK_ID)
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(EOS_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    for key, value in (extra_metadata or {}).items():
        if isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value) if value >= 0 else writer.add_int32(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        else:
            raise TypeError(f"extra_metadata[{key!r}]: only str, int, float and bool are supported")

    printable = np.zeros(n_vocab, dtype=bool)
    printable[[BYTE_TOKEN_OFFSET + b for b in PRINTABLE_BYTES]] = True
    for spec in specs:
        if len(spec.shape) == 1:
            values = np.ones(spec.shape, dtype=np.float32)
        elif spec.name == "token_embd.weight":
            values = _random_weights(rng, spec, 0.02)
            if printable_bias:
                values[:, 0] = 1.0
        elif spec.name == "output.weight":
            values = _random_weights(rng, spec, 1.0)
            if printable_bias:
                values[:, 0] = np.where(printable, printable_bias, -printable_bias)
        else:
            values = _random_weights(rng, spec, 0.02)
        data, qtype = _encode(values, spec)
        writer.add_tensor(spec.name, data, raw_dtype=qtype)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def parameter_count(
    *, n_layers: int = 2, n_embd: int = 64, n_head: int = 4, n_head_kv: int = 2,
    n_ff: int = 128, vocab_size: int | None = None,
) -> int:
    """Parameters of the llama shape ``write_tiny_llama`` would write (same defaults)."""
    tokens, _, _ = byte_vocab(vocab_size)
    specs = llama_tensor_specs(
        n_layers=n_layers, n_embd=n_embd, n_head=n_head, n_head_kv=n_head_kv,
        n_ff=n_ff, n_vocab=len(tokens),
    )
    return sum(spec.n_elements for spec in specs)
