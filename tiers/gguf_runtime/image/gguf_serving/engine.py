"""The engine: the one model of this execution environment, loaded once, served one request
at a time through the gate (gate.py), with each request's limits applied.

Before a request waits for the model it is checked against what the model can hold: its
text may not exceed the prompt cap (n_ctx tokens x the most bytes one token of the
vocabulary stands for), checked in linear time, so no prompt that cannot fit ever reaches
llama.cpp's tokenizer, whose time grows faster than linearly with the text (figures in
benchmarks/runtime_bench.py). Once it holds the model, generation may run for
GENERATION_TIMEOUT_S counted from that moment (and never past the host's own deadline).
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import RuntimeConfig
from .errors import ClientGone, ModelUnavailable, RequestError, ServingError, Unavailable
from .gate import ModelGate, Ticket
from .llama import Interrupted, budgeted_llama_class, longest_token_bytes
from .model_files import check_gguf_file, locate_model
from .openai_request import GenerationRequest
from .streaming import CUTOFF_FIELD, TokenStream, cutoff_note

log = logging.getLogger("gguf_serving")


@dataclass
class LoadState:
    path: Path | None = None
    file_bytes: int = 0
    load_seconds: float = 0.0
    loads: int = 0
    error: ServingError | None = None


class SpeedMeter:
    """The engine's own speed, measured on the requests it served, from which it estimates
    how long a request will hold the model: the median of the last SAMPLES requests, so
    that one request stalled by the machine does not make every estimate after it wrong.
    Until it has measured, an estimate is 0: the queue admits by count and the wait
    limit still holds."""

    SAMPLES = 32
    # Prompts shorter than this say more about the fixed cost of a request than about the
    # time per byte, so they do not update the prompt rate.
    MIN_PROMPT_BYTES = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()  # recorded by the holder, read by every arriving request
        self._decode: deque[float] = deque(maxlen=self.SAMPLES)
        self._prompt: deque[float] = deque(maxlen=self.SAMPLES)

    def _median(self, samples: deque[float]) -> float | None:
        with self._lock:
            return statistics.median(samples) if samples else None

    @property
    def decode_s_per_token(self) -> float | None:
        return self._median(self._decode)

    @property
    def prompt_s_per_byte(self) -> float | None:
        return self._median(self._prompt)

    def record(self, llm: Any, text_bytes: int) -> None:
        started, first, finished = llm.started_at, llm.first_token_at, llm.finished_at
        if first is None or finished is None:
            return
        with self._lock:
            if text_bytes >= self.MIN_PROMPT_BYTES:
                self._prompt.append((first - started) / text_bytes)
            if llm.last_completion_tokens > 1:
                self._decode.append((finished - first) / (llm.last_completion_tokens - 1))

    def estimate_s(self, text_bytes: int, max_tokens: int, cap_s: float) -> float:
        estimate = (self.prompt_s_per_byte or 0.0) * text_bytes + (self.decode_s_per_token or 0.0) * max_tokens
        return min(estimate, cap_s)


@dataclass
class Engine:
    """Owns the one model of this execution environment; loads it once, serves it many times."""

    config: RuntimeConfig
    s3_client: Any = None
    llama_factory: Callable[..., Any] | None = None
    state: LoadState = field(default_factory=LoadState)

    def __post_init__(self) -> None:
        self._load_lock = threading.Lock()
        self._llm: Any = None
        self.gate = ModelGate(max_waiting=self.config.queue_depth, max_wait_s=self.config.queue_wait_s,
                              hold_limit_s=self.config.hold_limit)
        self.speed = SpeedMeter()
        # the most bytes one token stands for; None until a model is loaded
        self.longest_token_bytes: int | None = None

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def llm(self) -> Any:
        return self._llm

    @property
    def model_name(self) -> str:
        if self.config.model_name:
            return self.config.model_name
        if self.state.path is not None:
            return self.state.path.name
        return "gguf-model"

    @property
    def prompt_cap_bytes(self) -> int | None:
        """No text longer than this fits the context (see longest_token_bytes)."""
        if self.longest_token_bytes is None:
            return None
        return self.config.n_ctx * self.longest_token_bytes

    # ---------------------------------------------------------------- loading

    def load(self) -> Any:
        """Load the model if it is not loaded yet; raise ModelUnavailable with the reason.

        A failed load is tried again on the next request (an S3 hiccup should not
        condemn the sandbox), but a file already fetched is not fetched again.
        """
        if self._llm is not None:
            return self._llm
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            started = time.monotonic()
            try:
                path = locate_model(self.config, s3_client=self.s3_client)
                size = check_gguf_file(path, sha256=self.config.model_sha256)
                llm = self._construct(path)
            except ServingError as exc:
                self.state.error = exc
                log.error("model load failed: %s", exc.message)
                raise
            if getattr(llm, "_model", None) is not None:  # a real llama.cpp model (tests may pass stand-ins)
                self.longest_token_bytes = longest_token_bytes(llm)
            self.state = LoadState(path=path, file_bytes=size, load_seconds=time.monotonic() - started,
                                   loads=self.state.loads + 1, error=None)
            self._llm = llm
            log.info("loaded %s (%d bytes) in %.2f s: n_ctx=%d threads=%d prompt cap %s bytes", path, size,
                     self.state.load_seconds, self.config.n_ctx, self.config.n_threads, self.prompt_cap_bytes)
            return llm

    def _construct(self, path: Path) -> Any:
        factory = self.llama_factory
        try:
            if factory is None:
                factory = budgeted_llama_class()
        except Exception as exc:  # ImportError, or a broken shared library (OSError)
            raise ModelUnavailable(f"llama-cpp-python cannot be imported in this image: {exc}") from exc
        try:
            llm = factory(
                model_path=str(path),
                n_ctx=self.config.n_ctx,
                n_batch=min(self.config.n_batch, self.config.n_ctx),
                n_threads=self.config.n_threads,
                n_threads_batch=self.config.n_threads,
                verbose=self.config.verbose,
            )
        except Exception as exc:  # llama.cpp reports corrupt files as ValueError/RuntimeError
            raise ModelUnavailable(
                f"llama.cpp could not load model file {path} ({path.stat().st_size} bytes): {exc}; "
                f"the file is damaged or not a model llama.cpp supports"
            ) from exc
        llm.max_tokens_default = self.config.max_tokens_default
        return llm

    # ---------------------------------------------------------------- before the queue

    def check_fits(self, request: GenerationRequest) -> None:
        """Refuse, in linear time, a request whose text cannot fit the context."""
        n_ctx = self.config.n_ctx
        cap = self.prompt_cap_bytes
        param = "messages" if request.kind == "chat" else "prompt"
        if cap is not None and request.text_bytes > cap:
            raise RequestError(
                f"the {param} is {request.text_bytes} bytes of text, more than a context window of {n_ctx} "
                f"tokens can hold with this model's vocabulary (at most {self.longest_token_bytes} bytes a "
                f"token, so {cap} bytes); shorten it", param=param, code="context_length_exceeded")
        if len(request.messages) > n_ctx:
            # every chat template marks each message with at least one token
            raise RequestError(f"{len(request.messages)} messages cannot fit a context window of {n_ctx} tokens",
                               param="messages", code="context_length_exceeded")

    def estimate_s(self, request: GenerationRequest) -> float:
        max_tokens = request.max_tokens or self.config.max_tokens_default
        return self.speed.estimate_s(request.text_bytes, max_tokens, self.config.generation_timeout_s)

    def _arguments(self, request: GenerationRequest, llm: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = dict(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=list(request.stop),
            seed=request.seed,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            # OpenAI has no repeat penalty; llama-cpp-python's chat path would add 1.1.
            repeat_penalty=1.0,
            model=self.model_name,
        )
        if request.logit_bias:
            n_vocab = llm.n_vocab()
            for token, _ in request.logit_bias:
                if token >= n_vocab:
                    raise RequestError(f"'logit_bias' names token {token}, but the vocabulary has "
                                       f"{n_vocab} tokens (0..{n_vocab - 1})", param="logit_bias")
            arguments["logit_bias"] = dict(request.logit_bias)
        if request.json_schema is not None:
            arguments["grammar"] = self._grammar(request.json_schema)
        return arguments

    def _grammar(self, schema: dict[str, Any]) -> Any:
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        try:
            if not schema:
                return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        except Exception as exc:  # the converter raises plain exceptions on schemas it cannot express
            raise RequestError(f"response_format.json_schema.schema cannot be turned into a grammar: {exc}",
                               param="response_format") from exc

    # ---------------------------------------------------------------- holding the model

    def _hold(self, request: GenerationRequest, arrival: float | None, outer_deadline: float | None,
              cancelled: Callable[[], bool] | None) -> tuple[Any, dict[str, Any], Ticket]:
        """Everything that can refuse a request without the model, then the wait for it."""
        llm = self.load()
        self.check_fits(request)
        arguments = self._arguments(request, llm)
        now = time.monotonic()
        arrival = now if arrival is None else arrival
        if outer_deadline is not None and outer_deadline <= now:
            raise Unavailable("the host's deadline (the Lambda function timeout, less the runtime's margin) "
                              "passed before generation could start", code="generation_timeout",
                              retry_after=self.config.generation_timeout_s)
        ticket = self.gate.enter(self.estimate_s(request), arrival=arrival, wait_until=outer_deadline,
                                 cancelled=cancelled)
        deadline = ticket.acquired_at + self.config.generation_timeout_s
        llm.deadline = deadline if outer_deadline is None else min(deadline, outer_deadline)
        llm.cancelled = cancelled
        return llm, arguments, ticket

    def _release(self, llm: Any, ticket: Ticket, request: GenerationRequest) -> None:
        llm.deadline = None
        llm.cancelled = None
        try:
            self.speed.record(llm, request.text_bytes)
        finally:
            self.gate.leave(ticket)

    def _start(self, llm: Any, request: GenerationRequest, arguments: dict[str, Any], stream: bool) -> Any:
        try:
            if request.kind == "chat":
                return llm.create_chat_completion(messages=list(request.messages), stream=stream, **arguments)
            return llm.create_completion(request.prompt, stream=stream, **arguments)
        except RequestError as exc:
            if request.kind == "chat" and exc.param == "prompt":
                exc.param = "messages"
            raise
        except ServingError:
            raise
        except ValueError as exc:
            # llama-cpp-python's own checks (e.g. a chat template that rejects the
            # roles) are about the request, not the server.
            raise RequestError(str(exc)) from exc

    def _nothing_generated(self) -> Unavailable:
        return Unavailable(
            f"no token could be generated before the time limit ({self.config.generation_timeout_s:g} s, "
            f"GENERATION_TIMEOUT_S, or the host's deadline)", code="generation_timeout",
            retry_after=self.config.generation_timeout_s)

    def _interrupted(self, exc: Interrupted) -> BaseException:
        return self._caller_gone() if exc.reason == "client_gone" else self._nothing_generated()

    def _caller_gone(self) -> ClientGone:
        self.note_caller_gone()
        return ClientGone()

    def note_caller_gone(self) -> None:
        """A request stopped because its caller left (/ping's queue.caller_gone)."""
        self.gate.count("caller_gone")

    def generate(self, request: GenerationRequest, *, arrival: float | None = None,
                 deadline: float | None = None, cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Run one request. ``deadline`` (time.monotonic()) is the host's own; ``cancelled``
        says whether the caller has gone (then ClientGone is raised, nothing is answered)."""
        llm, arguments, ticket = self._hold(request, arrival, deadline, cancelled)
        try:
            try:
                result = self._start(llm, request, arguments, stream=False)
            except Interrupted as exc:
                raise self._interrupted(exc) from None
            if llm.cancel_hit:
                raise self._caller_gone()
            if llm.deadline_hit:
                if result["usage"]["completion_tokens"] == 0:
                    raise self._nothing_generated()
                for choice in result["choices"]:
                    choice["finish_reason"] = "length"
                result[CUTOFF_FIELD] = cutoff_note()
            return result
        finally:
            self._release(llm, ticket, request)

    def stream(self, request: GenerationRequest, *, arrival: float | None = None,
               deadline: float | None = None, cancelled: Callable[[], bool] | None = None) -> TokenStream:
        """Start one streamed request. Everything that can fail on the request (validation,
        context budget, grammar, the wait, a deadline met before the first token) fails
        here, before the first byte is sent: the prompt is read and the first token
        generated before this returns."""
        llm, arguments, ticket = self._hold(request, arrival, deadline, cancelled)
        chunks = None
        try:
            chunks = iter(self._start(llm, request, arguments, stream=True))
            try:
                first = next(chunks, None)
            except Interrupted as exc:
                raise self._interrupted(exc) from None
            if llm.cancel_hit:
                raise self._caller_gone()
            if llm.deadline_hit and llm.last_completion_tokens == 0:
                raise self._nothing_generated()
        except BaseException:
            close = getattr(chunks, "close", None)
            try:
                if close is not None:
                    close()
            finally:
                self._release(llm, ticket, request)
            raise
        return TokenStream(llm, first, chunks, include_usage=request.include_usage,
                           release=lambda: self._release(llm, ticket, request))

    # ---------------------------------------------------------------- health

    def status(self) -> str:
        if self.loaded:
            return "stuck" if self.gate.stuck() else "ready"
        return "failed" if self.state.error else "loading"

    def health(self) -> dict[str, Any]:
        status = self.status()
        health = {
            "status": status,
            "model": self.model_name,
            "file_bytes": self.state.file_bytes,
            "load_seconds": round(self.state.load_seconds, 3),
            "n_ctx": self.config.n_ctx,
            "threads": self.config.n_threads,
            "prompt_cap_bytes": self.prompt_cap_bytes,
            "queue": self.gate.snapshot(),
            "speed": {"decode_s_per_token": self.speed.decode_s_per_token,
                      "prompt_s_per_byte": self.speed.prompt_s_per_byte},
        }
        if status == "failed":
            health["error"] = self.state.error.message
        elif status == "stuck":
            health["error"] = (f"one request has held the model for {self.gate.held_for():.0f} s, past "
                               f"HOLD_LIMIT_S ({self.gate.hold_limit_s:g} s)")
        return health
