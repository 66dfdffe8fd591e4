"""SageMaker hosting front door of the GGUF runtime: ``serve`` answers on port 8080.

SageMaker runs the image as ``docker run <image> serve`` and talks HTTP to it:
``GET /ping`` must answer 200 once the container can serve, ``POST /invocations``
carries the request (here an OpenAI completions or chat-completions body). The same
routes as the Lambda Function URL (/v1/chat/completions, /v1/completions) work too,
which makes the container easy to try locally.

The model loads in the background as soon as the server listens: /ping answers 503
with the reason while it loads or if it failed (SageMaker keeps pinging until its
ContainerStartupHealthCheckTimeout, and the reason is in the logs), then 200.

A body with ``"stream": true`` is answered with OpenAI server-sent events in a chunked
response, which InvokeEndpointWithResponseStream relays part by part. GET /v1/models (or
POST /invocations with the custom attribute ``route=/v1/models``) lists the model.

SIGTERM (how SageMaker stops a container) stops accepting, lets the requests in flight
finish for up to DRAIN_GRACE_S (default 25 of the 30 s SageMaker gives), then exits.

Environment, besides the serving core's (GENERATION_TIMEOUT_S included): SAGEMAKER_BIND_TO_PORT
(set by SageMaker when it wants another port; default 8080), DRAIN_GRACE_S.
"""

from __future__ import annotations

import json
import logging
import os
import signal
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
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
# SageMaker stops a container with SIGTERM and kills it 30 s later (docker stop's grace
# period, SageMaker developer guide "Use your own inference code with hosting services");
# a little less leaves time to close the connections.
DEFAULT_DRAIN_GRACE_S = 25.0


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

    def __init__(self, address: tuple[str, int], engine: gguf_serving.Engine):
        super().__init__(address, _RequestHandler)
        self.engine = engine
        self.loader = _Loader(engine)
        self._in_flight = 0
        self._idle = threading.Condition()
        self.draining = False

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def request_started(self) -> None:
        with self._idle:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to timeout_s for the requests in flight; True when they all finished."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)

    def stop_accepting(self) -> None:
        """Close the listening socket once serve_forever has returned: new connections are
        refused (not left waiting in the backlog) while the ones in flight go on."""
        self.draining = True
        self.server_close()


class _RequestHandler(BaseHTTPRequestHandler):
    server: InferenceServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {"content-type": "application/json"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_reply(self, reply: gguf_serving.Reply) -> None:
        if reply.stream is None:
            self._send(reply.status, reply.body, reply.all_headers())
            return
        # InvokeEndpointWithResponseStream relays a chunked answer part by part
        self.send_response(reply.status)
        for name, value in reply.all_headers().items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks = reply.chunks()
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away during a streamed answer; generation stopped")
        except Exception:  # noqa: BLE001 - already logged and sent as an error event
            self.close_connection = True  # the chunked body is unfinished: end the connection
        finally:
            chunks.close()
            reply.close()

    def _route(self) -> str:
        """The OpenAI route a request is for. InvokeEndpoint always POSTs /invocations;
        its CustomAttributes (relayed as X-Amzn-SageMaker-Custom-Attributes) may name the
        route, as tierwise.client does: ``route=/v1/models``."""
        route = self.path.split("?")[0]
        if route == "/invocations":
            attributes = self.headers.get(CUSTOM_ATTRIBUTES_HEADER) or ""
            for item in attributes.split(";"):
                name, _, value = item.strip().partition("=")
                if name == "route" and value:
                    return value
        return route

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        route = self.path.split("?")[0]
        if route in ("/ping", "/health", "/"):
            engine = self.server.engine
            self.server.loader.maybe_retry()
            self._send(200 if engine.loaded and not self.server.draining else 503,
                       {**engine.health(), "in_flight": self.server.in_flight})
            return
        self.server.request_started()
        try:
            self._send_reply(gguf_serving.respond(None, route, method="GET", engine=self.server.engine))
        finally:
            self.server.request_finished()

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self.server.request_started()
        try:
            self._post()
        finally:
            self.server.request_finished()

    def _post(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._send(400, gguf_serving.RequestError(
                f"Content-Length must be between 0 and {MAX_BODY_BYTES} bytes").body())
            return
        body = self.rfile.read(length)
        route = self._route()
        method = "GET" if route.rstrip("/") in gguf_serving.MODELS_ROUTES else "POST"
        self._send_reply(gguf_serving.respond(body, route, method=method, engine=self.server.engine))

    def do_PUT(self) -> None:  # noqa: N802 - stdlib naming
        self._send(405, gguf_serving.MethodNotAllowed("method not allowed; POST /invocations").body())

    do_DELETE = do_PATCH = do_PUT


def make_server(host: str = "0.0.0.0", port: int | None = None, *,
                engine: gguf_serving.Engine | None = None) -> InferenceServer:
    """A bound server whose model starts loading now; call serve_forever() to answer."""
    if port is None:
        port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or DEFAULT_PORT)
    server = InferenceServer((host, port), engine or gguf_serving.get_engine())
    server.loader.start()
    return server


def drain_grace_s(environ: Any = None) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get("DRAIN_GRACE_S", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_DRAIN_GRACE_S
    except ValueError:
        raise gguf_serving.ConfigError(f"DRAIN_GRACE_S={raw!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise gguf_serving.ConfigError(f"DRAIN_GRACE_S={raw} must be between 0 and 3600 seconds")
    return value


def serve() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        grace_s = drain_grace_s()
        server = make_server()
    except gguf_serving.ServingError as exc:  # a bad environment variable
        log.error("cannot start: %s", exc.message)
        raise SystemExit(2) from None
    stopping = threading.Event()

    def on_sigterm(signum: int, _frame: Any) -> None:
        # SageMaker sends SIGTERM and kills the container 30 s later: refuse new requests,
        # let the ones in flight finish (shutdown() must not run on the serving thread)
        log.info("signal %d: no new requests; draining %d in flight (up to %.0f s)",
                 signum, server.in_flight, grace_s)
        server.draining = True
        stopping.set()
        threading.Thread(target=server.shutdown, name="stop-serving", daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    log.info("listening on port %d", server.port)
    try:
        server.serve_forever(poll_interval=0.2)
        if stopping.is_set():
            server.stop_accepting()
            finished = server.wait_idle(grace_s)
            log.info("drained: %s", "every request finished" if finished else
                     f"{server.in_flight} still running at the end of the grace period")
    finally:
        server.server_close()


if __name__ == "__main__":
    serve()
