"""Infracost's JSON output (schema/infracost.schema.json, version 0.2): written from a report,
read back from a saved file, and compared (``infracost diff``'s pastBreakdown / diff).

Amounts are decimal strings, as Infracost writes them. Totals follow Infracost's rule: known
parts summed, so a project total is always a number; a cost component whose price is unknown
says ``priceNotFound: true`` (Infracost's own tools read a bare null as free), and every
unknown line is also listed in the project's ``metadata.warnings``, so the total is visibly a
lower bound.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from model_profiles.userinput import PATH_WIDTH, load_json, quoted, read_text, shown
from tierwise import facts
from tierwise.cost.bills import HOURS_PER_MONTH, CostComponent
from tierwise.cost.report import CostReport, ProjectCost, ResourceCost, price_not_found
from tierwise.errors import TierwiseError

VERSION = "0.2"
PROJECT_TYPE = "cdk_cloud_assembly"
# ProjectDiag codes (Infracost leaves codes to the producer): a line tierwise could not price.
UNKNOWN_COST_CODE = 1
_HOURS = Decimal("730")
assert Decimal(str(HOURS_PER_MONTH)) == _HOURS


def dec(value: float | Decimal | None) -> str | None:
    """A plain decimal string (never scientific notation), or None."""
    if value is None:
        return None
    d = value if isinstance(value, Decimal) else Decimal(repr(round(float(value), 10)))
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _hourly(monthly: float | Decimal | None) -> str | None:
    if monthly is None:
        return None
    return dec(Decimal(dec(monthly)) / _HOURS)  # type: ignore[arg-type]


def _component(c: CostComponent) -> dict:
    out = {
        "name": c.name,
        "unit": c.unit,
        "hourlyQuantity": None if c.monthly_quantity is None else dec(c.monthly_quantity / HOURS_PER_MONTH),
        "monthlyQuantity": dec(c.monthly_quantity),
        "price": dec(c.price),
        "hourlyCost": _hourly(c.monthly_cost),
        "monthlyCost": dec(c.monthly_cost),
        "priceNotFound": price_not_found(c),
    }
    if c.usage_based:
        out["usageBased"] = True
    return out


def _resource(p: ProjectCost, r: ResourceCost) -> dict:
    monthly = r.monthly_usd
    meta: dict[str, Any] = {
        "region": p.region,
        "tierwise": {
            "logicalId": r.logical_id,
            "constructPath": r.path,
            "unknown": r.unknown,
            "notes": r.notes,
            "priceSources": sorted({c.source for c in r.components if c.source}),
            "notEstimated": [c.name for c in r.components if c.not_estimated],
        },
    }
    return {
        "name": r.logical_id,
        "resourceType": r.resource_type,
        "tags": r.tags,
        "metadata": meta,
        "hourlyCost": _hourly(monthly),
        "monthlyCost": dec(monthly),
        "monthlyUsageCost": dec(r.usage_usd) if r.has_cost else None,
        "costComponents": [_component(c) for c in r.components],
        "subresources": [],
    }


def _free(logical_id: str, rtype: str) -> dict:
    return {"name": logical_id, "resourceType": rtype, "metadata": {}}


def summary_of(projects: list[ProjectCost]) -> dict:
    supported = Counter(r.resource_type for p in projects for r in p.resources)
    unsupported: Counter = sum((p.unsupported for p in projects), Counter())
    free: Counter = sum((p.free for p in projects), Counter())
    usage_based = sum(1 for p in projects for r in p.resources if any(c.usage_based for c in r.components))
    detected = sum(supported.values()) + sum(unsupported.values()) + sum(free.values())
    return {
        "totalResources": detected,
        "totalDetectedResources": detected,
        "totalSupportedResources": sum(supported.values()),
        "totalUnsupportedResources": sum(unsupported.values()),
        "totalUsageBasedResources": usage_based,
        "totalNoPriceResources": sum(free.values()),
        "supportedResourceCounts": dict(supported),
        "unsupportedResourceCounts": dict(unsupported),
        "noPriceResourceCounts": dict(free),
    }


def empty_breakdown() -> dict:
    return {"resources": [], "totalHourlyCost": "0", "totalMonthlyCost": "0", "totalMonthlyUsageCost": "0"}


def _warnings(p: ProjectCost) -> list[dict]:
    return [
        {"code": UNKNOWN_COST_CODE, "message": f"{u} (not counted: the total is a lower bound)",
         "data": {}, "isError": False}
        for u in p.unknown
    ]


def metadata(command: str, generated: str) -> dict:
    """Infracost's run metadata; tierwise reads no VCS state, so those fields are empty."""
    return {
        "infracostCommand": command,
        "vcsBranch": "",
        "vcsCommitSha": "",
        "vcsCommitAuthorName": "",
        "vcsCommitAuthorEmail": "",
        "vcsCommitTimestamp": generated,
        "vcsCommitMessage": "",
    }


def to_infracost(report: CostReport, command: str = "breakdown") -> dict:
    """The report as ``infracost breakdown --format json`` writes it."""
    projects = []
    for p in report.projects:
        breakdown = {
            "resources": [_resource(p, r) for r in p.resources],
            "freeResources": [_free(lid, rtype) for lid, rtype in p.free_ids],
            "totalHourlyCost": _hourly(p.monthly_usd),
            "totalMonthlyCost": dec(p.monthly_usd),
            "totalMonthlyUsageCost": dec(p.usage_usd),
        }
        project_meta: dict[str, Any] = {"path": p.path, "type": PROJECT_TYPE}
        if p.unknown:
            project_meta["warnings"] = _warnings(p)
        projects.append({
            "name": p.name,
            "displayName": p.name,
            "metadata": project_meta,
            "pastBreakdown": empty_breakdown(),
            "breakdown": breakdown,
            "diff": {k: v for k, v in breakdown.items() if k != "freeResources"},
            "summary": summary_of([p]),
        })
    monthly = report.monthly_usd
    return {
        "version": VERSION,
        "metadata": metadata(command, report.generated),
        "currency": "USD",
        "projects": projects,
        "totalHourlyCost": _hourly(monthly),
        "totalMonthlyCost": dec(monthly),
        "totalMonthlyUsageCost": dec(report.usage_usd),
        "pastTotalHourlyCost": "0",
        "pastTotalMonthlyCost": "0",
        "pastTotalMonthlyUsageCost": "0",
        "diffTotalHourlyCost": _hourly(monthly),
        "diffTotalMonthlyCost": dec(monthly),
        "diffTotalMonthlyUsageCost": dec(report.usage_usd),
        "timeGenerated": report.generated,
        "summary": summary_of(report.projects),
    }


# -- reading a saved breakdown back ------------------------------------------------------------

def _amount(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise TierwiseError(f"{where} is not a decimal amount (got {quoted(value)})") from None
    if not d.is_finite():
        raise TierwiseError(f"{where} is not a finite amount (got {quoted(value)})")
    return d


def load_breakdown(path: str | Path) -> dict:
    """A saved ``tierwise cost --format json`` (or Infracost breakdown) file, checked enough to diff."""
    path = Path(path)
    max_bytes, why = facts.file_cap("saved_breakdown")
    data = load_json(read_text(path, "saved cost JSON", max_bytes, why, TierwiseError),
                     f"saved cost JSON {shown(str(path), PATH_WIDTH)}", TierwiseError)
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise TierwiseError(f"{path} is not Infracost JSON: no 'projects' list (save one with `tierwise cost --format json`)")
    for i, project in enumerate(data["projects"]):
        where = f"{path}: projects[{i}]"
        if not isinstance(project, dict) or not isinstance(project.get("name"), str):
            raise TierwiseError(f"{where} has no name")
        breakdown = project.get("breakdown")
        if not isinstance(breakdown, dict) or not isinstance(breakdown.get("resources"), list):
            raise TierwiseError(f"{where} has no breakdown.resources list")
        for j, res in enumerate(breakdown["resources"]):
            if not isinstance(res, dict) or not isinstance(res.get("name"), str):
                raise TierwiseError(f"{where}.breakdown.resources[{j}] has no name")
            _amount(res.get("monthlyCost"), f"{where}.breakdown.resources[{j}].monthlyCost")
            comps = res.get("costComponents") or []
            if not isinstance(comps, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in comps):
                raise TierwiseError(f"{where}.breakdown.resources[{j}].costComponents must be a list of named components")
            for c in comps:
                for key in ("monthlyCost", "monthlyQuantity", "price"):
                    _amount(c.get(key), f"{where}.breakdown.resources[{j}] component {quoted(c['name'])} {key}")
    return data


# -- comparing two breakdowns (infracost diff) ---------------------------------------------------

def _d(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _sub(head: Any, base: Any) -> str | None:
    if head is None and base is None:
        return None
    return dec(_d(head) - _d(base))


def _component_diff(head: dict | None, base: dict | None) -> dict:
    ref = head or base or {}
    h, b = head or {}, base or {}
    return {
        "name": ref["name"],
        "unit": ref.get("unit", ""),
        "hourlyQuantity": _sub(h.get("hourlyQuantity"), b.get("hourlyQuantity")),
        "monthlyQuantity": _sub(h.get("monthlyQuantity"), b.get("monthlyQuantity")),
        "price": (head or base or {}).get("price"),
        "hourlyCost": _sub(h.get("hourlyCost"), b.get("hourlyCost")),
        "monthlyCost": _sub(h.get("monthlyCost"), b.get("monthlyCost")),
        "priceNotFound": bool(h.get("priceNotFound") or b.get("priceNotFound")
                              or (head or base or {}).get("price") is None),
    }


def _resource_diff(head: dict | None, base: dict | None) -> dict | None:
    """The change of one resource, or None when nothing about its cost changed."""
    ref = head or base or {}
    h, b = head or {}, base or {}
    hc = {c["name"]: c for c in h.get("costComponents") or []}
    bc = {c["name"]: c for c in b.get("costComponents") or []}
    names = list(hc) + [n for n in bc if n not in hc]
    comps = []
    for name in names:
        diff = _component_diff(hc.get(name), bc.get(name))
        same = (name in hc and name in bc and hc[name].get("monthlyQuantity") == bc[name].get("monthlyQuantity")
                and hc[name].get("price") == bc[name].get("price"))
        if not same:
            comps.append(diff)
    if not comps and head is not None and base is not None:
        return None
    return {
        "name": ref["name"],
        "resourceType": ref.get("resourceType", ""),
        "metadata": {"change": "added" if base is None else "removed" if head is None else "changed"},
        "hourlyCost": _sub(h.get("hourlyCost"), b.get("hourlyCost")),
        "monthlyCost": _sub(h.get("monthlyCost"), b.get("monthlyCost")),
        "monthlyUsageCost": _sub(h.get("monthlyUsageCost"), b.get("monthlyUsageCost")),
        "costComponents": comps,
        "subresources": [],
    }


def _breakdown_total(breakdown: dict | None, key: str) -> Decimal:
    if not breakdown:
        return Decimal(0)
    if breakdown.get(key) is not None:
        return _d(breakdown[key])
    if key == "totalMonthlyCost":  # an older file with a null total: add the known parts
        return sum((_d(r.get("monthlyCost")) for r in breakdown.get("resources") or []), Decimal(0))
    return Decimal(0)


def diff(base: dict, head: dict, command: str = "diff") -> dict:
    """``infracost diff --format json`` of two breakdowns: head's breakdown, base's as
    pastBreakdown, and the per-resource change (only resources whose cost changed)."""
    base_projects = {p["name"]: p for p in base["projects"]}
    head_projects = {p["name"]: p for p in head["projects"]}
    names = list(head_projects) + [n for n in base_projects if n not in head_projects]
    projects = []
    totals = {k: [Decimal(0), Decimal(0)] for k in ("totalMonthlyCost", "totalMonthlyUsageCost")}
    for name in names:
        hp, bp = head_projects.get(name), base_projects.get(name)
        now = (hp or {}).get("breakdown") or empty_breakdown()
        past = (bp or {}).get("breakdown") or empty_breakdown()
        hr = {r["name"]: r for r in now["resources"]}
        br = {r["name"]: r for r in past["resources"]}
        changed = [d for n in list(hr) + [n for n in br if n not in hr]
                   if (d := _resource_diff(hr.get(n), br.get(n))) is not None]
        row: dict[str, dict] = {}
        for key in totals:
            h_total, b_total = _breakdown_total(now, key), _breakdown_total(past, key)
            totals[key][0] += h_total
            totals[key][1] += b_total
            row[key] = {"now": h_total, "past": b_total}
        warnings = []
        for side, project in (("head", hp), ("base", bp)):
            for w in ((project or {}).get("metadata") or {}).get("warnings") or []:
                if isinstance(w, dict) and isinstance(w.get("message"), str):
                    warnings.append({"code": UNKNOWN_COST_CODE, "message": f"{side}: {w['message']}",
                                     "data": {}, "isError": False})
        meta = dict((hp or bp or {}).get("metadata") or {"path": "", "type": PROJECT_TYPE})
        meta = {"path": str(meta.get("path", "")), "type": str(meta.get("type", PROJECT_TYPE))}
        if warnings:
            meta["warnings"] = warnings
        monthly = row["totalMonthlyCost"]
        projects.append({
            "name": name,
            "displayName": (hp or bp or {}).get("displayName", name),
            "metadata": meta,
            "pastBreakdown": _strict_breakdown(past),
            "breakdown": _strict_breakdown(now),
            "diff": {
                "resources": changed,
                "totalHourlyCost": dec((monthly["now"] - monthly["past"]) / _HOURS),
                "totalMonthlyCost": dec(monthly["now"] - monthly["past"]),
                "totalMonthlyUsageCost": dec(row["totalMonthlyUsageCost"]["now"] - row["totalMonthlyUsageCost"]["past"]),
            },
            "summary": (hp or bp or {}).get("summary") or {},
        })
    now_m, past_m = totals["totalMonthlyCost"]
    now_u, past_u = totals["totalMonthlyUsageCost"]
    generated = head.get("timeGenerated") or base.get("timeGenerated") or ""
    return {
        "version": VERSION,
        "metadata": metadata(command, generated),
        "currency": "USD",
        "projects": projects,
        "totalHourlyCost": dec(now_m / _HOURS),
        "totalMonthlyCost": dec(now_m),
        "totalMonthlyUsageCost": dec(now_u),
        "pastTotalHourlyCost": dec(past_m / _HOURS),
        "pastTotalMonthlyCost": dec(past_m),
        "pastTotalMonthlyUsageCost": dec(past_u),
        "diffTotalHourlyCost": dec((now_m - past_m) / _HOURS),
        "diffTotalMonthlyCost": dec(now_m - past_m),
        "diffTotalMonthlyUsageCost": dec(now_u - past_u),
        "timeGenerated": generated,
        "summary": head.get("summary") or {},
    }


def _strict_resource(resource: dict) -> dict:
    """A saved resource as the current schema wants it: a file from an older tierwise (or an
    Infracost version before 2024-11) lacks priceNotFound, and a null price there means unknown."""
    out = {k: v for k, v in resource.items() if k != "costComponents"}
    out.setdefault("metadata", {})
    out["costComponents"] = [
        {**c, "priceNotFound": bool(c.get("priceNotFound", c.get("price") is None))}
        for c in resource.get("costComponents") or []
    ]
    return out


def _strict_breakdown(breakdown: dict) -> dict:
    """A breakdown with the keys Infracost's schema requires (older files may lack some)."""
    out = {
        "resources": [_strict_resource(r) for r in breakdown.get("resources") or []],
        "totalHourlyCost": breakdown.get("totalHourlyCost"),
        "totalMonthlyCost": dec(_breakdown_total(breakdown, "totalMonthlyCost")),
        "totalMonthlyUsageCost": breakdown.get("totalMonthlyUsageCost"),
    }
    if breakdown.get("freeResources"):
        out["freeResources"] = breakdown["freeResources"]
    return out
