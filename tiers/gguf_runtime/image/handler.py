"""AWS Lambda front door of the GGUF runtime: ``handler(event, context)``.

Two kinds of event arrive:
- a direct invoke (Invoke API, SDKs, Step Functions): the event *is* the OpenAI request
  body (or a JSON string of it); the answer is the OpenAI response object, and on
  failure ``{"statusCode": 4xx/5xx, "error": {...}}``;
- an HTTP event from a Function URL (payload format 2.0, also API Gateway HTTP APIs)
  or an API Gateway REST proxy: the body may be base64-encoded; the answer is
  ``{"statusCode", "headers", "body"}``. POST /v1/chat/completions, POST
  /v1/completions, or POST / (the body decides); GET answers the model's health.

The model is loaded once per execution environment and reused while it is warm.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from typing import Any

import gguf_serving

log = logging.getLogger("handler")

# Generation stops this long before the Lambda timeout so the function still answers
# (finish_reason "length") instead of being killed, which would also throw away the
# loaded model and make the next request a cold start.
DEADLINE_MARGIN_S = 2.0

JSON_HEADERS = {"content-type": "application/json"}


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + remaining() / 1000.0 - DEADLINE_MARGIN_S


def _is_http_event(event: Any) -> bool:
    return isinstance(event, dict) and (
        "http" in (event.get("requestContext") or {}) or "httpMethod" in event
    )


def _http_response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(JSON_HEADERS), "body": json.dumps(body),
            "isBase64Encoded": False}


def _handle_http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    http = (event.get("requestContext") or {}).get("http") or {}
    method = (http.get("method") or event.get("httpMethod") or "POST").upper()
    path = event.get("rawPath") or http.get("path") or event.get("path") or "/"
    if method == "GET":
        engine = gguf_serving.get_engine()
        try:
            engine.load()
        except gguf_serving.ServingError:
            pass  # health() reports the failure
        health = engine.health()
        return _http_response(200 if engine.loaded else 503, health)
    if method != "POST":
        return _http_response(405, gguf_serving.ServingError(
            f"method {method} is not allowed; POST a completion request (GET for health)").body())
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            return _http_response(400, gguf_serving.RequestError(
                f"request body is marked base64 but does not decode: {exc}").body())
    status, answer = gguf_serving.handle(body, path, deadline=_deadline(context))
    return _http_response(status, answer)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    if _is_http_event(event):
        return _handle_http(event, context)
    status, answer = gguf_serving.handle(event, None, deadline=_deadline(context))
    if status != 200:
        return {"statusCode": status, **answer}
    return answer


def _load_during_init() -> None:
    """Load a model that is already on local disk while Lambda initialises the sandbox
    (full CPU, not billed as request latency, and done before provisioned concurrency
    reports ready). A model that must come from S3 waits for the first request instead:
    a large download would overrun Lambda's 10 s init phase and be started over.
    A failure is kept and reported by every request; it must not abort the init.
    """
    try:
        engine = gguf_serving.get_engine()
        config = engine.config
        local = bool(config.model_path) and os.path.exists(config.model_path)
        if local or not config.model_s3_uri:
            engine.load()
    except gguf_serving.ServingError as exc:
        log.error("cold start: model not loaded: %s", exc.message)


if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    # Lambda's runtime client has set up the root logger (to CloudWatch); let INFO through.
    logging.getLogger().setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    _load_during_init()
