"""AWS Lambda front door of the GGUF runtime: ``handler(event, context)``.

lambda_runtime.py (the image's Runtime API loop) calls it for each invocation. Two kinds
of event arrive:
- a direct invoke (Invoke / InvokeWithResponseStream, SDKs, Step Functions): the event
  *is* the OpenAI request body (or a JSON string of it); the answer is the OpenAI
  response object, or with ``"stream": true`` the server-sent events, streamed;
- an HTTP event from a Function URL (payload format 2.0): POST /v1/chat/completions,
  POST /v1/completions, or POST / (the body decides); GET /v1/models lists the model,
  GET / answers the model's health. With the URL in RESPONSE_STREAM invoke mode (what
  the tier's construct sets; FUNCTION_URL_INVOKE_MODE says so) every answer is streamed
  behind the HTTP integration prelude: a JSON object with statusCode and headers, eight
  NUL bytes, then the body (Lambda developer guide, response streaming for custom
  runtimes); in BUFFERED mode the answer is ``{"statusCode", "headers", "body"}``.

What Lambda must see as a failure is raised, not answered: a model that cannot load
fails the init (handler import) or the invocation, so the function's Errors metric and
alarm, async retries and Step Functions Catch see it. A bad request stays an answer: a
4xx body in OpenAI's error shape (or ``{"statusCode": 4xx, "error": ...}`` for a direct
invoke).

The model is loaded once per execution environment and reused while it is warm.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from typing import Any, Callable, Iterator

import gguf_serving

log = logging.getLogger("handler")

# Generation stops this long before the Lambda timeout so the function still answers
# (finish_reason "length") instead of being killed, which would also throw away the
# loaded model and make the next request a cold start.
DEADLINE_MARGIN_S = 2.0
PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
PRELUDE_DELIMITER = b"\0" * 8
URL_INVOKE_MODES = ("RESPONSE_STREAM", "BUFFERED")


class FunctionError(Exception):
    """A failure Lambda must count (Errors metric): the model is unavailable, or a bug."""

    def __init__(self, error: gguf_serving.ServingError):
        super().__init__(error.message)
        self.message = error.message
        self.error = error


class ModelUnavailable(FunctionError):
    pass


class StreamingReply:
    """What lambda_runtime streams to the Runtime API (``stream_chunks()``)."""

    def __init__(self, content_type: str, stream_chunks: Callable[[], Iterator[bytes]]):
        self.content_type = content_type
        self.stream_chunks = stream_chunks


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + remaining() / 1000.0 - DEADLINE_MARGIN_S


def url_invoke_mode() -> str:
    mode = os.environ.get("FUNCTION_URL_INVOKE_MODE", "RESPONSE_STREAM").strip().upper()
    if mode not in URL_INVOKE_MODES:
        raise gguf_serving.ConfigError(
            f"FUNCTION_URL_INVOKE_MODE={mode!r} must be one of {', '.join(URL_INVOKE_MODES)}")
    return mode


def _is_http_event(event: Any) -> bool:
    return isinstance(event, dict) and (
        "http" in (event.get("requestContext") or {}) or "httpMethod" in event
    )


def _raise_if_function_error(reply: gguf_serving.Reply) -> None:
    error = reply.error
    if error is None or error.status < 500:
        return
    if isinstance(error, gguf_serving.ModelUnavailable):
        raise ModelUnavailable(error)
    raise FunctionError(error)


def _http_reply(event: dict[str, Any], context: Any) -> gguf_serving.Reply:
    http = (event.get("requestContext") or {}).get("http") or {}
    method = (http.get("method") or event.get("httpMethod") or "POST").upper()
    path = event.get("rawPath") or http.get("path") or event.get("path") or "/"
    if method == "GET" and path.rstrip("/") in ("", "/health", "/ping"):
        engine = gguf_serving.get_engine()
        try:
            engine.load()
        except gguf_serving.ServingError as exc:  # a function error, not a 503 body
            raise ModelUnavailable(exc) from None
        return gguf_serving.Reply(200, engine.health())
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            error = gguf_serving.RequestError(f"request body is marked base64 but does not decode: {exc}")
            return gguf_serving.Reply(400, error.body(), error=error)
    return gguf_serving.respond(body, path, method=method, deadline=_deadline(context))


def _buffered_http(reply: gguf_serving.Reply) -> dict[str, Any]:
    return {"statusCode": reply.status, "headers": reply.all_headers(),
            "body": reply.body_bytes().decode("utf-8"), "isBase64Encoded": False}


def _streamed_http(reply: gguf_serving.Reply) -> StreamingReply:
    prelude = json.dumps({"statusCode": reply.status, "headers": reply.all_headers()}).encode("utf-8")

    def chunks() -> Iterator[bytes]:
        yield prelude + PRELUDE_DELIMITER
        yield from reply.chunks()

    return StreamingReply(PRELUDE_CONTENT_TYPE, chunks)


def handler(event: Any, context: Any = None) -> Any:
    if _is_http_event(event):
        reply = _http_reply(event, context)
        _raise_if_function_error(reply)
        if url_invoke_mode() == "BUFFERED":
            return _buffered_http(reply)
        return _streamed_http(reply)
    reply = gguf_serving.respond(event, None, deadline=_deadline(context))
    _raise_if_function_error(reply)
    if reply.stream is not None:
        return StreamingReply("text/event-stream", reply.chunks)
    if reply.status != 200:
        return {"statusCode": reply.status, **reply.body}
    return reply.body


def _load_during_init() -> None:
    """Load a model that is already on local disk while Lambda initialises the sandbox
    (full CPU, not billed as request latency, and done before provisioned concurrency
    reports ready). A model that must come from S3 waits for the first request instead:
    a large download would overrun Lambda's 10 s init phase and be started over.
    A failure raises: lambda_runtime reports it to /init/error and Lambda counts an
    init failure instead of a sandbox that answers every request with an error.
    """
    url_invoke_mode()  # a bad setting fails the init, not the first request
    engine = gguf_serving.get_engine()
    config = engine.config
    local = bool(config.model_path) and os.path.exists(config.model_path)
    if local or not config.model_s3_uri:
        try:
            engine.load()
        except gguf_serving.ServingError as exc:
            raise ModelUnavailable(exc) from None


if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    logging.getLogger().setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    _load_during_init()
