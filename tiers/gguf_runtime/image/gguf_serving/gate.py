"""The queue in front of the model: one request holds it (llama.cpp contexts are not
thread-safe), the others wait in arrival order, and the queue is bounded two ways.

- In requests (QUEUE_DEPTH): each waiting request holds a connection thread and its prompt.
- In time (QUEUE_TIMEOUT_S, by default GENERATION_TIMEOUT_S): a request joins only if the
  requests ahead of it are expected to be done before it has waited that long, each
  expected to take its own estimate (engine.py: its max_tokens at the measured seconds
  per token, plus its prompt at the measured seconds per byte, at most the generation
  timeout). The depth the queue reaches is therefore QUEUE_TIMEOUT_S over the time of
  one request: hundreds of short requests, or one that may use the whole timeout.

A request refused up front gets 429 with Retry-After (when the queue is expected to have
room); one that still waits at its limit, because a request ahead ran longer than
expected, gets 503 with Retry-After and never a 200 cut to nothing. The holder's hold
time is watched: held past HOLD_LIMIT_S the model is stuck, /ping says so and new
requests get 503 until SageMaker replaces the container.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable

from .errors import ClientGone, Overloaded, Unavailable

# How often a waiting request looks at its caller's socket (its own deadline wakes it on
# time). Every wake-up takes the interpreter lock from the generating thread, so with
# hundreds waiting this is kept to once a second each.
POLL_S = 1.0


@dataclass(eq=False)
class Ticket:
    estimate_s: float
    arrival: float
    ready: threading.Event = field(default_factory=threading.Event)
    acquired_at: float | None = None


class ModelGate:
    def __init__(self, *, max_waiting: int, max_wait_s: float, hold_limit_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self.hold_limit_s = hold_limit_s
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: deque[Ticket] = deque()
        self._holder: Ticket | None = None
        self.counts: Counter[str] = Counter()

    # ---------------------------------------------------------------- what /ping shows

    def held_for(self) -> float:
        holder = self._holder
        if holder is None or holder.acquired_at is None:
            return 0.0
        return self._clock() - holder.acquired_at

    def stuck(self) -> bool:
        return self.held_for() > self.hold_limit_s

    def count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1

    def snapshot(self) -> dict[str, float | int]:
        with self._lock:
            now = self._clock()
            return {"waiting": len(self._waiting), "held_s": round(self.held_for(), 3),
                    "expected_wait_s": round(self._expected_wait(now), 3), **self.counts}

    # ---------------------------------------------------------------- entering and leaving

    def _holder_remaining(self, now: float) -> float:
        holder = self._holder
        if holder is None or holder.acquired_at is None:
            return 0.0
        return max(0.0, holder.estimate_s - (now - holder.acquired_at))

    def _expected_wait(self, now: float) -> float:
        return self._holder_remaining(now) + sum(ticket.estimate_s for ticket in self._waiting)

    def _stuck_error(self) -> Unavailable:
        return Unavailable(
            f"the model has been held by one request for {self.held_for():.0f} s, past its limit of "
            f"{self.hold_limit_s:.0f} s (HOLD_LIMIT_S): this container reports itself unhealthy and is "
            f"replaced", code="model_stuck", retry_after=self.hold_limit_s)

    def enter(self, estimate_s: float, *, arrival: float, wait_until: float | None = None,
              cancelled: Callable[[], bool] | None = None) -> Ticket:
        """Hold the model, waiting in line for it; raise Overloaded (429) when the queue is
        full or too slow for this request, Unavailable (503) when it waited to its limit or
        the model is stuck, ClientGone when the caller hung up meanwhile."""
        ticket = Ticket(estimate_s=estimate_s, arrival=arrival)
        limit = arrival + self.max_wait_s if wait_until is None else min(arrival + self.max_wait_s, wait_until)
        with self._lock:
            now = self._clock()
            if self.stuck():
                self.counts["refused_stuck"] += 1
                raise self._stuck_error()
            if self._holder is None and not self._waiting:
                ticket.acquired_at = now
                self._holder = ticket
                return ticket
            expected = self._expected_wait(now)
            if len(self._waiting) >= self.max_waiting:
                self.counts["refused_full"] += 1
                raise Overloaded(
                    f"{len(self._waiting)} requests are already waiting for the model, the most this "
                    f"runtime queues (QUEUE_DEPTH={self.max_waiting}); retry later",
                    code="queue_full", retry_after=self._holder_remaining(now))
            if expected > limit - now:
                self.counts["refused_slow"] += 1
                raise Overloaded(
                    f"the {len(self._waiting) + 1} requests ahead are expected to hold the model for "
                    f"{expected:.1f} s, longer than this request may wait ({max(0.0, limit - now):.1f} s, "
                    f"QUEUE_TIMEOUT_S={self.max_wait_s:g}); retry later",
                    code="queue_full", retry_after=expected - max(0.0, limit - now))
            self._waiting.append(ticket)
        while True:
            remaining = limit - self._clock()
            if ticket.ready.wait(timeout=max(0.0, min(POLL_S, remaining))):
                return ticket
            if cancelled is not None and cancelled():
                self._abandon(ticket)
                self.count("abandoned")
                raise ClientGone()
            if self._clock() >= limit:
                self._abandon(ticket)
                self.count("refused_timeout")
                with self._lock:
                    expected = self._expected_wait(self._clock())
                if self.stuck():
                    raise self._stuck_error()
                raise Unavailable(
                    f"waited {self._clock() - arrival:.1f} s for the model without getting it: the requests "
                    f"ahead took longer than expected (QUEUE_TIMEOUT_S={self.max_wait_s:g}); retry later",
                    code="queue_timeout", retry_after=expected)

    def _abandon(self, ticket: Ticket) -> None:
        with self._lock:
            if self._holder is ticket:  # handed the model just as it gave up: pass it on
                self._hand_over()
            else:
                self._waiting.remove(ticket)

    def _hand_over(self) -> None:
        self._holder = None
        if self._waiting:
            ticket = self._waiting.popleft()
            ticket.acquired_at = self._clock()
            self._holder = ticket
            ticket.ready.set()

    def leave(self, ticket: Ticket) -> None:
        with self._lock:
            if self._holder is not ticket:
                raise RuntimeError("a request left the model without holding it")
            self.counts["held"] += 1
            self._hand_over()
