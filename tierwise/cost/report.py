"""The cost review's result: projects (stacks) of priced resources, totalled the way Infracost does.

Totals add up what is known and flag what is not: a resource's cost is the sum of its
components whose cost is known (None only when no component has a cost, e.g. every line is
"usage not modelled"); a project's and a report's totals are always numbers, each with the
list of lines whose price or quantity is unknown. So a total is a *lower bound* whenever
``unknown`` is not empty, and every renderer says so; nothing unknown is ever counted as zero
silently.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field

from tierwise.cost.bills import CostComponent, total
from tierwise.workload import Workload


def price_not_found(c: CostComponent) -> bool:
    """The line's price is unknown (Infracost's priceNotFound: every null price carries it)."""
    return c.price is None


@dataclass
class ResourceCost:
    logical_id: str
    resource_type: str
    tags: dict[str, str]
    components: list[CostComponent]
    notes: list[str] = field(default_factory=list)
    path: str | None = None  # the CDK construct path (aws:cdk:path), when the template records it

    @property
    def name(self) -> str:
        return self.path or self.logical_id

    @property
    def has_cost(self) -> bool:
        return any(c.monthly_cost is not None for c in self.components if not c.not_estimated)

    @property
    def known_usd(self) -> float:
        return total(self.components)[1]

    @property
    def monthly_usd(self) -> float | None:
        """Known part of the monthly cost; None when no line has a cost at all (Infracost's rule)."""
        return self.known_usd if self.has_cost else None

    @property
    def usage_usd(self) -> float:
        return sum(c.monthly_cost or 0.0 for c in self.components if c.usage_based and not c.not_estimated)

    @property
    def unknown(self) -> list[str]:
        return total(self.components)[2]


@dataclass
class ProjectCost:
    name: str
    region: str
    path: str
    resources: list[ResourceCost]
    free: Counter = field(default_factory=Counter)
    unsupported: Counter = field(default_factory=Counter)
    free_ids: list[tuple[str, str]] = field(default_factory=list)  # (logical id, type)
    unsupported_ids: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def monthly_usd(self) -> float:
        return sum(r.known_usd for r in self.resources)

    known_usd = monthly_usd

    @property
    def usage_usd(self) -> float:
        return sum(r.usage_usd for r in self.resources)

    @property
    def unknown(self) -> list[str]:
        return [f"{r.logical_id}: {u}" for r in self.resources for u in r.unknown]

    @property
    def complete(self) -> bool:
        return not self.unknown


@dataclass
class CostReport:
    projects: list[ProjectCost]
    workload: Workload
    notes: list[str] = field(default_factory=list)
    generated: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )

    @property
    def monthly_usd(self) -> float:
        return sum(p.monthly_usd for p in self.projects)

    known_usd = monthly_usd

    @property
    def usage_usd(self) -> float:
        return sum(p.usage_usd for p in self.projects)

    def unknown(self) -> list[str]:
        return [f"{p.name}/{u}" for p in self.projects for u in p.unknown]

    @property
    def complete(self) -> bool:
        return not self.unknown()
