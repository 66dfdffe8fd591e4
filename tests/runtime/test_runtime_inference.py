"""The serving core and the Lambda handler running real llama.cpp on tiny GGUF files."""

from __future__ import annotations

import base64
import json
import string
import time

import jinja2
import pytest

import gguf_serving
from tests.runtime.runtime_support import TEST_MAX_TOKENS_DEFAULT, TEST_N_CTX, TEST_N_THREADS, make_config
from tests.gguf_factory import SIMPLE_CHAT_TEMPLATE

PRINTABLE = set(string.printable)


def complete(handler_module, **body):
    return handler_module.handler(body, None)


def greedy(handler_module, prompt="Hello", max_tokens=24, **extra):
    return complete(handler_module, prompt=prompt, max_tokens=max_tokens, temperature=0, **extra)


def n_prompt_tokens(engine, text: str) -> int:
    return len(engine.llm.tokenize(text.encode(), add_bos=True, special=True))


# ---------------------------------------------------------------------------- completions


def test_completion_generates_exactly_max_tokens_and_counts_usage(handler_module, installed_engine):
    answer = greedy(handler_module, prompt="The quick brown fox", max_tokens=12, model="gpt-4o")

    assert answer["object"] == "text_completion"
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["text"] and set(choice["text"]) <= PRINTABLE
    usage = answer["usage"]
    assert usage["completion_tokens"] == 12
    assert usage["prompt_tokens"] == n_prompt_tokens(installed_engine, "The quick brown fox")
    assert usage["total_tokens"] == usage["prompt_tokens"] + 12
    assert answer["model"] == "chat-tiny.gguf"  # the model served, not the one asked for


def test_max_tokens_defaults_to_max_tokens_default(handler_module, installed_engine):
    answer = complete(handler_module, prompt="Hi", temperature=0)
    assert answer["usage"]["completion_tokens"] == TEST_MAX_TOKENS_DEFAULT
    assert answer["choices"][0]["finish_reason"] == "length"


def test_default_max_tokens_shrinks_to_the_room_left_in_the_context(handler_module, installed_engine):
    prompt = "x" * 246  # <s>, the 3-byte "▁" SentencePiece puts first, then a token a byte
    room = TEST_N_CTX - n_prompt_tokens(installed_engine, prompt)
    assert 0 < room < TEST_MAX_TOKENS_DEFAULT
    answer = complete(handler_module, prompt=prompt, temperature=0)
    assert answer["usage"]["completion_tokens"] == room


def test_greedy_is_deterministic_and_seed_reproduces_sampling(handler_module, installed_engine):
    assert greedy(handler_module)["choices"][0]["text"] == greedy(handler_module)["choices"][0]["text"]

    def sampled(seed):
        return complete(handler_module, prompt="Once", max_tokens=24, temperature=1.0, top_p=0.95,
                        seed=seed)["choices"][0]["text"]

    assert sampled(7) == sampled(7)
    assert sampled(7) != sampled(8)


def test_stop_sequence_cuts_the_text_and_reports_stop(handler_module, installed_engine):
    full = greedy(handler_module, max_tokens=24)["choices"][0]["text"]
    assert len(full) >= 8
    stop = full[4:6]
    expected = full[: full.index(stop)]

    answer = greedy(handler_module, max_tokens=24, stop=[stop, "never-generated-zzz"])

    choice = answer["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["text"] == expected
    assert stop not in choice["text"]
    assert answer["usage"]["completion_tokens"] < 24


def test_stop_as_a_single_string(handler_module, installed_engine):
    full = greedy(handler_module, max_tokens=24)["choices"][0]["text"]
    answer = greedy(handler_module, max_tokens=24, stop=full[5])
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["choices"][0]["text"] == full[: full.index(full[5])]


# ---------------------------------------------------------------------------- chat


def test_chat_uses_the_template_from_gguf_metadata(handler_module, installed_engine):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
    answer = complete(handler_module, messages=messages, max_tokens=10, temperature=0)

    assert answer["object"] == "chat.completion"
    choice = answer["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 10
    # The prompt the model saw is the GGUF's own template rendered over the messages.
    rendered = jinja2.Template(SIMPLE_CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=True)
    expected = len(installed_engine.llm.tokenize(rendered.encode(), add_bos=False, special=True))
    assert answer["usage"]["prompt_tokens"] == expected


def test_chat_without_a_template_falls_back_and_still_answers(plain_model):
    engine = gguf_serving.Engine(make_config(plain_model))
    status, answer = gguf_serving.handle({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
                                          "temperature": 0}, engine=engine)
    assert status == 200
    assert answer["object"] == "chat.completion"
    assert answer["usage"]["completion_tokens"] == 4


def test_chat_stop_sequence_and_text_content_parts(handler_module, installed_engine):
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "you"}]}]
    full = complete(handler_module, messages=messages, max_tokens=20, temperature=0)
    content = full["choices"][0]["message"]["content"]
    assert len(content) >= 6
    stop = content[3:5]
    answer = complete(handler_module, messages=messages, max_tokens=20, temperature=0, stop=stop)
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["choices"][0]["message"]["content"] == content[: content.index(stop)]


# ---------------------------------------------------------------------------- bad requests


BAD_REQUESTS = [
    ("{not json", "not valid JSON"),
    ("", "empty"),
    ("[1, 2]", "must be a JSON object"),
    ({"max_tokens": 3}, "needs 'messages'"),
    ({"prompt": 42}, "'prompt' must be a string"),
    ({"messages": []}, "non-empty list"),
    ({"messages": [{"role": "user"}]}, "has no 'content'"),
    ({"messages": [{"content": "hi"}]}, "role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "only text parts"),
    ({"prompt": "hi", "max_tokens": 0}, "'max_tokens' must be a whole number"),
    ({"prompt": "hi", "max_tokens": "ten"}, "'max_tokens' must be a whole number"),
    ({"prompt": "hi", "max_tokens": True}, "'max_tokens' must be a whole number"),
    ({"prompt": "hi", "temperature": 3}, "'temperature' must be"),
    ({"prompt": "hi", "temperature": "hot"}, "'temperature' must be a number"),
    ({"prompt": "hi", "top_p": 0}, "'top_p' must be greater than 0"),
    ({"prompt": "hi", "stop": [1]}, "'stop' must be a string or a list of strings"),
    ({"prompt": "hi", "stop": ""}, "must not be empty"),
    ({"prompt": "hi", "seed": -1}, "'seed' must be"),
    ({"prompt": "hi", "n": 2}, "'n' must be 1"),
    ({"prompt": "hi", "stream": "yes"}, "'stream' must be true or false"),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS)
def test_bad_request_gets_400_saying_what_is_wrong(handler_module, installed_engine, body, message):
    answer = handler_module.handler(body, None)
    assert answer["statusCode"] == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert message in answer["error"]["message"]


def test_max_tokens_beyond_the_context_is_rejected_not_truncated(handler_module, installed_engine):
    answer = complete(handler_module, prompt="Hello", max_tokens=TEST_N_CTX + 10)
    assert answer["statusCode"] == 400
    error = answer["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "max_tokens"
    room = TEST_N_CTX - n_prompt_tokens(installed_engine, "Hello")
    assert f"at most {room} tokens" in error["message"] and f"{TEST_N_CTX} tokens" in error["message"]
    # ...and exactly the room left is accepted and fully used.
    ok = complete(handler_module, prompt="Hello", max_tokens=room, temperature=0)
    assert ok["usage"]["completion_tokens"] == room
    assert ok["usage"]["total_tokens"] == TEST_N_CTX


def test_prompt_longer_than_the_context_is_rejected(handler_module, installed_engine):
    answer = complete(handler_module, prompt="word " * 200, max_tokens=1)
    assert answer["statusCode"] == 400
    assert answer["error"]["code"] == "context_length_exceeded"
    assert "context window is 256 tokens" in answer["error"]["message"]


def test_chat_prompt_longer_than_the_context_is_rejected(handler_module, installed_engine):
    answer = complete(handler_module, messages=[{"role": "user", "content": "word " * 200}])
    assert answer["statusCode"] == 400
    assert answer["error"]["param"] == "messages"
    assert "context window" in answer["error"]["message"]


def test_the_runtime_still_serves_after_bad_requests(handler_module, installed_engine):
    for body, _ in BAD_REQUESTS[:5]:
        handler_module.handler(body, None)
    assert greedy(handler_module, max_tokens=3)["usage"]["completion_tokens"] == 3


# ---------------------------------------------------------------------------- warm reuse


def test_model_loads_once_per_execution_environment(handler_module, chat_model):
    constructed = []
    real_class = gguf_serving.llama.budgeted_llama_class()

    def counting_factory(**kwargs):
        constructed.append(kwargs["model_path"])
        return real_class(**kwargs)

    engine = gguf_serving.Engine(make_config(chat_model), llama_factory=counting_factory)
    gguf_serving.reset_engine(engine)
    try:
        first = greedy(handler_module, max_tokens=2)
        llm = engine.llm
        second = handler_module.handler({"messages": [{"role": "user", "content": "again"}], "max_tokens": 2}, None)
        third = greedy(handler_module, max_tokens=2)
    finally:
        gguf_serving.reset_engine(None)
    assert [a["usage"]["completion_tokens"] for a in (first, second, third)] == [2, 2, 2]
    assert constructed == [str(chat_model)]
    assert engine.state.loads == 1 and engine.llm is llm


def test_engine_comes_from_the_environment_once(handler_module, fresh_process, chat_model):
    fresh_process.setenv("MODEL_PATH", str(chat_model))
    fresh_process.setenv("MODEL_NAME", "tiny-test-model")
    answer = greedy(handler_module, max_tokens=3)
    engine = gguf_serving.get_engine()
    greedy(handler_module, max_tokens=3)
    assert gguf_serving.get_engine() is engine and engine.state.loads == 1
    assert answer["model"] == "tiny-test-model"
    assert engine.llm.n_ctx() == TEST_N_CTX and engine.llm.n_threads == TEST_N_THREADS


def test_model_path_may_name_the_directory_holding_the_gguf(fresh_process, chat_model, tmp_path):
    (tmp_path / "model.gguf").write_bytes(chat_model.read_bytes())
    (tmp_path / "README").write_text("not a model")
    fresh_process.setenv("MODEL_PATH", str(tmp_path))
    status, answer = gguf_serving.handle({"prompt": "a", "max_tokens": 2})
    assert status == 200 and answer["model"] == "model.gguf"


def test_a_baked_model_is_found_without_configuration(fresh_process, chat_model, tmp_path):
    (tmp_path / chat_model.name).write_bytes(chat_model.read_bytes())
    fresh_process.setattr(gguf_serving.config, "FALLBACK_MODEL_DIRS", (str(tmp_path / "missing"), str(tmp_path)))
    status, answer = gguf_serving.handle({"prompt": "a", "max_tokens": 2})
    assert status == 200 and answer["usage"]["completion_tokens"] == 2


# ---------------------------------------------------------------------------- Function URL events


@pytest.fixture
def buffered_url(monkeypatch):
    """The Function URL in BUFFERED invoke mode: the handler answers {statusCode, headers, body}."""
    monkeypatch.setenv("FUNCTION_URL_INVOKE_MODE", "BUFFERED")


def function_url_event(body, *, path="/", method="POST", base64_body=False):
    raw = body if isinstance(body, str) else json.dumps(body)
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.1", "userAgent": "test"},
                           "requestId": "r-1", "timeEpoch": 0},
        "body": base64.b64encode(raw.encode()).decode() if base64_body else raw,
        "isBase64Encoded": base64_body,
    }


def test_function_url_chat_with_base64_body(handler_module, installed_engine, buffered_url):
    event = function_url_event({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5},
                               path="/v1/chat/completions", base64_body=True)
    response = handler_module.handler(event, None)
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    body = json.loads(response["body"])
    assert body["object"] == "chat.completion"
    assert body["usage"]["completion_tokens"] == 5


def test_function_url_completion_plain_body(handler_module, installed_engine, buffered_url):
    event = function_url_event({"prompt": "Hi", "max_tokens": 3, "temperature": 0}, path="/v1/completions")
    response = handler_module.handler(event, None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize(("event_kwargs", "status", "message"), [
    (dict(body="{oops", path="/v1/completions"), 400, "not valid JSON"),
    (dict(body="%%%", base64_body=False, path="/"), 400, "not valid JSON"),
    (dict(body={"prompt": "hi"}, path="/v1/chat/completions"), 400, "needs 'messages'"),
    (dict(body={"prompt": "hi"}, path="/v1/embeddings"), 404, "no such route"),
    (dict(body={"prompt": "hi"}, method="DELETE"), 405, "not allowed"),
])
def test_function_url_errors(handler_module, installed_engine, buffered_url, event_kwargs, status, message):
    response = handler_module.handler(function_url_event(**event_kwargs), None)
    assert response["statusCode"] == status
    assert message in json.loads(response["body"])["error"]["message"]


def test_function_url_bad_base64(handler_module, installed_engine, buffered_url):
    event = function_url_event({"prompt": "hi"})
    event["body"], event["isBase64Encoded"] = "###not base64###", True
    response = handler_module.handler(event, None)
    assert response["statusCode"] == 400
    assert "base64" in json.loads(response["body"])["error"]["message"]


def test_function_url_get_reports_health(handler_module, installed_engine, buffered_url):
    response = handler_module.handler(function_url_event("", method="GET"), None)
    assert response["statusCode"] == 200
    health = json.loads(response["body"])
    assert health["status"] == "ready" and health["n_ctx"] == TEST_N_CTX and health["threads"] == TEST_N_THREADS


def test_direct_invoke_with_a_json_string_event(handler_module, installed_engine):
    answer = handler_module.handler(json.dumps({"prompt": "Hi", "max_tokens": 2}), None)
    assert answer["usage"]["completion_tokens"] == 2


# ---------------------------------------------------------------------------- the Lambda deadline


class FakeContext:
    def __init__(self, remaining_ms):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self):
        return self.remaining_ms


def test_no_time_left_before_the_lambda_timeout_is_a_function_error_not_an_empty_answer(handler_module,
                                                                                          installed_engine):
    # 1 s left is inside the handler's 2 s margin: nothing can be generated, and an answer
    # with no tokens would look like a success
    with pytest.raises(handler_module.FunctionError, match="before generation could start"):
        handler_module.handler({"prompt": "Hi", "max_tokens": 50}, FakeContext(1000))
    # With time to spare the same request runs to max_tokens.
    answer = handler_module.handler({"prompt": "Hi", "max_tokens": 50}, FakeContext(60_000))
    assert answer["usage"]["completion_tokens"] == 50
    assert installed_engine.llm.deadline is None


# ---------------------------------------------------------------------------- cold-start failures


def function_error(handler_module, event) -> str:
    """The message of the function error Lambda would record (the handler raises)."""
    with pytest.raises(handler_module.FunctionError) as caught:
        handler_module.handler(event, None)
    return caught.value.message


def test_missing_model_file_fails_cold_start_clearly(handler_module, fresh_process, tmp_path):
    missing = tmp_path / "nope.gguf"
    fresh_process.setenv("MODEL_PATH", str(missing))
    with pytest.raises(handler_module.ModelUnavailable) as caught:
        handler_module.handler({"prompt": "hi"}, None)
    assert f"MODEL_PATH={missing} does not exist" in caught.value.message
    # the URL's POST and GET fail the invocation too: Lambda's Errors metric must count it
    assert "does not exist" in function_error(handler_module, function_url_event({"prompt": "hi"}))
    assert "does not exist" in function_error(handler_module, function_url_event("", method="GET"))
    assert gguf_serving.get_engine().health()["status"] == "failed"


def test_no_model_configured(handler_module, fresh_process):
    assert "set MODEL_PATH" in function_error(handler_module, {"prompt": "hi"})


def test_a_file_that_is_not_gguf_fails_clearly(handler_module, fresh_process, tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"<html>403 Forbidden</html>")
    fresh_process.setenv("MODEL_PATH", str(bogus))
    assert "is not a GGUF file" in function_error(handler_module, {"prompt": "hi"})


def test_a_truncated_gguf_fails_clearly_and_the_process_survives(handler_module, fresh_process, tmp_path,
                                                                 chat_model):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(chat_model.read_bytes()[: chat_model.stat().st_size // 2])
    fresh_process.setenv("MODEL_PATH", str(truncated))
    for _ in range(2):  # tried again on the next request, failing the same clear way
        message = function_error(handler_module, {"prompt": "hi"})
        assert "llama.cpp could not load model file" in message and str(truncated) in message


def test_model_sha256_mismatch_is_refused(handler_module, fresh_process, chat_model):
    fresh_process.setenv("MODEL_PATH", str(chat_model))
    fresh_process.setenv("MODEL_SHA256", "0" * 64)
    assert "expected 000" in function_error(handler_module, {"prompt": "hi"})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("N_CTX", "big", "N_CTX='big' is not a whole number"),
    ("N_THREADS", "0", "N_THREADS=0 must be at least 1"),
    ("MODEL_S3_URI", "https://bucket/key.gguf", "must look like s3://bucket/key"),
])
def test_bad_environment_is_reported_not_crashed(handler_module, fresh_process, chat_model, name, value,
                                                 message):
    fresh_process.setenv("MODEL_PATH", str(chat_model))
    fresh_process.setenv(name, value)
    assert message in function_error(handler_module, {"prompt": "hi"})


def test_init_time_load_failure_fails_the_init(handler_module, fresh_process, tmp_path):
    fresh_process.setenv("MODEL_PATH", str(tmp_path / "absent.gguf"))
    # raised, so that lambda_runtime reports /init/error and Lambda records an init failure
    with pytest.raises(handler_module.ModelUnavailable, match="absent.gguf does not exist"):
        handler_module._load_during_init()


def test_init_time_load_loads_a_local_model(handler_module, fresh_process, chat_model):
    fresh_process.setenv("MODEL_PATH", str(chat_model))
    handler_module._load_during_init()
    assert gguf_serving.get_engine().loaded


# ---------------------------------------------------------------------------- threads


def test_n_threads_defaults_to_the_cpus_the_process_may_use(monkeypatch):
    monkeypatch.delenv("N_THREADS", raising=False)
    config = gguf_serving.RuntimeConfig.from_env({"MODEL_PATH": "/x.gguf"})
    assert config.n_threads == gguf_serving.available_cpus({})
    assert gguf_serving.RuntimeConfig.from_env({"N_THREADS": "3"}).n_threads == 3


@pytest.mark.parametrize(("memory_mb", "vcpus"), [(128, 1), (1769, 1), (2000, 1), (3008, 2), (3538, 2),
                                                  (5307, 3), (8846, 5), (10240, 6)])
def test_threads_follow_the_vcpus_lambda_gives_at_the_memory_size(monkeypatch, tmp_path, memory_mb, vcpus):
    monkeypatch.setattr(gguf_serving.config.os, "sched_getaffinity", lambda pid: set(range(8)))
    got = gguf_serving.available_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}, cgroup_root=tmp_path)
    assert got == vcpus


def test_threads_follow_the_cgroup_quota_and_the_affinity_mask(monkeypatch, tmp_path):
    monkeypatch.setattr(gguf_serving.config.os, "sched_getaffinity", lambda pid: set(range(8)))
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert gguf_serving.available_cpus({}, cgroup_root=tmp_path) == 3
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert gguf_serving.available_cpus({}, cgroup_root=tmp_path) == 8
    monkeypatch.setattr(gguf_serving.config.os, "sched_getaffinity", lambda pid: {0, 1})
    assert gguf_serving.available_cpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240"}, cgroup_root=tmp_path) == 2


def test_cgroup_v1_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(gguf_serving.config.os, "sched_getaffinity", lambda pid: set(range(8)))
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert gguf_serving.available_cpus({}, cgroup_root=tmp_path) == 1


def test_timing_of_a_warm_request_is_small(handler_module, installed_engine):
    started = time.perf_counter()
    greedy(handler_module, max_tokens=8)
    assert time.perf_counter() - started < 2.0
