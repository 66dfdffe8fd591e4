"""The serving core of the GGUF runtime image: one llama.cpp model, OpenAI-shaped requests.

Both front doors use it: handler.py (AWS Lambda, direct invoke and Function URL) and
sagemaker_server.py (SageMaker hosting, /ping and /invocations). It knows nothing of
either: it takes a decoded request body (bytes, str or an already-parsed object), a route
and a method, and answers a ``Reply``: a status with a JSON body, or a stream of
OpenAI server-sent events (``stream: true``).

Environment (the contract in docs/CONTRACTS.md, "The GGUF runtime image"):
  MODEL_PATH          a local .gguf (baked into the image, or /opt/ml/model/<file> on
                      SageMaker); a directory holding exactly one .gguf also works
  MODEL_S3_URI        s3://bucket/key, downloaded into MODEL_DOWNLOAD_DIR (default
                      /tmp/models) at cold start; used when MODEL_PATH is unset or absent
  (neither)           the one .gguf baked into /opt/model by the image build, else the
                      one SageMaker put into /opt/ml/model
  N_CTX               context window in tokens (default 4096)
  N_THREADS           llama.cpp threads (default: the vCPUs this process may use)
  MAX_TOKENS_DEFAULT  completion length when a request names none (default 256)
Optional: MODEL_SHA256 (verify the file before loading), MODEL_NAME (the "model" field
of responses; default the file name), N_BATCH (prompt batch, default 512),
LLAMA_VERBOSE=1 (llama.cpp's own logging), GENERATION_TIMEOUT_S (stop generating after this
many seconds and answer with finish_reason "length" and a "cutoff" field; each tier sets it
from the time its host allows an invocation).

llama_cpp is imported when the model loads, not at import time, so a broken install
becomes a clear load error in the response instead of a crashed runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

log = logging.getLogger("gguf_serving")

# AWS Lambda gives CPU in proportion to memory: 1,769 MB is one vCPU, 10,240 MB
# (six vCPUs) the most (Lambda developer guide, "Configuring function memory").
# Kept here because the image cannot import the tierwise package.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6

DEFAULT_N_CTX = 4096
DEFAULT_MAX_TOKENS = 256
DEFAULT_DOWNLOAD_DIR = "/tmp/models"
BAKED_MODEL_DIR = "/opt/model"  # where the Dockerfile puts a GGUF_URL model
SAGEMAKER_MODEL_DIR = "/opt/ml/model"
FALLBACK_MODEL_DIRS = (BAKED_MODEL_DIR, SAGEMAKER_MODEL_DIR)
GGUF_MAGIC = b"GGUF"

CHAT_ROUTES = frozenset({"/v1/chat/completions", "/chat/completions"})
COMPLETION_ROUTES = frozenset({"/v1/completions", "/completions"})
NEUTRAL_ROUTES = frozenset({"", "/", "/invocations", "/v1"})
MODELS_ROUTES = frozenset({"/v1/models", "/models"})


# ---------------------------------------------------------------------------- errors


class ServingError(Exception):
    """An error that becomes an OpenAI-style error response (never a crash)."""

    status = 500
    error_type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type,
                          "param": self.param, "code": self.code}}


class RequestError(ServingError):
    """The request is wrong; the message says what and what is allowed (HTTP 400)."""

    status = 400
    error_type = "invalid_request_error"


class NotFoundError(ServingError):
    status = 404
    error_type = "not_found_error"


class MethodNotAllowed(ServingError):
    status = 405
    error_type = "invalid_request_error"


class ModelUnavailable(ServingError):
    """The model could not be found, fetched or loaded at cold start (HTTP 503)."""

    status = 503
    error_type = "model_unavailable"


class ConfigError(ModelUnavailable):
    """An environment variable has a value the runtime cannot use."""


# ---------------------------------------------------------------------------- config


def _env_int(environ: Mapping[str, str], name: str, default: int | None, *, minimum: int = 1) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _env_seconds(environ: Mapping[str, str], name: str) -> float | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0 or math.isinf(value):
        raise ConfigError(f"{name}={raw} must be a positive number of seconds")
    return value


def _cgroup_cpu_limit(cgroup_root: Path) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 cpu.max, v1 cfs quota), None if unlimited."""
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
    except (OSError, ValueError):
        pass
    return None


def _nearest_whole(cpus: float) -> int:
    return max(1, math.floor(cpus + 0.5))  # halves round up, unlike round()


def available_cpus(environ: Mapping[str, str] | None = None,
                   cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """The vCPUs this process may actually use: the smallest of the CPU affinity mask,
    the cgroup quota and, on Lambda, the share its memory size buys.

    os.cpu_count() reports the host's CPUs, not the ones a container or a Lambda
    sandbox may run on. A fractional share rounds to the nearest whole vCPU (never
    below one): llama.cpp's threads meet at a barrier after every operation, so a
    thread the quota keeps parked holds up the others, while leaving most of a vCPU
    idle wastes it.
    """
    environ = os.environ if environ is None else environ
    try:
        limits = [len(os.sched_getaffinity(0))]
    except (AttributeError, OSError):
        limits = [os.cpu_count() or 1]
    quota = _cgroup_cpu_limit(Path(cgroup_root))
    if quota is not None:
        limits.append(_nearest_whole(quota))
    memory_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    if memory_mb.isdigit():
        lambda_vcpus = min(LAMBDA_MAX_VCPUS, int(memory_mb) / LAMBDA_MB_PER_VCPU)
        limits.append(_nearest_whole(lambda_vcpus))
    return max(1, min(limits))


@dataclass(frozen=True)
class RuntimeConfig:
    """What the runtime reads from its environment, validated."""

    model_path: str | None = None
    model_s3_uri: str | None = None
    n_ctx: int = DEFAULT_N_CTX
    n_threads: int = 1
    n_batch: int = 512
    max_tokens_default: int = DEFAULT_MAX_TOKENS
    download_dir: str = DEFAULT_DOWNLOAD_DIR
    model_sha256: str | None = None
    model_name: str | None = None
    verbose: bool = False
    generation_timeout_s: float | None = None
    fallback_model_dirs: tuple[str, ...] = FALLBACK_MODEL_DIRS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RuntimeConfig":
        environ = os.environ if environ is None else environ
        s3_uri = environ.get("MODEL_S3_URI", "").strip() or None
        if s3_uri is not None:
            parse_s3_uri(s3_uri)
        sha256 = environ.get("MODEL_SHA256", "").strip().lower() or None
        if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256)):
            raise ConfigError(f"MODEL_SHA256={sha256!r} is not a 64-digit hex sha256")
        return cls(
            model_path=environ.get("MODEL_PATH", "").strip() or None,
            model_s3_uri=s3_uri,
            n_ctx=_env_int(environ, "N_CTX", DEFAULT_N_CTX, minimum=16),
            n_threads=_env_int(environ, "N_THREADS", None) or available_cpus(environ),
            n_batch=_env_int(environ, "N_BATCH", 512),
            max_tokens_default=_env_int(environ, "MAX_TOKENS_DEFAULT", DEFAULT_MAX_TOKENS),
            download_dir=environ.get("MODEL_DOWNLOAD_DIR", "").strip() or DEFAULT_DOWNLOAD_DIR,
            model_sha256=sha256,
            model_name=environ.get("MODEL_NAME", "").strip() or None,
            verbose=environ.get("LLAMA_VERBOSE", "").strip().lower() in {"1", "true", "yes"},
            generation_timeout_s=_env_seconds(environ, "GENERATION_TIMEOUT_S"),
            fallback_model_dirs=FALLBACK_MODEL_DIRS,
        )


# ---------------------------------------------------------------------------- locating the model


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ConfigError(f"MODEL_S3_URI={uri!r} must look like s3://bucket/key")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ConfigError(f"MODEL_S3_URI={uri!r} must name a bucket and an object key (s3://bucket/key)")
    return bucket, key


def download_from_s3(uri: str, dest_dir: str | Path, *, s3_client: Any = None) -> Path:
    """Fetch s3://bucket/key into dest_dir and return the local path.

    A file already there with the object's size is reused (a restarted runtime in the
    same sandbox keeps /tmp). The download goes to a .part file renamed at the end, so
    an interrupted one is never mistaken for the model.
    """
    bucket, key = parse_s3_uri(uri)
    if s3_client is None:
        import boto3  # in the image; imported here so the core loads without it

        s3_client = boto3.client("s3")
    from botocore.exceptions import BotoCoreError, ClientError

    dest_dir = Path(dest_dir)
    target = dest_dir / Path(key).name
    try:
        size = int(s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ModelUnavailable(f"cannot read model object {uri}: {code} ({exc})") from exc
    except BotoCoreError as exc:
        raise ModelUnavailable(f"cannot reach S3 for model object {uri}: {exc}") from exc
    if target.is_file() and target.stat().st_size == size:
        log.info("model %s already in %s (%d bytes), not downloading again", uri, target, size)
        return target
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelUnavailable(f"cannot create download directory {dest_dir}: {exc}") from exc
    free = shutil.disk_usage(dest_dir).free
    if free < size:
        raise ModelUnavailable(
            f"model object {uri} is {size / 2**20:.0f} MiB but {dest_dir} has only "
            f"{free / 2**20:.0f} MiB free; raise the function's ephemeral storage"
        )
    partial = target.with_name(target.name + ".part")
    started = time.monotonic()
    try:
        s3_client.download_file(bucket, key, str(partial))
        os.replace(partial, target)
    except (ClientError, BotoCoreError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"downloading model object {uri} failed: {exc}") from exc
    log.info("downloaded %s (%d bytes) to %s in %.1f s", uri, size, target, time.monotonic() - started)
    return target


def _single_gguf_in(directory: Path) -> Path:
    found = sorted(p for p in directory.iterdir() if p.suffix == ".gguf" and p.is_file())
    if len(found) != 1:
        listing = ", ".join(p.name for p in found) or "none"
        raise ModelUnavailable(
            f"{directory} must hold exactly one .gguf file to load (found: {listing}); "
            f"set MODEL_PATH to the file"
        )
    return found[0]


def locate_model(config: RuntimeConfig, *, s3_client: Any = None) -> Path:
    """The local GGUF file to load, downloading it from S3 when that is how it comes."""
    if config.model_path:
        path = Path(config.model_path)
        if path.is_dir():
            return _single_gguf_in(path)
        if path.exists():
            return path
        if not config.model_s3_uri:
            raise ModelUnavailable(f"MODEL_PATH={config.model_path} does not exist in this image")
    if config.model_s3_uri:
        return download_from_s3(config.model_s3_uri, config.download_dir, s3_client=s3_client)
    for directory in map(Path, config.fallback_model_dirs):
        if directory.is_dir() and any(directory.glob("*.gguf")):
            return _single_gguf_in(directory)
    raise ModelUnavailable(
        "no model configured: set MODEL_PATH (a local .gguf file) or MODEL_S3_URI (s3://bucket/key), "
        f"or bake one into the image (GGUF_URL build argument); nothing in {', '.join(config.fallback_model_dirs)}"
    )


def check_gguf_file(path: Path, *, sha256: str | None = None) -> int:
    """Fail early, and say why, when the file cannot be a GGUF model. Returns its size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelUnavailable(f"cannot read model file {path}: {exc}") from exc
    if size == 0:
        raise ModelUnavailable(f"model file {path} is empty")
    if magic != GGUF_MAGIC:
        raise ModelUnavailable(
            f"model file {path} is not a GGUF file (it starts with {magic!r}, a GGUF file with b'GGUF')"
        )
    if sha256:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(8 * 2**20), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise ModelUnavailable(
                f"model file {path} has sha256 {digest.hexdigest()}, expected {sha256} (MODEL_SHA256)"
            )
    return size


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class GenerationRequest:
    """One validated OpenAI completions or chat-completions request."""

    kind: str  # "chat" or "completion"
    prompt: str | None = None
    messages: tuple[dict[str, str], ...] = ()
    max_tokens: int | None = None  # None: MAX_TOKENS_DEFAULT, clipped to the room left
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: tuple[tuple[int, float], ...] = ()
    # None: free text; {} : any JSON object; otherwise the JSON schema the answer must follow
    json_schema: dict[str, Any] | None = None
    stream: bool = False
    include_usage: bool = False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: Mapping[str, Any], name: str, default: float, low: float, high: float,
            *, low_open: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise RequestError(f"'{name}' must be a number, got {json.dumps(value)}", param=name)
    if value > high or value < low or (low_open and value == low):
        bound = f"greater than {low}" if low_open else f"at least {low}"
        raise RequestError(f"'{name}' must be {bound} and at most {high}, got {value}", param=name)
    return float(value)


def _message_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text can go to a text model
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise RequestError(
                    f"messages[{index}].content: only text parts ({{\"type\": \"text\", \"text\": ...}}) "
                    f"are supported by a text model", param="messages")
        return "".join(texts)
    raise RequestError(f"messages[{index}].content must be a string or a list of text parts", param="messages")


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise RequestError("'messages' must be a non-empty list of {\"role\", \"content\"} objects",
                           param="messages")
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise RequestError(f"messages[{i}] must be an object with 'role' and 'content'", param="messages")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise RequestError(f"messages[{i}].role must be a non-empty string such as \"user\"",
                               param="messages")
        if "content" not in message or message["content"] is None:
            raise RequestError(f"messages[{i}] has no 'content'", param="messages")
        messages.append({"role": role, "content": _message_text(message["content"], i)})
    return tuple(messages)


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]  # the OpenAI API also takes a one-element list
    if not isinstance(value, str):
        raise RequestError("'prompt' must be a string (batches of prompts are not supported)", param="prompt")
    return value


# What each OpenAI request option does here. Every option is either honoured or refused with
# a 400 naming it: an option dropped in silence gives an answer that looks fine and is not
# what was asked (README, "Supported OpenAI options").
HONOURED_OPTIONS = {
    "common": ("model", "max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty",
               "frequency_penalty", "logit_bias", "stream", "stream_options", "n", "user"),
    "chat": ("messages", "max_completion_tokens", "response_format", "logprobs", "top_logprobs"),
    "completion": ("prompt", "echo", "best_of", "logprobs", "suffix"),
}
# Options refused whatever their value (when not null), with the reason.
REFUSED_OPTIONS = {
    "tools": "tool calls are not supported by this runtime",
    "tool_choice": "tool calls are not supported by this runtime",
    "parallel_tool_calls": "tool calls are not supported by this runtime",
    "functions": "function calls are not supported by this runtime",
    "function_call": "function calls are not supported by this runtime",
    "suffix": "insertion (a suffix after the completion) is not supported by this runtime",
    "top_logprobs": "log probabilities are not supported: llama.cpp would have to keep the logits of "
                    "every position (logits_all), n_ctx x vocabulary x 4 bytes of memory",
}
# Options accepted only at the value that changes nothing (OpenAI's default).
NEUTRAL_VALUES = {
    "n": (1, "one choice per request"),
    "best_of": (1, "one candidate per request"),
    "echo": (False, "the prompt is not echoed back"),
    "logprobs": (None, "log probabilities are not supported: llama.cpp would have to keep the logits "
                       "of every position (logits_all), n_ctx x vocabulary x 4 bytes of memory"),
}
# 'user' is metadata for the caller's own abuse tracking: nothing to honour here.


def _check_options(body: Mapping[str, Any], kind: str) -> None:
    allowed = set(HONOURED_OPTIONS["common"]) | set(HONOURED_OPTIONS[kind])
    for name in body:
        if name not in allowed:
            raise RequestError(
                f"unknown parameter '{name}' for {'chat completions' if kind == 'chat' else 'completions'}; "
                f"supported: {', '.join(sorted(allowed - set(REFUSED_OPTIONS)))}", param=name)
    for name, reason in REFUSED_OPTIONS.items():
        if body.get(name) is not None:
            raise RequestError(f"'{name}' is not supported: {reason}", param=name)
    for name, (neutral, meaning) in NEUTRAL_VALUES.items():
        value = body.get(name)
        if value is None or value == neutral and type(value) is type(neutral):
            continue
        if name == "logprobs" and value is False:
            continue
        if neutral is None:
            raise RequestError(f"'{name}' is not supported: {meaning}", param=name)
        raise RequestError(f"'{name}' must be {json.dumps(neutral)} ({meaning}), got {json.dumps(value)}",
                           param=name)


def _logit_bias(value: Any) -> tuple[tuple[int, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise RequestError("'logit_bias' must be an object mapping token ids to a bias from -100 to 100",
                           param="logit_bias")
    biases = []
    for token, bias in value.items():
        try:
            token_id = int(token)
        except (TypeError, ValueError):
            token_id = -1
        if token_id < 0:
            raise RequestError(f"'logit_bias' keys must be token ids (whole numbers), got {json.dumps(token)}",
                               param="logit_bias")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise RequestError(f"'logit_bias' values must be numbers from -100 to 100, got {json.dumps(bias)}",
                               param="logit_bias")
        biases.append((token_id, float(bias)))
    return tuple(biases)


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise RequestError("'response_format' of type json_schema needs json_schema.schema, a JSON schema object",
                               param="response_format")
        return dict(schema)
    raise RequestError("'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or "
                       "{\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}",
                       param="response_format")


def parse_request(payload: Any, route: str | None = None) -> GenerationRequest:
    """Validate an OpenAI-shaped request body. ``payload`` is bytes/str JSON or a parsed object."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(f"request body is not UTF-8 text: {exc}") from None
    if isinstance(payload, str):
        if not payload.strip():
            raise RequestError("request body is empty; send a JSON object with 'prompt' or 'messages'")
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise RequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, Mapping):
        raise RequestError(f"request body must be a JSON object, got {type(payload).__name__}")
    body = payload

    route = (route or "").rstrip("/") or ""
    if route in CHAT_ROUTES:
        kind = "chat"
    elif route in COMPLETION_ROUTES:
        kind = "completion"
    elif route in NEUTRAL_ROUTES:
        kind = "chat" if "messages" in body else "completion" if "prompt" in body else None
    else:
        raise NotFoundError(
            f"no such route {route!r}; POST /v1/chat/completions or /v1/completions (or /invocations)")
    if kind is None:
        raise RequestError("request needs 'messages' (chat completions) or 'prompt' (completions)")
    if kind == "chat" and "messages" not in body:
        raise RequestError("a chat completion request needs 'messages'", param="messages")
    if kind == "completion" and "prompt" not in body:
        raise RequestError("a completion request needs 'prompt'", param="prompt")

    _check_options(body, kind)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(f"'stream' must be true or false, got {json.dumps(stream)}", param="stream")
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not stream:
            raise RequestError("'stream_options' is only allowed when 'stream' is true", param="stream_options")
        if not isinstance(stream_options, Mapping) or set(stream_options) - {"include_usage"}:
            raise RequestError("'stream_options' must be an object with only 'include_usage' (true or false)",
                               param="stream_options")
        include_usage = stream_options.get("include_usage") is True

    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise RequestError(f"'max_tokens' must be a whole number of at least 1, got {json.dumps(max_tokens)}",
                           param="max_tokens")

    stop = body.get("stop")
    if stop is None:
        stop = ()
    elif isinstance(stop, str):
        stop = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stop = tuple(stop)
    else:
        raise RequestError("'stop' must be a string or a list of strings", param="stop")
    if any(not s for s in stop):
        raise RequestError("'stop' sequences must not be empty strings", param="stop")

    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise RequestError(f"'seed' must be a non-negative whole number, got {json.dumps(seed)}", param="seed")

    # 'model' is accepted and ignored: this endpoint serves one model, and says which.
    return GenerationRequest(
        kind=kind,
        prompt=_prompt(body["prompt"]) if kind == "completion" else None,
        messages=_messages(body["messages"]) if kind == "chat" else (),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0, low_open=True),
        stop=stop,
        seed=seed,
        presence_penalty=_number(body, "presence_penalty", 0.0, -2.0, 2.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, -2.0, 2.0),
        logit_bias=_logit_bias(body.get("logit_bias")),
        json_schema=_response_format(body.get("response_format")) if kind == "chat" else None,
        stream=bool(stream),
        include_usage=include_usage,
    )


# ---------------------------------------------------------------------------- the model


_budgeted_class: type | None = None


def budgeted_llama_class() -> type:
    """llama_cpp.Llama with a token budget check in create_completion.

    llama-cpp-python quietly shortens max_tokens that do not fit the context; clients
    must hear it instead. The check sits in create_completion because every path ends
    there, chat included: only after the chat template is applied (inside
    create_chat_completion) is the prompt's token count known.
    """
    global _budgeted_class
    if _budgeted_class is not None:
        return _budgeted_class
    import llama_cpp

    class BudgetedLlama(llama_cpp.Llama):
        max_tokens_default = DEFAULT_MAX_TOKENS
        deadline: float | None = None  # time.monotonic() after which generation stops
        deadline_hit = False
        last_prompt_tokens = 0
        last_completion_tokens = 0

        def create_completion(self, prompt, *args, **kwargs):  # noqa: ANN001 - llama-cpp-python's signature
            if args:
                raise TypeError("BudgetedLlama.create_completion takes keyword arguments after the prompt")
            if isinstance(prompt, str):
                n_prompt = len(self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
            else:
                n_prompt = len(prompt)
            self.last_prompt_tokens = n_prompt
            n_ctx = self.n_ctx()
            room = n_ctx - n_prompt
            if room < 1:
                raise RequestError(
                    f"the prompt is {n_prompt} tokens but the context window is {n_ctx} tokens, "
                    f"which leaves no room to generate; shorten the prompt to under {n_ctx} tokens",
                    param="prompt", code="context_length_exceeded")
            max_tokens = kwargs.get("max_tokens")
            if max_tokens is None:
                kwargs["max_tokens"] = min(self.max_tokens_default, room)
            elif max_tokens > room:
                raise RequestError(
                    f"max_tokens ({max_tokens}) plus the prompt ({n_prompt} tokens) exceeds the context "
                    f"window of {n_ctx} tokens; ask for at most {room} tokens or shorten the prompt",
                    param="max_tokens", code="context_length_exceeded")
            self.deadline_hit = False
            if self.deadline is not None:
                criteria = llama_cpp.StoppingCriteriaList([self._past_deadline])
                if kwargs.get("stopping_criteria") is not None:
                    criteria.extend(kwargs["stopping_criteria"])
                kwargs["stopping_criteria"] = criteria
            self.last_completion_tokens = 0
            return super().create_completion(prompt, **kwargs)

        def generate(self, *args, **kwargs):  # noqa: ANN002, ANN003 - llama-cpp-python's signature
            # A streamed answer carries no usage from llama-cpp-python: count here what
            # its own usage counts (every sampled token but end-of-generation).
            vocab = self._model.vocab
            for token in super().generate(*args, **kwargs):
                if not llama_cpp.llama_vocab_is_eog(vocab, token):
                    self.last_completion_tokens += 1
                yield token

        def _past_deadline(self, _tokens, _logits) -> bool:
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.deadline_hit = True
            return self.deadline_hit

    _budgeted_class = BudgetedLlama
    return BudgetedLlama


@dataclass
class LoadState:
    path: Path | None = None
    file_bytes: int = 0
    load_seconds: float = 0.0
    loads: int = 0
    error: ServingError | None = None


@dataclass
class Engine:
    """Owns the one model of this execution environment; loads it once, serves it many times."""

    config: RuntimeConfig
    s3_client: Any = None
    llama_factory: Callable[..., Any] | None = None
    state: LoadState = field(default_factory=LoadState)

    def __post_init__(self) -> None:
        self._load_lock = threading.Lock()
        # llama.cpp contexts are not thread-safe; the threaded SageMaker server queues here.
        self._generate_lock = threading.Lock()
        self._llm: Any = None

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def llm(self) -> Any:
        return self._llm

    @property
    def model_name(self) -> str:
        if self.config.model_name:
            return self.config.model_name
        if self.state.path is not None:
            return self.state.path.name
        return "gguf-model"

    def load(self) -> Any:
        """Load the model if it is not loaded yet; raise ModelUnavailable with the reason.

        A failed load is tried again on the next request (an S3 hiccup should not
        condemn the sandbox), but a file already fetched is not fetched again.
        """
        if self._llm is not None:
            return self._llm
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            started = time.monotonic()
            try:
                path = locate_model(self.config, s3_client=self.s3_client)
                size = check_gguf_file(path, sha256=self.config.model_sha256)
                llm = self._construct(path)
            except ServingError as exc:
                self.state.error = exc
                log.error("model load failed: %s", exc.message)
                raise
            self.state = LoadState(path=path, file_bytes=size, load_seconds=time.monotonic() - started,
                                   loads=self.state.loads + 1, error=None)
            self._llm = llm
            log.info("loaded %s (%d bytes) in %.2f s: n_ctx=%d threads=%d", path, size,
                     self.state.load_seconds, self.config.n_ctx, self.config.n_threads)
            return llm

    def _construct(self, path: Path) -> Any:
        factory = self.llama_factory
        try:
            if factory is None:
                factory = budgeted_llama_class()
        except Exception as exc:  # ImportError, or a broken shared library (OSError)
            raise ModelUnavailable(f"llama-cpp-python cannot be imported in this image: {exc}") from exc
        try:
            llm = factory(
                model_path=str(path),
                n_ctx=self.config.n_ctx,
                n_batch=min(self.config.n_batch, self.config.n_ctx),
                n_threads=self.config.n_threads,
                n_threads_batch=self.config.n_threads,
                verbose=self.config.verbose,
            )
        except Exception as exc:  # llama.cpp reports corrupt files as ValueError/RuntimeError
            raise ModelUnavailable(
                f"llama.cpp could not load model file {path} ({path.stat().st_size} bytes): {exc}; "
                f"the file is damaged or not a model llama.cpp supports"
            ) from exc
        llm.max_tokens_default = self.config.max_tokens_default
        return llm

    def _arguments(self, request: GenerationRequest, llm: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = dict(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=list(request.stop),
            seed=request.seed,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            # OpenAI has no repeat penalty; llama-cpp-python's chat path would add 1.1.
            repeat_penalty=1.0,
            model=self.model_name,
        )
        if request.logit_bias:
            n_vocab = llm.n_vocab()
            for token, _ in request.logit_bias:
                if token >= n_vocab:
                    raise RequestError(f"'logit_bias' names token {token}, but the vocabulary has "
                                       f"{n_vocab} tokens (0..{n_vocab - 1})", param="logit_bias")
            arguments["logit_bias"] = dict(request.logit_bias)
        if request.json_schema is not None:
            arguments["grammar"] = self._grammar(request.json_schema)
        return arguments

    def _grammar(self, schema: dict[str, Any]) -> Any:
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        try:
            if not schema:
                return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        except Exception as exc:  # the converter raises plain exceptions on schemas it cannot express
            raise RequestError(f"response_format.json_schema.schema cannot be turned into a grammar: {exc}",
                               param="response_format") from exc

    def _start(self, llm: Any, request: GenerationRequest, stream: bool) -> Any:
        arguments = self._arguments(request, llm)
        try:
            if request.kind == "chat":
                return llm.create_chat_completion(messages=list(request.messages), stream=stream, **arguments)
            return llm.create_completion(request.prompt, stream=stream, **arguments)
        except RequestError as exc:
            if request.kind == "chat" and exc.param == "prompt":
                exc.param = "messages"
            raise
        except ServingError:
            raise
        except ValueError as exc:
            # llama-cpp-python's own checks (e.g. a chat template that rejects the
            # roles) are about the request, not the server.
            raise RequestError(str(exc)) from exc

    def generate(self, request: GenerationRequest, *, deadline: float | None = None) -> dict[str, Any]:
        """Run one request; ``deadline`` (time.monotonic()) ends generation early, as "length"."""
        llm = self.load()
        with self._generate_lock:
            llm.deadline = deadline
            try:
                result = self._start(llm, request, stream=False)
            finally:
                llm.deadline = None
            if getattr(llm, "deadline_hit", False):
                for choice in result["choices"]:
                    choice["finish_reason"] = "length"
                result[CUTOFF_FIELD] = cutoff_note(deadline)
        return result

    def stream(self, request: GenerationRequest, *, deadline: float | None = None) -> "TokenStream":
        """Start one streamed request: everything that can fail on the request (validation,
        context budget, grammar) fails here, before the first byte is sent."""
        llm = self.load()
        self._generate_lock.acquire()
        try:
            llm.deadline = deadline
            chunks = self._start(llm, request, stream=True)
            return TokenStream(self, llm, request, chunks, deadline)
        except BaseException:
            llm.deadline = None
            self._generate_lock.release()
            raise

    def health(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.loaded else "failed" if self.state.error else "loading",
            "model": self.model_name,
            "file_bytes": self.state.file_bytes,
            "load_seconds": round(self.state.load_seconds, 3),
            "n_ctx": self.config.n_ctx,
            "threads": self.config.n_threads,
            **({"error": self.state.error.message} if self.state.error and not self.loaded else {}),
        }


CUTOFF_FIELD = "cutoff"


def cutoff_note(deadline: float | None) -> dict[str, Any]:
    """Why an answer ended early: the caller sees finish_reason "length" and this field."""
    return {"reason": "generation_timeout",
            "message": "generation stopped at the runtime's time limit (GENERATION_TIMEOUT_S or the "
                       "Lambda function timeout) so that the answer arrives before the caller's own timeout"}


class TokenStream:
    """The chunks of one streamed answer. Holds the engine's generation lock until it is
    exhausted or closed (llama.cpp contexts are not thread-safe)."""

    def __init__(self, engine: "Engine", llm: Any, request: GenerationRequest, chunks: Any,
                 deadline: float | None):
        self._engine, self._llm, self._request = engine, llm, request
        self._chunks = iter(chunks)
        self._deadline = deadline
        self._closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            last = None
            for chunk in self._chunks:
                last = chunk
                choices = chunk.get("choices") or []
                if choices and choices[0].get("finish_reason") is not None and self._llm.deadline_hit:
                    choices[0]["finish_reason"] = "length"
                    chunk[CUTOFF_FIELD] = cutoff_note(self._deadline)
                yield chunk
            if self._request.include_usage and last is not None:
                prompt_tokens = self._llm.last_prompt_tokens
                completion_tokens = self._llm.last_completion_tokens
                yield {"id": last["id"], "object": last["object"], "created": last["created"],
                       "model": last["model"], "choices": [],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}}
        finally:
            self.close()

    def __del__(self) -> None:
        # an answer dropped unread must not keep the model locked for the next request
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self._llm.deadline = None
            self._engine._generate_lock.release()


def sse_event(data: Any) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def sse_bytes(stream: TokenStream) -> Iterator[bytes]:
    """OpenAI's server-sent events: one ``data:`` line per chunk, then ``data: [DONE]``.
    A failure after the first byte cannot change the status any more: it is sent as an
    error event (what OpenAI's own API does) and raised again for the front door to report."""
    try:
        for chunk in stream:
            yield sse_event(chunk)
    except ServingError as exc:
        yield sse_event(exc.body())
        raise
    except Exception as exc:
        log.exception("streamed generation failed")
        yield sse_event(ServingError(f"internal error: {type(exc).__name__}: {exc}").body())
        raise
    yield SSE_DONE


@dataclass
class Reply:
    """One answer of the runtime, for either front door: a status, headers and either a
    JSON body or a stream of server-sent-event bytes."""

    status: int
    body: dict[str, Any] | None = None
    stream: TokenStream | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: ServingError | None = None

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self.stream is not None else "application/json"

    def all_headers(self) -> dict[str, str]:
        headers = {"content-type": self.content_type, **self.headers}
        if self.stream is not None:
            headers["cache-control"] = "no-cache"
        return headers

    def body_bytes(self) -> bytes:
        """The whole answer at once (a stream is run to its end)."""
        if self.stream is not None:
            return b"".join(self.chunks())
        return json.dumps(self.body).encode("utf-8")

    def chunks(self) -> Iterator[bytes]:
        if self.stream is not None:
            return sse_bytes(self.stream)
        return iter([json.dumps(self.body).encode("utf-8")])

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def models_list(engine: "Engine") -> dict[str, Any]:
    """GET /v1/models in OpenAI's shape: the one model this runtime serves."""
    created = int(engine.state.path.stat().st_mtime) if engine.state.path is not None else int(time.time())
    return {"object": "list", "data": [{"id": engine.model_name, "object": "model", "created": created,
                                        "owned_by": "tierwise"}]}


def deadline_for(config: "RuntimeConfig", outer_deadline: float | None = None) -> float | None:
    """The time.monotonic() at which generation stops: GENERATION_TIMEOUT_S from now, or
    the host's own deadline (Lambda's timeout), whichever comes first."""
    deadlines = [d for d in (outer_deadline,) if d is not None]
    if config.generation_timeout_s:
        deadlines.append(time.monotonic() + config.generation_timeout_s)
    return min(deadlines) if deadlines else None


# ---------------------------------------------------------------------------- the shared entry point

_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine, configured from the environment on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine(RuntimeConfig.from_env())
    return _engine


def reset_engine(engine: Engine | None = None) -> None:
    """Replace the process-wide engine (tests; a new environment)."""
    global _engine
    with _engine_lock:
        _engine = engine


def respond(payload: Any, route: str | None = None, *, method: str = "POST", deadline: float | None = None,
            engine: Engine | None = None) -> Reply:
    """Answer one request (either door). Never raises: a failure is a Reply with its
    status and ``error`` set. ``deadline`` is the host's own (Lambda); the runtime's
    GENERATION_TIMEOUT_S is applied here."""
    try:
        engine = engine or get_engine()
        path = (route or "").split("?")[0].rstrip("/")
        if method == "GET":
            if path in MODELS_ROUTES:
                engine.load()
                return Reply(200, models_list(engine))
            raise NotFoundError(f"no such route {route!r} for GET; GET /v1/models lists the model", code="not_found")
        if method != "POST":
            raise MethodNotAllowed(f"method {method} is not allowed; POST a completion request, GET /v1/models")
        request = parse_request(payload, route)
        deadline = deadline_for(engine.config, deadline)
        if request.stream:
            return Reply(200, stream=engine.stream(request, deadline=deadline))
        result = engine.generate(request, deadline=deadline)
        headers = {"x-tierwise-cutoff": "generation_timeout"} if CUTOFF_FIELD in result else {}
        return Reply(200, result, headers=headers)
    except ServingError as exc:
        if exc.status >= 500:
            log.error("%s: %s", exc.error_type, exc.message)
        return Reply(exc.status, exc.body(), error=exc)
    except Exception as exc:  # a bug must not take the sandbox down with it
        log.exception("unexpected error while serving a request")
        error = ServingError(f"internal error: {type(exc).__name__}: {exc}")
        return Reply(500, error.body(), error=error)


def handle(payload: Any, route: str | None = None, *, deadline: float | None = None,
           engine: Engine | None = None) -> tuple[int, dict[str, Any]]:
    """Answer one non-streamed POST: (HTTP status, JSON-able body). Never raises."""
    reply = respond(payload, route, deadline=deadline, engine=engine)
    if reply.stream is not None:
        reply.close()
        error = RequestError("this entry point answers whole responses; set 'stream' to false", param="stream")
        return error.status, error.body()
    return reply.status, reply.body
