"""A local Lambda Runtime API (GET invocation/next, POST invocation/{id}/response|error,
POST init/error, with chunked streamed responses and their trailers) and the image's
entrypoint run against it in a child process: what reaches this API is what Lambda would see."""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.runtime.runtime_support import RUNTIME_DIR, TEST_N_CTX

PRELUDE_TYPE = "application/vnd.awslambda.http-integration-response"


class Posted:
    """One POST the runtime made: path, headers, body, the HTTP chunks it came in, trailers."""

    def __init__(self, path, headers, body, chunks, trailers):
        self.path, self.headers, self.body, self.chunks, self.trailers = path, headers, body, chunks, trailers

    @property
    def kind(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def read_chunked(rfile):
    chunks, trailers = [], {}
    while True:
        size = int(rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            break
        chunks.append(rfile.read(size))
        assert rfile.read(2) == b"\r\n"
    while (line := rfile.readline().strip()):
        name, _, value = line.decode().partition(":")
        trailers[name.strip().lower()] = value.strip()
    return chunks, trailers


class FakeRuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.events: queue.Queue = queue.Queue()
        self.posted: queue.Queue = queue.Queue()

    def invoke(self, event, timeout_s=60.0) -> Posted:
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event, int((time.time() + 300) * 1000)))
        posted = self.posted.get(timeout=timeout_s)
        assert request_id in posted.path
        return posted


class _ApiHandler(BaseHTTPRequestHandler):
    server: FakeRuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        assert self.path == "/2018-06-01/runtime/invocation/next"
        request_id, event, deadline_ms = self.server.events.get()
        # bytes go out as they are: Lambda's own parser is not this test's to second-guess
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:f")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        if self.headers.get("Transfer-Encoding") == "chunked":
            chunks, trailers = read_chunked(self.rfile)
        else:
            chunks, trailers = [self.rfile.read(int(self.headers.get("Content-Length") or 0))], {}
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.posted.put(Posted(self.path, self.headers, b"".join(chunks), chunks, trailers))


@contextmanager
def lambda_process(**env_overrides):
    api = FakeRuntimeApi()
    threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    env = {**os.environ, "PYTHON": sys.executable, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_port}",
           "N_CTX": str(TEST_N_CTX), "N_THREADS": "1", "MAX_TOKENS_DEFAULT": "8",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048", **env_overrides}
    # the image's ENTRYPOINT with its CMD
    process = subprocess.Popen(["sh", str(RUNTIME_DIR / "entrypoint.sh"), "handler.handler"], cwd=RUNTIME_DIR,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield api, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=10)
        api.shutdown()
        api.server_close()


def url_event(body, path="/v1/chat/completions", method="POST"):
    """A Function URL event (payload format 2.0); a bytes ``body`` is sent as is."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    return {"version": "2.0", "rawPath": path, "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": method, "path": path}}, "isBase64Encoded": True,
            "body": base64.b64encode(raw).decode()}


def split_prelude(posted: Posted):
    prelude, delimiter, body = posted.body.partition(b"\0" * 8)
    assert delimiter, "no 8-NUL delimiter after the prelude"
    return json.loads(prelude), body


def sse_data(body: bytes) -> list:
    events = body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    return [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
