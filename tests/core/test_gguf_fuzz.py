"""Fuzz the GGUF header reader users feed files to (`tierwise size --gguf`): whatever the bytes,
the answer is a memory estimate or one `error:` line with exit 2, never a traceback or a hang.

Three generators, from blind to informed: any bytes behind the magic; a valid file with bytes
overwritten or cut off; valid GGUF structure whose header values are anything (zeros, huge
numbers, text, lists, booleans, floats) under the keys sizing reads.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.raw_gguf import FLOAT32, INT32, UINT64, Typed, gguf_bytes, llama_header
from tierwise.cli import main
from tierwise.errors import TierwiseError
from tierwise.gguf_header import SIZEABLE_ARCHITECTURES
from tierwise.sizing import MemoryEstimate, estimate_gguf_file

# Each example parses a small file in well under a millisecond; these counts keep the whole
# module within a few seconds on two shared cores.
FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
VALID = gguf_bytes(llama_header())


def size_of(data: bytes) -> MemoryEstimate | str:
    """The estimate for a file holding `data`, or the one-line error it gives."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.gguf"
        path.write_bytes(data)
        try:
            return estimate_gguf_file(path)
        except TierwiseError as exc:
            message = str(exc)
            assert message and "\n" not in message and "Traceback" not in message, message
            return message


def test_the_valid_seed_file_is_sized():
    # the mutation fuzzers start from this file: it must be a real, sizeable model header
    result = size_of(VALID)
    assert isinstance(result, MemoryEstimate), result
    assert result.weights_bytes == 64 * 5 * 4 and result.context == 512


@FUZZ
@given(st.binary(max_size=512))
def test_any_bytes_after_the_magic(tail):
    result = size_of(b"GGUF" + tail)
    assert isinstance(result, (MemoryEstimate, str))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(4, len(VALID)))
def test_a_valid_file_with_bytes_overwritten_or_cut(edits, length):
    data = bytearray(VALID)
    for position, byte in edits:
        data[position] = byte
    data[:4] = b"GGUF"
    result = size_of(bytes(data[:length]))
    assert isinstance(result, (MemoryEstimate, str))


header_values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda v: Typed(INT32, v)),
    st.integers(0, 2**64 - 1).map(lambda v: Typed(UINT64, v)),
    st.integers(0, 2**32 - 1),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(lambda v: Typed(FLOAT32, v)),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.integers(0, 2**32 - 1), max_size=4),
    st.lists(st.text(max_size=5), max_size=4),
)
sized_keys = st.sampled_from([
    "llama.block_count", "llama.context_length", "llama.embedding_length", "llama.attention.head_count",
    "llama.attention.head_count_kv", "llama.attention.key_length", "llama.feed_forward_length",
    "llama.attention.sliding_window", "tokenizer.ggml.tokens", "general.name", "general.architecture",
])


@FUZZ
@given(st.dictionaries(sized_keys, st.one_of(st.none(), header_values), min_size=1, max_size=5),
       st.lists(st.lists(st.integers(0, 64), min_size=1, max_size=3), max_size=3))
def test_any_value_under_the_keys_sizing_reads(overrides, shapes):
    tensors = [(f"t{i}.weight", shape) for i, shape in enumerate(shapes)] or None
    result = size_of(gguf_bytes(llama_header(**overrides), tensors))
    if isinstance(result, MemoryEstimate):
        # whatever passed validation is a consistent estimate, not garbage that happened to parse
        assert result.total_bytes == result.weights_bytes + result.kv_cache_bytes + result.runtime_bytes
        assert result.context >= 1 and result.kv_cache_bytes > 0


@pytest.mark.parametrize("architecture", SIZEABLE_ARCHITECTURES)
def test_every_allowed_architecture_is_sized(architecture):
    # the allowed list is what the error message promises: each name must really work
    kv = {key.replace("llama.", f"{architecture}.", 1): value for key, value in llama_header().items()}
    kv["general.architecture"] = architecture
    assert isinstance(size_of(gguf_bytes(kv)), MemoryEstimate)


def test_a_damaged_file_through_the_cli_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.gguf"
    path.write_bytes(VALID[:40])
    assert main(["size", "--gguf", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "truncated" in err
