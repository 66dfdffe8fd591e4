"""The Lambda entry point as Lambda runs it: entrypoint.sh with the image's command
(handler.handler) in a child process, talking to a local Lambda Runtime API written here
(GET invocation/next, POST invocation/{id}/response|error, POST init/error, with chunked
streamed responses and their trailers). What reaches this API is what Lambda would see."""

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

import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk

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
        body = json.dumps(event).encode()
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
    return {"version": "2.0", "rawPath": path, "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": method, "path": path}}, "isBase64Encoded": True,
            "body": base64.b64encode(json.dumps(body).encode()).decode() if body is not None else ""}


def split_prelude(posted: Posted):
    prelude, delimiter, body = posted.body.partition(b"\0" * 8)
    assert delimiter, "no 8-NUL delimiter after the prelude"
    return json.loads(prelude), body


def sse_data(body: bytes) -> list:
    events = body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    return [json.loads(event.removeprefix("data: ")) for event in events[:-2]]


@pytest.fixture(scope="module")
def running_lambda(chat_model):
    with lambda_process(MODEL_PATH=str(chat_model)) as (api, process):
        yield api, process


def test_buffered_invoke_posts_the_openai_answer(running_lambda):
    api, _ = running_lambda
    posted = api.invoke({"prompt": "Hi", "max_tokens": 3})
    assert posted.kind == "response"
    assert posted.headers.get("Lambda-Runtime-Function-Response-Mode") is None
    answer = Completion.model_validate(json.loads(posted.body), strict=True)
    assert answer.usage.completion_tokens == 3


def test_streamed_invoke_posts_chunks_in_streaming_mode(running_lambda):
    api, _ = running_lambda
    posted = api.invoke({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "stream": True,
                         "stream_options": {"include_usage": True}})
    assert posted.kind == "response"
    assert posted.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert posted.headers["Content-Type"] == "text/event-stream"
    assert len(posted.chunks) > 6  # one HTTP chunk per event, sent as generated
    chunks = [ChatCompletionChunk.model_validate(data, strict=True) for data in sse_data(posted.body)]
    assert chunks[-1].usage.completion_tokens == 6
    assert posted.trailers == {}


def test_function_url_stream_has_the_http_integration_prelude(running_lambda):
    api, _ = running_lambda
    posted = api.invoke(url_event({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
                                   "stream": True}))
    assert posted.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert posted.headers["Content-Type"] == PRELUDE_TYPE
    prelude, body = split_prelude(posted)
    assert prelude == {"statusCode": 200, "headers": {"content-type": "text/event-stream", "cache-control": "no-cache"}}
    chunks = [ChatCompletionChunk.model_validate(data, strict=True) for data in sse_data(body)]
    assert chunks[-1].choices[0].finish_reason == "length"


def test_function_url_whole_answer_and_request_errors_stay_http_answers(running_lambda):
    api, _ = running_lambda
    prelude, body = split_prelude(api.invoke(url_event({"prompt": "Hi", "max_tokens": 2}, "/v1/completions")))
    assert prelude["statusCode"] == 200 and prelude["headers"]["content-type"] == "application/json"
    assert json.loads(body)["usage"]["completion_tokens"] == 2
    posted = api.invoke(url_event({"prompt": "Hi", "echo": True}, "/v1/completions"))
    assert posted.kind == "response"  # a caller's mistake is no function error
    prelude, body = split_prelude(posted)
    assert prelude["statusCode"] == 400 and json.loads(body)["error"]["param"] == "echo"


def test_function_url_lists_the_model(running_lambda):
    api, _ = running_lambda
    prelude, body = split_prelude(api.invoke(url_event(None, "/v1/models", "GET")))
    assert prelude["statusCode"] == 200
    assert [m["id"] for m in json.loads(body)["data"]] == ["chat-tiny.gguf"]


def test_a_bad_direct_invoke_is_answered_not_failed(running_lambda):
    api, _ = running_lambda
    posted = api.invoke("not an OpenAI request")
    assert posted.kind == "response"
    answer = json.loads(posted.body)
    assert answer["statusCode"] == 400 and "not valid JSON" in answer["error"]["message"]


def test_a_missing_model_fails_the_init(tmp_path):
    missing = tmp_path / "absent.gguf"
    with lambda_process(MODEL_PATH=str(missing)) as (api, process):
        posted = api.posted.get(timeout=60)
        assert posted.path == "/2018-06-01/runtime/init/error"
        assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ModelUnavailable"
        error = json.loads(posted.body)
        assert error["errorType"] == "ModelUnavailable" and f"MODEL_PATH={missing} does not exist" in error["errorMessage"]
        assert process.wait(30) == 1  # the runtime exits; Lambda records an init failure


def test_a_model_that_cannot_be_fetched_fails_the_invocation(tmp_path):
    # the S3 download waits for the first request; an unreachable S3 makes that request a
    # function error (Errors metric), not a 503 answer
    env = dict(MODEL_S3_URI="s3://models/m.gguf", MODEL_DOWNLOAD_DIR=str(tmp_path), AWS_ENDPOINT_URL="http://127.0.0.1:9",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_MAX_ATTEMPTS="1")
    with lambda_process(**env) as (api, _):
        posted = api.invoke(url_event({"messages": [{"role": "user", "content": "Hi"}], "stream": True}))
        assert posted.kind == "error"
        error = json.loads(posted.body)
        assert error["errorType"] == "ModelUnavailable" and "s3://models/m.gguf" in error["errorMessage"]


def test_a_failure_mid_stream_reaches_lambda_in_the_trailers():
    import lambda_runtime

    api = FakeRuntimeApi()
    threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        def chunks():
            yield b"data: {}\n\n"
            raise RuntimeError("llama.cpp failed after the first token")

        status = lambda_runtime.RuntimeApi(f"127.0.0.1:{api.server_port}").stream_response(
            "req-1", "text/event-stream", chunks())
        posted = api.posted.get(timeout=10)
    finally:
        api.shutdown()
        api.server_close()
    assert status == 202 and posted.body == b"data: {}\n\n"
    assert posted.trailers["lambda-runtime-function-error-type"] == "Runtime.RuntimeError"
    error = json.loads(base64.b64decode(posted.trailers["lambda-runtime-function-error-body"]))
    assert error["errorMessage"] == "llama.cpp failed after the first token"
