"""`tierwise cost` (price a synthesized cloud assembly), `tierwise cost diff` (compare two),
`tierwise refresh-prices`; registers `tierwise compare` (tierwise/cost/compare_cli.py) too.

Which workload a stack is priced for (tierwise/cost/review.py): a usage file's entry; the
command's flags, field by field; the workload the stack was planned for (recorded in its
template at synth); for a template that records none, cdk.json's context, then the defaults
(tierwise/inputs.py reads flags and cdk.json the same way for plan, compare and synth).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from model_profiles.userinput import check_path_usable, quoted
from tierwise.cost.infracost import diff, load_breakdown, to_infracost
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.cost.refresh import refresh_prices
from tierwise.cost.render import render_diff, render_table, diff_markdown, to_markdown
from tierwise.cost.review import review
from tierwise.cost.usage import UsageFile, load_usage
from tierwise.errors import TierwiseError, UserError, report
from tierwise.inputs import Origin, cdk_json_context, read_workload, workload_flags
from tierwise.validate import check_rate, check_region, check_volume, check_writable_file
from tierwise.workload import Workload

FORMATS = ("table", "json", "markdown")

def _fail_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake ends as one `error: ...` line and exit status 2, never a traceback."""

    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            raise typer.Exit(report(exc)) from None

    return run


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise TierwiseError(f"unknown format {quoted(fmt)}; allowed: {', '.join(FORMATS)}")
    return fmt


# Typer options shared by both commands.
REQUESTS = typer.Option(None, "--requests-per-month", help="requests per month (default 30,000)")
INPUT = typer.Option(None, "--input-tokens", help="prompt tokens per request (default 500)")
OUTPUT = typer.Option(None, "--output-tokens", help="generated tokens per request (default 200)")
FLOOR = typer.Option(None, "--tokens-per-second-floor", help="slowest acceptable decode rate")
CONCURRENCY = typer.Option(None, "--max-concurrency", help="requests in flight at once")


USAGE_FILE = typer.Option(None, "--usage-file", help="usage per stack or resource (like infracost-usage.yml)")


class _DefaultBreakdown(TyperGroup):
    """`tierwise cost [DIR]` runs `cost breakdown`; `tierwise cost diff BASE HEAD` compares."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["breakdown", *args]
        return super().parse_args(ctx, args)


cost_app = typer.Typer(
    cls=_DefaultBreakdown,
    help="Price what `cdk synth` wrote (`cost [DIR]`), or compare two syntheses (`cost diff BASE HEAD`).",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _workload_and_usage(
    directory: Path, usage_file: Path | None, **flags: Any
) -> tuple[dict[str, Any], Workload, UsageFile | None]:
    """The flags' workload fields (they override what a stack was planned for), the workload for
    stacks that record none (cdk.json's context beside the assembly or here, then defaults), and
    the usage file."""
    given = workload_flags(flags)
    check_volume(given)
    context = cdk_json_context(directory.resolve().parent, Path.cwd())
    fallback = read_workload(Origin(flags=given, context=context, context_prefix="cdk.json context "))
    return given, fallback, (load_usage(usage_file) if usage_file else None)


def _book(prices_file: Path | None) -> PriceBook | None:
    return load_prices(prices_file) if prices_file else None


def breakdown_command(
    cdk_out_dir: Path = typer.Argument(Path("cdk.out"), help="cloud assembly folder written by `cdk synth`"),
    fmt: str = typer.Option("table", "--format", help="table, json (Infracost's schema) or markdown"),
    region: str = typer.Option(None, "--region", help="price every stack in this region"),
    prices_file: Path = typer.Option(None, "--prices", help="price file to use instead of the embedded one"),
    usage_file: Path = USAGE_FILE,
    tokens_per_second: float = typer.Option(
        None, "--tokens-per-second",
        help="decode rate of the model-serving resource (default: what the stack recorded at synth)",
    ),
    requests_per_month: int = REQUESTS,
    input_tokens: int = INPUT,
    output_tokens: int = OUTPUT,
    tokens_per_second_floor: float = FLOOR,
    max_concurrency: int = CONCURRENCY,
) -> None:
    """Price what `cdk synth` wrote: every priced resource and the monthly total."""
    _check_format(fmt)
    region = check_region(region) if region is not None else None
    tokens_per_second = check_rate(tokens_per_second) if tokens_per_second is not None else None
    overrides, fallback, usage = _workload_and_usage(
        cdk_out_dir, usage_file, requests_per_month=requests_per_month, input_tokens=input_tokens,
        output_tokens=output_tokens, tokens_per_second_floor=tokens_per_second_floor,
        max_concurrency=max_concurrency,
    )
    report = review(cdk_out_dir, None, region, prices=_book(prices_file), tokens_per_second=tokens_per_second,
                    usage=usage, overrides=overrides, fallback=fallback)
    if fmt == "json":
        sys.stdout.write(json.dumps(to_infracost(report), indent=2) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(to_markdown(report))
    else:
        render_table(report)


def _side(path: Path, what: str, price: Any) -> dict:
    """A diff side: a saved JSON file, or a cloud assembly priced now."""
    check_path_usable(path, what, TierwiseError)
    if path.is_file():
        return load_breakdown(path)
    if not path.exists():
        raise TierwiseError(f"{what} {path}: no such cloud assembly folder or saved JSON file")
    return to_infracost(price(path))


def diff_command(
    base: Path = typer.Argument(..., help="before: a cloud assembly folder, or `tierwise cost --format json` output"),
    head: Path = typer.Argument(..., help="after: a cloud assembly folder, or saved JSON"),
    fmt: str = typer.Option("table", "--format", help="table, json (Infracost diff) or markdown (a PR comment)"),
    region: str = typer.Option(None, "--region", help="price every stack in this region"),
    prices_file: Path = typer.Option(None, "--prices", help="price file to use instead of the embedded one"),
    usage_file: Path = USAGE_FILE,
    tokens_per_second: float = typer.Option(None, "--tokens-per-second", help="decode rate of model-serving resources"),
    requests_per_month: int = REQUESTS,
    input_tokens: int = INPUT,
    output_tokens: int = OUTPUT,
) -> None:
    """Monthly cost change from BASE to HEAD, per resource and in total (like `infracost diff`)."""
    _check_format(fmt)
    region = check_region(region) if region is not None else None
    tokens_per_second = check_rate(tokens_per_second) if tokens_per_second is not None else None
    check_path_usable(head, "HEAD", TierwiseError)
    overrides, fallback, usage = _workload_and_usage(
        head if head.is_dir() else Path.cwd() / "cdk.out", usage_file, requests_per_month=requests_per_month,
        input_tokens=input_tokens, output_tokens=output_tokens,
    )
    book = _book(prices_file)

    def price(path: Path) -> Any:
        return review(path, None, region, prices=book, tokens_per_second=tokens_per_second, usage=usage,
                      overrides=overrides, fallback=fallback)

    data = diff(_side(base, "BASE", price), _side(head, "HEAD", price))
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(diff_markdown(data))
    else:
        render_diff(data)


def refresh_command(
    regions: list[str] = typer.Option(..., "--region", help="region to refresh (repeatable)"),
    out: Path = typer.Option(None, "--out", help="price file to write (default: the embedded one)"),
) -> None:
    """Re-read prices from the AWS Price List API (needs AWS credentials) into the price file."""
    regions = [check_region(r) for r in regions]
    if out is not None:
        check_writable_file(out, "--out")
    book = refresh_prices(regions, path=out)
    unknown = sum(len(book.unknown_figures(r)) for r in regions)
    typer.echo(f"prices refreshed for {', '.join(regions)}; {unknown} figure(s) still unknown")


def register(app: typer.Typer) -> None:
    """Add `cost`, `compare` and `refresh-prices` to the tierwise CLI."""
    cost_app.command("breakdown")(_fail_cleanly(breakdown_command))
    cost_app.command("diff")(_fail_cleanly(diff_command))
    app.add_typer(cost_app, name="cost")
    from tierwise.cost.compare_cli import compare_command

    app.command("compare")(_fail_cleanly(compare_command))
    app.command("refresh-prices")(_fail_cleanly(refresh_command))

