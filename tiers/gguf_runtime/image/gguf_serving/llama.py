"""llama_cpp.Llama with the checks the runtime needs at every step of a generation.

- the token budget: a prompt or max_tokens that does not fit the context is a 400, never
  silently shortened;
- the deadline and the caller: generation stops at the deadline or when the caller has
  gone, checked after every token and between prompt batches of N_BATCH tokens (prompt
  processing was the one phase nothing could interrupt);
- timings: when the prompt was read and the first token came, so the engine can measure
  its own speed and estimate how long a queued request will take.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any, Callable

from .config import DEFAULT_MAX_TOKENS
from .errors import RequestError

_budgeted_class: type | None = None


class Interrupted(Exception):
    """Prompt processing stopped between batches: the deadline passed or the caller left."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "deadline" or "client_gone"


def longest_token_bytes(llm: Any) -> int:
    """The most bytes one token of the model's vocabulary stands for, special tokens
    included (a prompt is tokenized with special=True, so "<|im_start|>" is one token).

    No text of more than n_ctx x this many bytes fits in n_ctx tokens: the bound the
    runtime checks, in linear time, before a prompt reaches the tokenizer.
    """
    import llama_cpp

    vocab = llm._model.vocab
    size = 256
    buffer = ctypes.create_string_buffer(size)
    longest = 1
    for token in range(llm.n_vocab()):
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, True)
        if n < 0:  # a piece longer than the buffer: llama.cpp returns minus its length
            size = -n
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, True)
        longest = max(longest, n)
    return longest


def budgeted_llama_class() -> type:
    """llama_cpp.Llama with a token budget check in create_completion, deadline and
    cancellation checks, and timings.

    llama-cpp-python quietly shortens max_tokens that do not fit the context; clients
    must hear it instead. The check sits in create_completion because every path ends
    there, chat included: only after the chat template is applied (inside
    create_chat_completion) is the prompt's token count known.
    """
    global _budgeted_class
    if _budgeted_class is not None:
        return _budgeted_class
    import llama_cpp

    class BudgetedLlama(llama_cpp.Llama):
        max_tokens_default = DEFAULT_MAX_TOKENS
        deadline: float | None = None  # time.monotonic() after which generation stops
        cancelled: Callable[[], bool] | None = None  # true once the caller has gone
        deadline_hit = False
        cancel_hit = False
        last_prompt_tokens = 0
        last_completion_tokens = 0
        started_at = 0.0  # when create_completion began (tokenizing included)
        first_token_at: float | None = None
        finished_at: float | None = None

        def create_completion(self, prompt, *args, **kwargs):  # noqa: ANN001 - llama-cpp-python's signature
            if args:
                raise TypeError("BudgetedLlama.create_completion takes keyword arguments after the prompt")
            self.started_at = time.monotonic()
            self.first_token_at = self.finished_at = None
            self.deadline_hit = self.cancel_hit = False
            self.last_completion_tokens = 0
            if isinstance(prompt, str):
                n_prompt = len(self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
            else:
                n_prompt = len(prompt)
            self.last_prompt_tokens = n_prompt
            n_ctx = self.n_ctx()
            room = n_ctx - n_prompt
            if room < 1:
                raise RequestError(
                    f"the prompt is {n_prompt} tokens but the context window is {n_ctx} tokens, "
                    f"which leaves no room to generate; shorten the prompt to under {n_ctx} tokens",
                    param="prompt", code="context_length_exceeded")
            max_tokens = kwargs.get("max_tokens")
            if max_tokens is None:
                kwargs["max_tokens"] = min(self.max_tokens_default, room)
            elif max_tokens > room:
                raise RequestError(
                    f"max_tokens ({max_tokens}) plus the prompt ({n_prompt} tokens) exceeds the context "
                    f"window of {n_ctx} tokens; ask for at most {room} tokens or shorten the prompt",
                    param="max_tokens", code="context_length_exceeded")
            criteria = llama_cpp.StoppingCriteriaList([self._should_stop])
            if kwargs.get("stopping_criteria") is not None:
                criteria.extend(kwargs["stopping_criteria"])
            kwargs["stopping_criteria"] = criteria
            return super().create_completion(prompt, **kwargs)

        def eval(self, tokens):  # noqa: ANN001 - llama-cpp-python's signature
            # llama-cpp-python decodes a long prompt batch after batch inside one call;
            # the same batches one call each leave room to stop in between
            step = self.n_batch
            if len(tokens) <= step:
                return super().eval(tokens)
            for start in range(0, len(tokens), step):
                if start:
                    self._interrupt_if_due()
                super().eval(tokens[start:start + step])

        def generate(self, *args, **kwargs):  # noqa: ANN002, ANN003 - llama-cpp-python's signature
            # A streamed answer carries no usage from llama-cpp-python: count here what
            # its own usage counts (every sampled token but end-of-generation).
            vocab = self._model.vocab
            try:
                for token in super().generate(*args, **kwargs):
                    if self.first_token_at is None:
                        self.first_token_at = time.monotonic()
                    if not llama_cpp.llama_vocab_is_eog(vocab, token):
                        self.last_completion_tokens += 1
                    yield token
            finally:
                self.finished_at = time.monotonic()

        def _due(self) -> str | None:
            if self.cancelled is not None and self.cancelled():
                self.cancel_hit = True
                return "client_gone"
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.deadline_hit = True
                return "deadline"
            return None

        def _interrupt_if_due(self) -> None:
            reason = self._due()
            if reason is not None:
                raise Interrupted(reason)

        def _should_stop(self, _tokens, _logits) -> bool:
            return self._due() is not None

    _budgeted_class = BudgetedLlama
    return BudgetedLlama
