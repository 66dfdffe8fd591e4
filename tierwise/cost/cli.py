"""`tierwise cost` (price a synthesized cloud assembly) and `tierwise refresh-prices`; registers
`tierwise compare` (tierwise/cost/compare_cli.py) too.

Workload figures come from, in order of precedence: the command's flags, the ``workload``
context in cdk.json (keys as in tierwise.workload.Workload), then Workload's defaults.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from tierwise.cost.review import FORMATS, render_table, review, to_infracost, to_markdown
from tierwise.errors import TierwiseError, UserError, report
from tierwise.cost.prices import load_prices, refresh_prices
from tierwise.workload import Workload

def _fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake ends as one `error: ...` line and exit status 2, never a traceback."""

    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            raise typer.Exit(report(exc)) from None

    return run


def cdk_context(*directories: Path) -> dict[str, Any]:
    """The ``context`` of the first cdk.json found in ``directories``."""
    for directory in directories:
        path = directory / "cdk.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise TierwiseError(f"cannot read {path}: {exc}") from None
            context = data.get("context") if isinstance(data, dict) else None
            return context if isinstance(context, dict) else {}
    return {}


def resolve_workload(context: dict[str, Any], **flags: Any) -> Workload:
    """Workload defaults, overridden by cdk.json's ``workload`` context, overridden by flags."""
    values: dict[str, Any] = {}
    from_context = context.get("workload") or {}
    if not isinstance(from_context, dict):
        raise TierwiseError("cdk.json context 'workload' must be a mapping of Workload fields")
    values.update(from_context)
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        return Workload(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "workload"
        origin = "--" + name.replace("_", "-") if name in flags and flags[name] is not None else f"workload {name}"
        raise TierwiseError(f"{origin}: {err['msg']} (got {err.get('input')!r})") from None


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise TierwiseError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    return fmt


# Typer options shared by both commands.
REQUESTS = typer.Option(None, "--requests-per-month", help="requests per month (default 30,000)")
INPUT = typer.Option(None, "--input-tokens", help="prompt tokens per request (default 500)")
OUTPUT = typer.Option(None, "--output-tokens", help="generated tokens per request (default 200)")
FLOOR = typer.Option(None, "--tokens-per-second-floor", help="slowest acceptable decode rate")
CONCURRENCY = typer.Option(None, "--max-concurrency", help="requests in flight at once")


def cost_command(
    cdk_out_dir: Path = typer.Argument(Path("cdk.out"), help="cloud assembly folder written by `cdk synth`"),
    fmt: str = typer.Option("table", "--format", help="table, json (Infracost's shape) or markdown"),
    region: str = typer.Option(None, "--region", help="price every stack in this region"),
    prices_file: Path = typer.Option(None, "--prices", help="price file to use instead of the embedded one"),
    tokens_per_second: float = typer.Option(
        None, "--tokens-per-second", help="decode rate of the model-serving resource (default: tierwise's estimate)"
    ),
    requests_per_month: int = REQUESTS,
    input_tokens: int = INPUT,
    output_tokens: int = OUTPUT,
    tokens_per_second_floor: float = FLOOR,
    max_concurrency: int = CONCURRENCY,
) -> None:
    """Price what `cdk synth` wrote: every priced resource and the monthly total."""
    _check_format(fmt)
    context = cdk_context(cdk_out_dir.resolve().parent, Path.cwd())
    workload = resolve_workload(
        context,
        requests_per_month=requests_per_month,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        tokens_per_second_floor=tokens_per_second_floor,
        max_concurrency=max_concurrency,
    )
    book = load_prices(prices_file) if prices_file else None
    report = review(cdk_out_dir, workload, region, prices=book, tokens_per_second=tokens_per_second)
    if fmt == "json":
        sys.stdout.write(json.dumps(to_infracost(report), indent=2) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(to_markdown(report))
    else:
        render_table(report)


def refresh_command(
    regions: list[str] = typer.Option(..., "--region", help="region to refresh (repeatable)"),
    out: Path = typer.Option(None, "--out", help="price file to write (default: the embedded one)"),
) -> None:
    """Re-read prices from the AWS Price List API (needs AWS credentials) into the price file."""
    book = refresh_prices(regions, path=out)
    unknown = sum(len(book.unknown_figures(r)) for r in regions)
    typer.echo(f"prices refreshed for {', '.join(regions)}; {unknown} figure(s) still unknown")


def register(app: typer.Typer) -> None:
    """Add `cost`, `compare` and `refresh-prices` to the tierwise CLI."""
    app.command("cost")(_fail_cleanly(cost_command))
    from tierwise.cost.compare_cli import compare_command

    app.command("compare")(_fail_cleanly(compare_command))
    app.command("refresh-prices")(_fail_cleanly(refresh_command))

