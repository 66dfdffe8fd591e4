"""The `tierwise` command: models, size, plan (and cost/compare from tierwise.cost.cli).

Every error a user can cause ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from model_profiles import load_catalogue, resolve
from tierwise import batch_cli, chat_cli, profile_cli
from tierwise.cost import cli as cost_cli
from tierwise import tiers
from tierwise.errors import TierwiseError, UserError, report, usage_error_line
from tierwise.inputs import cli_origin, read_plan_inputs
from tierwise.placement import Placement, plan
from tierwise.sizing import MemoryEstimate, estimate_framework, estimate_gguf_file, estimate_gguf_profile, fmt_bytes
from tierwise.validate import check_applicable, check_request_fits

app = typer.Typer(
    help="Size an LLM, place it on the cheapest AWS tier that fits, and review the cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console()


def _emit_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.command("models")
def models_command(as_json: bool = typer.Option(False, "--json", help="machine-readable list")) -> None:
    """List the model catalogue."""
    catalogue = load_catalogue()
    rows = []
    for p in catalogue.values():
        arch = p.architecture
        rows.append(
            {
                "name": p.name,
                "display_name": p.display_name,
                "parameters": p.parameters,
                "task": p.task,
                "open_weights": p.open_weights,
                "layers": arch.layers if arch else None,
                "max_context": arch.max_context if arch else None,
                "gguf_recipes": sorted(p.gguf.files) if p.gguf else [],
                "bedrock_ids": p.bedrock.model_ids if p.bedrock else [],
                "bedrock_provisioned_throughput": bool(p.bedrock and p.bedrock.provisioned_throughput),
            }
        )
    if as_json:
        _emit_json(rows)
        return
    table = Table(title=f"tierwise catalogue ({len(rows)} models)")
    for col in ("name", "parameters", "task", "weights", "context", "GGUF", "Bedrock"):
        table.add_column(col, justify="right" if col in ("parameters", "context") else "left")
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['parameters'] / 1e9:.2f} B" if r["parameters"] else "undisclosed",
            r["task"],
            "open" if r["open_weights"] else "closed",
            f"{r['max_context']:,}" if r["max_context"] else "-",
            ", ".join(r["gguf_recipes"]) or "-",
            (r["bedrock_ids"][0] + (" (PT)" if r["bedrock_provisioned_throughput"] else "")) if r["bedrock_ids"] else "-",
        )
    console.print(table)


def _print_estimate(est: MemoryEstimate) -> None:
    table = Table(title=f"{est.model} at {est.quant}, context {est.context:,} ({est.target})")
    table.add_column("part")
    table.add_column("bytes", justify="right")
    table.add_column("size", justify="right")
    for label, value in (
        ("weights (tensor data)", est.weights_bytes),
        ("model file", est.file_bytes),
        ("KV cache", est.kv_cache_bytes),
        ("runtime", est.runtime_bytes),
        ("total in memory", est.total_bytes),
    ):
        table.add_row(label, f"{value:,}", fmt_bytes(value))
    if est.naive_bytes is not None:
        off = est.naive_error_pct
        table.add_row("naive: parameters x bytes/param", f"{est.naive_bytes:,}", f"{fmt_bytes(est.naive_bytes)} ({off:+.0f}%)")
    console.print(table)
    for i, step in enumerate(est.steps, 1):
        console.print(f"  {i}. {step}", highlight=False)


HF_DIR_HELP = "a local Hugging Face model folder (config.json, safetensors headers; nothing is downloaded)"
BASE_HF_DIR_HELP = "the base model's folder, for a LoRA adapter whose base is not a catalogue model"


@app.command("size")
def size_command(
    model: Optional[str] = typer.Argument(None, help="catalogue model name"),
    quant: Optional[str] = typer.Option(None, "--quant", "-q", help="llama.cpp recipe, e.g. Q4_K_M"),
    context: Optional[int] = typer.Option(None, "--context", "-c", help="context length in tokens"),
    gguf: Optional[Path] = typer.Option(None, "--gguf", help="size a local .gguf file from its header"),
    hf_dir: Optional[Path] = typer.Option(None, "--hf-dir", help=HF_DIR_HELP),
    base_hf_dir: Optional[Path] = typer.Option(None, "--base-hf-dir", help=BASE_HF_DIR_HELP),
    cache_type: str = typer.Option("f16", "--cache-type", help="KV cache element type: f16, q8_0, q4_0"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Memory breakdown of a model: weights, KV cache, runtime, and the naive figure."""
    if sum(x is not None for x in (model, gguf, hf_dir)) > 1:
        raise TierwiseError("give one of a model name, --gguf FILE or --hf-dir DIR")
    if gguf is not None:
        if quant is not None:
            raise TierwiseError("--quant does not apply to --gguf: the file's tensor types are read from it")
        if base_hf_dir is not None:
            raise TierwiseError("--base-hf-dir goes with --hf-dir (a LoRA adapter folder), not --gguf")
        est = estimate_gguf_file(gguf, context, cache_type)
    elif model is None and hf_dir is None:
        raise TierwiseError("give a model name (see `tierwise models`), --gguf FILE or --hf-dir DIR")
    else:
        profile = resolve(model, hf_dir, base_hf_dir)
        label = profile.name
        if profile.architecture is None:
            raise TierwiseError(f"{label} is a closed model served by Bedrock: its size is not published")
        if profile.generative:
            est = estimate_gguf_profile(profile, quant, context, cache_type)
        else:
            if quant is not None:
                raise TierwiseError(f"{label} is a {profile.task} model served in F32 by a CPU framework; --quant does not apply")
            est = estimate_framework(profile, context)
    if as_json:
        _emit_json(est.contract())
    else:
        _print_estimate(est)


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
    cap = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in p.capacity.items()
                    if not isinstance(v, (list, dict)))
    return "performance: " + "; ".join(parts) + (f"\ncapacity: {cap}" if cap else "")


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
    marks.setdefault(points[-1]["concurrency"], []).append("KV cache full")
    lines = [f"capacity curve, one instance, {w.input_tokens:,} in + {w.output_tokens:,} out tokens:",
             "  in flight  tokens/s  s/request  first token"]
    for c in sorted(marks):
        q = at[c]
        lines.append(f"  {c:>9,} {q['output_tokens_per_second']:>9,.0f} {q['seconds_per_request']:>10.1f} "
                     f"{q['time_to_first_token_s']:>10.2f} s  {', '.join(marks[c])}"[:80])
    return lines


def print_plan(p: Placement) -> None:
    console.print(f"[bold]{p.model}[/bold] -> [bold green]{p.tier}[/bold green]"
                  + (f" ({p.quant}, context {p.context:,})" if p.quant else "")
                  + (f", ~${p.monthly_cost_usd:,.2f}/month" if p.monthly_cost_usd is not None else ""), highlight=False)
    settings = Table(title="settings", show_header=False)
    settings.add_column("key")
    settings.add_column("value")
    for k, v in p.settings.model_dump().items():
        settings.add_row(k, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    console.print(settings)
    if p.target:
        t = p.target
        parts = ([f"a request within {t['max_seconds']:g} s"] if t["max_seconds"] is not None else []) + (
            [f"at least {t['tokens_per_second_floor']:g} tokens/s"] if t["tokens_per_second_floor"] else [])
        console.print(f"requirement: {' and '.join(parts) or 'hard limits only'} ({t['why']}); hosting {p.hosting}",
                      highlight=False)
    console.print(_performance(p), highlight=False)
    for line in curve_lines(p):
        console.print(line, highlight=False)
    streams, via = p.streaming()
    console.print(f"streaming: {'yes, ' if streams else 'no: '}{via}", highlight=False)
    console.print("why:", highlight=False)
    for r in p.reasons:
        console.print(f"  - {r}", highlight=False)
    if p.runner_up:
        ru = p.runner_up
        if ru.get("more_per_month_usd") is not None:
            console.print(f"runner-up: {ru['tier']} at ${ru['monthly_cost_usd']:,.2f}/month "
                          f"(${ru['more_per_month_usd']:,.2f} more)", highlight=False)
        else:
            console.print(f"runner-up: {ru['tier']} (at least ${ru['at_least_usd']:,.2f}/month; "
                          "a price it needs is unknown)", highlight=False)
    if p.rejected:
        console.print("not chosen:", highlight=False)
        for t, r in p.rejected.items():
            console.print(f"  - {t}: {r}", highlight=False)
    for w in p.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)


@app.command("plan")
def plan_command(
    model: Optional[str] = typer.Argument(None, help="catalogue model name (default: cdk.json's model; or --hf-dir DIR)"),
    hf_dir: Optional[Path] = typer.Option(None, "--hf-dir", help=HF_DIR_HELP),
    base_hf_dir: Optional[Path] = typer.Option(None, "--base-hf-dir", help=BASE_HF_DIR_HELP),
    quant: Optional[str] = typer.Option(
        None, "--quant", "-q", help="a llama.cpp recipe (GGUF tiers, e.g. Q4_K_M) or a GPU precision (BF16, F16, FP8, INT4)"),
    context: Optional[int] = typer.Option(None, "--context", "-c"),
    tier: Optional[str] = typer.Option(None, "--tier", "-t", help=f"force a tier: {', '.join(tiers.ids())}"),
    requests_per_month: Optional[int] = typer.Option(None, "--requests-per-month"),
    input_tokens: Optional[int] = typer.Option(None, "--input-tokens"),
    output_tokens: Optional[int] = typer.Option(None, "--output-tokens"),
    tokens_per_second_floor: Optional[float] = typer.Option(
        None, "--tokens-per-second-floor", help="slowest acceptable decode rate (default 5 for a generative task)"),
    max_seconds: Optional[float] = typer.Option(
        None, "--max-seconds", help="longest acceptable warm request (default 30 s for a generative task)"),
    batch: bool = typer.Option(False, "--batch", help="offline work: no interactive target, only hard limits"),
    peak_factor: Optional[float] = typer.Option(None, "--peak-factor", help="peak / average arrival rate (default 3)"),
    hosting: Optional[str] = typer.Option(None, "--hosting", help="auto (cheapest, Bedrock included; the default), self (tiers we host) or managed (Bedrock)"),
    max_concurrency: Optional[int] = typer.Option(None, "--max-concurrency"),
    commitment: Optional[str] = typer.Option(None, "--commitment", help="Bedrock PT: OneMonth or SixMonths"),
    instance_type: Optional[str] = typer.Option(None, "--instance-type", help="pin the GPU tier's instance type, e.g. ml.g6e.xlarge"),
    target_utilization: Optional[float] = typer.Option(
        None, "--target-utilization", help="share of an instance's capacity it is planned to use (default 0.7)"),
    peak_hours_per_day: Optional[float] = typer.Option(
        None, "--peak-hours-per-day", help="hours a day the peak lasts (default 2)"),
    task: Optional[str] = typer.Option(None, "--task", help="what the model is for, e.g. classification: warns when a generative model is overkill"),
    region: Optional[str] = typer.Option(None, "--region", help="AWS region to price in (default: cdk.json's, else us-east-1)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The tier a model goes to, its settings, why, and why not the others.

    Every option not given is read from the cdk.json in the working directory (the context keys
    `cdk synth` reads), then defaults: plan, compare, cost and synth agree on the same inputs."""
    inputs = read_plan_inputs(cli_origin(dict(
        model=model, quant=quant, context=context, tier=tier, commitment=commitment, region=region, hosting=hosting,
        requests_per_month=requests_per_month, input_tokens=input_tokens, output_tokens=output_tokens,
        tokens_per_second_floor=tokens_per_second_floor, max_concurrency=max_concurrency,
        max_seconds=max_seconds, batch=batch, peak_factor=peak_factor, instance_type=instance_type,
        target_utilization=target_utilization, peak_hours_per_day=peak_hours_per_day,
        hf_dir=None if hf_dir is None else str(hf_dir), base_hf_dir=None if base_hf_dir is None else str(base_hf_dir),
    )))
    placement = plan(inputs.profile(), task=task, **inputs.plan_args())
    check_applicable(placement, quant=inputs.quant, commitment=inputs.commitment, instance_type=inputs.instance_type)
    check_request_fits(placement)
    if as_json:
        _emit_json(placement.contract())
    else:
        if placement.memory is not None:
            _print_estimate(placement.memory)
        print_plan(placement)


cost_cli.register(app)
chat_cli.register(app)
batch_cli.register(app)
profile_cli.register(app)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        result = app(args=argv, prog_name="tierwise", standalone_mode=False)
    except UserError as exc:
        return report(exc)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # Typer vendors its own click: usage errors are recognised by shape, not by class.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            print(f"error: {usage_error_line(exc, argv)}", file=sys.stderr)
            return 2
        if type(exc).__name__ == "Abort":
            print("error: aborted", file=sys.stderr)
            return 130
        raise
    return result if isinstance(result, int) else 0


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
