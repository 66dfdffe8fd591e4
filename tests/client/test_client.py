"""tierwise.client: the OpenAI SDK reaching a deployed model through AWS's own APIs."""

from __future__ import annotations

import json

import boto3
import openai
import pytest
from botocore.credentials import Credentials
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from botocore.stub import ANY, Stubber
from moto import mock_aws
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.client.conftest import ACCESS_KEY, ENDPOINT, REGION, SECRET_KEY, event_message, payload_part
from tierwise import client as tierwise_client
from tierwise.cli import main
from tierwise.errors import TierwiseError

HI = [{"role": "user", "content": "Hi"}]


# ---------------------------------------------------------------------------- SageMaker, over HTTP


def test_chat_through_invoke_endpoint_is_signed_and_answered(runtime_client, sagemaker_front):
    llm = tierwise_client.for_sagemaker_endpoint(ENDPOINT, runtime_client=runtime_client, max_retries=0)
    answer = llm.chat.completions.create(model="m", messages=HI, max_tokens=5, temperature=0)
    ChatCompletion.model_validate(answer.model_dump(), strict=True)
    assert answer.usage.completion_tokens == 5
    call = sagemaker_front.calls[-1]
    assert call == {"path": f"/endpoints/{ENDPOINT}/invocations", "signed": True,
                    "custom_attributes": "route=/v1/chat/completions"}


def test_streaming_through_invoke_endpoint_with_response_stream(runtime_client, sagemaker_front):
    llm = tierwise_client.for_sagemaker_endpoint(ENDPOINT, runtime_client=runtime_client, max_retries=0)
    whole = llm.chat.completions.create(model="m", messages=HI, max_tokens=10, temperature=0)
    chunks = list(llm.chat.completions.create(model="m", messages=HI, max_tokens=10, temperature=0, stream=True,
                                              stream_options={"include_usage": True}))
    assert sagemaker_front.calls[-1]["path"] == f"/endpoints/{ENDPOINT}/invocations-response-stream"
    assert sagemaker_front.calls[-1]["signed"]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump(), strict=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 10


def test_completions_and_models_list_ride_on_the_custom_attributes(runtime_client, sagemaker_front):
    llm = tierwise_client.for_sagemaker_endpoint(ENDPOINT, runtime_client=runtime_client, max_retries=0)
    assert llm.completions.create(model="m", prompt="Hi", max_tokens=3).usage.completion_tokens == 3
    assert sagemaker_front.calls[-1]["custom_attributes"] == "route=/v1/completions"
    assert [model.id for model in llm.models.list().data] == ["chat-tiny.gguf"]
    assert sagemaker_front.calls[-1]["custom_attributes"] == "route=/v1/models"


def test_a_runtime_400_reaches_the_sdk_as_a_bad_request(runtime_client):
    llm = tierwise_client.for_sagemaker_endpoint(ENDPOINT, runtime_client=runtime_client, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        llm.chat.completions.create(model="m", messages=HI, tools=[{"type": "function", "function": {"name": "f"}}])
    assert caught.value.body["param"] == "tools"


def test_a_bad_signature_is_refused(sagemaker_front, aws_env):
    wrong = boto3.client("sagemaker-runtime", region_name=REGION, aws_access_key_id=ACCESS_KEY,
                         aws_secret_access_key="not-the-secret", endpoint_url=f"http://127.0.0.1:{sagemaker_front.server_port}")
    llm = tierwise_client.for_sagemaker_endpoint(ENDPOINT, runtime_client=wrong, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        llm.chat.completions.create(model="m", messages=HI, max_tokens=2)
    assert sagemaker_front.calls[-1]["signed"] is False


# ---------------------------------------------------------------------------- SageMaker, with Stubber


def stubbed_event_stream(client, operation: str, messages: list[bytes]) -> EventStream:
    class Raw:
        def stream(self):
            yield from messages

        def close(self):
            pass

    op = client.meta.service_model.operation_model(operation)
    member = "Body" if operation == "InvokeEndpointWithResponseStream" else "stream"
    return EventStream(Raw(), op.output_shape.members[member], EventStreamJSONParser(), op.name)


def without_response_validation(stubber: Stubber) -> Stubber:
    # Stubber checks responses with botocore's parameter validator, which knows no
    # EventStream (it wants a dict for the event stream member)
    stubber._validate_operation_response = lambda *args: None
    return stubber


def test_stubbed_response_stream_split_anywhere_still_parses():
    sse = b"".join(b"data: " + json.dumps({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}).encode() + b"\n\n"
        for word in ("Hel", "lo", "!")) + b"data: [DONE]\n\n"
    pieces = [sse[i:i + 7] for i in range(0, len(sse), 7)]  # lines cut mid-way, as SageMaker may
    client = boto3.client("sagemaker-runtime", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b")
    stubber = without_response_validation(Stubber(client))
    stubber.add_response(
        "invoke_endpoint_with_response_stream",
        {"Body": stubbed_event_stream(client, "InvokeEndpointWithResponseStream", [payload_part(p) for p in pieces]),
         "ContentType": "text/event-stream"},
        {"EndpointName": ENDPOINT, "Body": ANY, "ContentType": "application/json",
         "CustomAttributes": "route=/v1/chat/completions"})
    with stubber:
        llm = tierwise_client.for_sagemaker_endpoint(ENDPOINT, runtime_client=client, max_retries=0)
        chunks = list(llm.chat.completions.create(model="m", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content for c in chunks) == "Hello!"
    stubber.assert_no_pending_responses()


def test_serverless_endpoints_are_not_asked_to_stream():
    client = boto3.client("sagemaker-runtime", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b")
    stubber = Stubber(client)
    from botocore.response import StreamingBody
    import io

    sse = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    stubber.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(sse), len(sse)), "ContentType": "text/event-stream"})
    with stubber:
        llm = tierwise_client.for_sagemaker_endpoint(ENDPOINT, runtime_client=client, streaming=False, max_retries=0)
        chunks = list(llm.chat.completions.create(model="m", messages=HI, stream=True))
    assert [c.choices[0].delta.content for c in chunks] == ["ok"]


# ---------------------------------------------------------------------------- Bedrock (Converse)

MODEL_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"


def bedrock():
    return boto3.client("bedrock-runtime", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b")


def test_bedrock_chat_goes_through_converse():
    client = bedrock()
    stubber = Stubber(client)
    stubber.add_response("converse", {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hello there."}]}},
        "stopReason": "max_tokens", "usage": {"inputTokens": 9, "outputTokens": 3, "totalTokens": 12},
        "metrics": {"latencyMs": 100}},
        {"modelId": MODEL_ARN, "system": [{"text": "Be brief."}],
         "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
         "inferenceConfig": {"maxTokens": 3, "temperature": 0.5, "stopSequences": ["\n"]}})
    with stubber:
        llm = tierwise_client.for_bedrock(MODEL_ARN, runtime_client=client, max_retries=0)
        answer = llm.chat.completions.create(model="m", max_tokens=3, temperature=0.5, stop="\n",
                                             messages=[{"role": "system", "content": "Be brief."}, *HI])
    ChatCompletion.model_validate(answer.model_dump(), strict=True)
    assert answer.choices[0].message.content == "Hello there."
    assert answer.choices[0].finish_reason == "length" and answer.usage.total_tokens == 12


def test_bedrock_streaming_goes_through_converse_stream():
    client = bedrock()

    def event(kind, body):
        return event_message({":event-type": kind, ":message-type": "event", ":content-type": "application/json"},
                             json.dumps(body).encode())

    events = [event("messageStart", {"role": "assistant"}),
              event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
              event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo"}}),
              event("messageStop", {"stopReason": "end_turn"}),
              event("metadata", {"usage": {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6},
                                 "metrics": {"latencyMs": 10}})]
    stubber = without_response_validation(Stubber(client))
    stubber.add_response("converse_stream", {"stream": stubbed_event_stream(client, "ConverseStream", events)})
    with stubber:
        llm = tierwise_client.for_bedrock(MODEL_ARN, runtime_client=client, max_retries=0)
        chunks = list(llm.chat.completions.create(model="m", messages=HI, stream=True,
                                                  stream_options={"include_usage": True}))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump(), strict=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.total_tokens == 6


@pytest.mark.parametrize(("options", "param"), [
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"n": 2}, "n"),
])
def test_bedrock_refuses_what_converse_cannot_do(options, param):
    llm = tierwise_client.for_bedrock(MODEL_ARN, runtime_client=bedrock(), max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        llm.chat.completions.create(model="m", messages=HI, **options)
    assert caught.value.body["param"] == param


# ---------------------------------------------------------------------------- Function URL signing


def test_function_url_requests_carry_botocores_sigv4():
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = Credentials(ACCESS_KEY, SECRET_KEY, "session-token")
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["request"] = request
        return httpx.Response(200, json={"object": "list", "data": []})

    url = "https://abc123.lambda-url.us-east-1.on.aws/"
    llm = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0, http_client=httpx.Client(
        transport=httpx.MockTransport(handler), auth=tierwise_client.sigv4_auth(credentials, REGION)))
    llm.chat.completions.with_raw_response.create(model="m", messages=HI, max_tokens=2)
    request = seen["request"]
    assert "bearer" not in request.headers["authorization"].lower()
    assert request.headers["x-amz-security-token"] == "session-token"
    signed = request.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert set(signed) == {"content-type", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"}
    # botocore signs the same request with the same date: the same signature
    again = AWSRequest(method="POST", url=str(request.url), data=request.content,
                       headers={name: request.headers[name] for name in signed if name != "host"})
    again.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(credentials, "lambda", REGION)
    expected = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
    assert request.headers["authorization"].endswith(f"Signature={expected}")


# ---------------------------------------------------------------------------- from the stack's outputs


def put_stack(name: str, outputs: dict[str, str]) -> None:
    template = {"Resources": {"Marker": {"Type": "AWS::SSM::Parameter",
                                         "Properties": {"Name": f"{name}-marker", "Type": "String",
                                                        "Value": "tierwise"}}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=name, TemplateBody=json.dumps(template))


@mock_aws
def test_for_stack_reads_the_outputs(aws_env):
    put_stack("tierwise-llama3-8b", {"Tier": "lambda-gguf", "FunctionUrl": "https://abc.lambda-url.us-east-1.on.aws/"})
    put_stack("tierwise-gemma", {"Tier": "sagemaker-serverless", "EndpointName": "ep-1"})
    put_stack("tierwise-claude", {"Tier": "bedrock-on-demand", "InferenceProfileArn": MODEL_ARN})
    put_stack("not-tierwise", {"Something": "else"})
    assert str(tierwise_client.for_stack("tierwise-llama3-8b").base_url) == "https://abc.lambda-url.us-east-1.on.aws/v1/"
    assert tierwise_client.for_stack("tierwise-gemma").base_url.host == "sagemaker.invalid"
    assert tierwise_client.for_stack("tierwise-claude").base_url.host == "bedrock.invalid"
    with pytest.raises(TierwiseError, match="has no Tier output"):
        tierwise_client.for_stack("not-tierwise")
    with pytest.raises(TierwiseError, match="cannot read stack 'absent'"):
        tierwise_client.for_stack("absent")


def test_tierwise_chat_streams_the_answer(sagemaker_front, aws_env, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{sagemaker_front.server_port}")
    monkeypatch.setattr(tierwise_client, "stack_outputs",
                        lambda name, **_: {"Tier": "sagemaker-gpu", "EndpointName": ENDPOINT})
    assert main(["chat", "tierwise-llama3-8b", "Hi", "--max-tokens", "6", "--temperature", "0"]) == 0
    streamed = capsys.readouterr()
    assert sagemaker_front.calls[-1]["path"].endswith("/invocations-response-stream")
    assert main(["chat", "tierwise-llama3-8b", "Hi", "--max-tokens", "6", "--temperature", "0", "--no-stream"]) == 0
    whole = capsys.readouterr()
    assert streamed.out == whole.out and len(streamed.out.strip()) > 0
    assert "cut at 6 tokens" in streamed.err


def test_tierwise_chat_errors_are_one_line(aws_env, monkeypatch, capsys):
    def missing(name, **_):
        raise TierwiseError(f"cannot read stack {name!r}: Stack with id {name} does not exist")

    monkeypatch.setattr(tierwise_client, "stack_outputs", missing)
    assert main(["chat", "nope", "Hi"]) == 2
    err = capsys.readouterr().err
    assert err == "error: cannot read stack 'nope': Stack with id nope does not exist\n"


@mock_aws
def test_batch_stacks_are_refused_with_what_to_use_instead(aws_env, capsys):
    """Batch work answers in S3, not over a connection: the client says how to submit it."""
    put_stack("tierwise-nova-pro", {"Tier": "bedrock-batch", "InputBucket": "in", "OutputBucket": "out"})
    put_stack("tierwise-llama3-8b", {"Tier": "sagemaker-async", "EndpointName": "ep-async", "Bucket": "b"})
    with pytest.raises(TierwiseError, match=r"^stack 'tierwise-nova-pro' \(tier bedrock-batch\) is batch work, "
                                            r"answered in S3 by a Bedrock batch job: submit a JSONL file with "
                                            r"`tierwise batch submit tierwise-nova-pro input.jsonl`$"):
        tierwise_client.for_stack("tierwise-nova-pro")
    with pytest.raises(TierwiseError, match=r"\(tier sagemaker-async\) is an asynchronous endpoint: .*InvokeEndpointAsync"):
        tierwise_client.for_stack("tierwise-llama3-8b")
    assert main(["chat", "tierwise-nova-pro", "Hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: stack 'tierwise-nova-pro' (tier bedrock-batch)") and err.count("\n") == 1
