"""The Lambda Runtime API loop of the GGUF runtime: buffered and streamed responses.

Lambda's Python runtime interface client (awslambdaric) can only post a whole response,
so a token stream would reach a Function URL caller only once generation is over. This
loop speaks the Runtime API itself (Lambda developer guide, "Using the Lambda runtime API
for custom runtimes" and "Response streaming" for custom runtimes):

- ``GET  /2018-06-01/runtime/invocation/next``: the event, its request id and deadline;
- ``POST .../invocation/{id}/response``: a buffered JSON answer, or a streamed one with
  ``Lambda-Runtime-Function-Response-Mode: streaming`` and ``Transfer-Encoding: chunked``;
  a failure discovered mid-stream goes in the trailers ``Lambda-Runtime-Function-Error-Type``
  and ``Lambda-Runtime-Function-Error-Body`` so that Lambda still counts it as an error;
- ``POST .../invocation/{id}/error``: a function error (the Errors metric counts it);
- ``POST /2018-06-01/runtime/init/error``: the handler could not initialise (a model that
  cannot load), after which the process exits and Lambda reports an init failure.

Usage (the image's entrypoint): ``python -m lambda_runtime handler.handler``. The named
function gets ``(event, context)`` and returns either a JSON-able object (buffered) or a
``handler.StreamingReply`` (streamed, with the HTTP integration prelude for a
Function URL in RESPONSE_STREAM mode).
"""

from __future__ import annotations

import base64
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any, Callable

log = logging.getLogger("lambda_runtime")

API_VERSION = "2018-06-01"


class LambdaContext:
    """The attributes and method of the context object Lambda's Python runtime passes."""

    def __init__(self, headers: http.client.HTTPMessage):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        deadline = (headers.get("Lambda-Runtime-Deadline-Ms") or "").strip()
        self._deadline_ms = int(deadline) if deadline.isascii() and deadline.isdigit() else 0
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self) -> int:
        if not self._deadline_ms:
            return 900_000  # no deadline given: Lambda's longest timeout
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error_document(exc: BaseException) -> dict[str, Any]:
    """The error shape Lambda shows callers and logs (errorMessage, errorType, stackTrace)."""
    message = getattr(exc, "message", None) or str(exc)
    return {"errorMessage": message, "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc)[-3:]}


class RuntimeApi:
    """The HTTP calls to the Runtime API at ``AWS_LAMBDA_RUNTIME_API`` (host:port)."""

    def __init__(self, address: str):
        host, _, port = address.rpartition(":")
        self.host, self.port = host or address, int(port or 80)

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        conn = self._connection(30)
        try:
            conn.request("POST", f"/{API_VERSION}/runtime/{path}", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def next_invocation(self) -> tuple[Any, http.client.HTTPMessage]:
        # no timeout: Lambda freezes the sandbox between invocations while this call waits
        conn = self._connection(None)
        try:
            conn.request("GET", f"/{API_VERSION}/runtime/invocation/next")
            response = conn.getresponse()
            raw = response.read()
            if response.status != 200:
                raise RuntimeError(f"Runtime API answered {response.status} to invocation/next")
            return raw, response.headers
        finally:
            conn.close()

    def post_error(self, path: str, exc: BaseException) -> int:
        document = error_document(exc)
        return self._post(path, json.dumps(document).encode(), {
            "Content-Type": "application/json",
            "Lambda-Runtime-Function-Error-Type": f"Runtime.{document['errorType']}",
        })

    def post_init_error(self, exc: BaseException) -> int:
        return self.post_error("init/error", exc)

    def post_invocation_error(self, request_id: str, exc: BaseException) -> int:
        return self.post_error(f"invocation/{request_id}/error", exc)

    def post_response(self, request_id: str, answer: Any) -> int:
        body = json.dumps(answer).encode("utf-8")
        return self._post(f"invocation/{request_id}/response", body, {"Content-Type": "application/json"})

    def stream_response(self, request_id: str, content_type: str, chunks: Any) -> int:
        """POST the chunks as they come; an exception while producing them ends the body
        and is reported in the trailers, which Lambda turns into a function error."""
        conn = self._connection(None)
        try:
            conn.putrequest("POST", f"/{API_VERSION}/runtime/invocation/{request_id}/response")
            conn.putheader("Content-Type", content_type)
            conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
            conn.endheaders()
            trailers = b""
            try:
                for chunk in chunks:
                    if chunk:
                        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except Exception as exc:  # noqa: BLE001 - reported to Lambda, not swallowed
                log.exception("streamed response failed")
                document = error_document(exc)
                encoded = base64.b64encode(json.dumps(document).encode()).decode()
                trailers = (f"Lambda-Runtime-Function-Error-Type: Runtime.{document['errorType']}\r\n"
                            f"Lambda-Runtime-Function-Error-Body: {encoded}\r\n").encode()
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            conn.send(b"0\r\n" + trailers + b"\r\n")
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()


def load_handler(name: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = name.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {name!r} must look like module.function")
    module = importlib.import_module(module_name)
    return getattr(module, function_name)


class UnmarshalError(Exception):
    """The event is not JSON at all (awslambdaric's name for the same failure)."""


def decode_event(raw: bytes) -> Any:
    """The event as the handler gets it. JSON beyond the runtime's limits (nested too
    deep, an integer of thousands of digits) is handed over as its text, which the
    handler answers like any request body it cannot take: a 400 in OpenAI's shape.
    Python's own json.loads raised RecursionError or ValueError on those, and the loop
    died with the invocation unanswered."""
    if not raw:
        return {}
    from gguf_serving import RequestError, json_limits

    try:
        return json_limits.loads(raw)
    except RequestError as exc:
        if exc.code == "invalid_json":
            raise UnmarshalError(f"the event is not JSON: {exc.message}") from None
        return raw.decode("utf-8")


def _answer(api: RuntimeApi, request_id: str, handler: Callable[[Any, Any], Any], raw: bytes,
            context: LambdaContext) -> None:
    try:
        event = decode_event(raw)
    except UnmarshalError as exc:
        api.post_invocation_error(request_id, exc)
        return
    try:
        answer = handler(event, context)
    except Exception as exc:  # noqa: BLE001 - a function error, which Lambda counts
        log.error("invocation failed: %s: %s", type(exc).__name__, getattr(exc, "message", exc))
        api.post_invocation_error(request_id, exc)
        return
    stream = getattr(answer, "stream_chunks", None)
    if stream is not None:
        api.stream_response(request_id, answer.content_type, stream())
        return
    status = api.post_response(request_id, answer)
    if status >= 400:  # e.g. 413: the answer is over Lambda's response size limit
        api.post_invocation_error(request_id, RuntimeError(
            f"the Runtime API refused the response with HTTP {status}"))


def serve_one(api: RuntimeApi, handler: Callable[[Any, Any], Any]) -> None:
    """One invocation, answered whatever happens: a response, or an error Lambda counts.
    Only a Runtime API that cannot be reached ends the loop (the sandbox is going away)."""
    raw, headers = api.next_invocation()
    context = LambdaContext(headers)
    request_id = context.aws_request_id
    try:
        _answer(api, request_id, handler, raw, context)
    except Exception as exc:  # noqa: BLE001 - e.g. an answer json.dumps cannot encode
        log.exception("invocation %s could not be answered", request_id)
        try:
            api.post_invocation_error(request_id, exc)
        except Exception:  # noqa: BLE001 - nothing more can be done for this one
            log.exception("could not report the failure of invocation %s", request_id)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stdout,
                        format="%(levelname)s %(name)s: %(message)s")
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    name = (argv[0] if argv else "") or os.environ.get("_HANDLER", "")
    if not address or not name:
        print("usage: AWS_LAMBDA_RUNTIME_API=host:port python -m lambda_runtime module.function", file=sys.stderr)
        return 2
    api = RuntimeApi(address)
    try:
        handler = load_handler(name)
    except Exception as exc:  # noqa: BLE001 - Lambda must hear why init failed
        log.error("init failed: %s: %s", type(exc).__name__, getattr(exc, "message", exc))
        api.post_init_error(exc)
        return 1
    while True:
        serve_one(api, handler)


if __name__ == "__main__":
    sys.exit(main())
