"""Tensor names, shapes and dtypes from .safetensors headers, without reading any weight.

The format (huggingface/safetensors, docs "format"): 8 bytes, a little-endian u64 N; N bytes of
UTF-8 JSON mapping each tensor name to {dtype, shape, data_offsets: [begin, end]} (plus an
optional "__metadata__" of strings); then the tensor data, the offsets relative to its start. A
header is checked the way the safetensors library checks it before it maps a file: N at most
100,000,000 bytes, offsets contiguous from 0, each tensor's byte span equal to its shape times its
dtype, and the data ending exactly at the end of the file (a truncated shard is refused, as the
library refuses it with MetadataIncompleteBuffer).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

from model_profiles.errors import ProfileError
from model_profiles.files import parse_json, regular_file

# safetensors/src/tensor.rs: `const MAX_HEADER_SIZE: usize = 100_000_000;`
MAX_HEADER_BYTES = 100_000_000
# bits per element of every dtype the format defines (safetensors/src/tensor.rs, enum Dtype)
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64,
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


def read_header(path: Path) -> list[TensorInfo]:
    """Every tensor the file at `path` declares; one ProfileError line when the header is
    truncated, oversized, malformed or disagrees with the file's size."""
    where = f"{path.name}"
    size = regular_file(path, "safetensors file").st_size
    if size < 8:
        raise ProfileError(f"{where} is truncated: a safetensors file starts with an 8-byte header length, it has {size} bytes")
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > MAX_HEADER_BYTES:
                raise ProfileError(
                    f"{where}: its header claims {n:,} bytes, above the format's {MAX_HEADER_BYTES:,}-byte limit "
                    "(not a safetensors file, or a damaged one)")
            if 8 + n > size:
                raise ProfileError(f"{where} is truncated: its header claims {n:,} bytes but the file has {size:,}")
            raw = fh.read(n)
    except OSError as exc:
        raise ProfileError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    header = parse_json(raw, f"{where}'s header")
    if not isinstance(header, dict):
        raise ProfileError(f"{where}'s header must be a JSON object of tensors")
    tensors = [_tensor(where, name, spec) for name, spec in header.items() if name != "__metadata__"]
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise ProfileError(f"{where}: __metadata__ must map names to strings")
    spans = sorted((spec["data_offsets"], name) for name, spec in header.items() if name != "__metadata__")
    end = 0
    for (begin, stop), name in spans:
        if begin != end:
            raise ProfileError(f"{where}: tensor {name!r} starts at byte {begin:,} of the data, not at {end:,} "
                               "(offsets must be contiguous)")
        end = stop
    if 8 + n + end != size:
        state = "truncated" if 8 + n + end > size else "longer than its header says"
        raise ProfileError(f"{where} is {state}: its tensors end at byte {8 + n + end:,} but the file has {size:,}")
    return tensors


def _tensor(where: str, name: str, spec: object) -> TensorInfo:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise ProfileError(f"{where}: tensor {name!r} must have exactly dtype, shape and data_offsets")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise ProfileError(f"{where}: tensor {name!r} has dtype {str(dtype)[:20]!r}; the format defines "
                           f"{', '.join(DTYPE_BITS)}")
    if not (isinstance(shape, list) and all(_count(d) for d in shape)):
        raise ProfileError(f"{where}: tensor {name!r} shape must be a list of whole numbers >= 0")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(o) for o in offsets)
            and offsets[0] <= offsets[1]):
        raise ProfileError(f"{where}: tensor {name!r} data_offsets must be [begin, end] with 0 <= begin <= end")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != offsets[1] - offsets[0]:
        raise ProfileError(f"{where}: tensor {name!r} spans {offsets[1] - offsets[0]:,} bytes but its shape "
                           f"{shape} of {dtype} needs {bits / 8:,.0f}")
    return TensorInfo(name, dtype, tuple(shape), offsets[1] - offsets[0])


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
