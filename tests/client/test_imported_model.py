"""tierwise.client and `tierwise chat` on an imported model (bedrock-custom): the OpenAI SDK's
request goes out as the OpenAI body on InvokeModel / InvokeModelWithResponseStream (never Converse),
checked against botocore's own bedrock-runtime client with the Stubber, and the answers come back
as the SDK's types, whichever shape Bedrock streams."""

from __future__ import annotations

import base64
import io
import json

import boto3
import openai
import pytest
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.client.conftest import REGION, event_message
from tests.client.test_client import put_stack, without_response_validation
from tierwise import client as tierwise_client
from tierwise.cli import main

ARN = "arn:aws:bedrock:us-east-1:123456789012:imported-model/k2x9pq7rt1ab"
HI = [{"role": "user", "content": "How is the rainbow formed?"}]
# the user guide's OpenAIChatCompletion response (invoke-imported-model.html): no "model" field
ANSWER = {"id": "chatcmpl-1d84ce1d3d61418e8c6d1973f87173db", "object": "chat.completion", "created": 1763166683,
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sunlight, refracted."},
                       "finish_reason": "length"}],
          "usage": {"prompt_tokens": 41, "completion_tokens": 100, "total_tokens": 141}}


def runtime():
    return boto3.client("bedrock-runtime", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b")


def captured(client) -> list[dict]:
    """The parameters of every call the client makes (after the Stubber has checked them)."""
    calls: list[dict] = []
    client.meta.events.register("before-parameter-build.bedrock-runtime.*",
                                lambda params, model, **kw: calls.append({"operation": model.name, **params}))
    return calls


def body(data: dict) -> StreamingBody:
    raw = json.dumps(data).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def chunk_events(client, payloads: list[bytes]) -> EventStream:
    messages = [event_message({":event-type": "chunk", ":message-type": "event", ":content-type": "application/json"},
                              json.dumps({"bytes": base64.b64encode(p).decode()}).encode()) for p in payloads]

    class Raw:
        def stream(self):
            yield from messages

        def close(self):
            pass

    op = client.meta.service_model.operation_model("InvokeModelWithResponseStream")
    return EventStream(Raw(), op.output_shape.members["body"], EventStreamJSONParser(), op.name)


def test_chat_is_the_openai_body_on_invoke_model():
    client = runtime()
    calls = captured(client)
    stubber = Stubber(client)
    stubber.add_response("invoke_model", {"body": body(ANSWER), "contentType": "application/json"})
    with stubber:
        llm = tierwise_client.for_imported_model(ARN, runtime_client=client, max_retries=0)
        answer = llm.chat.completions.create(model="my-ft", messages=HI, max_tokens=100, temperature=0.5)
    (call,) = calls
    assert call["operation"] == "InvokeModel" and call["modelId"] == ARN
    assert json.loads(call["body"]) == {"messages": HI, "max_tokens": 100, "temperature": 0.5}  # no "model"
    ChatCompletion.model_validate(answer.model_dump(), strict=True)
    assert answer.model == ARN and answer.choices[0].message.content == "Sunlight, refracted."
    assert answer.choices[0].finish_reason == "length" and answer.usage.total_tokens == 141


def test_completions_ride_on_the_openai_completion_format():
    client = runtime()
    calls = captured(client)
    stubber = Stubber(client)
    stubber.add_response("invoke_model", {"body": body({
        "id": "cmpl-b09d", "object": "text_completion", "created": 1763166682,
        "choices": [{"index": 0, "text": " A rainbow forms", "finish_reason": "length"}],
        "usage": {"prompt_tokens": 7, "total_tokens": 10, "completion_tokens": 3}}), "contentType": "application/json"})
    with stubber:
        llm = tierwise_client.for_imported_model(ARN, runtime_client=client, max_retries=0)
        answer = llm.completions.create(model="my-ft", prompt="How is the rainbow formed?", max_tokens=3)
    assert json.loads(calls[0]["body"]) == {"prompt": "How is the rainbow formed?", "max_tokens": 3}
    assert answer.choices[0].text == " A rainbow forms"


@pytest.mark.parametrize("shape", ["openai-chunks", "split-objects", "server-sent-events", "bedrock-completion"])
def test_streaming_reads_each_shape_bedrock_may_send(shape):
    def chunk(text, finish=None):
        return {"id": "c1", "object": "chat.completion.chunk", "created": 1,
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}

    words = [chunk("A rain"), chunk("bow"), chunk(".", "stop")]
    if shape == "openai-chunks":
        payloads = [json.dumps(w).encode() for w in words]
    elif shape == "split-objects":  # one object cut across two events
        whole = json.dumps(words[0]).encode()
        payloads = [whole[:10], whole[10:], *(json.dumps(w).encode() for w in words[1:])]
    elif shape == "server-sent-events":
        payloads = [b"".join(b"data: " + json.dumps(w).encode() + b"\n\n" for w in words) + b"data: [DONE]\n\n"]
    else:
        payloads = [json.dumps({"generation": g, "stop_reason": r}).encode()
                    for g, r in (("A rain", None), ("bow", None), (".", "stop"))]
    client = runtime()
    calls = captured(client)
    stubber = without_response_validation(Stubber(client))
    stubber.add_response("invoke_model_with_response_stream", {"body": chunk_events(client, payloads),
                                                               "contentType": "application/json"})
    with stubber:
        llm = tierwise_client.for_imported_model(ARN, runtime_client=client, max_retries=0)
        chunks = list(llm.chat.completions.create(model="m", messages=HI, stream=True,
                                                  stream_options={"include_usage": True}))
    assert calls[0]["operation"] == "InvokeModelWithResponseStream"
    assert json.loads(calls[0]["body"]) == {"messages": HI, "stream": True}
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump(), strict=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "A rainbow."
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_model_scaled_to_zero_is_a_clear_503():
    client = runtime()
    stubber = Stubber(client)
    stubber.add_client_error("invoke_model", service_error_code="ModelNotReadyException",
                             service_message="Model is not ready for inference", http_status_code=429)
    with stubber:
        llm = tierwise_client.for_imported_model(ARN, runtime_client=client, max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            llm.chat.completions.create(model="m", messages=HI)
    assert caught.value.status_code == 429
    assert "scaled to zero and is being restored" in caught.value.message


def test_other_routes_are_refused_with_a_404():
    llm = tierwise_client.for_imported_model(ARN, runtime_client=runtime(), max_retries=0)
    with pytest.raises(openai.NotFoundError, match="answers /v1/chat/completions and /v1/completions"):
        llm.embeddings.create(model="m", input="hi")
    assert [m.id for m in llm.models.list()] == [ARN]


@mock_aws
def test_for_stack_and_chat_reach_an_imported_model(aws_env, monkeypatch, capsys):
    put_stack("tierwise-my-ft", {"Tier": "bedrock-custom", "ImportedModelArn": ARN})
    llm = tierwise_client.for_stack("tierwise-my-ft")
    assert llm.base_url.host == "bedrock.invalid"
    assert type(llm._client._transport).__name__ == "ImportedModelTransport"

    client = runtime()
    calls = captured(client)
    stubber = without_response_validation(Stubber(client))
    stubber.add_response("invoke_model_with_response_stream", {"body": chunk_events(client, [
        json.dumps({"choices": [{"index": 0, "delta": {"content": "Hello there."}, "finish_reason": "stop"}]}).encode()]),
        "contentType": "application/json"})
    real = tierwise_client.for_imported_model
    monkeypatch.setattr(tierwise_client, "for_imported_model",
                        lambda arn, **kw: real(arn, runtime_client=client, **{k: v for k, v in kw.items() if k != "session"}))
    with stubber:
        assert main(["chat", "tierwise-my-ft", "Say hello", "--max-tokens", "8"]) == 0
    assert capsys.readouterr().out.strip() == "Hello there."
    assert calls[0]["modelId"] == ARN
    assert json.loads(calls[0]["body"])["max_tokens"] == 8
