"""Fixtures for the GGUF runtime tests: tiny real GGUF files, the runtime modules, engines.

The runtime modules are imported the way the image runs them: from their own
directory as top-level modules (gguf_serving, handler, sagemaker_server), not through
the tiers package, whose __init__ pulls in the CDK. handler.py is loaded under a
unique module name so that it cannot collide with other tiers' handler.py files.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME_DIR = REPO / "tiers" / "gguf_runtime" / "image"
for entry in (str(RUNTIME_DIR), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import gguf_serving  # noqa: E402
from tests.gguf_factory import SIMPLE_CHAT_TEMPLATE, write_tiny_llama  # noqa: E402
from tests.runtime.runtime_support import TEST_MAX_TOKENS_DEFAULT, TEST_N_CTX, TEST_N_THREADS, make_config  # noqa: E402


def _load_handler_module():
    spec = importlib.util.spec_from_file_location("tierwise_gguf_runtime_handler", RUNTIME_DIR / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def handler_module():
    return _load_handler_module()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gguf")


@pytest.fixture(scope="session")
def chat_model(models_dir) -> Path:
    """Q8_0 layers, F16 embeddings, F32 norms, and a chat template in its metadata."""
    return write_tiny_llama(models_dir / "chat-tiny.gguf", chat_template=SIMPLE_CHAT_TEMPLATE,
                            weight_type="Q8_0", embedding_type="F16", norm_type="F32", seed=1)


@pytest.fixture(scope="session")
def plain_model(models_dir) -> Path:
    """No chat template: llama-cpp-python falls back to its llama-2 prompt format."""
    return write_tiny_llama(models_dir / "plain-tiny.gguf", weight_type="F16", embedding_type="Q8_0",
                            n_ctx_train=TEST_N_CTX, seed=2)


@pytest.fixture(scope="session")
def engine(chat_model) -> gguf_serving.Engine:
    """One loaded engine shared by the session: tests must not depend on each other's state."""
    engine = gguf_serving.Engine(make_config(chat_model))
    engine.load()
    return engine


@pytest.fixture
def installed_engine(engine):
    """Make `engine` the process-wide one the front doors use; restore afterwards."""
    gguf_serving.reset_engine(engine)
    yield engine
    gguf_serving.reset_engine(None)


@pytest.fixture
def fresh_process(monkeypatch):
    """As if the runtime had just started: no engine yet, configured from the environment."""
    for name in ("MODEL_PATH", "MODEL_S3_URI", "N_CTX", "N_THREADS", "MAX_TOKENS_DEFAULT", "MODEL_SHA256",
                 "MODEL_NAME", "MODEL_DOWNLOAD_DIR", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("N_CTX", str(TEST_N_CTX))
    monkeypatch.setenv("N_THREADS", str(TEST_N_THREADS))
    monkeypatch.setenv("MAX_TOKENS_DEFAULT", str(TEST_MAX_TOKENS_DEFAULT))
    # Nothing baked into /opt/model or /opt/ml/model on a test machine, but make sure.
    monkeypatch.setattr(gguf_serving.config, "FALLBACK_MODEL_DIRS", ())
    gguf_serving.reset_engine(None)
    yield monkeypatch
    gguf_serving.reset_engine(None)

