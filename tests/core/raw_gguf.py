"""Write GGUF files byte by byte, so tests can put anything in a header: a 0, a string where a
number belongs, a list, a key of the wrong type. gguf's own writer refuses most of that, and
damaged files are exactly what `tierwise size --gguf` must survive.

Layout (GGUF v3, little-endian): magic, version, tensor count, KV count, the KV pairs, the
tensor infos, padding to 32 bytes, tensor data.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64 = 4, 5, 6, 7, 8, 9, 10
F32 = 0
ALIGNMENT = 32


class Typed:
    """A value with an explicit GGUF type, e.g. Typed(FLOAT32, 32.0)."""

    def __init__(self, kind: int, value: Any) -> None:
        self.kind, self.value = kind, value


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _scalar(kind: int, value: Any) -> bytes:
    fmt = {UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q"}[kind]
    return struct.pack(fmt, value)


def _value(value: Any) -> tuple[int, bytes]:
    if isinstance(value, Typed):
        if value.kind == STRING:
            return STRING, _string(value.value)
        return value.kind, _scalar(value.kind, value.value)
    if isinstance(value, bool):
        return BOOL, _scalar(BOOL, value)
    if isinstance(value, int):
        return UINT32, _scalar(UINT32, value)
    if isinstance(value, float):
        return FLOAT32, _scalar(FLOAT32, value)
    if isinstance(value, str):
        return STRING, _string(value)
    if isinstance(value, list):
        kind = STRING if all(isinstance(v, str) for v in value) else UINT32
        body = b"".join(_string(v) if kind == STRING else _scalar(UINT32, v) for v in value)
        return ARRAY, struct.pack("<IQ", kind, len(value)) + body
    raise TypeError(f"no GGUF encoding for {value!r}")


def llama_header(**overrides: Any) -> dict[str, Any]:
    """A small, valid llama header; `overrides` replace keys (None removes one)."""
    kv: dict[str, Any] = {
        "general.architecture": "llama",
        "general.name": "raw-llama",
        "llama.block_count": 2,
        "llama.context_length": 512,
        "llama.embedding_length": 64,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "llama.feed_forward_length": 128,
        "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", "a", "b"],
    }
    for key, value in overrides.items():
        if value is None:
            kv.pop(key, None)
        else:
            kv[key] = value
    return kv


def gguf_bytes(kv: dict[str, Any], tensors: list[tuple[str, list[int]]] | None = None) -> bytes:
    """A GGUF file holding `kv` and F32 tensors of the given shapes (zeros)."""
    tensors = [("token_embd.weight", [64, 5])] if tensors is None else tensors
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for key, value in kv.items():
        kind, body = _value(value)
        out += _string(key) + struct.pack("<I", kind) + body
    offset = 0
    sizes = []
    for name, shape in tensors:
        n = 1
        for dim in shape:
            n *= dim
        out += _string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", F32, offset)
        sizes.append(n * 4)
        offset += -(-n * 4 // ALIGNMENT) * ALIGNMENT
    out += b"\0" * (-len(out) % ALIGNMENT)
    for size in sizes:
        out += b"\0" * size + b"\0" * (-size % ALIGNMENT)
    return bytes(out)


def write_gguf(path: str | Path, kv: dict[str, Any], tensors: list[tuple[str, list[int]]] | None = None) -> Path:
    path = Path(path)
    path.write_bytes(gguf_bytes(kv, tensors))
    return path
