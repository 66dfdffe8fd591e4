"""The budget guard's decision: which stacks' estimated monthly cost exceeds a budget.

Pure Python over templates (no CDK import): stacks/budget_guard.py runs it inside ``cdk synth``
as a policy-validation plugin, the interface cdk-nag 3.x uses, so an over-budget stack fails
the synth and is reported like a cdk-nag finding. A price that is unknown counts as its known
lower bound (the known parts summed) and is named in the message: a stack is never let
through, nor stopped, on a price nobody knows without saying so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from model_profiles.userinput import quoted
from tierwise.cost.assembly import StackTemplate
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.cost.review import review_stacks
from tierwise.errors import TierwiseError
from tierwise.workload import Workload

CONTEXT_KEY = "max_monthly_usd"
OFF = ("none", "off")


def parse_budget(raw: Any) -> float | None:
    """The ``-c max_monthly_usd`` value in USD a month, or None when the guard is off."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in (*OFF, "")):
        return None
    if isinstance(raw, bool):
        raw = str(raw)
    try:
        value = float(str(raw).strip().lstrip("$").replace(",", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise TierwiseError(
            f"-c {CONTEXT_KEY}: a monthly budget in USD greater than 0, or 'none' to switch the guard off (got {quoted(raw)})"
        )
    return value


@dataclass
class BudgetFinding:
    stack: str
    monthly_usd: float
    budget_usd: float
    unknown: list[str] = field(default_factory=list)
    largest: list[tuple[str, float]] = field(default_factory=list)  # (logical id, monthly USD)

    def message(self) -> str:
        bound = "at least " if self.unknown else ""
        text = (f"{self.stack}: estimated {bound}${self.monthly_usd:,.2f}/month exceeds the budget of "
                f"${self.budget_usd:,.2f}/month (-c {CONTEXT_KEY})")
        if self.largest:
            lid, usd = self.largest[0]
            text += f"; largest: {lid} ${usd:,.2f}"
        if self.unknown:
            text += f"; not counted, price unknown: {', '.join(self.unknown)}"
        return text


def check_budget(
    stacks: list[StackTemplate],
    budget_usd: float,
    workload: Workload | None = None,
    region: str | None = None,
    book: PriceBook | None = None,
) -> list[BudgetFinding]:
    """A finding for every stack whose known monthly cost is above ``budget_usd``, priced as
    `tierwise cost` prices it: a tierwise stack for the workload it was planned for, any other
    for ``workload`` (default: Workload())."""
    report = review_stacks(stacks, None, region, prices=book or load_prices(), fallback=workload or Workload())
    findings = []
    for stack, project in zip(stacks, report.projects):
        if project.monthly_usd > budget_usd:
            ranked = sorted(((r.logical_id, r.known_usd) for r in project.resources), key=lambda item: -item[1])
            # "Logical: Component: price unknown (key)" -> "Logical: Component", short enough for one line
            unknown = [": ".join(u.split(": ")[:2]) for u in project.unknown]
            findings.append(BudgetFinding(stack.name, project.monthly_usd, budget_usd, unknown, ranked[:1]))
    return findings
