"""Shared constants and helpers of the runtime tests (conftest.py puts the runtime on sys.path)."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gguf_serving
import sagemaker_server

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "tiers" / "gguf_runtime" / "image"
TEST_N_CTX = 256
TEST_MAX_TOKENS_DEFAULT = 16
# One thread: the tiny models need no more, and a second one only adds barrier waits
# when the test machine is busy with other work.
TEST_N_THREADS = 1
# A context long enough for generations that last seconds with the tiny model (thousands
# of tokens), for the tests that need a request to be still running when something happens.
LONG_N_CTX = 2048


def make_config(model_path: Path | str | None = None, **overrides) -> gguf_serving.RuntimeConfig:
    values = dict(model_path=str(model_path) if model_path else None, n_ctx=TEST_N_CTX, n_threads=TEST_N_THREADS,
                  max_tokens_default=TEST_MAX_TOKENS_DEFAULT, fallback_model_dirs=())
    values.update(overrides)
    return gguf_serving.RuntimeConfig(**values)


@contextmanager
def running_server(engine: gguf_serving.Engine, **limits):
    """The SageMaker door on a loopback port, in this process, with ``limits`` (ServerLimits fields)."""
    server = sagemaker_server.make_server("127.0.0.1", 0, engine=engine,
                                          limits=sagemaker_server.ServerLimits(**limits))
    server.loader.join(60)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def read_response(stream) -> RawResponse | None:
    """One HTTP/1.1 response from a socket file, parsed by hand (so that several responses
    on one connection can be told apart); None at the end of the connection."""
    status_line = stream.readline()
    if not status_line:
        return None
    version, status, _ = status_line.decode("latin-1").split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while (size := int(stream.readline().split(b";")[0], 16)):
            body += stream.read(size)
            stream.read(2)
        stream.readline()
    else:
        body = stream.read(int(headers.get("content-length", "0")))
    return RawResponse(int(status), headers, body)


def raw_exchange(port: int, data: bytes, *, timeout: float = 30.0) -> list[RawResponse]:
    """Send ``data`` as is on one connection, then read every response until the server
    closes it (the last request says "Connection: close", or is refused). The sending side
    stays open: a caller that shuts it down is a caller that has gone."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        stream = sock.makefile("rb")
        responses = []
        while (response := read_response(stream)) is not None:
            responses.append(response)
        return responses


def post_bytes(path: str, body: bytes, *extra_headers: str, length: bool = True) -> bytes:
    """A raw POST request with ``body``; Content-Length unless ``length`` is False."""
    head = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json", *extra_headers]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
