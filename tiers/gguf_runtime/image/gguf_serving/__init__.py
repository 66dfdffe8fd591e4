"""The serving core of the GGUF runtime image: one llama.cpp model, OpenAI-shaped requests.

Both front doors use it: handler.py (AWS Lambda, direct invoke and Function URL, through
lambda_runtime.py) and sagemaker_server.py (SageMaker hosting, /ping and /invocations).
It knows nothing of either: it takes a decoded request body (bytes, str or an already
parsed object), a route and a method, and answers a ``Reply``: a status with a JSON body,
or a stream of OpenAI server-sent events (``stream: true``).

One module per concern:
  config          the environment, validated (docs/CONTRACTS.md, "The GGUF runtime image")
  model_files     finding, fetching (S3) and checking (magic, sha256) the GGUF file
  json_limits     JSON decoding with depth and integer limits
  openai_request  OpenAI request bodies -> GenerationRequest
  llama           llama_cpp.Llama with budget, deadline, cancellation and timings
  gate            the bounded queue in front of the model
  engine          the model: load, check, wait, generate, stream, health
  streaming       Reply, TokenStream and server-sent events
  routing         route + method -> Reply (respond, handle)
  http_io         the SageMaker door's socket reads: deadlines, body framing, chunked bodies

llama_cpp is imported when the model loads, not at import time, so a broken install
becomes a clear load error in the response instead of a crashed runtime.
"""

from __future__ import annotations

from .config import (
    DEFAULT_GENERATION_TIMEOUT_S,
    DEFAULT_MAX_TOKENS,
    DEFAULT_N_CTX,
    DEFAULT_QUEUE_DEPTH,
    RuntimeConfig,
    available_cpus,
    parse_s3_uri,
)
from .engine import Engine, LoadState
from .errors import (
    ClientGone,
    ConfigError,
    MethodNotAllowed,
    ModelUnavailable,
    NotFoundError,
    Overloaded,
    RequestError,
    ServingError,
    Unavailable,
)
from .model_files import check_gguf_file, download_from_s3, locate_model
from .openai_request import CHAT_ROUTES, COMPLETION_ROUTES, MODELS_ROUTES, GenerationRequest, parse_request
from .routing import get_engine, handle, models_list, reset_engine, respond
from .streaming import CUTOFF_FIELD, SSE_DONE, Reply, TokenStream, sse_bytes, sse_event

__all__ = [
    "CHAT_ROUTES", "COMPLETION_ROUTES", "CUTOFF_FIELD", "ClientGone", "ConfigError", "DEFAULT_GENERATION_TIMEOUT_S",
    "DEFAULT_MAX_TOKENS", "DEFAULT_N_CTX", "DEFAULT_QUEUE_DEPTH", "Engine", "GenerationRequest", "LoadState",
    "MODELS_ROUTES", "MethodNotAllowed", "ModelUnavailable", "NotFoundError", "Overloaded", "Reply",
    "RequestError", "RuntimeConfig", "SSE_DONE", "ServingError", "TokenStream", "Unavailable", "available_cpus",
    "check_gguf_file", "download_from_s3", "get_engine", "handle", "locate_model", "models_list",
    "parse_request", "parse_s3_uri", "reset_engine", "respond", "sse_bytes", "sse_event",
]
