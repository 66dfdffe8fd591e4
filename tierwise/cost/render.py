"""Text renderers of a cost review and of a cost diff: terminal table and Markdown.

The table follows Infracost's breakdown layout: each resource on a line of its own, with its
full logical id (never cut), its components indented beneath it with quantity, unit and
monthly cost right-aligned, so it reads at 80 columns and wider. Amounts are plain decimals.
Free and unsupported resources are counted and listed at the end, and unknown lines are named:
a total that leaves something out says it is a lower bound.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from decimal import Decimal
from typing import IO, Any

from tierwise.cost.bills import CostComponent
from tierwise.cost.report import CostReport, ProjectCost, ResourceCost
from tierwise.text import MAX_WIDTH, MIN_WIDTH, plural, terminal_width, were



# -- numbers -------------------------------------------------------------------------------------

def plain(value: float | Decimal, max_decimals: int = 10) -> str:
    """A number in plain decimal notation, with thousands separators, trailing zeros dropped."""
    d = Decimal(repr(round(float(value), max_decimals))) if not isinstance(value, Decimal) else value
    sign = "-" if d < 0 else ""
    d = abs(d)
    whole, _, frac = format(d.normalize(), "f").partition(".")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def quantity(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return plain(round(value, 2))
    return plain(float(f"{value:.4g}"))


def money(value: float | Decimal | None) -> str:
    if value is None:
        return "—"
    return f"-${abs(value):,.2f}" if value < 0 else f"${value:,.2f}"


def price(value: float | None) -> str:
    """A unit price: small prices keep their significant digits (Lambda's $0.0000166667)."""
    if value is None:
        return "unknown"
    text = plain(float(f"{value:.6g}") if value < 1 else round(value, 4))
    whole, _, frac = text.partition(".")
    return "$" + whole + "." + frac.ljust(2, "0")


def signed(value: Decimal | float) -> str:
    return ("+" if value > 0 else "") + money(value) if value != 0 else "$0.00"


def _cost_cell(c: CostComponent) -> str:
    if c.not_estimated:
        return f"depends on usage: {price(c.price)} per {c.unit}"
    if c.monthly_cost is not None:
        return money(c.monthly_cost)
    if c.monthly_quantity is None:
        return "quantity unknown"
    return "price unknown"


def _total_text(value: float, unknown: list[str]) -> str:
    return money(value) + (f" + {len(unknown)} unknown (lower bound)" if unknown else "")


# -- the breakdown table -------------------------------------------------------------------------

class _Layout:
    QTY, UNIT, COST = 11, 20, 16

    def __init__(self, width: int) -> None:
        self.width = width
        self.name = width - self.QTY - self.UNIT - self.COST - 3

    def row(self, label: str, qty: str = "", unit: str = "", cost: str = "", indent: str = "") -> list[str]:
        """A label with its numbers right-aligned; a label too long for its column gets a line of
        its own and the numbers go on the next, under the same tree branch."""
        if len(cost) > self.COST or len(unit) > self.UNIT or len(qty) > self.QTY:
            text = f"{qty} {unit} {cost}".strip()
            return [label, indent + text.rjust(max(0, self.width - len(indent)))]
        numbers = f"{qty:>{self.QTY}} {unit:<{self.UNIT}} {cost:>{self.COST}}"
        if len(label) <= self.name:
            return [f"{label:<{self.name}} {numbers}".rstrip()]
        return [label, f"{indent:<{self.name}} {numbers}".rstrip()]


def _wrapped(items: list[str], width: int) -> list[str]:
    return [line for item in items for line in textwrap.wrap(item, width, initial_indent="∙ ",
                                                             subsequent_indent="  ", break_on_hyphens=False)]


def breakdown_lines(report: CostReport, width: int | None = None) -> list[str]:
    # Wider than MAX_WIDTH only spreads the columns apart: Infracost's table stops growing too.
    width = min(MAX_WIDTH, max(MIN_WIDTH, width or terminal_width()))
    lay = _Layout(width)
    out: list[str] = []
    for p in report.projects:
        out.append(f"Project: {p.name} ({p.region})")
        out.append("")
        out += lay.row(" Name", "Monthly qty", "Unit", "Monthly cost")
        out.append("")
        for r in p.resources:
            out += _resource_lines(lay, r)
            out.append("")
        out += lay.row(" Project total", cost=money(p.monthly_usd))
        if p.unknown:
            out.append(f"   plus {plural(len(p.unknown), 'line')} of unknown cost: the total is a lower bound")
        for note in p.notes:
            out.append(f"   note: {note}")
        out.append("")
    out.append("─" * min(width, 72))
    out += lay.row(" OVERALL TOTAL", cost=money(report.monthly_usd))
    out.append("")
    out += [f"note: {note}" for note in report.notes] + ([""] if report.notes else [])
    out += _resource_summary(report.projects)
    unknown = report.unknown()
    if unknown:
        out += ["", f"{plural(len(unknown), 'line')} unknown, not counted (totals above are lower bounds):"]
        out += _wrapped(unknown, width)
    return _fit(out, width)


def _resource_lines(lay: _Layout, r: ResourceCost) -> list[str]:
    title = f" {r.logical_id}  ({r.resource_type})"
    lines = [title] if len(title) <= lay.width else [f" {r.logical_id}", f"   ({r.resource_type})"]
    if not r.components:
        lines += lay.row(" └─ nothing billed", indent="   ")
        return lines
    for i, c in enumerate(r.components):
        last = i == len(r.components) - 1
        branch, cont = (" └─ ", "    ") if last else (" ├─ ", " │  ")
        if c.not_estimated:
            text = f"Monthly cost depends on usage: {price(c.price)} per {c.unit}"
            if len(branch + c.name) + 2 + len(text) <= lay.width:
                lines.append(branch + c.name + text.rjust(lay.width - len(branch + c.name)))
            else:
                lines += [branch + c.name, cont + text.rjust(max(0, lay.width - len(cont)))]
            continue
        lines += lay.row(branch + c.name, quantity(c.monthly_quantity), c.unit, _cost_cell(c), indent=cont)
    if (len(r.components) > 1 and r.has_cost) or r.unknown:  # nothing billed yet: no total to add
        total = money(r.monthly_usd) if r.monthly_usd is not None else "—"
        lines += lay.row("    total" + (" (lower bound)" if r.unknown else ""), cost=total)
    return lines


def _resource_summary(projects: list[ProjectCost]) -> list[str]:
    estimated = sum(len(p.resources) for p in projects)
    usage_based = sum(1 for p in projects for r in p.resources if any(c.usage_based for c in r.components))
    free = [(p.name, lid, t) for p in projects for lid, t in p.free_ids]
    unsupported = [(p.name, lid, t) for p in projects for lid, t in p.unsupported_ids]
    detected = estimated + len(free) + len(unsupported)
    usage = ("" if not estimated else ", it includes usage-based costs" if estimated == usage_based == 1
             else f", {usage_based:,} of which {'includes' if usage_based == 1 else 'include'} usage-based costs")
    out = [f"{plural(detected, 'cloud resource')} {'was' if detected == 1 else 'were'} detected:",
           f"∙ {were(estimated)} estimated{usage}"]
    if free:
        counts = Counter(t for _, _, t in free)
        out.append(f"∙ {were(len(free))} free:")
        out += [f"  ∙ {n} x {t}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    if unsupported:
        out.append(f"∙ {len(unsupported):,} {'is' if len(unsupported) == 1 else 'are'} not supported by tierwise's "
                   "review, their cost is not included:")
        out += [f"  ∙ {stack}/{lid} ({t})" for stack, lid, t in unsupported]
    return out


def _fit(lines: list[str], width: int) -> list[str]:
    """Lines longer than the terminal wrap under their own indent (a name is never cut)."""
    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ∙")))
        out += textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_long_words=False,
                             break_on_hyphens=False) or [line]
    return out


def render_table(report: CostReport, stream: IO[str] | None = None, width: int | None = None) -> None:
    import sys

    (stream or sys.stdout).write("\n".join(breakdown_lines(report, width)) + "\n")


# -- Markdown ------------------------------------------------------------------------------------

def _md(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(report: CostReport) -> str:
    lines = ["# Monthly cost review", ""]
    for p in report.projects:
        lines += [f"## {_md(p.name)} ({p.region})", "",
                  "| Resource | Component | Monthly qty | Unit | Monthly cost |",
                  "|---|---|---:|---|---:|"]
        for r in p.resources:
            if not r.components:
                lines.append(f"| `{_md(r.logical_id)}` ({r.resource_type}) | nothing billed | | | $0.00 |")
            for i, c in enumerate(r.components):
                name = f"`{_md(r.logical_id)}` ({r.resource_type})" if i == 0 else ""
                lines.append(f"| {name} | {_md(c.name)} | {quantity(c.monthly_quantity)} | {_md(c.unit)} "
                             f"| {_md(_cost_cell(c))} |")
        lines += ["", f"**Project total: {_total_text(p.monthly_usd, p.unknown)}**", ""]
        for note in p.notes:
            lines.append(f"- {note}")
        for r in p.resources:
            for note in r.notes:
                lines.append(f"- `{_md(r.logical_id)}`: {note}")
        lines.append("")
    lines.append(f"**Overall total: {_total_text(report.monthly_usd, report.unknown())} per month**")
    lines += ["", *(f"- {note}" for note in report.notes)]
    lines += ["", *(line.replace("∙ ", "- ", 1) for line in _resource_summary(report.projects))]
    unknown = report.unknown()
    if unknown:
        lines += ["", "Unknown (not counted: totals are lower bounds):", *[f"- {u}" for u in unknown]]
    return "\n".join(lines) + "\n"


# -- the diff ------------------------------------------------------------------------------------

_MARK = {"added": "+", "removed": "-", "changed": "~"}


def _change(now: Any, past: Any) -> str:
    n, p = Decimal(str(now or 0)), Decimal(str(past or 0))
    return f"{signed(n - p)} ({money(p)} → {money(n)})"


def _percent(now: Decimal, past: Decimal) -> str:
    if past == 0:
        return "n/a (was $0.00)" if now else "0%"
    return f"{(now - past) / past * 100:+.0f}%"


def diff_lines(data: dict, width: int | None = None) -> list[str]:
    width = min(MAX_WIDTH, max(MIN_WIDTH, width or terminal_width()))
    out: list[str] = ["Key: ~ changed, + added, - removed", ""]
    for p in data["projects"]:
        now, past = (Decimal(str(p[k]["totalMonthlyCost"] or 0)) for k in ("breakdown", "pastBreakdown"))
        out.append(f"Project: {p['name']}")
        out.append("")
        past_res = {r["name"]: r for r in p["pastBreakdown"]["resources"]}
        now_res = {r["name"]: r for r in p["breakdown"]["resources"]}
        for r in p["diff"]["resources"]:
            mark = _MARK.get(r["metadata"].get("change", "changed"), "~")
            out.append(f"{mark} {r['name']}  ({r.get('resourceType', '')})")
            before = (past_res.get(r["name"]) or {}).get("monthlyCost")
            after = (now_res.get(r["name"]) or {}).get("monthlyCost")
            out.append(f"  {_change(after, before)}")
            past_c = {c["name"]: c for c in (past_res.get(r["name"]) or {}).get("costComponents") or []}
            now_c = {c["name"]: c for c in (now_res.get(r["name"]) or {}).get("costComponents") or []}
            for c in r["costComponents"]:
                cmark = "+" if c["name"] not in past_c else "-" if c["name"] not in now_c else "~"
                out.append(f"    {cmark} {c['name']}")
                b, a = past_c.get(c["name"], {}), now_c.get(c["name"], {})
                if a.get("priceNotFound") or b.get("priceNotFound"):
                    out.append("      price unknown: not counted")
                elif a.get("monthlyCost") is None and b.get("monthlyCost") is None:
                    out.append("      monthly cost depends on usage")
                else:
                    out.append(f"      {_change(a.get('monthlyCost'), b.get('monthlyCost'))}")
            out.append("")
        if not p["diff"]["resources"]:
            out += ["  no cost change", ""]
        out.append(f"Monthly cost change for {p['name']}")
        out.append(f"Amount:  {_change(now, past)}")
        out.append(f"Percent: {_percent(now, past)}")
        for w in p["metadata"].get("warnings") or []:
            out.append(f"  ∙ {w['message']}")
        out.append("")
    out.append("─" * min(width, 72))
    now, past = Decimal(data["totalMonthlyCost"]), Decimal(data["pastTotalMonthlyCost"])
    out.append(f"Total monthly cost change ({plural(len(data['projects']), 'project')}): {_change(now, past)}, "
               f"{_percent(now, past)}")
    return _fit(out, width)


def diff_markdown(data: dict) -> str:
    now, past = Decimal(data["totalMonthlyCost"]), Decimal(data["pastTotalMonthlyCost"])
    lines = [f"### Monthly cost change: {signed(now - past)} ({_percent(now, past)})", "",
             f"{money(past)} → {money(now)} per month", "",
             "| Project | Previous | New | Diff |", "|---|---:|---:|---:|"]
    warnings = []
    for p in data["projects"]:
        n, b = (Decimal(str(p[k]["totalMonthlyCost"] or 0)) for k in ("breakdown", "pastBreakdown"))
        lines.append(f"| {_md(p['name'])} | {money(b)} | {money(n)} | {signed(n - b)} |")
        warnings += [w["message"] for w in p["metadata"].get("warnings") or []]
    changed = [(p, r) for p in data["projects"] for r in p["diff"]["resources"]]
    if changed:
        lines += ["", "<details><summary>Resource changes</summary>", "",
                  "| Project | Resource | Type | Change | Monthly diff |", "|---|---|---|---|---:|"]
        for p, r in changed:
            cost = r.get("monthlyCost")
            lines.append(f"| {_md(p['name'])} | `{_md(r['name'])}` | {r.get('resourceType', '')} "
                         f"| {r['metadata'].get('change', 'changed')} "
                         f"| {signed(Decimal(cost)) if cost is not None else 'depends on usage'} |")
        lines += ["", "</details>"]
    if warnings:
        lines += ["", "Unknown prices are not counted; these totals are lower bounds:",
                  *[f"- {_md(w)}" for w in warnings]]
    lines += ["", "<sub>tierwise cost diff, from `cdk synth` output</sub>"]
    return "\n".join(lines) + "\n"


def render_diff(data: dict, stream: IO[str] | None = None, width: int | None = None) -> None:
    import sys

    (stream or sys.stdout).write("\n".join(diff_lines(data, width)) + "\n")

