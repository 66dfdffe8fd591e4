"""Answers as both doors send them: a Reply (status, headers, JSON body) or a TokenStream
turned into OpenAI's server-sent events."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import ClientGone, ServingError

log = logging.getLogger("gguf_serving")

CUTOFF_FIELD = "cutoff"
SSE_DONE = b"data: [DONE]\n\n"


def cutoff_note() -> dict[str, Any]:
    """Why an answer ended early: the caller sees finish_reason "length" and this field."""
    return {"reason": "generation_timeout",
            "message": "generation stopped at the runtime's time limit (GENERATION_TIMEOUT_S or the "
                       "Lambda function timeout) so that the answer arrives before the caller's own timeout"}


class TokenStream:
    """The chunks of one streamed answer. Holds the model until it is exhausted or closed
    (llama.cpp contexts are not thread-safe); ``release`` gives it back."""

    def __init__(self, llm: Any, first: dict[str, Any] | None, chunks: Iterator[dict[str, Any]], *,
                 include_usage: bool, release: Callable[[], None]):
        self._llm = llm
        self._first = first
        self._chunks = chunks
        self._include_usage = include_usage
        self._release = release
        self._closed = False

    def _all_chunks(self) -> Iterator[dict[str, Any]]:
        if self._first is not None:
            yield self._first
        yield from self._chunks

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            last = None
            for chunk in self._all_chunks():
                last = chunk
                choices = chunk.get("choices") or []
                if choices and choices[0].get("finish_reason") is not None and self._llm.deadline_hit:
                    choices[0]["finish_reason"] = "length"
                    chunk[CUTOFF_FIELD] = cutoff_note()
                yield chunk
            if self._llm.cancel_hit:
                raise ClientGone()
            if self._include_usage and last is not None:
                prompt_tokens = self._llm.last_prompt_tokens
                completion_tokens = self._llm.last_completion_tokens
                yield {"id": last["id"], "object": last["object"], "created": last["created"],
                       "model": last["model"], "choices": [],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt_tokens + completion_tokens}}
        finally:
            self.close()

    def __del__(self) -> None:
        # an answer dropped unread must not keep the model locked for the next request
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self._release()


def sse_event(data: Any) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n\n"


def sse_bytes(stream: TokenStream) -> Iterator[bytes]:
    """OpenAI's server-sent events: one ``data:`` line per chunk, then ``data: [DONE]``.
    A failure after the first byte cannot change the status any more: it is sent as an
    error event (what OpenAI's own API does) and raised again for the front door to report.
    A caller that has gone gets nothing more."""
    try:
        for chunk in stream:
            yield sse_event(chunk)
    except ClientGone:
        raise
    except ServingError as exc:
        yield sse_event(exc.body())
        raise
    except Exception as exc:
        log.exception("streamed generation failed")
        yield sse_event(ServingError(f"internal error: {type(exc).__name__}: {exc}").body())
        raise
    yield SSE_DONE


@dataclass
class Reply:
    """One answer of the runtime, for either front door: a status, headers and either a
    JSON body or a stream of server-sent-event bytes. ``client_gone`` means there is no
    one left to answer: the door sends nothing."""

    status: int
    body: dict[str, Any] | None = None
    stream: TokenStream | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: ServingError | None = None
    client_gone: bool = False

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self.stream is not None else "application/json"

    def all_headers(self) -> dict[str, str]:
        headers = {"content-type": self.content_type, **self.headers}
        if self.stream is not None:
            headers["cache-control"] = "no-cache"
        return headers

    def body_bytes(self) -> bytes:
        """The whole answer at once (a stream is run to its end)."""
        if self.stream is not None:
            return b"".join(self.chunks())
        return json.dumps(self.body).encode("utf-8")

    def chunks(self) -> Iterator[bytes]:
        if self.stream is not None:
            return sse_bytes(self.stream)
        return iter([json.dumps(self.body).encode("utf-8")])

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
