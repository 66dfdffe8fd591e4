"""Price what ``cdk synth`` wrote: every priced resource of a cloud assembly, with no AWS account.

``review(cdk_out_dir, workload)`` reads manifest.json (which stacks, in which regions, nested
assemblies too) and every ``*.template.json``, prices the resources that cost money, and
returns a ``CostReport`` that renders as a rich table, Markdown, or JSON in Infracost's shape
(projects -> breakdown -> resources -> costComponents, totals at each level), so tooling that
reads Infracost output can read this.

Fixed costs (GPU instance-hours at the scaling minimum, provisioned throughput, KMS keys,
alarms) are priced for any stack. Usage-based lines (Lambda, serverless inference, tokens,
data processed) are priced from the workload only for the resource that serves the model,
found by the ``tierwise:tier`` tag; other usage-based lines are listed with their price and
"usage not modelled", like Infracost without a usage file. An unknown price is reported,
and the total it belongs to is then unknown: never counted as zero.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tierwise.cost.estimates import (
    HOURS_PER_MONTH,
    CostComponent,
    _data_processed,
    component,
    lambda_components,
    provisioned_concurrency_component,
    request_seconds,
    total,
)
from tierwise.contract import TAG_MODEL, TAG_QUANT, TAG_TIER
from tierwise.errors import TierwiseError, UserError
from tierwise.cost.prices import PriceBook, commitment_key, load_prices, price_key
from tierwise.workload import Workload

DEFAULT_REGION = "us-east-1"
FORMATS = ("table", "json", "markdown")

# Resources that cost nothing by themselves (or are priced through another resource).
FREE_TYPES = frozenset(
    {
        "AWS::CDK::Metadata",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::InstanceProfile",
        "AWS::Lambda::Permission",
        "AWS::Lambda::Url",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::S3::BucketPolicy",
        "AWS::KMS::Alias",
        "AWS::SageMaker::Model",
        "AWS::SageMaker::Endpoint",  # priced through its endpoint config
        "AWS::ApplicationAutoScaling::ScalableTarget",  # read for the endpoint's minimum
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::SSM::Parameter",
        "AWS::CloudFormation::WaitConditionHandle",
        "AWS::SNS::TopicPolicy",
        "Custom::LogRetention",
        "Custom::S3AutoDeleteObjects",
    }
)

# (model, tier, quant, resource properties) -> (decode tokens/s, prompt tokens/s) or None
TokensPerSecond = Callable[[str, str, str | None, Mapping[str, Any]], "tuple[float | None, float | None] | None"]


@dataclass
class StackTemplate:
    name: str
    region: str | None
    path: Path
    template: dict
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ResourceCost:
    logical_id: str
    resource_type: str
    tags: dict[str, str]
    components: list[CostComponent]
    notes: list[str] = field(default_factory=list)

    @property
    def monthly_usd(self) -> float | None:
        return total(self.components)[0]

    @property
    def known_usd(self) -> float:
        return total(self.components)[1]

    @property
    def unknown(self) -> list[str]:
        return total(self.components)[2]


@dataclass
class ProjectCost:
    name: str
    region: str
    path: str
    resources: list[ResourceCost]
    free: Counter = field(default_factory=Counter)
    unsupported: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def monthly_usd(self) -> float | None:
        totals = [r.monthly_usd for r in self.resources]
        return None if any(t is None for t in totals) else sum(totals)  # type: ignore[arg-type]

    @property
    def known_usd(self) -> float:
        return sum(r.known_usd for r in self.resources)


@dataclass
class CostReport:
    projects: list[ProjectCost]
    workload: Workload
    notes: list[str] = field(default_factory=list)
    generated: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def monthly_usd(self) -> float | None:
        totals = [p.monthly_usd for p in self.projects]
        return None if any(t is None for t in totals) else sum(totals)  # type: ignore[arg-type]

    @property
    def known_usd(self) -> float:
        return sum(p.known_usd for p in self.projects)

    def unknown(self) -> list[str]:
        return [f"{p.name}/{r.logical_id}: {u}" for p in self.projects for r in p.resources for u in r.unknown]


# -- reading the cloud assembly ------------------------------------------------------------

def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TierwiseError(f"cannot read {what} {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TierwiseError(f"{what} {path} is not valid JSON: {exc}") from None


def _region_of(environment: str | None) -> str | None:
    # "aws://123456789012/eu-west-1"; environment-agnostic stacks say unknown-region.
    if not environment:
        return None
    region = environment.rsplit("/", 1)[-1]
    return None if region in ("", "unknown-region") else region


def read_assembly(cdk_out_dir: str | Path) -> list[StackTemplate]:
    """Every stack template of a cloud assembly (nested assemblies included), with its region."""
    root = Path(cdk_out_dir)
    if not root.is_dir():
        raise TierwiseError(f"no cloud assembly at {root}: run `cdk synth` first or pass its output folder")
    stacks: list[StackTemplate] = []
    seen: set[Path] = set()

    def walk(directory: Path) -> None:
        manifest_path = directory / "manifest.json"
        if manifest_path.exists():
            manifest = _read_json(manifest_path, "manifest")
            if not isinstance(manifest, dict):
                raise TierwiseError(f"manifest {manifest_path} is not a cloud assembly manifest")
            for art_id, art in (manifest.get("artifacts") or {}).items():
                props = art.get("properties") or {}
                if art.get("type") == "aws:cloudformation:stack" and props.get("templateFile"):
                    path = (directory / props["templateFile"]).resolve()
                    template = _read_json(path, "template")
                    seen.add(path)
                    stacks.append(
                        StackTemplate(
                            name=art.get("displayName") or props.get("stackName") or art_id,
                            region=_region_of(art.get("environment")),
                            path=path,
                            template=template if isinstance(template, dict) else {},
                            tags={str(k): str(v) for k, v in (props.get("tags") or {}).items()},
                        )
                    )
                elif art.get("type") == "cdk:cloud-assembly" and props.get("directoryName"):
                    walk(directory / props["directoryName"])
        for extra in sorted(directory.glob("*.template.json")):
            path = extra.resolve()
            if path in seen:
                continue
            seen.add(path)
            template = _read_json(path, "template")
            stacks.append(
                StackTemplate(
                    name=extra.name.removesuffix(".template.json"),
                    region=None,
                    path=path,
                    template=template if isinstance(template, dict) else {},
                )
            )
        if not manifest_path.exists():
            for nested in sorted(directory.glob("assembly-*")):
                if nested.is_dir():
                    walk(nested)

    walk(root)
    if not stacks:
        raise TierwiseError(f"{root} holds no stack templates (*.template.json): is it a cdk.out folder?")
    return stacks


# -- template helpers ------------------------------------------------------------------------

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


def _refs(node: Any) -> set[str]:
    """Logical ids a template value points at through Ref or Fn::GetAtt."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) and value else str(value).split(".")[0]
                if isinstance(target, str):
                    found.add(target)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _number(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


# -- pricing each resource ----------------------------------------------------------------

@dataclass
class _Context:
    stack: StackTemplate
    region: str
    book: PriceBook
    workload: Workload
    tokens_per_second: TokensPerSecond

    @property
    def resources(self) -> dict[str, Any]:
        return self.stack.template.get("Resources") or {}

    def tags(self, resource: Mapping[str, Any]) -> dict[str, str]:
        return {**self.stack.tags, **resource_tags(resource)}

    def throughput(self, tags: Mapping[str, str], props: Mapping[str, Any]) -> tuple[float | None, float | None, list[str]]:
        model, tier = tags.get(TAG_MODEL), tags.get(TAG_TIER)
        if not model or not tier:
            return None, None, ["no tierwise:model/tierwise:tier tags: tokens per second unknown"]
        quant = tags.get(TAG_QUANT)
        try:
            found = self.tokens_per_second(model, tier, None if quant in (None, "none") else quant, props)
        except UserError as exc:
            return None, None, [f"tokens per second unknown: {exc}"]
        if not found or found[0] is None:
            return None, None, [f"tokens per second unknown for {model} on {tier}"]
        return found[0], found[1], []


def _not_estimated(name: str, unit: str, quote: Any, key: str) -> CostComponent:
    return CostComponent(
        name=name,
        unit=unit,
        monthly_quantity=None,
        price=quote.value if quote else None,
        monthly_cost=None,
        price_key=quote.key if quote else key,
        source=quote.source if quote else None,
        usage_based=True,
        not_estimated=True,
    )


def _price_lambda(ctx: _Context, logical_id: str, resource: dict, server: str | None) -> ResourceCost:
    props = resource.get("Properties") or {}
    tags = ctx.tags(resource)
    memory_mb = _number(props.get("MemorySize"), 128.0) or 128.0
    archs = props.get("Architectures") or ["x86_64"]
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else "x86_64"
    storage_mb = _number((props.get("EphemeralStorage") or {}).get("Size"), 512.0) or 512.0
    notes = [f"{memory_mb:.0f} MB, {arch}, /tmp {storage_mb:.0f} MB"]
    if logical_id == server:
        tps, prompt_tps, why = ctx.throughput(tags, {**props, "memory_mb": memory_mb})
        seconds, more = request_seconds(ctx.workload, tps, prompt_tps)
        notes += why + more
        if seconds is not None:
            notes.append(f"{seconds:.1f} s per request at {tps:.1f} tokens/s")
        lines = lambda_components(
            ctx.book, ctx.region, memory_mb=memory_mb, architecture=arch, ephemeral_storage_mb=storage_mb,
            requests=ctx.workload.requests_per_month, seconds=seconds,
        )
    else:
        notes.append("not on the model's request path: usage not modelled")
        lines = [
            _not_estimated("Requests", "1M requests", ctx.book.lambda_requests(ctx.region),
                           price_key(ctx.region, "lambda", "requests_per_million")),
            _not_estimated(f"Duration ({arch})", "GB-seconds", ctx.book.lambda_duration(ctx.region, arch),
                           price_key(ctx.region, "lambda", "duration_gb_second", arch)),
        ]
    return ResourceCost(logical_id, "AWS::Lambda::Function", tags, lines, notes)


def _model_server_function(ctx: _Context) -> str | None:
    """The Lambda function that serves the model: tagged lambda-gguf, a container image."""
    tagged = [
        (lid, res) for lid, res in ctx.resources.items()
        if res.get("Type") == "AWS::Lambda::Function" and ctx.tags(res).get(TAG_TIER) == "lambda-gguf"
    ]
    if not tagged:
        return None
    images = [lid for lid, res in tagged if (res.get("Properties") or {}).get("PackageType") == "Image"]
    if images:
        return images[0]
    return max(tagged, key=lambda item: _number((item[1].get("Properties") or {}).get("MemorySize"), 128.0) or 0)[0]


def _endpoints_using(ctx: _Context, config_id: str, config_props: Mapping[str, Any]) -> list[str]:
    name = config_props.get("EndpointConfigName")
    out = []
    for lid, res in ctx.resources.items():
        if res.get("Type") != "AWS::SageMaker::Endpoint":
            continue
        ref = (res.get("Properties") or {}).get("EndpointConfigName")
        if config_id in _refs(ref) or (isinstance(name, str) and ref == name):
            out.append(lid)
    return out


def _scaling_minimum(ctx: _Context, endpoints: list[str], endpoint_names: set[str], variant: str) -> float | None:
    for res in ctx.resources.values():
        if res.get("Type") != "AWS::ApplicationAutoScaling::ScalableTarget":
            continue
        props = res.get("Properties") or {}
        if props.get("ServiceNamespace") != "sagemaker":
            continue
        resource_id = props.get("ResourceId")
        text = "".join(_strings(resource_id))
        points_here = bool(_refs(resource_id) & set(endpoints)) or any(
            f"endpoint/{name}/" in text for name in endpoint_names
        )
        if not points_here:
            continue
        match = re.search(r"/variant/([^/]+)$", text)
        if match and match.group(1) != variant:
            continue
        return _number(props.get("MinCapacity"))
    return None


def _price_endpoint_config(ctx: _Context, logical_id: str, resource: dict) -> ResourceCost:
    props = resource.get("Properties") or {}
    tags = ctx.tags(resource)
    tier = tags.get(TAG_TIER)
    endpoints = _endpoints_using(ctx, logical_id, props)
    endpoint_names = {
        n for lid in endpoints
        if isinstance(n := (ctx.resources[lid].get("Properties") or {}).get("EndpointName"), str)
    }
    lines: list[CostComponent] = []
    notes: list[str] = []
    if not endpoints:
        notes.append("no AWS::SageMaker::Endpoint in this stack uses this config: nothing runs, nothing billed")
        return ResourceCost(logical_id, "AWS::SageMaker::EndpointConfig", tags, lines, notes)
    serves_model = tier in ("sagemaker-serverless", "sagemaker-gpu")
    for variant in props.get("ProductionVariants") or []:
        vname = str(variant.get("VariantName", "AllTraffic"))
        serverless = variant.get("ServerlessConfig")
        if serverless:
            memory_mb = int(_number(serverless.get("MemorySizeInMB"), 0) or 0)
            provisioned = int(_number(serverless.get("ProvisionedConcurrency"), 0) or 0)
            notes.append(
                f"{vname}: serverless {memory_mb} MB, max concurrency "
                f"{serverless.get('MaxConcurrency', '?')}, provisioned concurrency {provisioned or 'none'}"
            )
            quote = ctx.book.serverless_gb_second(ctx.region, memory_mb)
            key = price_key(ctx.region, "sagemaker", "serverless_gb_second", memory_mb)
            if serves_model:
                tps, prompt_tps, why = ctx.throughput(tags, {"memory_mb": memory_mb, **serverless})
                seconds, more = request_seconds(ctx.workload, tps, prompt_tps)
                notes += why + more
                requests = ctx.workload.requests_per_month
                gb_seconds = 0.0 if requests == 0 else (None if seconds is None else requests * seconds * memory_mb / 1024)
                if seconds is not None:
                    notes.append(f"{seconds:.1f} s per request at {tps:.1f} tokens/s")
                lines.append(component(f"Serverless inference ({memory_mb} MB)", "GB-seconds", gb_seconds,
                                       quote, key, usage_based=True))
                lines += _data_processed(ctx.book, ctx.region, ctx.workload)
            else:
                lines.append(_not_estimated(f"Serverless inference ({memory_mb} MB)", "GB-seconds", quote, key))
            if provisioned:
                lines.append(provisioned_concurrency_component(ctx.region, provisioned, memory_mb))
            continue
        instance_type = variant.get("InstanceType")
        if not isinstance(instance_type, str):
            notes.append(f"{vname}: no instance type or serverless config: not priced")
            continue
        initial = _number(variant.get("InitialInstanceCount"), 1.0) or 0.0
        minimum = _scaling_minimum(ctx, endpoints, endpoint_names, vname)
        count = initial if minimum is None else minimum
        source = "InitialInstanceCount" if minimum is None else "autoscaling MinCapacity"
        notes.append(f"{vname}: {count:g} x {instance_type} ({source}), billed {HOURS_PER_MONTH:.0f} h a month")
        lines.append(
            component(f"Instance ({instance_type}) x {count:g}", "instance-hours", count * HOURS_PER_MONTH,
                      ctx.book.instance_hour(ctx.region, instance_type),
                      price_key(ctx.region, "sagemaker", "instance_hour", instance_type))
        )
        if serves_model:
            lines += _data_processed(ctx.book, ctx.region, ctx.workload)
        else:
            lines.append(_not_estimated("Data processed in", "GB", ctx.book.sagemaker_data_in(ctx.region),
                                        price_key(ctx.region, "sagemaker", "data_processed_in_gb")))
    return ResourceCost(logical_id, "AWS::SageMaker::EndpointConfig", tags, lines, notes)


def _price_provisioned_throughput(ctx: _Context, logical_id: str, resource: dict) -> ResourceCost:
    props = resource.get("Properties") or {}
    tags = ctx.tags(resource)
    model_id = props.get("ModelId")
    units = _number(props.get("ModelUnits"))
    commitment = props.get("CommitmentDuration")
    notes: list[str] = []
    if not isinstance(model_id, str) or units is None:
        notes.append("ModelId or ModelUnits is not a literal in the template: cannot price")
        line = CostComponent(name="Provisioned throughput", unit="model-unit-hours", monthly_quantity=None,
                             price=None, monthly_cost=None)
        return ResourceCost(logical_id, resource.get("Type", ""), tags, [line], notes)
    notes.append(f"{model_id}: {units:g} model unit(s), commitment {commitment_key(commitment)}")
    line = component(
        f"Provisioned throughput ({units:g} MU, {commitment_key(commitment)})",
        "model-unit-hours",
        units * HOURS_PER_MONTH,
        ctx.book.bedrock_model_unit_hour(ctx.region, model_id, commitment),
        price_key(ctx.region, "bedrock", "provisioned_model_unit_hour", model_id, commitment_key(commitment)),
    )
    return ResourceCost(logical_id, resource.get("Type", ""), tags, [line], notes)


_MODEL_ARN = re.compile(r"(?:foundation-model|inference-profile)/([A-Za-z0-9][A-Za-z0-9.:\-]*)")


def _price_inference_profile(ctx: _Context, logical_id: str, resource: dict) -> ResourceCost:
    props = resource.get("Properties") or {}
    tags = ctx.tags(resource)
    text = " ".join(_strings(props.get("ModelSource")))
    match = _MODEL_ARN.search(text)
    notes: list[str] = []
    if not match:
        notes.append("model of the inference profile not readable from the template: tokens not priced")
        return ResourceCost(logical_id, "AWS::Bedrock::ApplicationInferenceProfile", tags, [], notes)
    model_id = match.group(1)
    notes.append(f"on-demand tokens of {model_id}")
    in_quote = ctx.book.bedrock_input(ctx.region, model_id)
    out_quote = ctx.book.bedrock_output(ctx.region, model_id)
    in_key = price_key(ctx.region, "bedrock", "on_demand", model_id, "input_per_1k_tokens")
    out_key = price_key(ctx.region, "bedrock", "on_demand", model_id, "output_per_1k_tokens")
    if tags.get(TAG_TIER) == "bedrock-on-demand":
        w = ctx.workload
        lines = [
            component("Input tokens", "1K tokens", w.requests_per_month * w.input_tokens / 1000, in_quote, in_key,
                      usage_based=True),
            component("Output tokens", "1K tokens", w.requests_per_month * w.output_tokens / 1000, out_quote,
                      out_key, usage_based=True),
        ]
    else:
        notes.append("not tagged as tierwise's on-demand tier: usage not modelled")
        lines = [_not_estimated("Input tokens", "1K tokens", in_quote, in_key),
                 _not_estimated("Output tokens", "1K tokens", out_quote, out_key)]
    return ResourceCost(logical_id, "AWS::Bedrock::ApplicationInferenceProfile", tags, lines, notes)


def _price_bucket(ctx: _Context, logical_id: str, resource: dict) -> ResourceCost:
    r = ctx.region
    lines = [
        _not_estimated("Standard storage", "GB-months", ctx.book.quote(r, "s3", "standard_gb_month"),
                       price_key(r, "s3", "standard_gb_month")),
        _not_estimated("PUT, COPY, POST, LIST requests", "1K requests", ctx.book.quote(r, "s3", "put_per_1k"),
                       price_key(r, "s3", "put_per_1k")),
        _not_estimated("GET and other requests", "1K requests", ctx.book.quote(r, "s3", "get_per_1k"),
                       price_key(r, "s3", "get_per_1k")),
    ]
    return ResourceCost(logical_id, "AWS::S3::Bucket", ctx.tags(resource), lines, ["storage and requests depend on use"])


def _price_key(ctx: _Context, logical_id: str, resource: dict) -> ResourceCost:
    r = ctx.region
    lines = [
        component("Customer managed key", "months", 1.0, ctx.book.quote(r, "kms", "key_month"),
                  price_key(r, "kms", "key_month")),
        _not_estimated("Requests", "10K requests", ctx.book.quote(r, "kms", "requests_per_10k"),
                       price_key(r, "kms", "requests_per_10k")),
    ]
    notes = []
    if (resource.get("Properties") or {}).get("EnableKeyRotation"):
        notes.append("key rotation on: AWS bills rotated key material too, not modelled")
    return ResourceCost(logical_id, "AWS::KMS::Key", ctx.tags(resource), lines, notes)


def _price_alarm(ctx: _Context, logical_id: str, resource: dict) -> ResourceCost:
    props = resource.get("Properties") or {}
    metrics = props.get("Metrics")
    count = sum(1 for m in metrics if isinstance(m, dict) and "MetricStat" in m) if isinstance(metrics, list) else 1
    count = max(count, 1)
    period = _number(props.get("Period"), 60.0) or 60.0
    if isinstance(metrics, list):
        periods = [_number((m.get("MetricStat") or {}).get("Period"), 60.0) or 60.0 for m in metrics if isinstance(m, dict) and "MetricStat" in m]
        period = min(periods) if periods else period
    high_res = period < 60
    key = "alarm_high_resolution_month" if high_res else "alarm_standard_month"
    lines = [
        component(f"{'High' if high_res else 'Standard'} resolution alarm metrics", "alarm metric-months", float(count),
                  ctx.book.quote(ctx.region, "cloudwatch", key), price_key(ctx.region, "cloudwatch", key))
    ]
    return ResourceCost(logical_id, "AWS::CloudWatch::Alarm", ctx.tags(resource), lines, [])


def _price_log_group(ctx: _Context, logical_id: str, resource: dict) -> ResourceCost:
    r = ctx.region
    retention = (resource.get("Properties") or {}).get("RetentionInDays", "never expires")
    lines = [
        _not_estimated("Data ingested", "GB", ctx.book.quote(r, "cloudwatch", "logs_ingested_gb"),
                       price_key(r, "cloudwatch", "logs_ingested_gb")),
        _not_estimated("Archival storage", "GB-months", ctx.book.quote(r, "cloudwatch", "logs_stored_gb_month"),
                       price_key(r, "cloudwatch", "logs_stored_gb_month")),
    ]
    return ResourceCost(logical_id, "AWS::Logs::LogGroup", ctx.tags(resource), lines, [f"retention: {retention}"])


_HANDLERS: dict[str, Callable[[_Context, str, dict], ResourceCost]] = {
    "AWS::SageMaker::EndpointConfig": _price_endpoint_config,
    "Custom::BedrockProvisionedThroughput": _price_provisioned_throughput,
    "AWS::Bedrock::ApplicationInferenceProfile": _price_inference_profile,
    "AWS::S3::Bucket": _price_bucket,
    "AWS::KMS::Key": _price_key,
    "AWS::CloudWatch::Alarm": _price_alarm,
    "AWS::Logs::LogGroup": _price_log_group,
}


def price_stack(
    stack: StackTemplate,
    workload: Workload,
    region: str,
    book: PriceBook,
    tokens_per_second: TokensPerSecond,
) -> ProjectCost:
    ctx = _Context(stack, region, book, workload, tokens_per_second)
    project = ProjectCost(name=stack.name, region=region, path=str(stack.path), resources=[])
    if region not in book.regions:
        project.notes.append(f"the price file has no prices for {region}: every price is unknown")
    server = _model_server_function(ctx)
    for logical_id, resource in ctx.resources.items():
        if not isinstance(resource, dict):
            continue
        rtype = resource.get("Type", "")
        if rtype == "AWS::Lambda::Function":
            project.resources.append(_price_lambda(ctx, logical_id, resource, server))
        elif rtype in _HANDLERS:
            project.resources.append(_HANDLERS[rtype](ctx, logical_id, resource))
        elif rtype in FREE_TYPES or rtype.startswith("Custom::") or rtype in (
            "AWS::CloudFormation::CustomResource",
            "AWS::CloudFormation::Stack",
        ):
            # Custom resources run a Lambda function on deploy, which is priced itself; a nested
            # stack's template is read and priced as its own project.
            project.free[rtype] += 1
        else:
            project.unsupported[rtype] += 1
    return project


def default_tokens_per_second(
    model: str, tier: str, quant: str | None, props: Mapping[str, Any]
) -> tuple[float | None, float | None] | None:
    """Tokens/s of ``model`` on ``tier``, from the catalogue and tierwise's placement estimates.

    CPU speed in tierwise's throughput model is linear in vCPUs, so when the template gives
    the function a different memory size than placement would, both rates are scaled by the
    vCPU ratio (Lambda: one vCPU per 1,769 MB, at most 6).
    """
    try:
        from model_profiles.loader import load_profile
        from tierwise import placement as placement_mod
    except ImportError as exc:
        raise TierwiseError(f"throughput estimates are not available ({exc.name} missing)") from None
    profile = load_profile(model)
    # the tier's speed, whatever the latency target: the template fixes the tier already
    options = placement_mod.candidates(profile, quant=quant, workload=Workload(batch=True))
    chosen = options.get(tier)
    if chosen is None or isinstance(chosen, str):
        raise TierwiseError(f"{model} cannot run on {tier}: {chosen}")
    decode = getattr(chosen, "tokens_per_second", None)
    prompt = getattr(chosen, "prompt_tokens_per_second", None)
    memory_mb = props.get("memory_mb")
    vcpus = getattr(chosen.settings, "vcpus", None)
    if tier == "lambda-gguf" and memory_mb and vcpus:
        scale = min(float(memory_mb) / 1769, 6.0) / float(vcpus)
        decode = None if decode is None else decode * scale
        prompt = None if prompt is None else prompt * scale
    return decode, prompt


def review(
    cdk_out_dir: str | Path,
    workload: Workload | None = None,
    region: str | None = None,
    *,
    prices: PriceBook | None = None,
    tokens_per_second: TokensPerSecond | float | None = None,
) -> CostReport:
    """Price every stack in the cloud assembly at ``cdk_out_dir``.

    ``region`` overrides the regions the manifest gives; environment-agnostic stacks use it,
    or us-east-1 when it is not given. ``tokens_per_second`` may be a number (used for every
    model-serving resource) or a function of (model, tier, quant, properties).
    """
    workload = workload or Workload()
    book = prices or load_prices()
    if isinstance(tokens_per_second, (int, float)):
        rate = float(tokens_per_second)
        if rate <= 0:
            raise TierwiseError("--tokens-per-second must be greater than 0")

        def resolver(*_args: Any) -> tuple[float | None, float | None]:
            return rate, None
    else:
        resolver = tokens_per_second or default_tokens_per_second
    report = CostReport(projects=[], workload=workload)
    for stack in read_assembly(cdk_out_dir):
        stack_region = region or stack.region
        project = price_stack(stack, workload, stack_region or DEFAULT_REGION, book, resolver)
        if stack_region is None:
            project.notes.append(f"environment-agnostic stack: priced in {DEFAULT_REGION}")
        report.projects.append(project)
    return report


# -- output ----------------------------------------------------------------------------

def _dec(value: float | None) -> str | None:
    if value is None:
        return None
    text = format(Decimal(repr(round(value, 10))).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _money(value: float | None, known: float | None = None) -> str:
    if value is None:
        return "unknown" if not known else f"unknown (≥ ${known:,.2f})"
    return f"${value:,.2f}"


def _infracost_component(c: CostComponent) -> dict:
    hourly_qty = None if c.monthly_quantity is None else c.monthly_quantity / HOURS_PER_MONTH
    hourly_cost = None if c.monthly_cost is None else c.monthly_cost / HOURS_PER_MONTH
    return {
        "name": c.name,
        "unit": c.unit,
        "hourlyQuantity": _dec(hourly_qty),
        "monthlyQuantity": _dec(c.monthly_quantity),
        "price": _dec(c.price),
        "hourlyCost": _dec(hourly_cost),
        "monthlyCost": _dec(c.monthly_cost),
    }


def _infracost_resource(p: ProjectCost, r: ResourceCost) -> dict:
    monthly = r.monthly_usd
    meta: dict[str, Any] = {
        "resourceType": r.resource_type,
        "region": p.region,
        "tierwise": {
            "knownMonthlyCost": _dec(r.known_usd),
            "unknown": r.unknown,
            "notes": r.notes,
            "priceSources": sorted({c.source for c in r.components if c.source}),
            "notEstimated": [c.name for c in r.components if c.not_estimated],
        },
    }
    return {
        "name": r.logical_id,
        "tags": r.tags,
        "metadata": meta,
        "hourlyCost": _dec(None if monthly is None else monthly / HOURS_PER_MONTH),
        "monthlyCost": _dec(monthly),
        "costComponents": [_infracost_component(c) for c in r.components],
        "subresources": [],
    }


def _summary(projects: list[ProjectCost]) -> dict:
    supported = Counter(r.resource_type for p in projects for r in p.resources)
    unsupported: Counter = sum((p.unsupported for p in projects), Counter())
    free: Counter = sum((p.free for p in projects), Counter())
    usage_based = sum(1 for p in projects for r in p.resources if any(c.usage_based for c in r.components))
    return {
        "totalResources": sum(supported.values()) + sum(unsupported.values()) + sum(free.values()),
        "totalDetectedResources": sum(supported.values()) + sum(unsupported.values()) + sum(free.values()),
        "totalSupportedResources": sum(supported.values()),
        "totalUnsupportedResources": sum(unsupported.values()),
        "totalUsageBasedResources": usage_based,
        "totalNoPriceResources": sum(free.values()),
        "supportedResourceCounts": dict(supported),
        "unsupportedResourceCounts": dict(unsupported),
        "noPriceResourceCounts": dict(free),
    }


def to_infracost(report: CostReport) -> dict:
    """The report as Infracost's JSON output (schema/infracost.schema.json, version 0.2)."""
    projects = []
    for p in report.projects:
        resources = [_infracost_resource(p, r) for r in p.resources]
        monthly = p.monthly_usd
        breakdown = {
            "resources": resources,
            "totalHourlyCost": _dec(None if monthly is None else monthly / HOURS_PER_MONTH),
            "totalMonthlyCost": _dec(monthly),
        }
        projects.append(
            {
                "name": p.name,
                "metadata": {"path": p.path, "type": "cdk_cloud_assembly"},
                "pastBreakdown": {"resources": [], "totalHourlyCost": "0", "totalMonthlyCost": "0"},
                "breakdown": breakdown,
                "diff": dict(breakdown),
                "summary": _summary([p]),
            }
        )
    monthly = report.monthly_usd
    hourly = _dec(None if monthly is None else monthly / HOURS_PER_MONTH)
    return {
        "version": "0.2",
        "currency": "USD",
        "projects": projects,
        "totalHourlyCost": hourly,
        "totalMonthlyCost": _dec(monthly),
        "pastTotalHourlyCost": "0",
        "pastTotalMonthlyCost": "0",
        "diffTotalHourlyCost": hourly,
        "diffTotalMonthlyCost": _dec(monthly),
        "timeGenerated": report.generated,
        "summary": _summary(report.projects),
    }


def _workload_line(w: Workload) -> str:
    return (
        f"workload: {w.requests_per_month:,} requests/month, {w.input_tokens} input + "
        f"{w.output_tokens} output tokens per request"
    )


def _qty(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _price_text(c: CostComponent) -> str:
    if c.price is None:
        return "unknown"
    return f"${c.price:.10g}"


def _cost_text(c: CostComponent) -> str:
    if c.not_estimated:
        return "usage not modelled"
    if c.monthly_cost is None:
        return "unknown"
    return f"${c.monthly_cost:,.2f}"


def to_markdown(report: CostReport) -> str:
    lines = ["# Monthly cost review", "", _workload_line(report.workload), ""]
    for p in report.projects:
        lines += [f"## {p.name} ({p.region})", "",
                  "| Resource | Component | Quantity | Unit | Price (USD) | Monthly cost |",
                  "|---|---|---:|---|---:|---:|"]
        for r in p.resources:
            for i, c in enumerate(r.components or []):
                name = f"{r.logical_id} ({r.resource_type})" if i == 0 else ""
                lines.append(f"| {name} | {c.name} | {_qty(c.monthly_quantity)} | {c.unit} | {_price_text(c)} | {_cost_text(c)} |")
            if not r.components:
                lines.append(f"| {r.logical_id} ({r.resource_type}) | — | | | | $0.00 |")
            lines.append(f"| | **{r.logical_id} total** | | | | **{_money(r.monthly_usd, r.known_usd)}** |")
        lines += ["", f"**Project total: {_money(p.monthly_usd, p.known_usd)}**", ""]
        for note in p.notes:
            lines.append(f"- {note}")
        for r in p.resources:
            for note in r.notes:
                lines.append(f"- {r.logical_id}: {note}")
        lines.append("")
    lines.append(f"**Overall total: {_money(report.monthly_usd, report.known_usd)} per month**")
    unknown = report.unknown()
    if unknown:
        lines += ["", "Unknown (reported, never counted as zero):", *[f"- {u}" for u in unknown]]
    return "\n".join(lines) + "\n"


def render_table(report: CostReport, console: Any = None) -> None:
    """Print the report with rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(_workload_line(report.workload))
    for p in report.projects:
        table = Table(title=f"{p.name} ({p.region})", show_lines=False)
        for col, justify in (("Resource", "left"), ("Component", "left"), ("Quantity", "right"),
                             ("Unit", "left"), ("Price", "right"), ("Monthly cost", "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in p.resources:
            for i, c in enumerate(r.components):
                table.add_row(r.logical_id if i == 0 else "", c.name, _qty(c.monthly_quantity), c.unit,
                              _price_text(c), _cost_text(c))
            if not r.components:
                table.add_row(r.logical_id, "—", "", "", "", "$0.00")
            table.add_row("", f"[bold]{r.resource_type} total[/bold]", "", "", "",
                          f"[bold]{_money(r.monthly_usd, r.known_usd)}[/bold]", end_section=True)
        table.add_row("[bold]Project total[/bold]", "", "", "", "", f"[bold]{_money(p.monthly_usd, p.known_usd)}[/bold]")
        console.print(table)
        for note in p.notes:
            console.print(f"  note: {note}")
    console.print(f"[bold]Overall total: {_money(report.monthly_usd, report.known_usd)} per month[/bold]")
    unknown = report.unknown()
    if unknown:
        console.print("Unknown (reported, never counted as zero):")
        for u in unknown:
            console.print(f"  - {u}")
