"""The SageMaker door at the byte level, through raw sockets: chunked bodies, no request
smuggling, refusals that arrive (no resets), and connections that cannot hold a thread
for as long as they like (issue 20: chunk contents were parsed as the next request, and
300 connections trickling header bytes held 300 threads)."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import gguf_serving
from tests.runtime.runtime_support import make_config, post_bytes, raw_exchange, read_response, running_server

TIMEOUT_S = 1.0
MAX_CONNECTIONS = 16
QUEUE_DEPTH = 12
HIDDEN = b"GET /v1/models HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture(scope="module")
def server(chat_model):
    engine = gguf_serving.Engine(make_config(chat_model, queue_depth=QUEUE_DEPTH))
    with running_server(engine, header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S, keepalive_timeout_s=TIMEOUT_S,
                        max_connections=MAX_CONNECTIONS) as server:
        assert server.engine.loaded
        yield server


def completion(max_tokens: int) -> bytes:
    return json.dumps({"prompt": "Hi", "max_tokens": max_tokens, "temperature": 0}).encode()


def chunked(body: bytes, *pieces_sizes: int) -> bytes:
    out, start = b"", 0
    for size in pieces_sizes:
        piece = body[start:start + size]
        out += b"%x;note=ignored\r\n%s\r\n" % (len(piece), piece)
        start += size
    assert start == len(body)
    return out + b"0\r\nX-Trailer: dropped\r\n\r\n"


# ---------------------------------------------------------------------------- framing


def test_a_chunked_body_is_read_as_the_body(server):
    body = completion(3)
    request = post_bytes("/invocations", chunked(body, 5, 10, len(body) - 15), "Transfer-Encoding: chunked",
                         "Connection: close", length=False)
    [response] = raw_exchange(server.port, request)
    assert response.status == 200 and response.json()["usage"]["completion_tokens"] == 3


def test_a_request_inside_a_chunked_body_is_never_executed(server):
    request = post_bytes("/invocations", chunked(HIDDEN, len(HIDDEN)), "Transfer-Encoding: chunked", length=False)
    after = post_bytes("/invocations", completion(2), "Connection: close")
    responses = raw_exchange(server.port, request + after)
    # the chunk was the POST's body (not JSON: 400), and the next request is the real one
    assert [r.status for r in responses] == [400, 200]
    assert "not valid JSON" in responses[0].json()["error"]["message"]
    assert responses[1].json()["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize(("headers", "body", "status"), [
    # CL.TE and TE.CL: two framings, two readings; neither is taken
    (("Content-Length: 5", "Transfer-Encoding: chunked"), b"0\r\n\r\n" + HIDDEN, 400),
    (("Transfer-Encoding: chunked", "Content-Length: 40"), b"0\r\n\r\n" + HIDDEN, 400),
    (("Transfer-Encoding: gzip, chunked",), b"0\r\n\r\n" + HIDDEN, 501),
    (("Transfer-Encoding: xchunked",), b"0\r\n\r\n" + HIDDEN, 501),
    (("Transfer-Encoding : chunked",), b"0\r\n\r\n" + HIDDEN, 400),
    (("Content-Length: 0", "Transfer-Encoding : chunked"), b"0\r\n\r\n" + HIDDEN, 400),
    (("Content-Length: 0", "X-Folded: a", " Transfer-Encoding: chunked"), b"0\r\n\r\n" + HIDDEN, 400),
    (("Transfer-Encoding: chunked",), b"0x5\r\nhello\r\n0\r\n\r\n" + HIDDEN, 400),
    (("Transfer-Encoding: chunked",), b"-5\r\nhello\r\n0\r\n\r\n" + HIDDEN, 400),
    (("Transfer-Encoding: chunked",), b"5\r\nhello!!0\r\n\r\n" + HIDDEN, 400),
    (("Content-Length: 5, 6",), b"hello!" + HIDDEN, 400),
    (("Content-Length: +5",), b"hello" + HIDDEN, 400),
])
def test_ambiguous_framing_is_refused_and_the_connection_closed(server, headers, body, status):
    responses = raw_exchange(server.port, post_bytes("/invocations", body, *headers, length=False))
    assert [r.status for r in responses] == [status]  # one answer; the hidden GET never ran
    assert responses[0].headers["connection"] == "close"
    assert responses[0].json()["error"]["type"] == "invalid_request_error"


def test_a_get_with_a_body_does_not_turn_the_body_into_a_request(server):
    request = (b"GET /v1/models HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(HIDDEN)) + HIDDEN
    responses = raw_exchange(server.port, request + b"GET /ping HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    assert [r.status for r in responses] == [200, 200]
    assert responses[0].json()["object"] == "list" and responses[1].json()["status"] == "ready"


def test_pipelined_requests_are_answered_in_order(server):
    request = post_bytes("/invocations", completion(2)) + post_bytes("/invocations", completion(3), "Connection: close")
    responses = raw_exchange(server.port, request)
    assert [r.json()["usage"]["completion_tokens"] for r in responses] == [2, 3]


def test_a_post_without_a_length_is_411(server):
    [response] = raw_exchange(server.port, post_bytes("/invocations", b"", length=False))
    assert response.status == 411 and "Content-Length" in response.json()["error"]["message"]


def test_a_body_over_the_limit_is_refused_before_it_is_read_and_the_refusal_arrives(server):
    limit = server.body_limit()
    # the prompt cap of the tiny model (n_ctx 256 x 5 bytes), as JSON, plus room for options
    assert limit == 6 * 256 * 5 + 2**20
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000000\r\n\r\n")
        sock.sendall(b"x" * 65536)  # the caller is still sending when the answer comes
        response = read_response(sock.makefile("rb"))
    assert response.status == 413 and response.headers["connection"] == "close"
    body = b"x" * (limit + 1)
    [response] = raw_exchange(server.port, post_bytes("/invocations", chunked(body, len(body)),
                                                      "Transfer-Encoding: chunked", length=False))
    assert response.status == 413


def test_expect_100_continue_gets_the_413_instead_of_the_go_ahead(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 999999999\r\n\r\n")
        assert read_response(sock.makefile("rb")).status == 413


# ---------------------------------------------------------------------------- slow and idle callers


def test_a_trickled_request_head_is_cut_at_the_header_timeout(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /invocations HTTP/1.1\r\n")
        try:
            for _ in range(40):  # a header byte every 0.25 s would take 10 s
                sock.sendall(b"X")
                time.sleep(0.25)
        except OSError:
            pass  # the server has closed the connection
        response = read_response(sock.makefile("rb"))
        assert response.status == 408 and "HEADER_TIMEOUT_S" in response.json()["error"]["message"]
        assert time.monotonic() - started < 10


def test_a_trickled_body_is_cut_at_the_body_timeout(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        try:
            for _ in range(40):
                sock.sendall(b" ")
                time.sleep(0.25)
        except OSError:
            pass
        response = read_response(sock.makefile("rb"))
        assert response.status == 408 and "BODY_TIMEOUT_S" in response.json()["error"]["message"]


def test_a_connection_that_sends_nothing_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, without a word
        assert time.monotonic() - started < 10


def test_slow_loris_connections_cannot_keep_a_caller_out(server):
    stop = threading.Event()

    def trickle():
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(b"POST /invocations HTTP/1.1\r\n")
                while not stop.is_set():
                    sock.sendall(b"X")
                    time.sleep(0.2)
        except OSError:
            pass  # cut off by the header timeout

    lorises = [threading.Thread(target=trickle, daemon=True) for _ in range(3 * MAX_CONNECTIONS)]
    for thread in lorises:
        thread.start()
    try:
        time.sleep(0.5)  # every connection thread is taken by a trickler now
        answer = httpx.post(f"http://127.0.0.1:{server.port}/invocations", content=completion(2), timeout=60)
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] == 2
    finally:
        stop.set()
        for thread in lorises:
            thread.join(10)


def test_more_callers_than_connection_threads_wait_in_the_backlog_and_all_get_answers(server):
    def call(i):
        with httpx.Client(timeout=60) as client:
            return client.post(f"http://127.0.0.1:{server.port}/invocations", content=completion(1 + i % 3))

    with ThreadPoolExecutor(3 * MAX_CONNECTIONS) as pool:
        answers = list(pool.map(call, range(3 * MAX_CONNECTIONS)))
    for i, answer in enumerate(answers):
        if answer.status_code == 200:
            assert answer.json()["usage"]["completion_tokens"] == 1 + i % 3
        else:  # the queue was full: a refusal that says when to come back, never a reset
            assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1
    # at least the first wave: one holding the model and QUEUE_DEPTH waiting
    assert sum(a.status_code == 200 for a in answers) >= QUEUE_DEPTH + 1
