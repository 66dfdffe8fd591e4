"""`tierwise compare`: every tier of a model side by side, break-even traffic, and a
cost-vs-traffic chart (table, JSON, Markdown, PNG/SVG)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tierwise.cost.cli import CONCURRENCY, FLOOR, INPUT, OUTPUT, REQUESTS, _check_format
from tierwise.inputs import cli_origin, read_plan_inputs
from tierwise import tiers
from tierwise.cost.compare import BreakEven, Comparison, TierOption, VolumeStep, compare_tiers, step_break_evens
from tierwise.errors import TierwiseError
from tierwise.text import bullet, table, terminal_width, without_urls, wrap
from tierwise.validate import check_quant_for_model, check_writable_file, write_file
from tierwise.workload import Workload

CHART_SUFFIXES = (".png", ".svg")
# volumes the step function is evaluated at: 1k to 100M requests a month, ~2 per decade
VOLUMES = (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000)


# -- compare ------------------------------------------------------------------------------

def _self_hosted() -> list[str]:
    return [m.id for m in tiers.modules() if m.hosting == "self"]


def _managed_per_use() -> list[str]:
    """The managed tiers billed per use: what self-hosting is weighed against as volume grows."""
    return [m.id for m in tiers.modules() if m.hosting == "managed" and m.billing == "per-use"]


def build_comparison(
    model: str,
    workload: Workload,
    region: str,
    quant: str | None = None,
    context: int | None = None,
    hosting: str = "auto",
    tier: str | None = None,
    commitment: str | None = None,
    hf_dir: Path | str | None = None,
    base_hf_dir: Path | str | None = None,
    instance_type: str | None = None,
) -> Comparison:
    """Every tier for ``model`` (or the folder ``hf_dir``) from tierwise's placement, priced and
    compared; the chosen tier is the one ``plan`` picks under ``hosting`` (or ``tier`` when one
    is forced); every tier re-planned at 1k ... 100M requests a month, and one break-even per pair
    of tiers whose order flips on those step functions."""
    from model_profiles import resolve
    from tierwise import placement as placement_mod

    profile = resolve(model or None, hf_dir, base_hf_dir)
    model = profile.name
    check_quant_for_model(profile, quant)
    options = placement_mod.candidates(profile, quant, context, workload, commitment=commitment, region=region,
                                       instance_type=instance_type)
    try:
        chosen = placement_mod.plan(profile, quant, context, workload, region=region, hosting=hosting, tier=tier,
                                    commitment=commitment, instance_type=instance_type).tier
    except TierwiseError:
        chosen = None
    comparison = compare_tiers(options, workload, region, chosen_tier=chosen, model=model)
    rejections: dict[int, dict[str, str]] = {}
    at_volume: dict[int, VolumeStep] = {}

    def step(requests: int) -> VolumeStep:
        requests = int(requests)
        if requests in at_volume:
            return at_volume[requests]
        at = workload.model_copy(update={"requests_per_month": requests})
        totals: dict[str, float | None] = {}
        known: dict[str, float] = {}
        instances: dict[str, int] = {}
        try:
            found = placement_mod.candidates(profile, quant, context, at, commitment=commitment, region=region,
                                             instance_type=instance_type)
        except TierwiseError as exc:
            found = {t: str(exc) for t in tiers.ids()}
        for name, p in found.items():
            if isinstance(p, str):
                totals[name] = None
                rejections.setdefault(requests, {})[name] = p
                continue
            cost = placement_mod.tier_cost(p, region)
            totals[name], known[name] = cost.monthly_usd, cost.known_usd
            count = tiers.get(name).instances(p.settings)
            if count is not None:
                instances[name] = count
        at_volume[requests] = VolumeStep(requests_per_month=requests, monthly_cost_usd=totals, known_usd=known,
                                         instances=instances)
        return at_volume[requests]

    steps = [step(v) for v in VOLUMES]
    breaks = step_break_evens(steps, step, lambda volume, t: rejections.get(int(volume), {}).get(t))
    return comparison.model_copy(update={"steps": steps, "break_evens": breaks, "rejections": rejections})


def _usd(value: float | None, known: float | None = None) -> str:
    if value is None:
        return f"unknown (≥ ${known:,.2f})" if known else "unknown"
    return f"${value:,.2f}"


def _requests(value: float) -> str:
    return f"{value:,.0f}"


def comparison_dict(c: Comparison) -> dict[str, Any]:
    def option(o: TierOption) -> dict[str, Any]:
        out: dict[str, Any] = {"tier": o.tier, "feasible": o.feasible, "chosen": o.chosen}
        if not o.feasible:
            out["rejected_because"] = o.rejected_because
            return out
        assert o.cost is not None and o.line is not None
        out.update(
            monthly_cost_usd=o.cost.monthly_usd,
            known_monthly_cost_usd=o.cost.known_usd,
            unknown=o.cost.unknown,
            tokens_per_second=o.tokens_per_second,
            seconds_per_request=o.seconds_per_request,
            p95_seconds_per_request=o.p95_seconds_per_request,
            cold_request_share=o.cold_request_share,
            request_seconds=o.cost.request_seconds,
            cold_start_s=o.cold_start_s,
            cold_start=o.cold_start,
            cannot=o.cannot,
            fixed_monthly_usd=o.line.fixed_usd,
            per_request_usd=o.line.per_request_usd,
            settings=o.settings,
        )
        return out

    return {
        "model": c.model,
        "region": c.region,
        "workload": c.workload.model_dump(),
        "chosen_tier": c.chosen_tier,
        "tiers": [option(o) for o in c.options],
        "break_even": [
            {"tiers": list(b.tiers), "requests_per_month": b.requests_per_month, "cheaper_below": b.cheaper_below,
             "cheaper_above": b.cheaper_above, "cause": b.cause, "why": b.why}
            for b in c.break_evens
        ],
        "volumes": [s.model_dump() for s in c.steps],
    }


def comparison_lines(c: Comparison, width: int) -> list[str]:
    """`compare`'s table for a person: every column fits `width` and every name is whole; what
    a tier cannot do, and why an infeasible one is out, follow as bullets."""
    w = c.workload
    out = wrap(f"{c.model} in {c.region}: {w.requests_per_month:,} requests/month, "
               f"{w.input_tokens} in + {w.output_tokens} out tokens", width) + [""]
    rows = []
    for o in c.options:
        name = f"{o.tier} (chosen)" if o.chosen else o.tier
        if not o.feasible or o.cost is None:
            rows.append([name, "not feasible", "", ""])
            continue
        tps = "—" if o.tokens_per_second is None else f"{o.tokens_per_second:,.1f}"
        cold = "unknown" if o.cold_start_s is None else f"~{o.cold_start_s:,.0f} s"
        rows.append([name, _usd(o.cost.monthly_usd, o.cost.known_usd), tps, cold])
    out += table(["tier", "monthly cost", "tokens/s", "cold start"], rows, width, right=(1, 2))
    out += ["", *wrap(f"Placement chose: {c.chosen_tier or 'nothing (see tierwise plan)'}", width)]
    infeasible = [o for o in c.options if not o.feasible]
    if infeasible:
        out.append("not feasible:")
        for o in infeasible:
            out += bullet(f"{o.tier}: {without_urls(o.rejected_because or '')}", width)
    feasible = [o for o in c.options if o.feasible and o.cost is not None]
    if feasible:
        out.append("what each feasible tier gives up:")
        for o in feasible:
            gives_up = [f"cold start: {o.cold_start}"] if o.cold_start else []
            out += bullet(f"{o.tier}: {'; '.join(gives_up + list(o.cannot)) or 'nothing tierwise knows of'}", width)
    if c.steps:
        out += [""] + _by_volume_lines(c, width)
    if c.break_evens:
        out += ["", "Break-even (requests per month, re-planned at each volume):"]
        for b in c.break_evens:
            out += bullet(_break_even_line(b), width)
    else:
        out += ["", *wrap("No break-even: the cheaper of each pair of tiers stays the same from 1k to 100M "
                          "requests/month.", width)]
    for o in c.options:
        if o.feasible and o.cost is not None and o.cost.unknown:
            out += bullet(f"{o.tier}: unknown: " + "; ".join(o.cost.unknown), width)
    return out


def _by_volume_lines(c: Comparison, width: int) -> list[str]:
    """Monthly cost at each volume, one column per tier that can serve some volume; tiers that
    do not fit beside each other at `width` go to a second table below the first."""
    names = [t for t in c.steps[0].monthly_cost_usd
             if any(s.monthly_cost_usd.get(t) is not None or t in s.known_usd for s in c.steps)]
    cells: dict[str, list[str]] = {}
    for t in names:
        column = []
        for s in c.steps:
            if t not in s.known_usd:
                column.append("—")
                continue
            column.append(_usd(s.monthly_cost_usd[t], s.known_usd[t]) + (f" [{s.instances[t]}]" if t in s.instances else ""))
        cells[t] = column
    first = "requests/month"
    volumes = [f"{s.requests_per_month:,}" for s in c.steps]
    first_width = max(len(first), *(len(v) for v in volumes))
    widths = {t: max(len(t), *(len(x) for x in cells[t])) for t in names}
    groups: list[list[str]] = [[]]
    used = first_width
    for t in names:
        if groups[-1] and used + 2 + widths[t] > width:
            groups.append([])
            used = first_width
        groups[-1].append(t)
        used += 2 + widths[t]
    out = wrap("monthly cost by volume (re-planned at each volume; GPU instances in brackets)", width)
    for i, group in enumerate(groups):
        rows = [[volumes[k], *(cells[t][k] for t in group)] for k in range(len(c.steps))]
        out += ([""] if i else []) + table([first, *group], rows, width, right=range(len(group) + 1))
    return out


def render_comparison(c: Comparison, width: int | None = None) -> None:
    sys.stdout.write("\n".join(comparison_lines(c, width or terminal_width())) + "\n")


def _break_even_line(b: BreakEven) -> str:
    """One break-even, one line: where the cheaper of two tiers changes, and why."""
    how = {"cost": "the bills cross",
           "quota": f"past an account quota {b.cheaper_below} cannot carry the load",
           "limit": f"past that volume {b.cheaper_below} cannot serve the load"}[b.cause]
    return (f"{b.cheaper_below} -> {b.cheaper_above} at {_requests(b.requests_per_month)}/month "
            f"({b.cause}: {how})")


def plot_comparison(c: Comparison, path: str | Path) -> Path:
    """Monthly cost against requests per month: each tier's line at this workload, the re-planned
    staircase of tiers that grow in instances, and the break-evens marked, written to `path`
    (.png or .svg) whole or not at all."""
    path = Path(path)
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise TierwiseError(f"--chart must end in .png or .svg (got {path.name!r})")
    return write_file(path, _chart(c, path.suffix.lower().lstrip(".")), "--chart")


def _chart(c: Comparison, fmt: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def known(line: Any) -> bool:
        return line is not None and line.fixed_usd is not None and line.per_request_usd is not None

    lines = [o for o in c.options if o.feasible and known(o.line)]
    bounds = [o for o in c.options if o.feasible and not known(o.line) and known(o.known_line)
              and (o.known_line.fixed_usd or o.known_line.per_request_usd)]
    if not lines and not bounds:
        raise TierwiseError("no tier of this model has a known cost in this region: nothing to chart")
    marks = [b.requests_per_month for b in c.break_evens]
    anchor = max(c.workload.requests_per_month, 1)
    low = max(min([anchor / 100, *[m / 10 for m in marks]]), 1.0)
    high = max([anchor * 100, *[m * 10 for m in marks], 10.0])
    steps = 200
    xs = [low * (high / low) ** (i / (steps - 1)) for i in range(steps)]
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    drawn: list[float] = []
    for o in lines:
        ys = [o.line.at(x) for x in xs]  # type: ignore[union-attr]
        drawn += [y for y in ys if y and y > 0]
        label = f"{o.tier} (chosen)" if o.chosen else o.tier
        ax.plot(xs, ys, label=label, linewidth=2.6 if o.chosen else 1.6)
    for o in bounds:
        ys = [o.known_line.at(x) for x in xs]  # type: ignore[union-attr]
        drawn += [y for y in ys if y and y > 0]
        ax.plot(xs, ys, linestyle="--", linewidth=1.4,
                label=f"{o.tier}{' (chosen)' if o.chosen else ''}: at least (some prices unknown)")
    # tiers whose capacity grows in whole instances: their cost is a staircase, not a line
    stepped = {t for st in c.steps for t in st.instances}
    for tier in sorted(stepped):
        points = [(s.requests_per_month, s.monthly_cost_usd.get(tier) or s.known_usd.get(tier)) for s in c.steps
                  if tier in s.known_usd]
        points = [(x, y) for x, y in points if y]
        if len(points) > 1:
            drawn += [y for _, y in points]
            ax.step([x for x, _ in points], [y for _, y in points], where="post", marker=".", linewidth=1.0,
                    alpha=0.7, label=f"{tier}: re-planned per volume, instances added with load")
    for b in c.break_evens:
        ax.axvline(b.requests_per_month, color="black", linestyle="--", linewidth=0.8)
        ax.annotate(f"{b.cheaper_above} cheaper above\n{_requests(b.requests_per_month)}/mo ({b.cause})",
                    (b.requests_per_month, max(drawn) if drawn else 1), fontsize=7, textcoords="offset points",
                    xytext=(4, -20))
    ax.axvline(anchor, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if drawn:
        ax.set_ylim(bottom=max(min(drawn) / 2, 1e-3))
    ax.set_xlabel("requests per month")
    ax.set_ylabel("USD per month")
    ax.set_title(f"{c.model} in {c.region}: monthly cost by tier "
                 f"({c.workload.input_tokens} in / {c.workload.output_tokens} out tokens)")
    ax.grid(True, which="both", alpha=0.3)
    unknown = [o.tier for o in c.options if o.feasible and o not in lines and o not in bounds]
    if unknown:
        ax.text(0.01, 0.01, "cost unknown (not drawn): " + ", ".join(unknown), transform=ax.transAxes,
                fontsize=8, color="dimgrey")
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format=fmt)
    plt.close(fig)
    return image.getvalue()


def compare_command(
    model: str = typer.Argument(None, help="catalogue name, see `tierwise models` (default: cdk.json's model; or --hf-dir DIR)"),
    hf_dir: Path = typer.Option(None, "--hf-dir", help="a local Hugging Face model folder"),
    base_hf_dir: Path = typer.Option(None, "--base-hf-dir", help="the base's folder, for a LoRA adapter folder"),
    quant: str = typer.Option(None, "--quant", help="llama.cpp recipe (GGUF tiers) or GPU precision (BF16, F16, FP8, INT4)"),
    context: int = typer.Option(None, "--context", help="context length to size for"),
    region: str = typer.Option(None, "--region", help="AWS region to price in (default: cdk.json, else us-east-1)"),
    fmt: str = typer.Option("table", "--format", help="table, json or markdown"),
    chart: Path = typer.Option(None, "--chart", help="write cost vs requests/month to FILE.png or FILE.svg"),
    requests_per_month: int = REQUESTS,
    input_tokens: int = INPUT,
    output_tokens: int = OUTPUT,
    tokens_per_second_floor: float = FLOOR,
    max_concurrency: int = CONCURRENCY,
    max_seconds: float = typer.Option(None, "--max-seconds", help="longest acceptable warm request (default 30 s)"),
    batch: bool = typer.Option(False, "--batch", help="offline work: no interactive target, only hard limits"),
    peak_factor: float = typer.Option(None, "--peak-factor", help="peak / average arrival rate (default 3)"),
    hosting: str = typer.Option(None, "--hosting", help="auto, self or managed: the policy the chosen tier follows"),
    instance_type: str = typer.Option(None, "--instance-type", help="pin the GPU tier's instance type, e.g. ml.g6e.xlarge"),
    peak_hours_per_day: float = typer.Option(None, "--peak-hours-per-day", help="hours a day the peak lasts (default 2)"),
    target_utilization: float = typer.Option(
        None, "--target-utilization", help="share of an instance's capacity it is planned to use (default 0.7)"),
) -> None:
    """Every feasible tier for MODEL side by side, where each wins, and the break-even traffic."""
    _check_format(fmt)
    if chart is not None and chart.suffix.lower() not in CHART_SUFFIXES:
        raise TierwiseError(f"--chart must end in .png or .svg (got {chart.name!r})")
    if chart is not None:
        check_writable_file(chart, "--chart")
    inputs = read_plan_inputs(cli_origin(dict(
        model=model, quant=quant, context=context, region=region, hosting=hosting,
        requests_per_month=requests_per_month, input_tokens=input_tokens, output_tokens=output_tokens,
        tokens_per_second_floor=tokens_per_second_floor, max_concurrency=max_concurrency, max_seconds=max_seconds,
        batch=batch, peak_factor=peak_factor, instance_type=instance_type, peak_hours_per_day=peak_hours_per_day,
        target_utilization=target_utilization,
        hf_dir=None if hf_dir is None else str(hf_dir), base_hf_dir=None if base_hf_dir is None else str(base_hf_dir),
    )))
    if inputs.model is None and inputs.hf_dir is None:
        raise TierwiseError("give a model name (see `tierwise models`), or run where a cdk.json names one")
    args = inputs.plan_args()
    comparison = build_comparison(inputs.model, inputs.workload, args["region"], inputs.quant, inputs.context,
                                  hosting=inputs.hosting, tier=inputs.tier, commitment=inputs.commitment,
                                  hf_dir=inputs.hf_dir, base_hf_dir=inputs.base_hf_dir,
                                  instance_type=inputs.instance_type)
    # the chart first: a path the system refuses ends in one error line before anything is printed
    written = plot_comparison(comparison, chart) if chart is not None else None
    if fmt == "json":
        sys.stdout.write(json.dumps(comparison_dict(comparison), indent=2) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(comparison_markdown(comparison))
    else:
        render_comparison(comparison)
    if written is not None:
        typer.echo(f"chart written to {written}", err=fmt == "json")


def comparison_markdown(c: Comparison) -> str:
    w = c.workload
    out = [f"# {c.model} in {c.region}", "",
           f"{w.requests_per_month:,} requests/month, {w.input_tokens} input + {w.output_tokens} output tokens", "",
           "| Tier | Monthly cost | Tokens/s | Cold start | Cannot |", "|---|---:|---:|---|---|"]
    for o in c.options:
        name = f"**{o.tier}** (chosen)" if o.chosen else o.tier
        if not o.feasible:
            out.append(f"| {name} | — | — | — | not feasible: {o.rejected_because} |")
            continue
        assert o.cost is not None
        tps = "—" if o.tokens_per_second is None else f"{o.tokens_per_second:,.1f}"
        cold = "unknown" if o.cold_start_s is None else f"~{o.cold_start_s:,.0f} s"
        out.append(f"| {name} | {_usd(o.cost.monthly_usd, o.cost.known_usd)} | {tps} | {cold}: {o.cold_start} | "
                   f"{'; '.join(o.cannot)} |")
    out.append("")
    if c.steps:
        tiers = list(c.steps[0].known_usd)
        out += ["| requests/month | " + " | ".join(tiers) + " |", "|---:|" + "---:|" * len(tiers)]
        for st in c.steps:
            cells = [(_usd(st.monthly_cost_usd.get(t), st.known_usd.get(t)) if t in st.known_usd else "—")
                     + (f" [{st.instances[t]}]" if t in st.instances else "") for t in tiers]
            out.append(f"| {st.requests_per_month:,} | " + " | ".join(cells) + " |")
        out.append("")
    for b in c.break_evens:
        out.append(f"- {_break_even_line(b)}")
    return "\n".join(out) + "\n"


