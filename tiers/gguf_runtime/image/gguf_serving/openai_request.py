"""OpenAI completions and chat-completions request bodies, validated into a GenerationRequest.

Every option is either honoured or refused with a 400 naming it (README, "Supported OpenAI
options"). Everything here runs in time linear in the body and needs no model: a request
that cannot be served is refused before it waits for the model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from . import json_limits
from .errors import NotFoundError, RequestError

CHAT_ROUTES = frozenset({"/v1/chat/completions", "/chat/completions"})
COMPLETION_ROUTES = frozenset({"/v1/completions", "/completions"})
NEUTRAL_ROUTES = frozenset({"", "/", "/invocations", "/v1"})
MODELS_ROUTES = frozenset({"/v1/models", "/models"})

# llama.cpp seeds are 32-bit: a larger seed wraps (2**32 samples what 0 does) and
# 0xFFFFFFFF (LLAMA_DEFAULT_SEED, llama.h) asks for a random seed, so neither reproduces.
MAX_SEED = 2**32 - 2
# OpenAI takes up to four stop sequences (help.openai.com, "How do I use stop sequences");
# each is searched for in the text after every token.
MAX_STOP_SEQUENCES = 4


@dataclass(frozen=True)
class GenerationRequest:
    """One validated OpenAI completions or chat-completions request."""

    kind: str  # "chat" or "completion"
    prompt: str | None = None
    messages: tuple[dict[str, str], ...] = ()
    max_tokens: int | None = None  # None: MAX_TOKENS_DEFAULT, clipped to the room left
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: tuple[tuple[int, float], ...] = ()
    # None: free text; {} : any JSON object; otherwise the JSON schema the answer must follow
    json_schema: dict[str, Any] | None = None
    stream: bool = False
    include_usage: bool = False
    # UTF-8 bytes of the text the model reads: the prompt, or every message's role and
    # content (what the prompt cap in engine.py bounds before anything is tokenized)
    text_bytes: int = 0


SHOWN_CHARS = 80


def _shown(value: Any) -> str:
    """A value as JSON for an error message, cut short: the caller sent it and knows the rest."""
    text = json.dumps(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"... ({len(text)} characters)"


def _utf8_len(text: str, param: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # "\ud800" in JSON decodes to a lone surrogate
        raise RequestError(f"'{param}' holds a lone UTF-16 surrogate ({exc.object[exc.start:exc.end]!a}), "
                           f"which is not text", param=param) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: Mapping[str, Any], name: str, default: float, low: float, high: float,
            *, low_open: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise RequestError(f"'{name}' must be a number, got {_shown(value)}", param=name)
    if value > high or value < low or (low_open and value == low):
        bound = f"greater than {low}" if low_open else f"at least {low}"
        raise RequestError(f"'{name}' must be {bound} and at most {high}, got {value}", param=name)
    return float(value)


def _message_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text can go to a text model
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise RequestError(
                    f"messages[{index}].content: only text parts ({{\"type\": \"text\", \"text\": ...}}) "
                    f"are supported by a text model", param="messages")
        return "".join(texts)
    raise RequestError(f"messages[{index}].content must be a string or a list of text parts", param="messages")


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise RequestError("'messages' must be a non-empty list of {\"role\", \"content\"} objects",
                           param="messages")
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise RequestError(f"messages[{i}] must be an object with 'role' and 'content'", param="messages")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise RequestError(f"messages[{i}].role must be a non-empty string such as \"user\"",
                               param="messages")
        if "content" not in message or message["content"] is None:
            raise RequestError(f"messages[{i}] has no 'content'", param="messages")
        messages.append({"role": role, "content": _message_text(message["content"], i)})
    return tuple(messages)


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]  # the OpenAI API also takes a one-element list
    if not isinstance(value, str):
        raise RequestError("'prompt' must be a string (batches of prompts are not supported)", param="prompt")
    return value


# What each OpenAI request option does here. Every option is either honoured or refused with
# a 400 naming it: an option dropped in silence gives an answer that looks fine and is not
# what was asked (README, "Supported OpenAI options").
HONOURED_OPTIONS = {
    "common": ("model", "max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty",
               "frequency_penalty", "logit_bias", "stream", "stream_options", "n", "user"),
    "chat": ("messages", "max_completion_tokens", "response_format", "logprobs", "top_logprobs"),
    "completion": ("prompt", "echo", "best_of", "logprobs", "suffix"),
}
# Options refused whatever their value (when not null), with the reason.
REFUSED_OPTIONS = {
    "tools": "tool calls are not supported by this runtime",
    "tool_choice": "tool calls are not supported by this runtime",
    "parallel_tool_calls": "tool calls are not supported by this runtime",
    "functions": "function calls are not supported by this runtime",
    "function_call": "function calls are not supported by this runtime",
    "suffix": "insertion (a suffix after the completion) is not supported by this runtime",
    "top_logprobs": "log probabilities are not supported: llama.cpp would have to keep the logits of "
                    "every position (logits_all), n_ctx x vocabulary x 4 bytes of memory",
}
# Options accepted only at the value that changes nothing (OpenAI's default).
NEUTRAL_VALUES = {
    "n": (1, "one choice per request"),
    "best_of": (1, "one candidate per request"),
    "echo": (False, "the prompt is not echoed back"),
    "logprobs": (None, "log probabilities are not supported: llama.cpp would have to keep the logits "
                       "of every position (logits_all), n_ctx x vocabulary x 4 bytes of memory"),
}
# 'user' is metadata for the caller's own abuse tracking: nothing to honour here.


def _check_options(body: Mapping[str, Any], kind: str) -> None:
    allowed = set(HONOURED_OPTIONS["common"]) | set(HONOURED_OPTIONS[kind])
    for name in body:
        if name not in allowed:
            name = name if len(name) <= SHOWN_CHARS else name[:SHOWN_CHARS] + "..."
            raise RequestError(
                f"unknown parameter '{name}' for {'chat completions' if kind == 'chat' else 'completions'}; "
                f"supported: {', '.join(sorted(allowed - set(REFUSED_OPTIONS)))}", param=name)
    for name, reason in REFUSED_OPTIONS.items():
        if body.get(name) is not None:
            raise RequestError(f"'{name}' is not supported: {reason}", param=name)
    for name, (neutral, meaning) in NEUTRAL_VALUES.items():
        value = body.get(name)
        if value is None or value == neutral and type(value) is type(neutral):
            continue
        if name == "logprobs" and value is False:
            continue
        if neutral is None:
            raise RequestError(f"'{name}' is not supported: {meaning}", param=name)
        raise RequestError(f"'{name}' must be {json.dumps(neutral)} ({meaning}), got {_shown(value)}",
                           param=name)


def _logit_bias(value: Any) -> tuple[tuple[int, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise RequestError("'logit_bias' must be an object mapping token ids to a bias from -100 to 100",
                           param="logit_bias")
    biases = []
    for token, bias in value.items():
        try:
            token_id = int(token)
        except (TypeError, ValueError):
            token_id = -1
        if token_id < 0:
            raise RequestError(f"'logit_bias' keys must be token ids (whole numbers), got {_shown(token)}",
                               param="logit_bias")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise RequestError(f"'logit_bias' values must be numbers from -100 to 100, got {_shown(bias)}",
                               param="logit_bias")
        biases.append((token_id, float(bias)))
    return tuple(biases)


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise RequestError("'response_format' of type json_schema needs json_schema.schema, a JSON schema object",
                               param="response_format")
        return dict(schema)
    raise RequestError("'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or "
                       "{\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}",
                       param="response_format")


def parse_request(payload: Any, route: str | None = None) -> GenerationRequest:
    """Validate an OpenAI-shaped request body. ``payload`` is bytes/str JSON or a parsed object."""
    if isinstance(payload, (bytes, bytearray, str)):
        if not (payload.strip() if isinstance(payload, str) else bytes(payload).strip()):
            raise RequestError("request body is empty; send a JSON object with 'prompt' or 'messages'")
        payload = json_limits.loads(payload)
    else:  # a Lambda event, decoded by the runtime loop
        json_limits.check_depth(payload)
    if not isinstance(payload, Mapping):
        raise RequestError(f"request body must be a JSON object, got {type(payload).__name__}")
    body = payload

    route = (route or "").rstrip("/") or ""
    if route in CHAT_ROUTES:
        kind = "chat"
    elif route in COMPLETION_ROUTES:
        kind = "completion"
    elif route in NEUTRAL_ROUTES:
        kind = "chat" if "messages" in body else "completion" if "prompt" in body else None
    else:
        raise NotFoundError(
            f"no such route {route!r}; POST /v1/chat/completions or /v1/completions (or /invocations)")
    if kind is None:
        raise RequestError("request needs 'messages' (chat completions) or 'prompt' (completions)")
    if kind == "chat" and "messages" not in body:
        raise RequestError("a chat completion request needs 'messages'", param="messages")
    if kind == "completion" and "prompt" not in body:
        raise RequestError("a completion request needs 'prompt'", param="prompt")

    _check_options(body, kind)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(f"'stream' must be true or false, got {_shown(stream)}", param="stream")
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not stream:
            raise RequestError("'stream_options' is only allowed when 'stream' is true", param="stream_options")
        if not isinstance(stream_options, Mapping) or set(stream_options) - {"include_usage"}:
            raise RequestError("'stream_options' must be an object with only 'include_usage' (true or false)",
                               param="stream_options")
        include_usage = stream_options.get("include_usage") is True

    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise RequestError(f"'max_tokens' must be a whole number of at least 1, got {_shown(max_tokens)}",
                           param="max_tokens")

    stop = body.get("stop")
    if stop is None:
        stop = ()
    elif isinstance(stop, str):
        stop = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stop = tuple(stop)
    else:
        raise RequestError("'stop' must be a string or a list of strings", param="stop")
    if any(not s for s in stop):
        raise RequestError("'stop' sequences must not be empty strings", param="stop")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise RequestError(f"'stop' has {len(stop)} sequences; at most {MAX_STOP_SEQUENCES} are allowed",
                           param="stop")

    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise RequestError(f"'seed' must be a whole number from 0 to {MAX_SEED} (llama.cpp seeds are 32-bit, "
                           f"and {MAX_SEED + 1} means a random seed), got {_shown(seed)}", param="seed")

    # 'model' is accepted and ignored: this endpoint serves one model, and says which.
    prompt = _prompt(body["prompt"]) if kind == "completion" else None
    messages = _messages(body["messages"]) if kind == "chat" else ()
    if prompt is not None:
        text_bytes = _utf8_len(prompt, "prompt")
    else:
        text_bytes = sum(_utf8_len(m["role"], "messages") + _utf8_len(m["content"], "messages") for m in messages)
    return GenerationRequest(
        kind=kind,
        prompt=prompt,
        messages=messages,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0, low_open=True),
        stop=stop,
        seed=seed,
        presence_penalty=_number(body, "presence_penalty", 0.0, -2.0, 2.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, -2.0, 2.0),
        logit_bias=_logit_bias(body.get("logit_bias")),
        json_schema=_response_format(body.get("response_format")) if kind == "chat" else None,
        stream=bool(stream),
        include_usage=include_usage,
        text_bytes=text_bytes,
    )
