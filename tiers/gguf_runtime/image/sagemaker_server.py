"""SageMaker hosting front door of the GGUF runtime: ``serve`` answers on port 8080.

SageMaker runs the image as ``docker run <image> serve`` and talks HTTP to it:
``GET /ping`` must answer 200 once the container can serve, ``POST /invocations``
carries the request (here an OpenAI completions or chat-completions body). The same
routes as the Lambda Function URL (/v1/chat/completions, /v1/completions) work too,
which makes the container easy to try locally.

The model loads in the background as soon as the server listens: /ping answers 503
with the reason while it loads or if it failed (SageMaker keeps pinging until its
ContainerStartupHealthCheckTimeout, and the reason is in the logs), then 200. /ping
turns 503 again when one request has held the model past HOLD_LIMIT_S (a stuck
generation), so SageMaker replaces the container.

Under load (tiers/gguf_runtime/README.md has the figures and every limit):
- the listen backlog is LISTEN_BACKLOG (socketserver's default of 5 reset connections at
  100 concurrent clients); at most MAX_CONNECTIONS connections are served at once, the
  others wait in the backlog, never refused;
- each connection must send its request head within HEADER_TIMEOUT_S and its body within
  BODY_TIMEOUT_S (408 otherwise), may idle KEEPALIVE_TIMEOUT_S between requests, and must
  take each answer within WRITE_TIMEOUT_S;
- bodies come with Content-Length or chunked (anything else: 400, 411 or 501, and the
  connection is closed), at most MAX_BODY_BYTES and never more than a prompt that fits
  the context could need (413);
- requests wait for the model in a bounded queue (gate.py): 429 with Retry-After when it
  is full, 503 with Retry-After while loading, draining, stuck or after waiting too long;
- a caller that hangs up stops its request, waiting or generating, streamed or not.

A body with ``"stream": true`` is answered with OpenAI server-sent events in a chunked
response, which InvokeEndpointWithResponseStream relays part by part. GET /v1/models (or
POST /invocations with the custom attribute ``route=/v1/models``) lists the model.

SIGTERM (how SageMaker stops a container) stops accepting, lets the requests in flight
finish for up to DRAIN_GRACE_S (default 25 of the 30 s SageMaker gives), then exits.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Mapping

import gguf_serving
from gguf_serving import config as runtime_config
from gguf_serving import http_io

log = logging.getLogger("sagemaker_server")

DEFAULT_PORT = 8080
RETRY_LOAD_AFTER_S = 10.0
# A draining container is going away: a retry lands on another instance at once.
RETRY_DRAINING_AFTER_S = 1.0
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
PING_ROUTES = frozenset({"/ping", "/health", "/"})
# JSON may spend six bytes on one byte of text ("\u0001"); the rest of a request (its
# options, a JSON schema) gets a fixed allowance on top.
JSON_BYTES_PER_TEXT_BYTE = 6
BODY_ALLOWANCE_BYTES = 2**20
# After refusing a request whose body was not read, keep reading (and dropping) for a
# moment before closing: closing with unread data makes the kernel send a reset, which
# can reach the caller before the answer does.
LINGER_S = 2.0
# How often a request being generated looks whether its caller is still there.
CALLER_CHECK_S = 0.1
LINGER_BYTES = 16 * 2**20


@dataclass(frozen=True)
class ServerLimits:
    """The door's own limits (environment variables of the same names in capitals)."""

    # one thread each: twice the queue's depth, so half of them keep turning over while
    # the queue is full (config.py, DEFAULT_QUEUE_DEPTH)
    max_connections: int = 2 * runtime_config.DEFAULT_QUEUE_DEPTH
    # the kernel caps it at net.core.somaxconn (4096 on current kernels)
    listen_backlog: int = 1024
    # SageMaker's front end sends a request whole over its own network: a head takes
    # milliseconds; 10 s is generous and cuts a trickling sender off
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # between requests on one connection; above the 60 s idle timeout of AWS load
    # balancers, so a pooled connection is closed by the caller, never under its feet
    # (nginx's default keepalive_timeout is the same 75 s)
    keepalive_timeout_s: float = 75.0
    write_timeout_s: float = 30.0
    max_body_bytes: int = 16 * 2**20
    # SageMaker stops a container with SIGTERM and kills it 30 s later (docker stop's grace
    # period, SageMaker developer guide "Use your own inference code with hosting services");
    # a little less leaves time to close the connections.
    drain_grace_s: float = 25.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServerLimits":
        environ = os.environ if environ is None else environ
        default = cls()
        return cls(
            max_connections=runtime_config.env_int(environ, "MAX_CONNECTIONS", default.max_connections, minimum=2),
            listen_backlog=runtime_config.env_int(environ, "LISTEN_BACKLOG", default.listen_backlog),
            header_timeout_s=runtime_config.env_seconds(environ, "HEADER_TIMEOUT_S", default.header_timeout_s),
            body_timeout_s=runtime_config.env_seconds(environ, "BODY_TIMEOUT_S", default.body_timeout_s),
            keepalive_timeout_s=runtime_config.env_seconds(environ, "KEEPALIVE_TIMEOUT_S",
                                                           default.keepalive_timeout_s),
            write_timeout_s=runtime_config.env_seconds(environ, "WRITE_TIMEOUT_S", default.write_timeout_s),
            max_body_bytes=runtime_config.env_int(environ, "MAX_BODY_BYTES", default.max_body_bytes),
            drain_grace_s=runtime_config.env_seconds(environ, "DRAIN_GRACE_S", default.drain_grace_s,
                                                     allow_zero=True, maximum=3600),
        )


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


class InferenceServer(HTTPServer):
    """One thread per connection, at most ``limits.max_connections`` of them; further
    connections wait in the listen backlog until a thread is free."""

    def __init__(self, address: tuple[str, int], engine: gguf_serving.Engine, limits: ServerLimits | None = None):
        self.limits = limits or ServerLimits()
        if engine.config.queue_depth >= self.limits.max_connections:
            raise gguf_serving.ConfigError(
                f"QUEUE_DEPTH={engine.config.queue_depth} must be below MAX_CONNECTIONS="
                f"{self.limits.max_connections}: the requests waiting for the model would take every "
                f"connection and /ping could not get through")
        self.request_queue_size = self.limits.listen_backlog  # listen() reads it when the server binds
        super().__init__(address, _RequestHandler)
        self.engine = engine
        self.loader = _Loader(engine)
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self._closing = False
        self._in_flight = 0
        self._idle = threading.Condition()
        self.draining = False

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def body_limit(self) -> int:
        cap = self.engine.prompt_cap_bytes
        if cap is None:
            return self.limits.max_body_bytes
        return min(self.limits.max_body_bytes, JSON_BYTES_PER_TEXT_BYTE * cap + BODY_ALLOWANCE_BYTES)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        # Waiting here stops the accept loop: new connections queue in the kernel's backlog
        # (connected, their requests buffered) until a thread is free.
        while not self._slots.acquire(timeout=0.2):
            if self._closing:
                self.shutdown_request(request)
                return
        try:
            thread = threading.Thread(target=self._work, args=(request, client_address), daemon=True)
            thread.start()
        except RuntimeError:  # no thread could be started: answer nothing rather than crash the loop
            self._slots.release()
            self.shutdown_request(request)
            log.error("could not start a thread for a connection")

    def _work(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - one connection's failure must not reach the others
            log.exception("connection from %s failed", client_address[0] if client_address else "?")
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def shutdown(self) -> None:
        self._closing = True
        super().shutdown()

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

    # ---------------------------------------------------------------- connection

    def setup(self) -> None:
        self.connection = self.request
        # server-sent events are many small writes: send each at once
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = http_io.DeadlineSocketIO(self.connection)
        self.rfile = io.BufferedReader(self.reader, 65536)
        self.wfile = socketserver._SocketWriter(self.connection)
        self.requests_read = 0
        self.linger = False
        self.arrival = time.monotonic()
        self.arrived_draining = False
        self._caller_checked_at = 0.0

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()
        if self.linger:
            self._drain_and_close()

    def _drain_and_close(self) -> None:
        """Let the caller read the answer before the socket closes (see LINGER_S)."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.reader.deadline = time.monotonic() + LINGER_S
            dropped = 0
            while dropped < LINGER_BYTES:
                data = self.rfile.read1(65536)
                if not data:
                    break
                dropped += len(data)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    def _caller_gone(self) -> bool:
        # asked after every token; the socket is looked at every CALLER_CHECK_S at most
        # (two system calls, and the interpreter lock taken back after each)
        now = time.monotonic()
        if now - self._caller_checked_at < CALLER_CHECK_S:
            return False
        self._caller_checked_at = now
        return http_io.peer_closed(self.connection)

    # ---------------------------------------------------------------- one request

    def handle_one_request(self) -> None:
        limits = self.server.limits
        idle = limits.header_timeout_s if self.requests_read == 0 else limits.keepalive_timeout_s
        self.reader.deadline = time.monotonic() + idle
        try:
            if not self.rfile.peek(1):
                self.close_connection = True  # the caller closed an idle connection
                return
        except (TimeoutError, OSError):
            self.close_connection = True  # idle too long: close without a word, as HTTP servers do
            return
        self.arrival = time.monotonic()
        self.reader.deadline = self.arrival + limits.header_timeout_s
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", None
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.parse_request():
                return  # parse_request has answered (send_error)
        except TimeoutError:
            self._refuse(gguf_serving.errors.RequestTimeout(
                f"the request head did not arrive within {limits.header_timeout_s:g} s (HEADER_TIMEOUT_S)"))
            return
        except OSError:
            self.close_connection = True
            return
        self.requests_read += 1
        # a request that had begun before SIGTERM is served: draining lets it finish
        self.arrived_draining = self.server.draining
        # health checks are no work to drain: only the other requests count as in flight
        counted = not (self.command == "GET" and self.path.split("?")[0] in PING_ROUTES)
        if counted:
            self.server.request_started()
        try:
            self._serve_request()
        finally:
            if counted:
                self.server.request_finished()

    def _serve_request(self) -> None:
        limits = self.server.limits
        try:
            http_io.check_header_names(self.headers)
            framing = http_io.body_framing(self.headers, self.command)
            self.reader.deadline = time.monotonic() + limits.body_timeout_s
            body = http_io.read_body(self.rfile, framing, self.server.body_limit())
        except http_io.PeerClosed:
            self.close_connection = True
            return
        except gguf_serving.ServingError as exc:
            self._refuse(exc)
            return
        except OSError:
            self.close_connection = True
            return
        finally:
            self.reader.deadline = None
        self.connection.settimeout(limits.write_timeout_s)  # every write below must finish in time
        try:
            if self.command == "GET":
                self._get()
            elif self.command == "POST":
                self._post(body)
            else:
                self.close_connection = True  # a HEAD answer must have no body: no reuse after this one
                self._send_error_reply(gguf_serving.MethodNotAllowed(
                    f"method {self.command[:20]} is not allowed; POST /invocations (or /v1/...), GET /ping"))
            self.wfile.flush()
        except OSError as exc:  # the caller stopped reading, or left
            log.info("could not send the answer: %s", exc)
            self.close_connection = True

    def _refuse(self, error: gguf_serving.ServingError) -> None:
        """Answer a request whose body was not (fully) read, then close the connection.
        A caller refused for being too slow gets no lingering: it would hold the thread
        for LINGER_S more, which is what a slow-loris caller wants."""
        self.close_connection = True
        self.linger = not isinstance(error, gguf_serving.errors.RequestTimeout)
        try:
            self.connection.settimeout(self.server.limits.write_timeout_s)
            self._send_error_reply(error)
        except OSError:
            pass

    def handle_expect_100(self) -> bool:
        """Refuse a body that is too large before the caller sends it, not after."""
        try:
            http_io.check_length(http_io.body_framing(self.headers, self.command or ""), self.server.body_limit())
        except gguf_serving.ServingError as exc:
            self._refuse(exc)
            return False
        return super().handle_expect_100()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (bad request line, too many headers...),
        in OpenAI's error shape, and the connection closed."""
        status = HTTPStatus(code)
        error = gguf_serving.RequestError(message or status.phrase)
        error.status = int(code)
        self._refuse(error)

    # ---------------------------------------------------------------- answers

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {"content-type": "application/json"}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error_reply(self, error: gguf_serving.ServingError) -> None:
        self._send(error.status, error.body(), {"content-type": "application/json", **error.headers()})

    def _send_reply(self, reply: gguf_serving.Reply) -> None:
        if reply.client_gone:
            self.close_connection = True
            return
        if reply.stream is None:
            self._send(reply.status, reply.body, reply.all_headers())
            return
        # InvokeEndpointWithResponseStream relays a chunked answer part by part
        chunks = reply.chunks()
        try:
            self.send_response(reply.status)
            for name, value in reply.all_headers().items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except gguf_serving.ClientGone:  # seen by the engine between tokens, and counted there
            log.info("the caller went away during a streamed answer; generation stopped")
            self.close_connection = True
        except OSError:  # seen by a write first
            self.server.engine.note_caller_gone()
            log.info("the caller went away during a streamed answer; generation stopped")
            self.close_connection = True
        except Exception:  # noqa: BLE001 - already logged and sent as an error event
            self.close_connection = True  # the chunked body is unfinished: end the connection
        finally:
            chunks.close()
            reply.close()

    def _not_ready(self) -> gguf_serving.ServingError | None:
        """Why this container cannot take a request now (503 with Retry-After), or None."""
        engine = self.server.engine
        if self.arrived_draining:
            self.close_connection = True
            return gguf_serving.Unavailable("this container is shutting down; retry (another instance "
                                            "takes the request)", code="draining",
                                            retry_after=RETRY_DRAINING_AFTER_S)
        if engine.loaded:
            return None
        self.server.loader.maybe_retry()
        if engine.state.error is not None:
            return gguf_serving.ModelUnavailable(engine.state.error.message, code="load_failed",
                                                 retry_after=RETRY_LOAD_AFTER_S)
        return gguf_serving.ModelUnavailable("the model is still loading", code="loading",
                                             retry_after=RETRY_LOAD_AFTER_S)

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

    def _get(self) -> None:
        route = self.path.split("?")[0]
        engine = self.server.engine
        if route in PING_ROUTES:
            self.server.loader.maybe_retry()
            healthy = engine.status() == "ready" and not self.server.draining
            headers = {"content-type": "application/json"}
            if not healthy:
                headers["retry-after"] = str(int(RETRY_LOAD_AFTER_S))
            self._send(200 if healthy else 503, {**engine.health(), "in_flight": self.server.in_flight}, headers)
            return
        self._answer(None, route, "GET")

    def _post(self, body: bytes) -> None:
        route = self._route()
        method = "GET" if route.rstrip("/") in gguf_serving.MODELS_ROUTES else "POST"
        self._answer(body, route, method)

    def _answer(self, body: bytes | None, route: str, method: str) -> None:
        refusal = self._not_ready()
        if refusal is not None:
            self._send_error_reply(refusal)
            return
        self._send_reply(gguf_serving.respond(body, route, method=method, engine=self.server.engine,
                                              arrival=self.arrival, cancelled=self._caller_gone))


def make_server(host: str = "0.0.0.0", port: int | None = None, *,
                engine: gguf_serving.Engine | None = None, limits: ServerLimits | None = None) -> InferenceServer:
    """A bound server whose model starts loading now; call serve_forever() to answer."""
    if port is None:
        port = runtime_config.env_int(os.environ, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT, maximum=65535)
    server = InferenceServer((host, port), engine or gguf_serving.get_engine(), limits or ServerLimits.from_env())
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
    grace_s = server.limits.drain_grace_s
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
    log.info("listening on port %d (backlog %d, at most %d connections)", server.port,
             server.limits.listen_backlog, server.limits.max_connections)
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
