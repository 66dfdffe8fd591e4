"""The runtime as OpenAI SDK users meet it: the real `openai` client against the SageMaker
door on a loopback port (the same routes a Function URL serves). Chat, completions,
streaming (every chunk a ChatCompletionChunk), models.list(), structured output, and a
400 naming the parameter for every option the runtime does not honour."""

from __future__ import annotations

import json
import threading

import openai
import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import gguf_serving
import sagemaker_server
from tests.runtime.runtime_support import LONG_N_CTX, make_config, running_server

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def server(chat_model):
    server = sagemaker_server.make_server("127.0.0.1", 0, engine=gguf_serving.Engine(make_config(chat_model)))
    server.loader.join(30)
    assert server.engine.loaded
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused", max_retries=0,
                       timeout=30) as client:
        yield client


def test_chat_completion_through_the_sdk(client):
    answer = client.chat.completions.create(model="any", messages=HI, max_tokens=5, temperature=0)
    ChatCompletion.model_validate(answer.model_dump(), strict=True)
    assert answer.usage.completion_tokens == 5 and answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.role == "assistant" and answer.choices[0].message.content


def test_completion_through_the_sdk(client):
    answer = client.completions.create(model="any", prompt="Hello", max_tokens=4, temperature=0)
    Completion.model_validate(answer.model_dump(), strict=True)
    assert answer.usage.completion_tokens == 4


def test_streamed_chat_gives_the_buffered_text_chunk_by_chunk(client):
    buffered = client.chat.completions.create(model="any", messages=HI, max_tokens=12, temperature=0)
    chunks = list(client.chat.completions.create(model="any", messages=HI, max_tokens=12, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    for chunk in chunks:
        assert isinstance(chunk, ChatCompletionChunk)
        ChatCompletionChunk.model_validate(chunk.model_dump(), strict=True)
    text_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(text_chunks) > 1  # tokens arrive one by one, not in one piece at the end
    assert "".join(c.choices[0].delta.content for c in text_chunks) == buffered.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage.model_dump() == buffered.usage.model_dump()


def test_streamed_completion(client):
    buffered = client.completions.create(model="any", prompt="Once", max_tokens=8, temperature=0)
    chunks = list(client.completions.create(model="any", prompt="Once", max_tokens=8, temperature=0, stream=True))
    # OpenAI's own completions stream sends finish_reason null until the last chunk, which
    # the SDK's Completion type (a Literal without None) only accepts unvalidated
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    Completion.model_validate(chunks[-1].model_dump(), strict=True)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert "".join(c.choices[0].text for c in chunks if c.choices) == buffered.choices[0].text


def test_without_include_usage_no_usage_chunk_is_sent(client):
    chunks = list(client.chat.completions.create(model="any", messages=HI, max_tokens=3, stream=True))
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


def test_the_raw_stream_is_server_sent_events_ending_in_done(server):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/invocations", body=json.dumps({"messages": HI, "max_tokens": 3, "stream": True}),
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.getheader("Transfer-Encoding") == "chunked"
    events = response.read().decode().split("\n\n")
    conn.close()
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: {") for event in events[:-2])


def test_models_list_names_the_served_model(client, server):
    models = client.models.list()
    assert [model.id for model in models.data] == [server.engine.model_name] == ["chat-tiny.gguf"]
    assert models.data[0].owned_by == "tierwise"


def test_json_object_response_format_gives_json(client):
    answer = client.chat.completions.create(model="any", messages=HI, max_tokens=40, temperature=0,
                                            response_format={"type": "json_object"})
    text = answer.choices[0].message.content
    if answer.choices[0].finish_reason == "stop":
        json.loads(text)
    else:  # cut at max_tokens: still the start of a JSON object, never free text
        assert text.lstrip().startswith("{")


def test_json_schema_response_format_follows_the_schema(client):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    answer = client.chat.completions.create(
        model="any", messages=HI, max_tokens=30, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    assert answer.choices[0].finish_reason == "stop"
    assert json.loads(answer.choices[0].message.content) in ({"ok": True}, {"ok": False})


def test_logit_bias_is_honoured(client):
    # byte tokens start at id 3 (<unk>, <s>, </s>): 3 + ord("Z") is the byte "Z"
    z_token = str(3 + ord("Z"))
    answer = client.completions.create(model="any", prompt="Hi", max_tokens=6, temperature=0,
                                       logit_bias={z_token: 100})
    assert answer.choices[0].text == "Z" * 6
    plain = client.completions.create(model="any", prompt="Hi", max_tokens=6, temperature=0)
    assert plain.choices[0].text != "Z" * 6


def test_seed_reproduces_sampled_text(client):
    texts = {client.completions.create(model="any", prompt="Hi", max_tokens=10, temperature=1.0, seed=7)
             .choices[0].text for _ in range(2)}
    assert len(texts) == 1


CHAT_REFUSED = [
    ("tools", dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])),
    ("tool_choice", dict(tool_choice="none")),
    ("logprobs", dict(logprobs=True)),
    ("top_logprobs", dict(top_logprobs=2)),
    ("n", dict(n=2)),
    ("response_format", dict(response_format={"type": "xml"})),
    ("logit_bias", dict(logit_bias={"999999": 5})),
    ("reasoning_effort", dict(reasoning_effort="low")),
]


@pytest.mark.parametrize(("param", "options"), CHAT_REFUSED, ids=[p for p, _ in CHAT_REFUSED])
def test_chat_options_not_honoured_are_refused_by_name(client, param, options):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="any", messages=HI, max_tokens=2, **options)
    assert caught.value.status_code == 400
    error = caught.value.body
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert param in error["message"]


COMPLETION_REFUSED = [
    ("echo", dict(echo=True)),
    ("suffix", dict(suffix="end")),
    ("best_of", dict(best_of=3)),
    ("logprobs", dict(logprobs=2)),
    ("stream_options", dict(stream_options={"include_usage": True})),  # only with stream=true
]


@pytest.mark.parametrize(("param", "options"), COMPLETION_REFUSED, ids=[p for p, _ in COMPLETION_REFUSED])
def test_completion_options_not_honoured_are_refused_by_name(client, param, options):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="any", prompt="Hi", max_tokens=2, **options)
    assert caught.value.body["param"] == param and param in caught.value.body["message"]


def test_neutral_values_of_unsupported_options_are_accepted(client):
    answer = client.completions.create(model="any", prompt="Hi", max_tokens=2, echo=False, best_of=1, n=1, user="u1")
    assert answer.usage.completion_tokens == 2
    answer = client.chat.completions.create(model="any", messages=HI, max_tokens=2, logprobs=False, n=1)
    assert answer.usage.completion_tokens == 2


def test_a_streamed_request_that_cannot_start_gets_a_400_not_a_broken_stream(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="any", messages=HI, max_tokens=10_000, stream=True)
    assert caught.value.body["code"] == "context_length_exceeded"


def test_an_abandoned_stream_frees_the_model_for_the_next_request(client):
    stream = client.chat.completions.create(model="any", messages=HI, max_tokens=100, stream=True)
    next(iter(stream))
    stream.close()  # the client hangs up after one chunk
    answer = client.completions.create(model="any", prompt="Hi", max_tokens=2)
    assert answer.usage.completion_tokens == 2


def test_a_cut_off_stream_says_why(chat_model):
    engine = gguf_serving.Engine(make_config(chat_model, n_ctx=LONG_N_CTX, generation_timeout_s=1.0))
    with running_server(engine) as server:
        with openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0) as client:
            chunks = list(client.chat.completions.create(model="m", messages=HI, max_tokens=2000, stream=True))
            last = chunks[-1]
            assert last.choices[0].finish_reason == "length"
            assert last.model_extra["cutoff"]["reason"] == "generation_timeout"
            assert 2 < len(chunks) < 2000
            raw = client.completions.with_raw_response.create(model="m", prompt="Hi", max_tokens=2000)
            assert raw.headers["x-tierwise-cutoff"] == "generation_timeout"
            assert raw.parse().choices[0].finish_reason == "length"
