"""Shared constants and helpers of the runtime tests (conftest.py puts the runtime on sys.path)."""

from __future__ import annotations

from pathlib import Path

import gguf_serving

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "tiers" / "gguf_runtime" / "image"
TEST_N_CTX = 256
TEST_MAX_TOKENS_DEFAULT = 16
# One thread: the tiny models need no more, and a second one only adds barrier waits
# when the test machine is busy with other work.
TEST_N_THREADS = 1


def make_config(model_path: Path | str | None = None, **overrides) -> gguf_serving.RuntimeConfig:
    values = dict(model_path=str(model_path) if model_path else None, n_ctx=TEST_N_CTX, n_threads=TEST_N_THREADS,
                  max_tokens_default=TEST_MAX_TOKENS_DEFAULT, fallback_model_dirs=())
    values.update(overrides)
    return gguf_serving.RuntimeConfig(**values)
