"""The workload a deployment must serve: it can change which tier is cheapest."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Workload(BaseModel):
    """Defaults describe a small internal assistant: ~1,000 chats a day, short answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: int = Field(30_000, ge=0, description="invocations per month")
    input_tokens: int = Field(500, gt=0, description="prompt tokens per request")
    output_tokens: int = Field(200, gt=0, description="generated tokens per request")
    tokens_per_second_floor: float = Field(
        0.0, ge=0, description="slowest acceptable decode rate; 0 accepts any tier"
    )
    max_concurrency: int = Field(5, ge=1, le=200, description="requests in flight at once")
