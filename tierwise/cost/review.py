"""Price what ``cdk synth`` wrote: every priced resource of a cloud assembly, with no AWS account.

``review(cdk_out_dir)`` reads the stacks the assembly's manifest lists (tierwise.cost.assembly),
prices each stack's resources (tierwise.cost.pricers) and returns a ``CostReport``
(tierwise.cost.report) that the renderers (tierwise.cost.render, tierwise.cost.infracost) print
as a table, Markdown or Infracost's JSON. It works on any CDK app's output: nothing here knows
how tierwise places a model; a tierwise stack carries its plan in its template (tags,
``Metadata.tierwise``: tierwise/stack_metadata.py).

Which workload each stack is priced for, in order: a usage file's entry for the resource or
stack; the flags (``overrides``), field by field; the workload the stack was planned for
(recorded at synth); for a template that records none, ``fallback`` (cdk.json's context and the
defaults). A ``workload`` given by the caller replaces all of that for every stack. Each
project's notes say which it used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from model_profiles.userinput import quoted
from tierwise.cost.assembly import StackTemplate, read_assembly
from tierwise.cost.prices import PriceBook, load_prices
from tierwise.cost.pricers import TokensPerSecond, price_stack
from tierwise.cost.report import CostReport
from tierwise.cost.usage import UsageFile
from tierwise.errors import TierwiseError
from tierwise.stack_metadata import PlannedStack, read_planned
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


def _describe(w: Workload) -> str:
    return f"{w.requests_per_month:,} requests/month, {w.input_tokens:,} in + {w.output_tokens:,} out tokens"


def stack_workload(
    planned: PlannedStack, overrides: Mapping[str, Any], fallback: Workload
) -> tuple[Workload, str]:
    """The workload one stack is priced for, and a note saying where it came from."""
    given = {k: v for k, v in overrides.items() if v is not None}
    base, source = (planned.workload, "as planned at synth (template Metadata.tierwise)") \
        if planned.workload is not None else (fallback, "no plan recorded in the template: cdk.json context and defaults")
    if not given:
        return base, f"workload {source}: {_describe(base)}"
    flags = ", ".join("--" + k.replace("_", "-") for k in given)
    try:
        workload = Workload(**{**base.model_dump(), **given})
    except ValidationError as exc:
        raise TierwiseError(f"{flags} with the workload the template records: "
                            f"{str(exc.errors()[0]['msg']).removeprefix('Value error, ')}") from None
    return workload, f"workload {source}, with {flags} from the command line: {_describe(workload)}"


def review_stacks(
    stacks: list[StackTemplate],
    workload: Workload | None = None,
    region: str | None = None,
    *,
    prices: PriceBook | None = None,
    tokens_per_second: TokensPerSecond | float | None = None,
    usage: UsageFile | None = None,
    overrides: Mapping[str, Any] | None = None,
    fallback: Workload | None = None,
    notes: list[str] | None = None,
) -> CostReport:
    """Price ``stacks`` (already read). ``region`` overrides each stack's own region (else the
    region its plan recorded, else us-east-1 for an environment-agnostic stack)."""
    book = prices or load_prices()
    resolver = _resolver(tokens_per_second)
    report = CostReport(projects=[], workload=workload or fallback or Workload(), notes=list(notes or []))
    for stack in stacks:
        planned = read_planned(stack.tierwise_metadata, f"template {stack.path}")
        if workload is not None:
            stack_w, how = workload, f"workload given by the caller: {_describe(workload)}"
        else:
            stack_w, how = stack_workload(planned, overrides or {}, fallback or Workload())
        stack_region = region or stack.region or planned.region
        project = price_stack(stack, stack_w, stack_region or DEFAULT_REGION, book, resolver, usage)
        project.notes.append(how)
        if usage is not None:
            applied = _usage_keys_of(stack, usage)
            if applied:
                project.notes.append(f"usage file {usage.path} overrides that, field by field, for "
                                     f"{', '.join(applied)}")
        if stack_region is None:
            project.notes.append(f"environment-agnostic stack: priced in {DEFAULT_REGION}")
        elif region is None and stack.region is None:
            project.notes.append(f"environment-agnostic stack: priced in {stack_region}, the region it was planned for")
        report.projects.append(project)
    if usage is not None:
        _check_usage_keys(stacks, usage)
    return report


def _usage_keys_of(stack: StackTemplate, usage: UsageFile) -> list[str]:
    """The usage file's keys that name this stack or one of its resources, as the file spells them."""
    keys = [stack.name] if usage.for_stack(stack.name) is not None else []
    for logical_id, resource in stack.resources.items():
        meta = resource.get("Metadata")
        path = meta.get("aws:cdk:path") if isinstance(meta, dict) and isinstance(meta.get("aws:cdk:path"), str) else None
        keys += [k for k in (f"{stack.name}/{logical_id}", path) if k and k in usage.resource_usage and k not in keys]
    return keys


def _check_usage_keys(stacks: list[StackTemplate], usage: UsageFile) -> None:
    seen: set[str] = set()
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


def review(
    cdk_out_dir: str | Path,
    workload: Workload | None = None,
    region: str | None = None,
    *,
    prices: PriceBook | None = None,
    tokens_per_second: TokensPerSecond | float | None = None,
    usage: UsageFile | None = None,
    overrides: Mapping[str, Any] | None = None,
    fallback: Workload | None = None,
) -> CostReport:
    """Price every stack the cloud assembly at ``cdk_out_dir`` lists.

    ``tokens_per_second`` may be a number (used for every model-serving resource) or a
    function of (model, tier, quant, properties); without it, a usage file's figures or the
    rates a tierwise stack recorded in its template are used, and otherwise the duration of a
    request is reported unknown.
    """
    resolver = _resolver(tokens_per_second)  # a bad rate fails before any file is read
    notes: list[str] = []
    stacks = read_assembly(cdk_out_dir, notes)
    return review_stacks(stacks, workload, region, prices=prices, tokens_per_second=resolver, usage=usage,
                         overrides=overrides, fallback=fallback, notes=notes)
