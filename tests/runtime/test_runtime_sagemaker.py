"""The SageMaker front door (/ping, /invocations) on a loopback port, and the image entrypoint."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import gguf_serving
from tests.runtime.runtime_support import LONG_N_CTX, RUNTIME_DIR, TEST_N_CTX, make_config, running_server


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        conn.request(method, path, body=data, headers=headers or {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def wait_ready(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, body = request(port, "GET", "/ping")
            if status == 200 or (body or {}).get("status") == "failed":
                return status, body
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("server never became ready")


def test_ping_and_invocations(chat_model):
    with running_server(gguf_serving.Engine(make_config(chat_model))) as server:
        status, health = wait_ready(server.port)
        assert status == 200 and health["status"] == "ready" and health["n_ctx"] == TEST_N_CTX

        status, answer = request(server.port, "POST", "/invocations",
                                 {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6})
        assert status == 200
        assert answer["object"] == "chat.completion" and answer["usage"]["completion_tokens"] == 6

        status, answer = request(server.port, "POST", "/invocations",
                                 {"prompt": "Hi", "max_tokens": 3, "stop": None})
        assert status == 200 and answer["object"] == "text_completion"
        assert answer["usage"]["completion_tokens"] == 3

        status, answer = request(server.port, "POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 2})
        assert status == 200 and answer["usage"]["completion_tokens"] == 2


def test_bad_requests_get_400_and_the_server_keeps_serving(chat_model):
    with running_server(gguf_serving.Engine(make_config(chat_model))) as server:
        wait_ready(server.port)
        status, answer = request(server.port, "POST", "/invocations", b"{broken")
        assert status == 400 and "not valid JSON" in answer["error"]["message"]
        status, answer = request(server.port, "POST", "/invocations", {"prompt": "Hi", "max_tokens": 10_000})
        assert status == 400 and answer["error"]["code"] == "context_length_exceeded"
        status, answer = request(server.port, "GET", "/nowhere")
        assert status == 404
        status, answer = request(server.port, "PUT", "/invocations", {"prompt": "Hi"})
        assert status == 405
        status, answer = request(server.port, "POST", "/invocations", {"prompt": "Hi", "max_tokens": 1})
        assert status == 200


def test_concurrent_invocations_are_served_one_at_a_time_without_errors(chat_model):
    with running_server(gguf_serving.Engine(make_config(chat_model))) as server:
        wait_ready(server.port)
        body = {"prompt": "Hello", "max_tokens": 8, "temperature": 0}
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: request(server.port, "POST", "/invocations", body), range(6)))
        assert [status for status, _ in results] == [200] * 6
        texts = {answer["choices"][0]["text"] for _, answer in results}
        assert len(texts) == 1  # greedy: same text every time, no interleaving damage


def test_generation_timeout_counts_from_the_model_and_answers_length(chat_model):
    engine = gguf_serving.Engine(make_config(chat_model, n_ctx=LONG_N_CTX, generation_timeout_s=1.5))
    with running_server(engine) as server:
        wait_ready(server.port)
        # ~2,000 tokens take the tiny model 10 s or more at this context: cut at 1.5 s
        status, answer = request(server.port, "POST", "/invocations", {"prompt": "Hi", "max_tokens": 2000})
        assert status == 200
        assert answer["choices"][0]["finish_reason"] == "length"
        assert answer["cutoff"]["reason"] == "generation_timeout"
        assert 0 < answer["usage"]["completion_tokens"] < 2000


def test_a_timeout_that_leaves_no_token_is_a_503_with_retry_after_never_an_empty_200(chat_model):
    engine = gguf_serving.Engine(make_config(chat_model, generation_timeout_s=1e-9))
    with running_server(engine) as server:
        wait_ready(server.port)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", "/invocations", body=json.dumps({"prompt": "Hi", "max_tokens": 50}),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        conn.close()
        assert response.status == 503 and answer["error"]["code"] == "generation_timeout"
        assert int(response.headers["Retry-After"]) >= 1


def test_a_model_that_cannot_load_fails_ping_with_the_reason(tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\x00" * 64)
    with running_server(gguf_serving.Engine(make_config(bogus))) as server:
        status, health = wait_ready(server.port)
        assert status == 503
        assert health["status"] == "failed" and "llama.cpp could not load model file" in health["error"]
        status, answer = request(server.port, "POST", "/invocations", {"prompt": "Hi"})
        assert status == 503 and answer["error"]["type"] == "model_unavailable"


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_entrypoint_serve_starts_the_sagemaker_server(chat_model):
    port = free_port()
    env = {**os.environ, "PYTHON": sys.executable, "MODEL_PATH": str(chat_model), "N_CTX": "256",
           "N_THREADS": "1", "SAGEMAKER_BIND_TO_PORT": str(port)}
    process = subprocess.Popen(["sh", str(RUNTIME_DIR / "entrypoint.sh"), "serve"], cwd=RUNTIME_DIR, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        status, _ = wait_ready(port, timeout=30)
        assert status == 200
        status, answer = request(port, "POST", "/invocations", {"prompt": "Hi", "max_tokens": 2})
        assert status == 200 and answer["usage"]["completion_tokens"] == 2
    finally:
        process.terminate()
        process.wait(10)


def test_entrypoint_hands_anything_else_to_the_runtime_api_loop(tmp_path):
    env = {**os.environ, "PYTHON": "echo"}
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    out = subprocess.run(["sh", str(RUNTIME_DIR / "entrypoint.sh"), "handler.handler"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["-m", "lambda_runtime", "handler.handler"]


def test_sigterm_lets_the_request_in_flight_finish_then_exits(chat_model):
    import socket

    port = free_port()
    env = {**os.environ, "PYTHON": sys.executable, "MODEL_PATH": str(chat_model), "N_CTX": "256",
           "N_THREADS": "1", "SAGEMAKER_BIND_TO_PORT": str(port), "DRAIN_GRACE_S": "20"}
    process = subprocess.Popen(["sh", str(RUNTIME_DIR / "entrypoint.sh"), "serve"], cwd=RUNTIME_DIR, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, timeout=30)
        body = json.dumps({"prompt": "Hi", "max_tokens": 5}).encode()
        # A request is in flight for as long as its body is still arriving: hold back the
        # last byte so that SIGTERM surely lands in the middle of it.
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        slow.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:-1])
        deadline = time.monotonic() + 10
        while request(port, "GET", "/ping")[1]["in_flight"] != 1:
            assert time.monotonic() < deadline, "the request never started"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert process.poll() is None  # still draining
        with pytest.raises(ConnectionRefusedError):  # but no longer accepting
            request(port, "GET", "/ping")
        slow.sendall(body[-1:])
        response = http.client.HTTPResponse(slow)
        response.begin()
        assert response.status == 200
        assert json.loads(response.read())["usage"]["completion_tokens"] == 5
        slow.close()
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log = process.communicate(timeout=10)[0].decode()
    assert "draining 1 in flight" in log and "every request finished" in log, log
