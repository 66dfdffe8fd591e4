"""An OpenAI client for a deployed tierwise stack.

``tierwise.client.for_stack("tierwise-llama3-8b")`` reads the stack's outputs
(CloudFormation DescribeStacks) and returns an ``openai.OpenAI`` whose requests reach
the model, signed with the caller's AWS credentials (SigV4):

- lambda-gguf: the Function URL (IAM auth, service ``lambda``); streaming through the
  URL's RESPONSE_STREAM invoke mode;
- sagemaker-serverless / sagemaker-gpu: an httpx transport that turns each SDK call into
  ``InvokeEndpoint`` or, for ``stream=True`` on a real-time (GPU) endpoint,
  ``InvokeEndpointWithResponseStream``; the OpenAI route travels in the request's
  CustomAttributes (``route=/v1/...``), which the GGUF runtime reads. Serverless
  endpoints are called with InvokeEndpoint even for ``stream=True``: the runtime answers
  the whole event stream at once, which the SDK reads the same way;
- bedrock-on-demand / bedrock-provisioned: chat completions through Bedrock's Converse
  API (ConverseStream for ``stream=True``), answered in OpenAI's shapes;
- bedrock-custom (an imported model): the OpenAI body itself through ``InvokeModel``
  (``InvokeModelWithResponseStream`` for ``stream=True``), the format AWS serves every model
  imported since November 2025 in; Converse is never used (tierwise/data/bedrock_custom_import.yaml,
  ``client``, says why).

Whatever cannot be done is answered with an OpenAI-style 400 naming the parameter,
never dropped in silence (the runtime does the same, see docs/SERVING.md, "Supported OpenAI options").
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from tierwise import tiers
from tierwise.errors import TierwiseError

# stack outputs (tiers/*: outputs()) that say where the model is
TIER_OUTPUT = "Tier"
URL_OUTPUT = "FunctionUrl"
ENDPOINT_OUTPUT = "EndpointName"
BEDROCK_OUTPUTS = ("InferenceProfileArn", "ProvisionedModelArn")
IMPORTED_OUTPUT = "ImportedModelArn"
# the OpenAI routes an imported model answers on InvokeModel (its OpenAICompletion and
# OpenAIChatCompletion formats)
IMPORTED_ROUTES = ("/v1/chat/completions", "/v1/completions")
CUSTOM_ATTRIBUTES_ROUTE = "route"
# the route the GGUF runtime reads from InvokeEndpoint's CustomAttributes
SAGEMAKER_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/models")
# InvokeEndpointWithResponseStream is for real-time hosting (SageMaker developer guide,
# "Invoke real-time endpoints"); serverless is called with InvokeEndpoint


def _openai() -> Any:
    try:
        import openai
    except ImportError:  # an extra, not a core dependency
        raise TierwiseError("tierwise.client needs the OpenAI SDK: pip install 'tierwise[client]'") from None
    return openai


def _httpx() -> Any:
    import httpx  # comes with openai

    return httpx


def _session(session: Any = None, region: str | None = None) -> Any:
    if session is not None:
        return session
    import boto3

    return boto3.session.Session(region_name=region)


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None,
           type_: str = "invalid_request_error") -> Any:
    httpx = _httpx()
    return httpx.Response(status, json={"error": {"message": message, "type": type_, "param": param, "code": code}})


# ---------------------------------------------------------------------------- SigV4 for the Function URL


def sigv4_headers(method: str, url: str, body: bytes, headers: Mapping[str, str], *, credentials: Any,
                  region: str, service: str) -> dict[str, str]:
    """The headers that sign a request with SigV4 (botocore's signer): Authorization,
    X-Amz-Date, X-Amz-Content-SHA256 and, for temporary credentials, X-Amz-Security-Token.
    Only host, content-type and the x-amz-* headers are signed: the HTTP stack may still
    change the others (connection, accept-encoding, user-agent) after signing."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    signed = {name: value for name, value in headers.items()
              if name.lower() == "content-type" or name.lower().startswith("x-amz-")}
    signed["host"] = urlsplit(url).netloc
    request = AWSRequest(method=method, url=url, data=body, headers=signed)
    request.headers["X-Amz-Content-SHA256"] = _sha256(body)
    SigV4Auth(credentials.get_frozen_credentials() if hasattr(credentials, "get_frozen_credentials") else credentials,
              service, region).add_auth(request)
    return {name: value for name, value in request.headers.items()
            if name.lower() in ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")}


def _sha256(body: bytes) -> str:
    import hashlib

    return hashlib.sha256(body).hexdigest()


def sigv4_auth(credentials: Any, region: str, service: str = "lambda") -> Any:
    """httpx authentication that signs each request (an IAM-auth Function URL: service lambda)."""
    httpx = _httpx()

    class SigV4(httpx.Auth):
        requires_request_body = True

        def auth_flow(self, request):  # noqa: ANN001, ANN201
            request.headers.pop("authorization", None)  # the SDK's bearer token means nothing here
            request.headers.update(sigv4_headers(request.method, str(request.url), request.content, request.headers,
                                                 credentials=credentials, region=region, service=service))
            yield request

    return SigV4()


def for_function_url(url: str, *, region: str, session: Any = None, **client_options: Any) -> Any:
    """An OpenAI client for a lambda-gguf Function URL (IAM auth)."""
    openai, httpx = _openai(), _httpx()
    credentials = _session(session, region).get_credentials()
    if credentials is None:
        raise TierwiseError("no AWS credentials found: the Function URL only takes SigV4-signed requests")
    # a little over Lambda's longest timeout (900 s): the function ends the request, not the client
    http_client = httpx.Client(auth=sigv4_auth(credentials, region), timeout=httpx.Timeout(910.0))
    return openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key="sigv4", http_client=http_client,
                         **client_options)


# ---------------------------------------------------------------------------- SageMaker transport


def _byte_stream(parts: Iterator[bytes], close: Any = None) -> Any:
    """httpx's response stream over an iterator of bytes (an event stream's payload parts)."""
    httpx = _httpx()

    class ByteStream(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield from parts

        def close(self) -> None:
            if close is not None:
                close()

    return ByteStream()


def _sagemaker_transport(runtime_client: Any, endpoint_name: str, *, streaming: bool) -> Any:
    httpx = _httpx()
    from botocore.exceptions import BotoCoreError, ClientError

    class SageMakerTransport(httpx.BaseTransport):
        def handle_request(self, request):  # noqa: ANN001, ANN201
            route = request.url.path
            if route not in SAGEMAKER_ROUTES:
                return _error(404, f"no such route {route!r}; the endpoint serves {', '.join(SAGEMAKER_ROUTES)}")
            body = request.read() if request.method == "POST" else b"{}"
            try:
                wants_stream = request.method == "POST" and bool(json.loads(body or b"{}").get("stream"))
            except (ValueError, AttributeError):
                wants_stream = False
            arguments = dict(EndpointName=endpoint_name, Body=body, ContentType="application/json",
                             CustomAttributes=f"{CUSTOM_ATTRIBUTES_ROUTE}={route}")
            try:
                if wants_stream and streaming:
                    answer = runtime_client.invoke_endpoint_with_response_stream(**arguments)
                    events = answer["Body"]
                    parts = (event["PayloadPart"]["Bytes"] for event in events if "PayloadPart" in event)
                    return httpx.Response(200, headers={"content-type": answer.get("ContentType") or "text/event-stream"},
                                          stream=_byte_stream(parts, events.close))
                answer = runtime_client.invoke_endpoint(**arguments)
                return httpx.Response(200, headers={"content-type": answer.get("ContentType") or "application/json"},
                                      content=answer["Body"].read())
            except ClientError as exc:
                return _sagemaker_error(exc)
            except BotoCoreError as exc:
                raise httpx.ConnectError(str(exc), request=request) from exc

    return SageMakerTransport()


def _sagemaker_error(exc: Any) -> Any:
    """A ModelError carries the container's own status and body: hand those to the SDK, so
    a 400 from the runtime is an openai.BadRequestError with the runtime's message."""
    httpx = _httpx()
    response = exc.response
    original_status = response.get("OriginalStatusCode")
    original = response.get("OriginalMessage")
    if original_status and original:
        return httpx.Response(int(original_status), headers={"content-type": "application/json"},
                              content=original.encode() if isinstance(original, str) else original)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
    error = response.get("Error", {})
    return _error(status, f"SageMaker {error.get('Code', 'error')}: {error.get('Message', exc)}",
                  type_="sagemaker_error")


def for_sagemaker_endpoint(endpoint_name: str, *, region: str | None = None, session: Any = None,
                           streaming: bool = True, runtime_client: Any = None, **client_options: Any) -> Any:
    """An OpenAI client for a SageMaker endpoint serving OpenAI bodies on /invocations
    (the GGUF runtime; LMI's chat completions schema)."""
    openai, httpx = _openai(), _httpx()
    runtime_client = runtime_client or _session(session, region).client("sagemaker-runtime")
    transport = _sagemaker_transport(runtime_client, endpoint_name, streaming=streaming)
    return openai.OpenAI(base_url="https://sagemaker.invalid/v1", api_key="sigv4",
                         http_client=httpx.Client(transport=transport), **client_options)


# ---------------------------------------------------------------------------- Bedrock (Converse)

CONVERSE_OPTIONS = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
                    "stream", "stream_options", "n", "user"}
CONVERSE_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                         "content_filtered": "content_filter", "guardrail_intervened": "content_filter",
                         "tool_use": "tool_calls"}


def converse_request(body: Mapping[str, Any], model_id: str) -> dict[str, Any]:
    """An OpenAI chat completions body as Converse arguments; an option Converse cannot
    honour raises TierwiseError naming it."""
    for name in body:
        if name not in CONVERSE_OPTIONS:
            raise _Refused(name, f"'{name}' is not supported through Bedrock's Converse API by tierwise.client; "
                                 f"supported: {', '.join(sorted(CONVERSE_OPTIONS))}")
    if body.get("n", 1) != 1:
        raise _Refused("n", "'n' must be 1 (one choice per request)")
    system, messages = [], []
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if part.get("type") == "text")
        if not isinstance(content, str):
            raise _Refused("messages", f"messages[{i}].content must be text")
        if message.get("role") in ("system", "developer"):
            system.append({"text": content})
        elif message.get("role") in ("user", "assistant"):
            messages.append({"role": message["role"], "content": [{"text": content}]})
        else:
            raise _Refused("messages", f"messages[{i}].role must be system, user or assistant")
    if not messages:
        raise _Refused("messages", "'messages' needs at least one user message")
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    for openai_name, converse_name in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(openai_name) is not None:
            config[converse_name] = body[openai_name]
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    request: dict[str, Any] = {"modelId": model_id, "messages": messages}
    if system:
        request["system"] = system
    if config:
        request["inferenceConfig"] = config
    return request


class _Refused(Exception):
    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param, self.message = param, message


def _chat_completion(answer: Mapping[str, Any], model_id: str) -> dict[str, Any]:
    text = "".join(block.get("text", "") for block in answer["output"]["message"]["content"])
    usage = answer.get("usage") or {}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model_id,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                     "finish_reason": CONVERSE_STOP_REASONS.get(answer.get("stopReason"), "stop")}],
        "usage": {"prompt_tokens": usage.get("inputTokens", 0), "completion_tokens": usage.get("outputTokens", 0),
                  "total_tokens": usage.get("totalTokens", 0)},
    }


def _chat_chunks(events: Any, model_id: str, include_usage: bool) -> Iterator[bytes]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model_id}

    def event(choices: list, **extra: Any) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    for item in events:
        if "messageStart" in item:
            yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        elif "contentBlockDelta" in item:
            text = item["contentBlockDelta"].get("delta", {}).get("text")
            if text:
                yield event([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
        elif "messageStop" in item:
            reason = CONVERSE_STOP_REASONS.get(item["messageStop"].get("stopReason"), "stop")
            yield event([{"index": 0, "delta": {}, "finish_reason": reason}])
        elif "metadata" in item and include_usage:
            usage = item["metadata"].get("usage") or {}
            yield event([], usage={"prompt_tokens": usage.get("inputTokens", 0),
                                   "completion_tokens": usage.get("outputTokens", 0),
                                   "total_tokens": usage.get("totalTokens", 0)})
    yield b"data: [DONE]\n\n"


def _bedrock_models(httpx: Any, model_id: str) -> Any:
    """GET /v1/models on a Bedrock door: the one model it calls."""
    return httpx.Response(200, json={"object": "list", "data": [
        {"id": model_id, "object": "model", "created": 0, "owned_by": "amazon-bedrock"}]})


def _bedrock_error(exc: Any, hints: Mapping[str, str] | None = None) -> Any:
    """A botocore ClientError from Bedrock as an OpenAI error reply with Bedrock's status, code and
    message (and what to do, where `hints` names the code)."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
    message = f"Bedrock {error.get('Code', 'error')}: {error.get('Message', exc)}"
    hint = (hints or {}).get(error.get("Code"))
    return _error(status, message + (f" ({hint})" if hint else ""), type_="bedrock_error")


def _bedrock_transport(runtime_client: Any, model_id: str) -> Any:
    httpx = _httpx()
    from botocore.exceptions import BotoCoreError, ClientError

    class BedrockTransport(httpx.BaseTransport):
        def handle_request(self, request):  # noqa: ANN001, ANN201
            route = request.url.path
            if request.method == "GET" and route == "/v1/models":
                return _bedrock_models(httpx, model_id)
            if route != "/v1/chat/completions":
                return _error(404, f"{route} is not available on Bedrock through tierwise.client; "
                                   "use /v1/chat/completions (Bedrock's Converse API is chat only)")
            body = json.loads(request.read() or b"{}")
            try:
                arguments = converse_request(body, model_id)
            except _Refused as refused:
                return _error(400, refused.message, param=refused.param)
            try:
                if body.get("stream"):
                    answer = runtime_client.converse_stream(**arguments)
                    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    stream = answer["stream"]
                    return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                          stream=_byte_stream(_chat_chunks(stream, model_id, include_usage),
                                                              getattr(stream, "close", None)))
                return httpx.Response(200, json=_chat_completion(runtime_client.converse(**arguments), model_id))
            except ClientError as exc:
                return _bedrock_error(exc)
            except BotoCoreError as exc:
                raise httpx.ConnectError(str(exc), request=request) from exc

    return BedrockTransport()


def for_bedrock(model_id: str, *, region: str | None = None, session: Any = None, runtime_client: Any = None,
                **client_options: Any) -> Any:
    """An OpenAI client whose chat completions go to Bedrock's Converse API."""
    openai, httpx = _openai(), _httpx()
    runtime_client = runtime_client or _session(session, region).client("bedrock-runtime")
    return openai.OpenAI(base_url="https://bedrock.invalid/v1", api_key="sigv4",
                         http_client=httpx.Client(transport=_bedrock_transport(runtime_client, model_id)),
                         **client_options)


# ---------------------------------------------------------------------------- an imported model (InvokeModel)


def _openai_chunk(data: Mapping[str, Any], model_id: str, chat: bool) -> dict[str, Any] | None:
    """One streamed event of an imported model as an OpenAI chunk. AWS documents no stream shape
    for its OpenAI formats, so each shape it uses is read: an OpenAI chunk, a whole completion, or
    a BedrockCompletion event ({generation, stop_reason})."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    base = {"id": data.get("id") or f"cmpl-{uuid.uuid4().hex}", "object": kind,
            "created": data.get("created") or int(time.time()), "model": data.get("model") or model_id}
    choices = data.get("choices")
    if isinstance(choices, list) and choices:
        out = []
        for choice in choices:
            if not chat or "delta" in choice:
                out.append(choice)
            else:  # a whole chat completion in one event
                message = choice.get("message") or {}
                out.append({"index": choice.get("index", 0), "delta": {"role": "assistant",
                            "content": message.get("content") or ""}, "finish_reason": choice.get("finish_reason")})
        return {**base, "choices": out, **({"usage": data["usage"]} if data.get("usage") else {})}
    if "generation" in data:
        reason = {"length": "length", "stop": "stop"}.get(str(data.get("stop_reason")), None)
        text = data.get("generation") or ""
        choice = {"index": 0, "delta": {"content": text}, "finish_reason": reason} if chat else \
            {"index": 0, "text": text, "finish_reason": reason}
        return {**base, "choices": [choice]}
    return None


def _imported_chunks(events: Any, model_id: str, chat: bool) -> Iterator[bytes]:
    buffer = b""
    for event in events:
        part = (event.get("chunk") or {}).get("bytes")
        if not part:
            continue
        buffer += part
        # an event holds one JSON object, or server-sent events ("data: {...}\n\n") when the
        # model streams them through
        while buffer:
            text = buffer.strip()
            if text.startswith(b"data:"):
                line, sep, rest = buffer.partition(b"\n\n")
                if not sep:
                    break
                buffer = rest
                payload = line.strip()[5:].strip()
            else:
                payload, buffer = text, b""
            if not payload or payload == b"[DONE]":
                continue
            try:
                chunk = _openai_chunk(json.loads(payload), model_id, chat)
            except ValueError:
                buffer = payload + buffer  # an object cut between two events
                break
            if chunk is not None:
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


def _imported_transport(runtime_client: Any, model_id: str) -> Any:
    httpx = _httpx()
    from botocore.exceptions import BotoCoreError, ClientError

    class ImportedModelTransport(httpx.BaseTransport):
        def handle_request(self, request):  # noqa: ANN001, ANN201
            route = request.url.path
            if request.method == "GET" and route == "/v1/models":
                return _bedrock_models(httpx, model_id)
            if route not in IMPORTED_ROUTES:
                return _error(404, f"{route} is not available on an imported model; it answers "
                                   f"{' and '.join(IMPORTED_ROUTES)}")
            body = json.loads(request.read() or b"{}")
            body.pop("model", None)  # the model is the ARN called; the body carries no model name
            chat = route == "/v1/chat/completions"
            arguments = {"modelId": model_id, "contentType": "application/json", "accept": "application/json"}
            try:
                if body.get("stream"):
                    body.pop("stream_options", None)
                    answer = runtime_client.invoke_model_with_response_stream(body=json.dumps(body), **arguments)
                    events = answer["body"]
                    return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                          stream=_byte_stream(_imported_chunks(events, model_id, chat),
                                                              getattr(events, "close", None)))
                answer = json.loads(runtime_client.invoke_model(body=json.dumps(body), **arguments)["body"].read())
                answer.setdefault("model", model_id)
                answer.setdefault("created", int(time.time()))
                return httpx.Response(200, json=answer)
            except ClientError as exc:
                return _bedrock_error(exc, hints={"ModelNotReadyException": (
                    "the imported model had scaled to zero and is being restored: try again in a minute")})
            except BotoCoreError as exc:
                raise httpx.ConnectError(str(exc), request=request) from exc

    return ImportedModelTransport()


def for_imported_model(model_id: str, *, region: str | None = None, session: Any = None, runtime_client: Any = None,
                       **client_options: Any) -> Any:
    """An OpenAI client for a model imported into Bedrock (its ARN), through InvokeModel."""
    openai, httpx = _openai(), _httpx()
    runtime_client = runtime_client or _session(session, region).client("bedrock-runtime")
    return openai.OpenAI(base_url="https://bedrock.invalid/v1", api_key="sigv4",
                         http_client=httpx.Client(transport=_imported_transport(runtime_client, model_id)),
                         **client_options)


# ---------------------------------------------------------------------------- from the stack


def stack_outputs(stack_name: str, *, session: Any = None, region: str | None = None) -> dict[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        cloudformation = _session(session, region).client("cloudformation")
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except NoRegionError:
        raise TierwiseError("no AWS region: pass --region or set AWS_REGION") from None
    except NoCredentialsError:
        raise TierwiseError("no AWS credentials found to read the stack's outputs") from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise TierwiseError(f"cannot read stack {stack_name!r}: {message}") from None
    except BotoCoreError as exc:
        raise TierwiseError(f"cannot read stack {stack_name!r}: {exc}") from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def for_stack(stack_name: str, *, region: str | None = None, session: Any = None, **client_options: Any) -> Any:
    """An OpenAI client for the model a tierwise stack deployed (see the module docstring)."""
    session = _session(session, region)
    outputs = stack_outputs(stack_name, session=session)
    tier = outputs.get(TIER_OUTPUT)
    if tier is None:
        raise TierwiseError(f"stack {stack_name!r} has no Tier output: it is not a tierwise model stack")
    module = tiers.get_or_none(tier)
    door = module.client_door if module is not None else None
    if module is not None and module.client_refusal:
        raise TierwiseError(f"stack {stack_name!r} (tier {tier}) {module.client_refusal.format(stack=stack_name)}")
    if door == "function-url" and URL_OUTPUT in outputs:
        return for_function_url(outputs[URL_OUTPUT], region=session.region_name, session=session, **client_options)
    if door == "sagemaker-endpoint" and ENDPOINT_OUTPUT in outputs:
        return for_sagemaker_endpoint(outputs[ENDPOINT_OUTPUT], session=session, streaming=module.streaming[0],
                                      **client_options)
    for name in BEDROCK_OUTPUTS:
        if door == "bedrock" and name in outputs:
            return for_bedrock(outputs[name], session=session, **client_options)
    if door == "bedrock-imported" and IMPORTED_OUTPUT in outputs:
        return for_imported_model(outputs[IMPORTED_OUTPUT], session=session, **client_options)
    raise TierwiseError(f"stack {stack_name!r} (tier {tier}) has none of the outputs tierwise.client reads "
                        f"({URL_OUTPUT}, {ENDPOINT_OUTPUT}, {', '.join(BEDROCK_OUTPUTS)}, {IMPORTED_OUTPUT})")


__all__ = ["for_bedrock", "for_function_url", "for_imported_model", "for_sagemaker_endpoint", "for_stack",
           "sigv4_auth", "sigv4_headers", "stack_outputs"]
