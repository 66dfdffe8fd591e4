"""Per-resource pricers: one function per CloudFormation resource type, found in a registry.

``@pricer("AWS::KMS::Key")`` registers a function ``(ctx, logical_id, resource) -> ResourceCost``;
``price_stack`` calls the one registered for each resource's type. Adding a resource type
means one function here and nothing elsewhere.

Fixed costs (GPU instance-hours at the scaling minimum, provisioned throughput, KMS keys,
alarms) are priced for any stack. Usage-based lines (Lambda, serverless inference, tokens,
data processed) are priced for the resources that serve a model — found by the
``tierwise:tier`` tag, or named in a usage file — from the workload; other usage-based lines
are listed with their price and "usage not modelled", like Infracost without a usage file.

How fast the model serves (tokens per second) is read, in this order, from a usage file, from
the caller (``tokens_per_second``), or from the template's ``Metadata.tierwise`` that a
tierwise stack records at synth. This module never imports placement: it prices any CDK app.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tierwise import facts
from tierwise.contract import NO_QUANT, TAG_MODEL, TAG_QUANT, TAG_TIER, Tier
from tierwise.cost.assembly import (
    StackTemplate, check_bill_lines, number, refs, request_within_limit, resource_tags, strings,
)
from tierwise.cost.estimates import (
    HOURS_PER_MONTH,
    CostComponent,
    _data_processed,
    component,
    lambda_components,
    provisioned_concurrency_component,
    request_seconds,
)
from tierwise.cost.prices import PriceBook, commitment_key, price_key
from tierwise.cost.report import ProjectCost, ResourceCost
from tierwise.cost.usage import Usage, UsageFile
from tierwise.errors import TierwiseError
from tierwise.workload import Workload


# (model, tier, quant, resource properties) -> (decode tokens/s, prompt tokens/s) or None
TokensPerSecond = Callable[[str, str, str | None, Mapping[str, Any]], "tuple[float | None, float | None] | None"]

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
        # Security groups and their rules have no charge (Amazon VPC pricing bills endpoints,
        # NAT gateways and IP addresses, not the firewall rules).
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress",
        # Custom resources run a Lambda function on deploy, priced itself; a nested stack's
        # template is read and priced as a project of its own.
        "AWS::CloudFormation::CustomResource",
        "AWS::CloudFormation::Stack",
    }
)

# A pricer returns None for a resource that turns out to cost nothing (an S3 gateway endpoint):
# the review lists it with the free resources, as Infracost does.
Pricer = Callable[["PricingContext", str, dict], "ResourceCost | None"]
_REGISTRY: dict[str, Pricer] = {}


def pricer(*resource_types: str) -> Callable[[Pricer], Pricer]:
    """Register the decorated function as the pricer of ``resource_types``."""

    def register(func: Pricer) -> Pricer:
        for rtype in resource_types:
            if rtype in _REGISTRY:
                raise ValueError(f"{rtype} already has a pricer: {_REGISTRY[rtype].__name__}")
            _REGISTRY[rtype] = func
        return func

    return register


def pricer_for(resource_type: str) -> Pricer | None:
    return _REGISTRY.get(resource_type)


def priced_types() -> list[str]:
    return sorted(_REGISTRY)


def is_free(resource_type: str) -> bool:
    return resource_type in FREE_TYPES or (resource_type.startswith("Custom::") and resource_type not in _REGISTRY)


def _lambda_limits() -> tuple[float, float]:
    limits = facts.load("aws_limits")["lambda"]
    return float(limits["mb_per_vcpu"]), float(limits["vcpus_max"])


@dataclass
class PricingContext:
    stack: StackTemplate
    region: str
    book: PriceBook
    workload: Workload
    tokens_per_second: TokensPerSecond | None = None
    usage: UsageFile | None = None

    @property
    def resources(self) -> dict[str, Any]:
        return self.stack.resources

    @cached_property
    def servers(self) -> set[str]:
        return _model_server_functions(self)

    def tags(self, resource: Mapping[str, Any]) -> dict[str, str]:
        return {**self.stack.tags, **resource_tags(resource)}

    def construct_path(self, resource: Mapping[str, Any]) -> str | None:
        meta = resource.get("Metadata")
        path = meta.get("aws:cdk:path") if isinstance(meta, dict) else None
        return path if isinstance(path, str) else None

    def resource_usage(self, logical_id: str) -> Usage | None:
        """This resource's usage from the usage file (its own entry over its stack's), or None."""
        if self.usage is None:
            return None
        resource = self.resources.get(logical_id, {})
        own = self.usage.for_resource(self.stack.name, logical_id, self.construct_path(resource))
        stack = self.usage.for_stack(self.stack.name)
        if own is None:
            return stack
        return own if stack is None else own.over(stack)

    def named_in_usage(self, logical_id: str) -> bool:
        if self.usage is None:
            return False
        resource = self.resources.get(logical_id, {})
        return self.usage.for_resource(self.stack.name, logical_id, self.construct_path(resource)) is not None

    def serves_model(self, logical_id: str, tags: Mapping[str, str], tiers: tuple[str, ...]) -> bool:
        return tags.get(TAG_TIER) in tiers or self.named_in_usage(logical_id)

    def workload_for(self, logical_id: str) -> Workload:
        usage = self.resource_usage(logical_id)
        return usage.workload(self.workload) if usage else self.workload

    def request_seconds(
        self, logical_id: str, tags: Mapping[str, str], props: Mapping[str, Any], memory_mb: float | None = None
    ) -> tuple[float | None, list[str]]:
        """How long one request of this resource runs, and how that was worked out."""
        usage = self.resource_usage(logical_id)
        workload = self.workload_for(logical_id)
        if usage and usage.request_duration_ms:
            return usage.request_duration_ms / 1000, [f"{usage.request_duration_ms:g} ms per request (usage file)"]
        recorded = self._recorded_request_seconds(usage, workload)
        if recorded is not None:
            return recorded
        tps, prompt_tps, notes = self._throughput(usage, tags, props, memory_mb)
        seconds, more = request_seconds(workload, tps, prompt_tps)
        notes += more
        if seconds is not None:
            notes.append(f"{seconds:.1f} s per request at {tps:.1f} tokens/s")
        return seconds, notes

    def _recorded_request_seconds(self, usage: Usage | None, workload: Workload) -> tuple[float, list[str]] | None:
        """A classifier's request time as tierwise recorded it at synth (``secondsPerRequest``),
        when nothing more specific is given: no token rate from a usage file, the caller or the
        template. The forward pass is linear in the prompt, so another prompt length scales it."""
        if (usage and usage.tokens_per_second) or self.tokens_per_second is not None:
            return None
        meta = self.stack.tierwise_metadata
        seconds = number(meta.get("secondsPerRequest"))
        if seconds is None or seconds <= 0 or number(meta.get("decodeTokensPerSecond")) is not None:
            return None
        notes = [f"{seconds:.3f} s per request: one forward pass, recorded by tierwise at synth "
                 "(template Metadata.tierwise.secondsPerRequest)"]
        planned = number(meta.get("plannedInputTokens"))
        if planned and planned > 0 and planned != workload.input_tokens:
            seconds *= workload.input_tokens / planned
            notes.append(f"scaled to {workload.input_tokens} input tokens from the {planned:g} planned: "
                         f"{seconds:.3f} s")
        return seconds, notes

    def _throughput(
        self, usage: Usage | None, tags: Mapping[str, str], props: Mapping[str, Any], memory_mb: float | None
    ) -> tuple[float | None, float | None, list[str]]:
        if usage and usage.tokens_per_second:
            return usage.tokens_per_second, usage.prompt_tokens_per_second, ["tokens per second from the usage file"]
        if self.tokens_per_second is not None:
            model, tier = tags.get(TAG_MODEL, ""), tags.get(TAG_TIER, "")
            quant = tags.get(TAG_QUANT)
            try:
                found = self.tokens_per_second(model, tier, None if quant in (None, NO_QUANT) else quant, props)
            except TierwiseError as exc:
                return None, None, [f"tokens per second unknown: {exc}"]
            if found and found[0] is not None:
                return found[0], found[1], []
        meta = self.stack.tierwise_metadata
        decode = number(meta.get("decodeTokensPerSecond"))
        if decode is None or decode <= 0:
            return None, None, [
                "tokens per second unknown: no usage file entry, no --tokens-per-second and no "
                "Metadata.tierwise.decodeTokensPerSecond in the template"
            ]
        prompt = number(meta.get("promptTokensPerSecond"))
        notes = ["tokens per second recorded by tierwise at synth (template Metadata.tierwise)"]
        planned_mb = number(meta.get("memoryMb"))
        if tags.get(TAG_TIER) == Tier.LAMBDA_GGUF and memory_mb and planned_mb and memory_mb != planned_mb:
            # CPU decode speed is linear in vCPUs; Lambda gives one vCPU per mb_per_vcpu MB.
            per_vcpu, vcpus_max = _lambda_limits()
            scale = min(memory_mb / per_vcpu, vcpus_max) / min(planned_mb / per_vcpu, vcpus_max)
            decode *= scale
            prompt = None if prompt is None else prompt * scale
            notes.append(f"rates scaled by vCPUs: {memory_mb:.0f} MB here, {planned_mb:.0f} MB planned")
        return decode, prompt, notes


def _not_estimated(name: str, unit: str, quote: Any, key: str) -> CostComponent:
    return CostComponent(
        name=name, unit=unit, monthly_quantity=None, price=quote.value if quote else None, monthly_cost=None,
        price_key=quote.key if quote else key, source=quote.source if quote else None,
        usage_based=True, not_estimated=True,
    )


def _props(resource: Mapping[str, Any]) -> dict[str, Any]:
    props = resource.get("Properties")
    return props if isinstance(props, dict) else {}


def _model_server_functions(ctx: PricingContext) -> set[str]:
    """Lambda functions that serve a model: named in the usage file, or the lambda-gguf function
    (the container image one, else the largest) of a tierwise-tagged stack."""
    functions = [(lid, res) for lid, res in ctx.resources.items() if res.get("Type") == "AWS::Lambda::Function"]
    named = {lid for lid, _ in functions if ctx.named_in_usage(lid)}
    tagged = [(lid, res) for lid, res in functions if ctx.tags(res).get(TAG_TIER) == Tier.LAMBDA_GGUF]
    if not tagged:
        return named
    images = [lid for lid, res in tagged if _props(res).get("PackageType") == "Image"]
    if images:
        return named | {images[0]}
    return named | {max(tagged, key=lambda item: number(_props(item[1]).get("MemorySize"), 128.0) or 0)[0]}


@pricer("AWS::Lambda::Function")
def price_lambda(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    props = _props(resource)
    tags = ctx.tags(resource)
    memory_mb = _lambda_memory(ctx.stack, logical_id, props)
    archs = props.get("Architectures") or ["x86_64"]
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else "x86_64"
    storage = props.get("EphemeralStorage")
    storage_mb = number(storage.get("Size") if isinstance(storage, dict) else None, 512.0) or 512.0
    notes = [f"{memory_mb:.0f} MB, {arch}, /tmp {storage_mb:.0f} MB"]
    if logical_id in ctx.servers:
        seconds, more = ctx.request_seconds(logical_id, tags, {**props, "memory_mb": memory_mb}, memory_mb)
        seconds = request_within_limit(seconds, "lambda", ctx.stack.path, logical_id, more)
        notes += more
        lines = lambda_components(
            ctx.book, ctx.region, memory_mb=memory_mb, architecture=arch, ephemeral_storage_mb=storage_mb,
            requests=ctx.workload_for(logical_id).requests_per_month, seconds=seconds,
        )
    else:
        notes.append("not on the model's request path: usage not modelled (name it in a usage file to price it)")
        lines = [
            _not_estimated("Requests", "1M requests", ctx.book.lambda_requests(ctx.region),
                           price_key(ctx.region, "lambda", "requests_per_million")),
            _not_estimated(f"Duration ({arch})", "GB-seconds", ctx.book.lambda_duration(ctx.region, arch),
                           price_key(ctx.region, "lambda", "duration_gb_second", arch)),
        ]
    return ResourceCost(logical_id, "AWS::Lambda::Function", tags, lines, notes)


def _endpoints_using(ctx: PricingContext, config_id: str, config_props: Mapping[str, Any]) -> list[str]:
    name = config_props.get("EndpointConfigName")
    out = []
    for lid, res in ctx.resources.items():
        if res.get("Type") != "AWS::SageMaker::Endpoint":
            continue
        ref = _props(res).get("EndpointConfigName")
        if config_id in refs(ref) or (isinstance(name, str) and ref == name):
            out.append(lid)
    return out


def _scaling_minimum(ctx: PricingContext, endpoints: list[str], endpoint_names: set[str], variant: str) -> float | None:
    for res in ctx.resources.values():
        if res.get("Type") != "AWS::ApplicationAutoScaling::ScalableTarget":
            continue
        props = _props(res)
        if props.get("ServiceNamespace") != "sagemaker":
            continue
        resource_id = props.get("ResourceId")
        text = "".join(strings(resource_id))
        points_here = bool(refs(resource_id) & set(endpoints)) or any(
            f"endpoint/{name}/" in text for name in endpoint_names
        )
        if not points_here:
            continue
        match = re.search(r"/variant/([^/]+)$", text)
        if match and match.group(1) != variant:
            continue
        return number(props.get("MinCapacity"))
    return None


@pricer("AWS::SageMaker::EndpointConfig")
def price_endpoint_config(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    props = _props(resource)
    tags = ctx.tags(resource)
    endpoints = _endpoints_using(ctx, logical_id, props)
    endpoint_names = {
        n for lid in endpoints if isinstance(n := _props(ctx.resources[lid]).get("EndpointName"), str)
    }
    lines: list[CostComponent] = []
    notes: list[str] = []
    if not endpoints:
        notes.append("no AWS::SageMaker::Endpoint in this stack uses this config: nothing runs, nothing billed")
        return ResourceCost(logical_id, "AWS::SageMaker::EndpointConfig", tags, lines, notes)
    serves_model = ctx.serves_model(logical_id, tags, (Tier.SAGEMAKER_SERVERLESS, Tier.SAGEMAKER_GPU))
    workload = ctx.workload_for(logical_id)
    variants = props.get("ProductionVariants")
    for variant in variants if isinstance(variants, list) else []:
        if not isinstance(variant, dict):
            continue
        vname = str(variant.get("VariantName", "AllTraffic"))
        serverless = variant.get("ServerlessConfig")
        if isinstance(serverless, dict):
            memory_mb = int(number(serverless.get("MemorySizeInMB"), 0) or 0)
            provisioned = int(number(serverless.get("ProvisionedConcurrency"), 0) or 0)
            notes.append(
                f"{vname}: serverless {memory_mb} MB, max concurrency "
                f"{serverless.get('MaxConcurrency', '?')}, provisioned concurrency {provisioned or 'none'}"
            )
            quote = ctx.book.serverless_gb_second(ctx.region, memory_mb)
            key = price_key(ctx.region, "sagemaker", "serverless_gb_second", memory_mb)
            if serves_model:
                seconds, more = ctx.request_seconds(logical_id, tags, {"memory_mb": memory_mb, **serverless})
                seconds = request_within_limit(seconds, "serverless", ctx.stack.path, logical_id, more)
                notes += more
                requests = workload.requests_per_month
                gb_seconds = 0.0 if requests == 0 else (None if seconds is None else requests * seconds * memory_mb / 1024)
                lines.append(component(f"Serverless inference ({memory_mb} MB)", "GB-seconds", gb_seconds,
                                       quote, key, usage_based=True))
                lines += _data_processed(ctx.book, ctx.region, workload)
            else:
                lines.append(_not_estimated(f"Serverless inference ({memory_mb} MB)", "GB-seconds", quote, key))
            if provisioned:
                lines.append(provisioned_concurrency_component(ctx.region, provisioned, memory_mb))
            continue
        instance_type = variant.get("InstanceType")
        if not isinstance(instance_type, str):
            notes.append(f"{vname}: no instance type or serverless config: not priced")
            continue
        initial = number(variant.get("InitialInstanceCount"), 1.0) or 0.0
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
            lines += _data_processed(ctx.book, ctx.region, workload)
        else:
            lines.append(_not_estimated("Data processed in", "GB", ctx.book.sagemaker_data_in(ctx.region),
                                        price_key(ctx.region, "sagemaker", "data_processed_in_gb")))
    return ResourceCost(logical_id, "AWS::SageMaker::EndpointConfig", tags, lines, notes)


@pricer("Custom::BedrockProvisionedThroughput")
def price_provisioned_throughput(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    props = _props(resource)
    tags = ctx.tags(resource)
    model_id = props.get("ModelId")
    units = number(props.get("ModelUnits"))
    commitment = props.get("CommitmentDuration")
    rtype = str(resource.get("Type"))
    if not isinstance(model_id, str) or units is None or not (commitment is None or isinstance(commitment, str)):
        line = CostComponent(name="Provisioned throughput", unit="model-unit-hours", monthly_quantity=None,
                             price=None, monthly_cost=None)
        return ResourceCost(logical_id, rtype, tags, [line],
                            ["ModelId, ModelUnits or CommitmentDuration is not a literal in the template: cannot price"])
    notes = [f"{model_id}: {units:g} model unit(s), commitment {commitment_key(commitment)}"]
    line = component(
        f"Provisioned throughput ({units:g} MU, {commitment_key(commitment)})",
        "model-unit-hours",
        units * HOURS_PER_MONTH,
        ctx.book.bedrock_model_unit_hour(ctx.region, model_id, commitment),
        price_key(ctx.region, "bedrock", "provisioned_model_unit_hour", model_id, commitment_key(commitment)),
    )
    return ResourceCost(logical_id, rtype, tags, [line], notes)


_MODEL_ARN = re.compile(r"(?:foundation-model|inference-profile)/([A-Za-z0-9][A-Za-z0-9.:\-]*)")


@pricer("AWS::Bedrock::ApplicationInferenceProfile")
def price_inference_profile(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    props = _props(resource)
    tags = ctx.tags(resource)
    text = " ".join(strings(props.get("ModelSource")))
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
    if ctx.serves_model(logical_id, tags, (Tier.BEDROCK_ON_DEMAND,)):
        w = ctx.workload_for(logical_id)
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


@pricer("AWS::S3::Bucket")
def price_bucket(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
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


@pricer("AWS::KMS::Key")
def price_kms_key(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    r = ctx.region
    lines = [
        component("Customer managed key", "months", 1.0, ctx.book.quote(r, "kms", "key_month"),
                  price_key(r, "kms", "key_month")),
        _not_estimated("Requests", "10K requests", ctx.book.quote(r, "kms", "requests_per_10k"),
                       price_key(r, "kms", "requests_per_10k")),
    ]
    notes = []
    if _props(resource).get("EnableKeyRotation"):
        notes.append("key rotation on: AWS bills rotated key material too, not modelled")
    return ResourceCost(logical_id, "AWS::KMS::Key", ctx.tags(resource), lines, notes)


@pricer("AWS::CloudWatch::Alarm")
def price_alarm(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    props = _props(resource)
    metrics = props.get("Metrics")
    stats = [m.get("MetricStat") for m in metrics if isinstance(m, dict) and isinstance(m.get("MetricStat"), dict)] \
        if isinstance(metrics, list) else []
    count = max(len(stats), 1)
    period = number(props.get("Period"), 60.0) or 60.0
    if stats:
        period = min(number(s.get("Period"), 60.0) or 60.0 for s in stats)
    high_res = period < 60
    key = "alarm_high_resolution_month" if high_res else "alarm_standard_month"
    lines = [
        component(f"{'High' if high_res else 'Standard'} resolution alarm metrics", "alarm metric-months", float(count),
                  ctx.book.quote(ctx.region, "cloudwatch", key), price_key(ctx.region, "cloudwatch", key))
    ]
    return ResourceCost(logical_id, "AWS::CloudWatch::Alarm", ctx.tags(resource), lines, [])


@pricer("AWS::Logs::LogGroup")
def price_log_group(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    r = ctx.region
    retention = _props(resource).get("RetentionInDays", "never expires")
    lines = [
        _not_estimated("Data ingested", "GB", ctx.book.quote(r, "cloudwatch", "logs_ingested_gb"),
                       price_key(r, "cloudwatch", "logs_ingested_gb")),
        _not_estimated("Archival storage", "GB-months", ctx.book.quote(r, "cloudwatch", "logs_stored_gb_month"),
                       price_key(r, "cloudwatch", "logs_stored_gb_month")),
    ]
    return ResourceCost(logical_id, "AWS::Logs::LogGroup", ctx.tags(resource), lines, [f"retention: {retention}"])


_ENDPOINT_SERVICE = re.compile(r"com\.amazonaws\.(?:[a-z0-9-]+\.)?([a-z0-9.-]+)$")


def _endpoint_service(service_name: Any) -> str:
    """The service an endpoint reaches (``ecr.dkr``), readable through CDK's Fn::Join of the region."""
    text = "".join(strings(service_name))
    match = _ENDPOINT_SERVICE.search(text)
    return match.group(1) if match else (text or "unknown service")


@pricer("AWS::EC2::VPCEndpoint")
def price_vpc_endpoint(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost | None:
    props = _props(resource)
    # CloudFormation's default type is Gateway; gateway endpoints (S3, DynamoDB) have no charge.
    kind = props.get("VpcEndpointType", "Gateway")
    if kind == "Gateway":
        return None
    tags = ctx.tags(resource)
    service = _endpoint_service(props.get("ServiceName"))
    r = ctx.region
    hour_key = price_key(r, "vpc", "interface_endpoint_az_hour")
    data_key = price_key(r, "vpc", "interface_endpoint_data_gb")
    if kind != "Interface":
        # Gateway Load Balancer, Resource and ServiceNetwork endpoints bill at other rates the
        # price file does not hold: an unknown line, never a zero.
        line = CostComponent(name=f"{kind} endpoint", unit="endpoint-hours", monthly_quantity=None, price=None,
                             monthly_cost=None)
        return ResourceCost(logical_id, "AWS::EC2::VPCEndpoint", tags, [line],
                            [f"{service}: {kind} endpoints are not priced by tierwise's review"])
    subnets = props.get("SubnetIds")
    # An interface endpoint puts one network interface in each subnet, at most one per
    # Availability Zone, and is billed per AZ-hour: the AZ count is the subnet count.
    if isinstance(subnets, list) and subnets:
        azs: float | None = float(len(subnets))
        notes = [f"{service}: interface endpoint in {len(subnets)} Availability Zone(s), billed "
                 f"{HOURS_PER_MONTH:.0f} h a month each"]
    else:
        azs = None
        notes = [f"{service}: SubnetIds is not a literal list in the template (a parameter, an import or "
                 "absent): the number of Availability Zones, and so the hourly cost, is unknown"]
    hours = None if azs is None else azs * HOURS_PER_MONTH
    lines = [
        component(f"Endpoint ({azs:g} AZ)" if azs is not None else "Endpoint (AZ count unknown)",
                  "endpoint AZ-hours", hours, ctx.book.interface_endpoint_az_hour(r), hour_key),
        _not_estimated("Data processed", "GB", ctx.book.interface_endpoint_data_gb(r), data_key),
    ]
    return ResourceCost(logical_id, "AWS::EC2::VPCEndpoint", tags, lines, notes)


def _check_finite(stack: StackTemplate, logical_id: str, cost: ResourceCost) -> None:
    """A figure no deployment could have (1e308 instances, say) is the template's error, not a bill."""
    for c in cost.components:
        for value in (c.monthly_quantity, c.monthly_cost):
            if value is not None and not math.isfinite(value):
                raise TierwiseError(
                    f"template {stack.path}: resource {logical_id!r} ({cost.resource_type}): {c.name} comes to "
                    f"{value}; a property is beyond anything AWS accepts"
                )


def _lambda_memory(stack: StackTemplate, logical_id: str, props: Mapping[str, Any]) -> float:
    limits = facts.load("aws_limits")["lambda"]
    memory_mb = number(props.get("MemorySize"), 128.0) or 128.0
    if not limits["memory_mb_min"] <= memory_mb <= limits["memory_mb_max"]:
        raise TierwiseError(
            f"template {stack.path}: resource {logical_id!r} has MemorySize {memory_mb:g}; Lambda allows "
            f"{limits['memory_mb_min']} to {limits['memory_mb_max']} MB"
        )
    return memory_mb


def price_stack(
    stack: StackTemplate,
    workload: Workload,
    region: str,
    book: PriceBook,
    tokens_per_second: TokensPerSecond | None = None,
    usage: UsageFile | None = None,
) -> ProjectCost:
    """Every resource of one stack: priced, free, or unsupported (counted by type)."""
    ctx = PricingContext(stack, region, book, workload, tokens_per_second, usage)
    project = ProjectCost(name=stack.name, region=region, path=str(stack.path), resources=[])
    if region not in book.regions:
        project.notes.append(f"the price file has no prices for {region}: every price is unknown")
    for logical_id, resource in ctx.resources.items():
        rtype = resource["Type"]
        priced = pricer_for(rtype)
        if priced is not None:
            cost = priced(ctx, logical_id, resource)
            if cost is None:
                project.free[rtype] += 1
                project.free_ids.append((logical_id, rtype))
                continue
            cost.path = ctx.construct_path(resource)
            _check_finite(stack, logical_id, cost)
            check_bill_lines(stack.path, logical_id, rtype, cost.components)
            project.resources.append(cost)
        elif is_free(rtype):
            project.free[rtype] += 1
            project.free_ids.append((logical_id, rtype))
        else:
            project.unsupported[rtype] += 1
            project.unsupported_ids.append((logical_id, rtype))
    return project

