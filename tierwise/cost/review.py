"""Price what ``cdk synth`` wrote: every priced resource of a cloud assembly, with no AWS account.

``review(cdk_out_dir, workload)`` reads the assembly (tierwise.cost.assembly), prices each
stack's resources (tierwise.cost.pricers) and returns a ``CostReport`` (tierwise.cost.report)
that the renderers (tierwise.cost.render, tierwise.cost.infracost) print as a table, Markdown
or Infracost's JSON. It works on any CDK app's output: nothing here knows how tierwise places
a model; a tierwise stack only leaves hints in its template (tags, ``Metadata.tierwise``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_profiles.userinput import quoted
from tierwise.cost.assembly import StackTemplate, read_assembly
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.cost.pricers import TokensPerSecond, price_stack
from tierwise.cost.report import CostReport
from tierwise.cost.usage import UsageFile
from tierwise.errors import TierwiseError
from tierwise.validate import check_rate
from tierwise.workload import Workload

DEFAULT_REGION = "us-east-1"


def _resolver(tokens_per_second: TokensPerSecond | float | None) -> TokensPerSecond | None:
    if tokens_per_second is None or callable(tokens_per_second):
        return tokens_per_second
    rate = check_rate(tokens_per_second)

    def fixed(*_args: Any) -> tuple[float | None, float | None]:
        return rate, None

    return fixed


def review_stacks(
    stacks: list[StackTemplate],
    workload: Workload | None = None,
    region: str | None = None,
    *,
    prices: PriceBook | None = None,
    tokens_per_second: TokensPerSecond | float | None = None,
    usage: UsageFile | None = None,
) -> CostReport:
    """Price ``stacks`` (already read). ``region`` overrides each stack's own region;
    environment-agnostic stacks use it, or us-east-1 when it is not given."""
    workload = workload or Workload()
    book = prices or load_prices()
    resolver = _resolver(tokens_per_second)
    report = CostReport(projects=[], workload=workload)
    seen: set[str] = set()
    for stack in stacks:
        stack_region = region or stack.region
        project = price_stack(stack, workload, stack_region or DEFAULT_REGION, book, resolver, usage)
        if stack_region is None:
            project.notes.append(f"environment-agnostic stack: priced in {DEFAULT_REGION}")
        report.projects.append(project)
    if usage is not None:
        for stack in stacks:
            seen.add(stack.name)
            for logical_id, resource in stack.resources.items():
                seen.add(f"{stack.name}/{logical_id}")
                meta = resource.get("Metadata")
                if isinstance(meta, dict) and isinstance(meta.get("aws:cdk:path"), str):
                    seen.add(meta["aws:cdk:path"])
        unused = usage.unused_keys(seen)
        if unused:
            raise TierwiseError(
                f"usage file {usage.path}: {quoted(unused[0])} names no stack or resource in the assembly "
                "(keys are STACK, STACK/LOGICAL_ID or a construct path)"
            )
    return report


def review(
    cdk_out_dir: str | Path,
    workload: Workload | None = None,
    region: str | None = None,
    *,
    prices: PriceBook | None = None,
    tokens_per_second: TokensPerSecond | float | None = None,
    usage: UsageFile | None = None,
) -> CostReport:
    """Price every stack in the cloud assembly at ``cdk_out_dir``.

    ``tokens_per_second`` may be a number (used for every model-serving resource) or a
    function of (model, tier, quant, properties); without it, a usage file's figures or the
    rates a tierwise stack recorded in its template are used, and otherwise the duration of a
    request is reported unknown.
    """
    resolver = _resolver(tokens_per_second)  # a bad rate fails before any file is read
    return review_stacks(read_assembly(cdk_out_dir), workload, region, prices=prices,
                         tokens_per_second=resolver, usage=usage)
