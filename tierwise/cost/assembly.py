"""Read what ``cdk synth`` wrote: the stacks of a cloud assembly and their CloudFormation templates.

This module knows the cloud-assembly layout (manifest.json, nested assemblies, stray
``*.template.json``) and what a well-formed template looks like; it knows nothing of prices.
A template a user hands us that CloudFormation itself would refuse (a JSON list, ``Resources``
that is not a mapping, a resource whose ``Type`` is not a string, more resources than a stack
may hold, a file larger than CloudFormation deploys, a literal the service's API refuses: an
instance count of -50, a serverless memory size that does not exist) ends as one
``TierwiseError`` naming the file and what is allowed, before any pricing. Only regular files
are read, each with a size cap, so a manifest that names a FIFO or ``/dev/zero`` cannot hang
the review or fill memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from model_profiles.userinput import PATH_WIDTH, load_json, quoted, read_text, shown
from tierwise import facts
from tierwise.errors import TierwiseError


@dataclass
class StackTemplate:
    """One stack: its display name, region (None when environment-agnostic), template and tags."""

    name: str
    region: str | None
    path: Path
    template: dict
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict]:
        return self.template.get("Resources") or {}

    @property
    def tierwise_metadata(self) -> dict[str, Any]:
        """What a tierwise stack records about itself in the template's ``Metadata.tierwise``."""
        meta = (self.template.get("Metadata") or {}).get("tierwise")
        return meta if isinstance(meta, dict) else {}


def max_resources_per_template() -> int:
    """CloudFormation's limit on resources declared in one template (tierwise/data/aws_limits.yaml)."""
    return facts.cloudformation_limits().resources_per_template_max


def _cap(what: str) -> tuple[int, str]:
    if what == "template":
        cfn = facts.cloudformation_limits()
        return cfn.template_bytes_max, f"CloudFormation deploys templates of at most 1 MB: {cfn.template_size_source}"
    return facts.file_cap(what)


def _read_json(path: Path, what: str) -> Any:
    """A cloud assembly's JSON file: regular, within its cap, UTF-8, parsed without huge integers."""
    max_bytes, why = _cap(what)
    text = read_text(path, what, max_bytes, why, TierwiseError)
    return load_json(text, f"{what} {shown(str(path), PATH_WIDTH)}", TierwiseError)


def check_template(template: Any, origin: str) -> dict:
    """``template`` if CloudFormation could accept its shape, else one clear error."""
    if not isinstance(template, dict):
        kind = type(template).__name__ if template is not None else "null"
        raise TierwiseError(f"template {origin} is a JSON {kind}: a CloudFormation template is a JSON object")
    resources = template.get("Resources", {})
    if not isinstance(resources, dict):
        kind = "null" if resources is None else type(resources).__name__
        raise TierwiseError(
            f"template {origin}: Resources is {kind}; it must be an object mapping logical ids to resources"
        )
    limit = max_resources_per_template()
    if len(resources) > limit:
        raise TierwiseError(
            f"template {origin} declares {len(resources):,} resources; CloudFormation allows at most {limit} "
            "per template"
        )
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            raise TierwiseError(f"template {origin}: resource {quoted(logical_id)} must be an object with a Type")
        rtype = resource.get("Type")
        if not isinstance(rtype, str) or not rtype:
            raise TierwiseError(
                f"template {origin}: resource {quoted(logical_id)} has Type {quoted(rtype)}; Type must be a string "
                "like AWS::S3::Bucket"
            )
        props = resource.get("Properties")
        if props is not None and not isinstance(props, dict):
            raise TierwiseError(
                f"template {origin}: resource {quoted(logical_id)} has Properties that is not an object"
            )
    metadata = template.get("Metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise TierwiseError(f"template {origin}: Metadata must be an object")
    for logical_id, resource in resources.items():
        for bound in _property_bounds().get(resource["Type"], ()):
            for where, value in _at(resource.get("Properties") or {}, bound.path):
                bound.check(value, f"template {origin}: resource {quoted(logical_id)} has {where}")
    recorded = (metadata or {}).get("tierwise")
    if isinstance(recorded, dict):
        for bound in _metadata_bounds():
            for where, value in _at(recorded, bound.path):
                bound.check(value, f"template {origin}: Metadata.tierwise.{where} is")
    return template


def read_template(path: Path) -> dict:
    return check_template(_read_json(path, "template"), shown(str(path), PATH_WIDTH))


# -- literals CloudFormation or tierwise's own metadata would never hold --------------------------


@dataclass(frozen=True)
class Bound:
    """What a literal number at ``path`` may be: a range (``low``..``high``, inclusive, ``above``
    exclusive), whole or not, or one of ``allowed``; ``rule`` says so in words, with its source.
    A value CloudFormation resolves at deploy time (Ref, Fn::*) is not a literal and is left to
    the pricer, which reports what it cannot read."""

    path: tuple[str, ...]  # "*" steps into every item of a list
    rule: str
    low: float | None = None
    high: float | None = None
    above: float | None = None
    whole: bool = False
    allowed: tuple[float, ...] = ()

    def check(self, value: Any, where: str) -> None:
        if value is None or isinstance(value, dict):
            return  # absent, or an intrinsic function: not a literal
        number = literal_number(value)
        ok = number is not None and math.isfinite(number) and (
            number in self.allowed if self.allowed else (
                (self.low is None or number >= self.low) and (self.high is None or number <= self.high)
                and (self.above is None or number > self.above)
                and (not self.whole or number.is_integer())))
        if not ok:
            raise TierwiseError(f"{where} {_as_written(value)}; {self.rule}")


def _as_written(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return quoted(value)
    return shown(value)


def _at(node: Any, path: tuple[str, ...], where: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted place, value) of every value at ``path`` under ``node``."""
    if not path:
        yield where, node
        return
    step, rest = path[0], path[1:]
    if step == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _at(item, rest, f"{where}[{i}]")
    elif isinstance(node, dict) and step in node:
        yield from _at(node[step], rest, f"{where}.{step}" if where else step)


def _range(low: float, high: float, unit: str = "") -> str:
    return f"{low:g} to {high:g}{unit}"


@cache
def _property_bounds() -> dict[str, tuple[Bound, ...]]:
    """The literals a pricer reads, held to the range the service's API accepts."""
    lam, sls, rt = facts.lambda_limits(), facts.serverless_limits(), facts.realtime_limits()
    scaling, cw, mu = facts.autoscaling_limits(), facts.cloudwatch_limits(), facts.bedrock_provisioned_limits()
    memory = ", ".join(str(m) for m in sls.memory_mb_allowed)
    variant = ("ProductionVariants", "*")
    return {
        "AWS::Lambda::Function": (
            Bound(("MemorySize",), f"Lambda allows {_range(lam.memory_mb_min, lam.memory_mb_max, ' MB')}",
                  low=lam.memory_mb_min, high=lam.memory_mb_max),
            Bound(("EphemeralStorage", "Size"), "Lambda allows /tmp of "
                  f"{_range(lam.ephemeral_storage_mb_min, lam.ephemeral_storage_mb_max, ' MB')} ({lam.source})",
                  low=lam.ephemeral_storage_mb_min, high=lam.ephemeral_storage_mb_max, whole=True),
        ),
        "AWS::SageMaker::EndpointConfig": (
            Bound((*variant, "InitialInstanceCount"), f"SageMaker takes a whole number of instances from "
                  f"{rt.initial_instance_count_min} ({rt.instance_count_source})",
                  low=rt.initial_instance_count_min, whole=True),
            Bound((*variant, "ServerlessConfig", "MemorySizeInMB"),
                  f"SageMaker Serverless Inference allows {memory} MB ({sls.source})",
                  allowed=tuple(float(m) for m in sls.memory_mb_allowed)),
            Bound((*variant, "ServerlessConfig", "MaxConcurrency"),
                  f"SageMaker allows a whole number from {_range(sls.max_concurrency_min, sls.max_concurrency_max)}"
                  f" ({sls.provisioned_concurrency_source})",
                  low=sls.max_concurrency_min, high=sls.max_concurrency_max, whole=True),
            Bound((*variant, "ServerlessConfig", "ProvisionedConcurrency"),
                  "SageMaker allows a whole number from "
                  f"{_range(sls.provisioned_concurrency_min, sls.provisioned_concurrency_max)} "
                  f"({sls.provisioned_concurrency_source})",
                  low=sls.provisioned_concurrency_min, high=sls.provisioned_concurrency_max, whole=True),
        ),
        "AWS::ApplicationAutoScaling::ScalableTarget": (
            Bound(("MinCapacity",), f"Application Auto Scaling takes a whole number from {scaling.min_capacity_min} "
                  f"({scaling.source})", low=scaling.min_capacity_min, whole=True),
        ),
        "Custom::BedrockProvisionedThroughput": (
            Bound(("ModelUnits",), f"Bedrock provisions a whole number of model units from {mu.model_units_min} "
                  f"({mu.source})", low=mu.model_units_min, whole=True),
        ),
        "AWS::CloudWatch::Alarm": (
            Bound(("Period",), f"CloudWatch takes periods from {cw.alarm_period_s_min} s ({cw.source})",
                  low=cw.alarm_period_s_min),
            Bound(("Metrics", "*", "MetricStat", "Period"),
                  f"CloudWatch takes periods from {cw.alarm_period_s_min} s ({cw.source})", low=cw.alarm_period_s_min),
        ),
    }


def slowest_rate() -> float:
    """The slowest rate in tokens a second that still yields one token within the longest single
    request AWS runs for a per-request price (a Lambda invocation's limit)."""
    return 1 / facts.lambda_limits().timeout_s_max


@cache
def _metadata_bounds() -> tuple[Bound, ...]:
    """What tierwise records in ``Metadata.tierwise`` (docs/CONTRACTS.md), held to what it can be:
    a request time comes from these, so a decode rate of 1e-300 would price a request at 1e302 s."""
    lam = facts.lambda_limits()
    bounds = facts.workload_bounds()
    fastest, tokens_max = bounds.max["tokens_per_second_floor"], bounds.max["input_tokens"]
    slow = slowest_rate()
    rate = (f"a rate is at least {slow:.6f} tokens/s (one token within Lambda's {lam.timeout_s_max} s limit, "
            f"{lam.source})")
    return (
        Bound(("decodeTokensPerSecond",), f"{rate} and at most {fastest:,} ("
              f"{bounds.why['tokens_per_second_floor']})", low=slow, high=fastest),
        Bound(("promptTokensPerSecond",), rate, low=slow),
        Bound(("memoryMb",), f"a planned memory is {_range(lam.memory_mb_min, lam.memory_mb_max, ' MB')} "
              f"(Lambda's range, which holds serverless's; {lam.source})", low=lam.memory_mb_min,
              high=lam.memory_mb_max),
        Bound(("secondsPerRequest",), f"a request takes more than 0 s and at most Lambda's {lam.timeout_s_max} s "
              f"({lam.source})", above=0, high=lam.timeout_s_max),
        Bound(("plannedInputTokens",), f"a prompt is a whole number of tokens from 1 to {tokens_max:,} "
              f"({bounds.why['input_tokens']})", low=1, high=tokens_max, whole=True),
    )


def _host_limits() -> dict[str, tuple[str, float]]:
    return {
        "lambda": ("Lambda", facts.lambda_limits().timeout_s_max),
        "serverless": ("SageMaker Serverless Inference", facts.serverless_limits().invocation_timeout_s),
    }


def request_within_limit(
    seconds: float | None, host: str, origin: Any, logical_id: str, how: list[str]
) -> float | None:
    """``seconds`` when one request finishes inside its host's hard limit (``host``: lambda or
    serverless, limits in aws_limits.yaml). A request that could not is no bill at all: the
    rate, duration or workload behind it cannot be right, and a review that priced it would
    print a bill for requests that all time out."""
    name, limit_s = _host_limits()[host]
    if seconds is None or seconds <= limit_s:
        return seconds
    basis = "; ".join(how)
    raise TierwiseError(
        f"template {origin}: resource {quoted(logical_id)}: one request would run {seconds:,.0f} s "
        f"({shown(basis or 'from its rates', 160)}); {name} ends a request at {limit_s:g} s: check the rate "
        "or duration given for it"
    )


def check_bill_lines(origin: Any, logical_id: str, resource_type: str, components: Iterable[Any]) -> None:
    """Every priced line of a resource is a quantity and a cost from zero to the bill ceiling
    (tierwise/data/input_bounds.yaml): never a negative or an astronomically large bill."""
    ceiling = facts.bill_ceiling()
    for c in components:
        quantity, cost = c.monthly_quantity, c.monthly_cost
        if (quantity is not None and quantity < 0) or (cost is not None and cost < 0):
            raise TierwiseError(
                f"template {origin}: resource {quoted(logical_id)} ({resource_type}): {c.name} comes to "
                f"{quantity:g} {c.unit}; a quantity is never below zero"
            )
        if cost is not None and cost > ceiling.monthly_usd_max:
            raise TierwiseError(
                f"template {origin}: resource {quoted(logical_id)} ({resource_type}): {c.name} comes to "
                f"${cost:,.6g} a month, more than AWS bills all its customers in a month "
                f"(${ceiling.monthly_usd_max:,.0f}: its {ceiling.year} net sales / 12, {ceiling.source}); "
                "a count or a usage figure is beyond any real deployment"
            )


def _region_of(environment: str | None) -> str | None:
    # "aws://123456789012/eu-west-1"; environment-agnostic stacks say unknown-region.
    if not isinstance(environment, str) or not environment:
        return None
    region = environment.rsplit("/", 1)[-1]
    return None if region in ("", "unknown-region") else region


def _real(path: Path) -> Path:
    # os.path.realpath, unlike Path.resolve, does not raise on a symlink loop: the read that
    # follows says what is wrong with the file, in one line
    return Path(os.path.realpath(path))


def read_assembly(cdk_out_dir: str | Path, notes: list[str] | None = None) -> list[StackTemplate]:
    """Every stack the cloud assembly's manifest lists (nested assemblies included), with its
    region. A `*.template.json` the manifest does not list (left by an earlier synth of another
    app or model) is not priced; `notes` gets a line naming it. A folder with no manifest is read
    as a folder of templates."""
    root = Path(cdk_out_dir)
    try:
        is_folder = root.is_dir()
    except OSError as exc:  # a name too long for the file system, say
        raise TierwiseError(f"no cloud assembly at {shown(str(root), PATH_WIDTH)}: {exc.strerror}") from None
    if not is_folder:
        raise TierwiseError(
            f"no cloud assembly at {shown(str(root), PATH_WIDTH)}: run `cdk synth` first or pass its output folder"
        )
    stacks: list[StackTemplate] = []
    seen: set[Path] = set()
    walked: set[Path] = set()

    def walk(directory: Path) -> None:
        here = _real(directory)
        if here in walked:  # a nested assembly that names itself or an ancestor
            raise TierwiseError(f"manifest in {shown(str(directory), PATH_WIDTH)} nests an assembly already read; "
                                "a cloud assembly is a tree")
        walked.add(here)
        manifest_path = directory / "manifest.json"
        if manifest_path.exists():
            manifest = _read_json(manifest_path, "manifest")
            artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
            if not isinstance(manifest, dict) or not isinstance(artifacts or {}, dict):
                raise TierwiseError(f"manifest {shown(str(manifest_path), PATH_WIDTH)} is not a cloud assembly manifest")
            for art_id, art in (artifacts or {}).items():
                if not isinstance(art, dict):
                    continue
                props = art.get("properties") if isinstance(art.get("properties"), dict) else {}
                template_file = props.get("templateFile")
                if art.get("type") == "aws:cloudformation:stack" and isinstance(template_file, str):
                    path = _real(directory / template_file)
                    if path in seen:  # one template read and priced per stack named: no amplification
                        raise TierwiseError(
                            f"manifest {shown(str(manifest_path), PATH_WIDTH)}: stack {quoted(art_id)} names "
                            f"template {quoted(template_file)}, which another stack already names; each stack "
                            "has a template of its own"
                        )
                    seen.add(path)
                    tags = props.get("tags") if isinstance(props.get("tags"), dict) else {}
                    name = art.get("displayName") or props.get("stackName") or art_id
                    stacks.append(StackTemplate(
                        name=str(name), region=_region_of(art.get("environment")), path=path,
                        template=read_template(path), tags={str(k): str(v) for k, v in tags.items()},
                    ))
                elif art.get("type") == "cdk:cloud-assembly" and isinstance(props.get("directoryName"), str):
                    walk(directory / props["directoryName"])
        for extra in sorted(directory.glob("*.template.json")):
            path = _real(extra)
            if path in seen:
                continue
            seen.add(path)
            if manifest_path.exists():
                if notes is not None:
                    notes.append(f"{extra.name} is not in {manifest_path}'s stacks (left by an earlier synth?): "
                                 "not priced")
                continue
            stacks.append(StackTemplate(name=extra.name.removesuffix(".template.json"), region=None, path=path,
                                        template=read_template(path)))
        if not manifest_path.exists():
            for nested in sorted(directory.glob("assembly-*")):
                if nested.is_dir():
                    walk(nested)

    walk(root)
    if not stacks:
        raise TierwiseError(
            f"{shown(str(root), PATH_WIDTH)} holds no stack templates (*.template.json): is it a cdk.out folder?"
        )
    return stacks


# -- reading CloudFormation values ------------------------------------------------------------

def resource_tags(resource: Mapping[str, Any]) -> dict[str, str]:
    tags = (resource.get("Properties") or {}).get("Tags")
    out: dict[str, str] = {}
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and isinstance(tag.get("Key"), str) and isinstance(tag.get("Value"), str):
                out[tag["Key"]] = tag["Value"]
    elif isinstance(tags, dict):
        out = {str(k): str(v) for k, v in tags.items() if isinstance(v, (str, int, float))}
    return out


def refs(node: Any) -> set[str]:
    """Logical ids a template value points at through Ref or Fn::GetAtt."""
    found: set[str] = set()
    stack = [node]
    while stack:  # iterative: a hostile template may nest deeper than Python's recursion limit
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "Ref" and isinstance(value, str):
                    found.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) and value else str(value).split(".")[0]
                    if isinstance(target, str):
                        found.add(target)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def strings(node: Any) -> Iterable[str]:
    """Every string literal inside a template value, in document order."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def literal_number(value: Any) -> float | None:
    """A template value as a float when it is a literal number (CloudFormation accepts numbers as
    strings): inf for one beyond any float (10**400), None when it is not a number at all."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        result = float(value)
    except OverflowError:  # an integer beyond any float
        return math.inf if value > 0 else -math.inf
    except ValueError:
        return None
    return None if result != result else result


def number(value: Any, default: float | None = None) -> float | None:
    """A literal finite number from a template value, else ``default``."""
    result = literal_number(value)
    return result if result is not None and math.isfinite(result) else default
