"""The workload a deployment must serve, and the requirement it sets: both can change which
tier is cheapest, and which tiers count at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The interactive target a generative task gets unless the user says otherwise (issue #9): a
# whole chat answer within 30 s warm, and decode at least at reading speed. People read
# ~200-300 words a minute, about 4-6 tokens a second at ~0.75 words per token; 5 tokens/s
# keeps a streamed answer ahead of the reader.
MONTH_HOURS = 730.0  # AWS's convention for a month (8,760 h / 12), as tierwise/cost/bills.py bills it
INTERACTIVE_MAX_SECONDS = 30.0
INTERACTIVE_TOKENS_PER_SECOND = 5.0
# The load shape when nobody says otherwise: the peak (peak_factor x the average arrival rate)
# lasts two hours a day, and the rest of the day carries the rest of the month's requests. A
# tier billed by the hour pays its extra instances for those hours only.
DEFAULT_PEAK_HOURS_PER_DAY = 2.0
HOURS_PER_DAY = 24.0
# An instance is planned to run at most this share of what it can serve at its operating
# concurrency: queueing grows without bound as utilization nears 1, and autoscaling needs time
# to add an instance before the others saturate.
DEFAULT_TARGET_UTILIZATION = 0.7


class Workload(BaseModel):
    """Defaults describe a small internal assistant: ~1,000 chats a day, short answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: int = Field(30_000, ge=0, description="invocations per month")
    input_tokens: int = Field(500, gt=0, description="prompt tokens per request")
    output_tokens: int = Field(200, gt=0, description="generated tokens per request")
    tokens_per_second_floor: float | None = Field(
        None, ge=0, description="slowest acceptable decode rate; None: 5 for an interactive generative task"
    )
    # no tier runs a request longer than Lambda's 900 s: a longer target is --batch
    max_seconds: float | None = Field(
        None, gt=0, le=900, allow_inf_nan=False,
        description="longest acceptable warm request; None: 30 s for an interactive generative task",
    )
    batch: bool = Field(False, description="offline work: no interactive target, only the tiers' hard limits")
    peak_factor: float = Field(3.0, ge=1, le=1000, allow_inf_nan=False, description="peak arrival rate / average arrival rate")
    max_concurrency: int = Field(5, ge=1, le=200, description="requests in flight at once (at least)")
    peak_hours_per_day: float = Field(
        DEFAULT_PEAK_HOURS_PER_DAY, gt=0, le=HOURS_PER_DAY, allow_inf_nan=False,
        description="hours a day the peak (peak_factor x the average rate) lasts",
    )
    target_utilization: float = Field(
        DEFAULT_TARGET_UTILIZATION, gt=0, le=1, allow_inf_nan=False,
        description="the share of an instance's capacity it is planned to use at most",
    )

    @model_validator(mode="after")
    def _peak_fits_in_a_day(self) -> "Workload":
        if self.peak_factor * self.peak_hours_per_day > HOURS_PER_DAY + 1e-9:
            raise ValueError(
                f"a peak of {self.peak_factor:g} x the average rate for {self.peak_hours_per_day:g} h a day carries "
                f"{self.peak_factor * self.peak_hours_per_day:g} hours of average traffic, more than a day's 24: lower "
                f"peak_factor or shorten peak_hours_per_day (at most {HOURS_PER_DAY / self.peak_factor:.3g} h at this "
                "factor)"
            )
        return self

    def rates_per_second(self) -> tuple[float, float, float]:
        """(average, off-peak, peak) arrivals a second: the peak lasts peak_hours_per_day at
        peak_factor x the average, the other hours carry the rest of the day's requests."""
        average = self.requests_per_month / (MONTH_HOURS * 3600)
        peak = average * self.peak_factor
        if self.peak_hours_per_day >= HOURS_PER_DAY:
            return average, peak, peak
        off_peak = average * max(0.0, HOURS_PER_DAY - self.peak_factor * self.peak_hours_per_day) / (
            HOURS_PER_DAY - self.peak_hours_per_day)
        return average, off_peak, peak

    def target(self, generative: bool) -> "Target":
        """The latency requirement for a model of this kind under this workload."""
        interactive = generative and not self.batch
        max_s = self.max_seconds if self.max_seconds is not None else (INTERACTIVE_MAX_SECONDS if interactive else None)
        floor = self.tokens_per_second_floor
        if floor is None:
            floor = INTERACTIVE_TOKENS_PER_SECOND if interactive else 0.0
        given = self.max_seconds is not None or self.tokens_per_second_floor is not None
        if given:
            why = "the target asked for"
        elif interactive:
            why = "the default interactive target"
        else:
            why = "batch work: hard limits only" if generative else "a predictive task: hard limits only"
        return Target(max_seconds=max_s, tokens_per_second_floor=floor, batch=not interactive, why=why)


@dataclass(frozen=True)
class Target:
    max_seconds: float | None
    tokens_per_second_floor: float
    batch: bool
    why: str

    def describe(self) -> str:
        parts = []
        if self.max_seconds is not None:
            parts.append(f"a request within {self.max_seconds:g} s")
        if self.tokens_per_second_floor:
            parts.append(f"at least {self.tokens_per_second_floor:g} tokens/s")
        return f"{' and '.join(parts)}, {self.why}" if parts else self.why

    def contract(self) -> dict[str, Any]:
        return {"max_seconds": self.max_seconds, "tokens_per_second_floor": self.tokens_per_second_floor,
                "batch": self.batch, "why": self.why}
