"""The `tierwise` command: models, size, plan (and cost/compare from tierwise.cost.cli).

Every error a user can cause ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from model_profiles import load_catalogue, resolve
from tierwise import batch_cli, chat_cli, profile_cli
from tierwise.cost import cli as cost_cli
from tierwise import tiers
from tierwise.help import Command, Group
from tierwise.errors import TierwiseError, UserError, report, usage_error_line
from tierwise.inputs import cli_origin, read_plan_inputs
from tierwise.node import silence_tested_end_of_life_node
from tierwise.placement import plan
from tierwise.plan_text import estimate_lines, models_lines, plan_lines
from tierwise.sizing import estimate_framework, estimate_gguf_file, estimate_gguf_profile
from tierwise.text import terminal_width
from tierwise.validate import check_applicable, check_request_fits

app = typer.Typer(
    cls=Group,
    help="Size an LLM, place it on the cheapest AWS tier that fits, and review the cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
def _emit_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _echo(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")


@app.command("models", cls=Command)
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
                "default_quant": p.default_quant,
                "gguf_recipes": sorted(p.gguf.files) if p.gguf else [],
                "bedrock_ids": p.bedrock.model_ids if p.bedrock else [],
                "bedrock_provisioned_throughput": bool(p.bedrock and p.bedrock.provisioned_throughput),
            }
        )
    if as_json:
        _emit_json(rows)
        return
    _echo(models_lines(rows, terminal_width()))


HF_DIR_HELP = "a local Hugging Face model folder (config.json, safetensors headers; nothing is downloaded)"
BASE_HF_DIR_HELP = "the base model's folder, for a LoRA adapter whose base is not a catalogue model"


@app.command("size", cls=Command)
def size_command(
    model: Optional[str] = typer.Argument(None, help="catalogue model name"),
    quant: Optional[str] = typer.Option(None, "--quant", "-q", help="llama.cpp recipe, e.g. Q4_K_M"),
    context: Optional[int] = typer.Option(None, "--context", "-c", help="context length in tokens"),
    gguf: Optional[Path] = typer.Option(None, "--gguf", help="size a local .gguf file from its header"),
    hf_dir: Optional[Path] = typer.Option(None, "--hf-dir", help=HF_DIR_HELP),
    base_hf_dir: Optional[Path] = typer.Option(None, "--base-hf-dir", help=BASE_HF_DIR_HELP),
    cache_type: str = typer.Option("f16", "--cache-type", help="KV cache element type: f16, q8_0, q4_0"),
    as_json: bool = typer.Option(False, "--json", help="the estimate as JSON"),
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
        _echo(estimate_lines(est, terminal_width()))


@app.command("plan", cls=Command)
def plan_command(
    model: Optional[str] = typer.Argument(None, help="catalogue model name (default: cdk.json's model; or --hf-dir DIR)"),
    hf_dir: Optional[Path] = typer.Option(None, "--hf-dir", help=HF_DIR_HELP),
    base_hf_dir: Optional[Path] = typer.Option(None, "--base-hf-dir", help=BASE_HF_DIR_HELP),
    quant: Optional[str] = typer.Option(
        None, "--quant", "-q", help="a llama.cpp recipe (GGUF tiers, e.g. Q4_K_M) or a GPU precision (BF16, F16, FP8, INT4)"),
    context: Optional[int] = typer.Option(None, "--context", "-c", help="context length to size for, in tokens"),
    tier: Optional[str] = typer.Option(None, "--tier", "-t", help=f"force a tier: {', '.join(tiers.ids())}"),
    requests_per_month: Optional[int] = typer.Option(None, "--requests-per-month", help="requests per month (default 30,000)"),
    input_tokens: Optional[int] = typer.Option(None, "--input-tokens", help="prompt tokens per request (default 500)"),
    output_tokens: Optional[int] = typer.Option(None, "--output-tokens", help="generated tokens per request (default 200)"),
    tokens_per_second_floor: Optional[float] = typer.Option(
        None, "--tokens-per-second-floor", help="slowest acceptable decode rate (default 5 for a generative task)"),
    max_seconds: Optional[float] = typer.Option(
        None, "--max-seconds", help="longest acceptable warm request (default 30 s for a generative task)"),
    batch: bool = typer.Option(False, "--batch", help="offline work: no interactive target, only hard limits"),
    peak_factor: Optional[float] = typer.Option(None, "--peak-factor", help="peak / average arrival rate (default 3)"),
    hosting: Optional[str] = typer.Option(None, "--hosting", help="auto (cheapest, Bedrock included; the default), self (tiers we host) or managed (Bedrock)"),
    max_concurrency: Optional[int] = typer.Option(None, "--max-concurrency", help="requests in flight at once (default 5)"),
    commitment: Optional[str] = typer.Option(None, "--commitment", help="Bedrock PT: OneMonth or SixMonths"),
    instance_type: Optional[str] = typer.Option(None, "--instance-type", help="pin the GPU tier's instance type, e.g. ml.g6e.xlarge"),
    target_utilization: Optional[float] = typer.Option(
        None, "--target-utilization", help="share of an instance's capacity it is planned to use (default 0.7)"),
    peak_hours_per_day: Optional[float] = typer.Option(
        None, "--peak-hours-per-day", help="hours a day the peak lasts (default 2)"),
    task: Optional[str] = typer.Option(None, "--task", help="what the model is for, e.g. classification: warns when a generative model is overkill"),
    region: Optional[str] = typer.Option(None, "--region", help="AWS region to price in (default: cdk.json's, else us-east-1)"),
    as_json: bool = typer.Option(False, "--json", help="the plan as JSON, with its bill line by line"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="add the plan's notes and its numbered sources"),
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
        width = terminal_width()
        top = estimate_lines(placement.memory, width) + [""] if placement.memory is not None else []
        _echo(top + plan_lines(placement, width, verbose=verbose))


cost_cli.register(app)
chat_cli.register(app)
batch_cli.register(app)
profile_cli.register(app)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    silence_tested_end_of_life_node()  # a command that reaches the CDK (through jsii) prints no banner
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
