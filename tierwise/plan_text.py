"""What `tierwise models`, `size` and `plan` print for a person, at the terminal's width.

Plain lines (no boxes): names and URLs whole, values in words, wrapped lines hanging under their
label or bullet. Source URLs are left out of the default plan (they are in `--json`) and listed,
numbered, by `--verbose`, which also prints the plan's notes.
"""

from __future__ import annotations

from typing import Any

from tierwise.facts import serving_facts
from tierwise.placement import Placement
from tierwise.sizing import MemoryEstimate, fmt_bytes
from tierwise.text import Sources, bullet, labelled, plural, table, without_urls, words, wrap

# -- the catalogue -------------------------------------------------------------------------------


def models_lines(rows: list[dict[str, Any]], width: int) -> list[str]:
    """`tierwise models`: one line per model, its name whole (it is what a user types next)."""
    body = []
    for r in rows:
        recipes = r["gguf_recipes"]
        default = r.get("default_quant")
        gguf = "-" if not recipes else (default if default in recipes else recipes[0])
        if len(recipes) > 1:
            gguf += f" +{len(recipes) - 1}"
        bedrock = "-" if not r["bedrock_ids"] else "yes, PT" if r["bedrock_provisioned_throughput"] else "yes"
        body.append([
            r["name"],
            f"{r['parameters'] / 1e9:.2f} B" if r["parameters"] else "undisclosed",
            r["task"],
            f"{r['max_context']:,}" if r["max_context"] else "-",
            gguf,
            bedrock,
        ])
    lines = [f"tierwise catalogue ({plural(len(rows), 'model')})", ""]
    lines += table(["name", "parameters", "task", "context", "GGUF", "Bedrock"], body, width, right=(1, 3))
    lines += [""]
    lines += wrap("GGUF: the default llama.cpp recipe, +N other published recipes; Bedrock: served by Amazon "
                  "Bedrock (PT: provisioned throughput too). `tierwise models --json` lists every recipe and "
                  "Bedrock model id.", width)
    return lines


# -- a memory estimate ---------------------------------------------------------------------------


def estimate_lines(est: MemoryEstimate, width: int) -> list[str]:
    """`tierwise size` (and the top of `plan`): each part in bytes, then each step of the sum."""
    rows = [[label, f"{value:,}", fmt_bytes(value)] for label, value in (
        ("weights (tensor data)", est.weights_bytes),
        ("model file", est.file_bytes),
        ("KV cache", est.kv_cache_bytes),
        ("runtime", est.runtime_bytes),
        ("total in memory", est.total_bytes),
    )]
    if est.naive_bytes is not None:
        rows.append(["naive: parameters x bytes/param", f"{est.naive_bytes:,}",
                     f"{fmt_bytes(est.naive_bytes)} ({est.naive_error_pct:+.0f}%)"])
    lines = wrap(f"{est.model} at {est.quant}, context {est.context:,} ({est.target})", width)
    lines += table(["part", "bytes", "size"], rows, width, right=(1, 2))
    digits = len(str(len(est.steps)))
    for i, step in enumerate(est.steps, 1):
        lines += wrap(step, width, f"  {i:>{digits}}. ", " " * (digits + 4))
    return lines


# -- a plan --------------------------------------------------------------------------------------


def _instances_text(low: Any, high: Any) -> str:
    if high is None or high == low:
        return plural(low, "instance") + " running"
    return f"{plural(low, 'instance')} running, up to {high:,} at peak"


def _quota(value: Any, noun: str, rest: str, quota: Any, kind: str = "default quota") -> str:
    text = f"{plural(value, noun)} {rest} at peak"
    return text + (f" ({kind} {words(quota)})" if quota is not None else "")


def capacity_text(capacity: dict[str, Any]) -> str:
    """The plan's capacity figures as a sentence: 'peak load 3x the average; 1 instance running'."""
    c = dict(capacity)
    parts = []
    if "peak_factor" in c:
        parts.append(f"peak load {c.pop('peak_factor'):g}x the average")
    if "min_instances" in c or "instances" in c:
        low = c.pop("min_instances", c.get("instances"))
        c.pop("instances", None)
        parts.append(_instances_text(low, c.pop("max_instances", None)))
    if "requests_per_second_per_instance" in c:
        parts.append(f"{words(c.pop('requests_per_second_per_instance'))} requests/s per instance")
    if "batch_per_instance" in c:
        parts.append(f"{plural(c.pop('batch_per_instance'), 'request')} batched on each")
    if "peak_requests_per_second" in c:
        parts.append(f"{words(c.pop('peak_requests_per_second'))} requests/s at peak")
    if "peak_concurrency" in c:
        # Lambda's account quota or the serverless endpoint's own maximum: a ceiling either way
        parts.append(_quota(c.pop("peak_concurrency"), "request", "in flight", c.pop("concurrency_quota", None),
                            "at most"))
    if "peak_tokens_per_minute" in c:
        parts.append(_quota(c.pop("peak_tokens_per_minute"), "token", "a minute",
                            c.pop("tokens_per_minute_quota", None)))
    if "peak_requests_per_minute" in c:
        parts.append(_quota(c.pop("peak_requests_per_minute"), "request", "a minute",
                            c.pop("requests_per_minute_quota", None)))
    for key in ("target_utilization", "utilization"):
        if isinstance(c.get(key), (int, float)):
            parts.append(f"{key.replace('_', ' ')} {c.pop(key):.0%}")
    if "model_units" in c:
        parts.append(plural(c.pop("model_units"), "model unit"))
    # figures a tier adds later read as words; lists and tables of figures stay in --json
    parts += [f"{k.replace('_', ' ')} {words(v)}" for k, v in c.items() if not isinstance(v, (dict, list))]
    return "; ".join(parts)


def _performance(p: Placement) -> str:
    parts = []
    if p.seconds_per_request is not None:
        parts.append(f"~{p.seconds_per_request:,.1f} s a request warm")
    if p.tokens_per_second is not None:
        parts.append(f"~{p.tokens_per_second:,.1f} tokens/s")
    if p.time_to_first_token_s is not None:
        parts.append(f"first token after ~{p.time_to_first_token_s:,.2f} s")
    if p.cold_start_s:
        parts.append(f"cold start ~{p.cold_start_s:,.0f} s")
    if p.p95_seconds_per_request is not None and p.p95_seconds_per_request > (p.seconds_per_request or 0) + 1e-9:
        parts.append(f"p95 ~{p.p95_seconds_per_request:,.1f} s with cold starts")
    if p.cold_request_share:
        parts.append(f"{p.cold_request_share:.0%} of requests cold")
    elif p.cold_request_share is None:
        parts.append("share of cold requests unknown")
    return "; ".join(parts)


def knee(points: list[dict]) -> int | None:
    """The highest concurrency at which a request still takes at most 25% longer than alone:
    up to there requests batch almost for free; past it, each one waits for the others."""
    if not points:
        return None
    alone = points[0]["seconds_per_request"]
    within = [q["concurrency"] for q in points if q["seconds_per_request"] <= alone * 1.25]
    return max(within) if within else None


def curve_lines(p: Placement) -> list[str]:
    """The capacity curve in a few lines of at most 80 columns: one request alone, the knee, the
    operating point and where the KV cache is full."""
    points, op = p.capacity.get("curve"), p.capacity.get("operating_point")
    if not points or not op:
        return []
    w = p.workload
    at = {q["concurrency"]: q for q in points}
    k = knee(points)
    marks: dict[int, list[str]] = {points[0]["concurrency"]: ["alone"]}
    if k is not None:
        marks.setdefault(k, []).append("knee")
    at[op["concurrency"]] = op
    marks.setdefault(op["concurrency"], []).append(
        f"operating point at {p.capacity.get('target_utilization', 1):.0%}")
    # the curve ends where the KV room ends, or earlier at the engine's batch limit (max_num_seqs)
    last = points[-1]["concurrency"]
    marks.setdefault(last, []).append("batch limit" if last >= serving_facts().engine.max_num_seqs else "KV cache full")
    lines = [f"capacity curve, one instance, {w.input_tokens:,} in + {w.output_tokens:,} out tokens:",
             "  in flight  tokens/s  s/request  first token"]
    for c in sorted(marks):
        q = at[c]
        row = (f"  {c:>9,} {q['output_tokens_per_second']:>9,.0f} {q['seconds_per_request']:>10.1f} "
               f"{q['time_to_first_token_s']:>10.2f} s  ")
        label = ", ".join(marks[c])
        if len(row) + len(label) <= 80:
            lines.append(row + label)
        else:  # two marks on one point: the second under the first
            lines += [row + marks[c][0] + ",", " " * len(row) + ", ".join(marks[c][1:])]
    return lines


def settings_lines(p: Placement, width: int) -> list[str]:
    special = p.module().setting_words
    values = p.settings.model_dump()
    key_width = max(len(k) for k in values)
    lines = ["settings:"]
    for key, value in values.items():
        text = special.get(key, {}).get(value) if _hashable(value) else None
        lead = f"  {key:<{key_width}}  "
        value_lines = wrap(text if text is not None else words(value), width, lead, " " * len(lead))
        if any(len(line) > width for line in value_lines):  # a long id: on its own line, whole
            value_lines = [lead.rstrip()] + wrap(text if text is not None else words(value), width, "    ")
        lines += value_lines
    return lines


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def plan_lines(p: Placement, width: int, verbose: bool = False) -> list[str]:
    """`tierwise plan` for a person. Default: no URLs (they are in --json); `verbose`: every
    source numbered, and the plan's notes."""
    sources = Sources()
    cite = sources.cite if verbose else without_urls
    head = f"{p.model} -> {p.tier}" + (f" ({p.quant}, context {p.context:,})" if p.quant else "")
    if p.monthly_cost_usd is not None:
        head += f", ~${p.monthly_cost_usd:,.2f}/month"
    lines = wrap(head, width)
    lines += settings_lines(p, width)
    if p.target:
        t = p.target
        parts = ([f"a request within {t['max_seconds']:g} s"] if t["max_seconds"] is not None else []) + (
            [f"at least {t['tokens_per_second_floor']:g} tokens/s"] if t["tokens_per_second_floor"] else [])
        lines += labelled("requirement", f"{' and '.join(parts) or 'hard limits only'} ({t['why']}); "
                          f"hosting {p.hosting}", width)
    lines += labelled("performance", _performance(p), width)
    if p.capacity:
        lines += labelled("capacity", capacity_text(p.capacity), width)
        lines += curve_lines(p)
    streams, via = p.streaming()
    lines += labelled("streaming", f"{'yes, ' if streams else 'no: '}{via}", width)
    lines.append("why:")
    for r in p.reasons:
        lines += bullet(cite(r), width)
    if p.runner_up:
        ru = p.runner_up
        if ru.get("more_per_month_usd") is not None:
            text = f"{ru['tier']} at ${ru['monthly_cost_usd']:,.2f}/month (${ru['more_per_month_usd']:,.2f} more)"
        else:
            text = f"{ru['tier']} (at least ${ru['at_least_usd']:,.2f}/month; a price it needs is unknown)"
        lines += labelled("runner-up", text, width)
    if p.rejected:
        lines.append("not chosen:")
        for t, r in p.rejected.items():
            lines += bullet(f"{t}: {cite(r)}", width)
    for w in p.warnings:
        lines += labelled("warning", cite(w), width)
    if verbose:
        if p.notes:
            lines.append("notes:")
            for n in p.notes:
                lines += bullet(cite(n), width)
        lines += sources.lines(width)
    else:
        hidden = [plural(len(p.notes), "note")] if p.notes else []
        if any("://" in text for text in [*p.reasons, *p.rejected.values(), *p.warnings, *p.notes]):
            hidden.insert(0, "the sources")
        if hidden:
            lines += wrap(f"(--verbose adds {' and '.join(hidden)})", width)
    return lines
