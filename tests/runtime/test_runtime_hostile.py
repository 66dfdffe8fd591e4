"""Issue 20's bad request bodies, each a 400 in OpenAI's error shape on every door: the
SageMaker HTTP server, a direct Lambda invoke and a Function URL event through the Lambda
Runtime API loop (run as Lambda runs it, in a child process). Before, JSON nested 100,000
deep and a 5,000-digit integer were 500s on SageMaker and crashed the Lambda loop without
an answer; seeds above 2**32 - 1 wrapped around."""

from __future__ import annotations

import http.client
import json

import pytest

import gguf_serving
from tests.runtime.lambda_support import lambda_process, split_prelude, url_event
from tests.runtime.runtime_support import make_config, running_server

NESTED_100K = b"[" * 100_000 + b"]" * 100_000
OBJECT_NESTED_100K = b'{"prompt": "Hi", "metadata": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}"
INTEGER_5000_DIGITS = b'{"prompt": "Hi", "max_tokens": 1' + b"0" * 4999 + b"}"

# name -> (body, the error's code or param that names what was wrong)
BAD_BODIES = {
    "json_nested_100k_deep": (NESTED_100K, "nested_too_deep"),
    "object_nested_100k_deep": (OBJECT_NESTED_100K, "nested_too_deep"),
    "integer_of_5000_digits": (INTEGER_5000_DIGITS, "integer_too_long"),
    "seed_2_to_the_32_wraps_to_0": (json.dumps({"prompt": "Hi", "seed": 2**32}).encode(), "seed"),
    "seed_2_to_the_32_minus_1_means_random": (json.dumps({"prompt": "Hi", "seed": 2**32 - 1}).encode(), "seed"),
    "seed_far_above_2_to_the_32": (json.dumps({"prompt": "Hi", "seed": 10**19}).encode(), "seed"),
    "negative_seed": (json.dumps({"prompt": "Hi", "seed": -1}).encode(), "seed"),
    "nan_is_not_json": (b'{"prompt": "Hi", "temperature": NaN}', "nan_or_infinity"),
    "infinity_is_not_json": (b'{"prompt": "Hi", "top_p": -Infinity}', "nan_or_infinity"),
    "lone_surrogate_in_the_prompt": (b'{"prompt": "Hi \\ud800"}', "prompt"),
    "five_stop_sequences": (json.dumps({"prompt": "Hi", "stop": list("abcde")}).encode(), "stop"),
}


def assert_openai_error(body: dict, expected: str) -> None:
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert expected in (error["code"], error["param"]), error
    assert len(error["message"]) < 400  # says what was wrong without echoing the input


@pytest.fixture(scope="module")
def sagemaker(chat_model):
    with running_server(gguf_serving.Engine(make_config(chat_model))) as server:
        yield server


@pytest.fixture(scope="module")
def lambda_api(chat_model):
    with lambda_process(MODEL_PATH=str(chat_model)) as (api, process):
        yield api, process


def post(port: int, body: bytes) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("case", BAD_BODIES)
def test_sagemaker_door_answers_400(sagemaker, case):
    body, expected = BAD_BODIES[case]
    status, answer = post(sagemaker.port, body)
    assert status == 400
    assert_openai_error(answer, expected)


@pytest.mark.parametrize("case", BAD_BODIES)
def test_lambda_direct_invoke_answers_400(lambda_api, case):
    api, process = lambda_api
    body, expected = BAD_BODIES[case]
    posted = api.invoke(body)  # the event is the body, as Invoke's payload
    assert posted.kind == "response"
    answer = json.loads(posted.body)
    assert answer["statusCode"] == 400
    assert_openai_error(answer, expected)
    assert process.poll() is None


@pytest.mark.parametrize("case", BAD_BODIES)
def test_lambda_function_url_answers_400_not_a_function_error(lambda_api, case):
    api, process = lambda_api
    body, expected = BAD_BODIES[case]
    posted = api.invoke(url_event(body, "/v1/completions"))
    assert posted.kind == "response"
    prelude, answer = split_prelude(posted)
    assert prelude["statusCode"] == 400
    assert_openai_error(json.loads(answer), expected)
    assert process.poll() is None


def test_every_door_still_serves_after_the_bad_bodies(sagemaker, lambda_api):
    api, _ = lambda_api
    status, answer = post(sagemaker.port, b'{"prompt": "Hi", "max_tokens": 2, "seed": 4294967294}')
    assert status == 200 and answer["usage"]["completion_tokens"] == 2
    posted = api.invoke({"prompt": "Hi", "max_tokens": 2, "seed": 0})
    assert json.loads(posted.body)["usage"]["completion_tokens"] == 2


def test_the_lambda_loop_reports_an_event_that_is_not_json_and_keeps_serving(lambda_api):
    api, process = lambda_api
    for raw in (b"{not json", b"\xff\xfe not utf-8"):
        posted = api.invoke(raw)
        assert posted.kind == "error"  # Lambda counts it, and the invocation is answered
        assert posted.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.UnmarshalError"
        assert "the event is not JSON" in json.loads(posted.body)["errorMessage"]
    posted = api.invoke({"prompt": "Hi", "max_tokens": 1})
    assert posted.kind == "response" and json.loads(posted.body)["usage"]["completion_tokens"] == 1
    assert process.poll() is None


def test_a_seed_in_range_reproduces_the_same_text(sagemaker):
    body = {"prompt": "Once", "max_tokens": 12, "temperature": 1.0, "seed": 2**32 - 2}
    texts = {post(sagemaker.port, json.dumps(body).encode())[1]["choices"][0]["text"] for _ in range(2)}
    assert len(texts) == 1
