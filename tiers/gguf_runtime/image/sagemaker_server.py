"""SageMaker hosting front door of the GGUF runtime: ``serve`` answers on port 8080.

SageMaker runs the image as ``docker run <image> serve`` and talks HTTP to it:
``GET /ping`` must answer 200 once the container can serve, ``POST /invocations``
carries the request (here an OpenAI completions or chat-completions body). The same
routes as the Lambda Function URL (/v1/chat/completions, /v1/completions) work too,
which makes the container easy to try locally.

The model loads in the background as soon as the server listens: /ping answers 503
with the reason while it loads or if it failed (SageMaker keeps pinging until its
ContainerStartupHealthCheckTimeout, and the reason is in the logs), then 200.

Environment, besides the serving core's: SAGEMAKER_BIND_TO_PORT (set by SageMaker when
it wants another port; default 8080), GENERATION_TIMEOUT_S (optional: stop generating
after this many seconds and answer with finish_reason "length"; SageMaker Serverless
Inference allows 60 s per invocation).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import gguf_serving

log = logging.getLogger("sagemaker_server")

DEFAULT_PORT = 8080
RETRY_LOAD_AFTER_S = 10.0
MAX_BODY_BYTES = 16 * 2**20


class _Loader:
    """Loads the model off the request path and retries a failed load now and then."""

    def __init__(self, engine: gguf_serving.Engine):
        self.engine = engine
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_attempt = 0.0

    def start(self) -> None:
        with self._lock:
            if self.engine.loaded or (self._thread is not None and self._thread.is_alive()):
                return
            self._last_attempt = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self.engine.load()
        except gguf_serving.ServingError:
            pass  # the engine keeps the error; /ping reports it

    def maybe_retry(self) -> None:
        if self.engine.state.error is not None and time.monotonic() - self._last_attempt > RETRY_LOAD_AFTER_S:
            self.start()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


class InferenceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: gguf_serving.Engine,
                 generation_timeout_s: float | None = None):
        super().__init__(address, _RequestHandler)
        self.engine = engine
        self.loader = _Loader(engine)
        self.generation_timeout_s = generation_timeout_s

    @property
    def port(self) -> int:
        return self.server_address[1]


class _RequestHandler(BaseHTTPRequestHandler):
    server: InferenceServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.split("?")[0] not in ("/ping", "/health", "/"):
            self._send(404, gguf_serving.NotFoundError(f"no such route {self.path!r}; GET /ping").body())
            return
        engine = self.server.engine
        self.server.loader.maybe_retry()
        self._send(200 if engine.loaded else 503, engine.health())

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        route = self.path.split("?")[0]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._send(400, gguf_serving.RequestError(
                f"Content-Length must be between 0 and {MAX_BODY_BYTES} bytes").body())
            return
        body = self.rfile.read(length)
        timeout = self.server.generation_timeout_s
        deadline = time.monotonic() + timeout if timeout else None
        status, answer = gguf_serving.handle(body, route, deadline=deadline, engine=self.server.engine)
        self._send(status, answer)

    def do_PUT(self) -> None:  # noqa: N802 - stdlib naming
        self._send(405, gguf_serving.ServingError("method not allowed; POST /invocations").body())

    do_DELETE = do_PATCH = do_PUT


def make_server(host: str = "0.0.0.0", port: int | None = None, *,
                engine: gguf_serving.Engine | None = None,
                generation_timeout_s: float | None = None) -> InferenceServer:
    """A bound server whose model starts loading now; call serve_forever() to answer."""
    if port is None:
        port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or DEFAULT_PORT)
    if generation_timeout_s is None and os.environ.get("GENERATION_TIMEOUT_S"):
        generation_timeout_s = float(os.environ["GENERATION_TIMEOUT_S"])
    server = InferenceServer((host, port), engine or gguf_serving.get_engine(), generation_timeout_s)
    server.loader.start()
    return server


def serve() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = make_server()
    except gguf_serving.ServingError as exc:  # a bad environment variable
        log.error("cannot start: %s", exc.message)
        raise SystemExit(2) from None
    log.info("listening on port %d", server.port)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    serve()
