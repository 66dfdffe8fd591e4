"""The Lambda entry point as Lambda runs it: entrypoint.sh with the image's command
(handler.handler) in a child process, talking to a local Lambda Runtime API
(tests/runtime/lambda_support.py). What reaches that API is what Lambda would see."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk

from tests.runtime.lambda_support import (
    PRELUDE_TYPE,
    FakeRuntimeApi,
    lambda_process,
    split_prelude,
    sse_data,
    url_event,
)


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
