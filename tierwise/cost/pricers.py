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

from tierwise.contract import NO_QUANT, TAG_MODEL, TAG_QUANT, TAG_TIER
from tierwise.cost import batch_pricers, bills
from tierwise.cost.assembly import (
    StackTemplate, check_bill_lines, number, refs, request_within_limit, resource_tags, strings,
)
from tierwise.cost.bills import HOURS_PER_MONTH, CostComponent, component, not_estimated, request_seconds
from tierwise.cost.prices import PriceBook, commitment_key, price_key
from tierwise.cost.report import ProjectCost, ResourceCost
from tierwise.cost.usage import Usage, UsageFile
from tierwise.errors import TierwiseError
from tierwise.facts import lambda_limits
from tierwise.stack_metadata import PlannedStack, read_planned
from tierwise.workload import Workload


# (model, tier, quant, resource properties) -> (decode tokens/s, prompt tokens/s) or None
TokensPerSecond = Callable[[str, str, str | None, Mapping[str, Any]], "tuple[float | None, float | None] | None"]

# Resources that cost nothing by themselves (or are priced through another resource).
FREE_TYPES = frozenset(
    {
        "AWS::CDK::Metadata",
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


@dataclass
class PricingContext:
    stack: StackTemplate
    region: str
    book: PriceBook
    workload: Workload
    tokens_per_second: TokensPerSecond | None = None
    usage: UsageFile | None = None
    # what the template says it was planned for (Metadata.tierwise)
    planned: PlannedStack = PlannedStack()

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

    def serves_model(self, logical_id: str, tags: Mapping[str, str], resource_type: str) -> bool:
        """Whether this resource serves the model: in a tierwise stack (its tier tag), of the type
        the stack recorded as serving requests (Metadata.tierwise.servingResourceTypes); or one the
        usage file names."""
        serving = TAG_TIER in tags and resource_type in self.planned.serving_resource_types
        return serving or self.named_in_usage(logical_id)

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
        recorded = self._recorded_request_seconds(usage, workload, memory_mb)
        if recorded is not None:
            return recorded
        tps, prompt_tps, notes = self._throughput(usage, tags, props, memory_mb)
        seconds, more = request_seconds(workload, tps, prompt_tps)
        notes += more
        if seconds is not None:
            notes.append(f"{seconds:.1f} s per request at {tps:.1f} tokens/s")
        return seconds, notes

    def _recorded_request_seconds(
        self, usage: Usage | None, workload: Workload, memory_mb: float | None
    ) -> tuple[float, list[str]] | None:
        """The request time tierwise recorded at synth (``secondsPerRequest``), when nothing more
        specific is given (no token rate from a usage file or the caller): as planned when this is
        the planned workload and size; a classifier's forward pass, linear in the prompt, scaled
        to another prompt length; else None (the rates decide)."""
        if (usage and usage.tokens_per_second) or self.tokens_per_second is not None:
            return None
        planned = self.planned
        seconds = planned.seconds_per_request
        if seconds is None:
            return None
        same_size = memory_mb is None or planned.memory_mb is None or memory_mb == planned.memory_mb
        # a request's time depends on its tokens and the size it runs at, not on how many come a
        # month: another volume of the planned request keeps the planned time
        same_request = planned.workload is not None and (workload.input_tokens, workload.output_tokens) == (
            planned.workload.input_tokens, planned.workload.output_tokens)
        if same_request and same_size:
            return seconds, [f"{seconds:.3f} s per request, as planned at synth (template Metadata.tierwise)"]
        if planned.decode_tokens_per_second is not None:
            return None
        notes = [f"{seconds:.3f} s per request: one forward pass, recorded by tierwise at synth "
                 "(template Metadata.tierwise.secondsPerRequest)"]
        planned_tokens = planned.planned_input_tokens
        if planned_tokens and planned_tokens != workload.input_tokens:
            seconds *= workload.input_tokens / planned_tokens
            notes.append(f"scaled to {workload.input_tokens} input tokens from the {planned_tokens:g} planned: "
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
        decode = self.planned.decode_tokens_per_second
        if decode is None:
            return None, None, [
                "tokens per second unknown: no usage file entry, no --tokens-per-second and no "
                "Metadata.tierwise.decodeTokensPerSecond in the template"
            ]
        prompt = self.planned.prompt_tokens_per_second
        notes = ["tokens per second recorded by tierwise at synth (template Metadata.tierwise)"]
        planned_mb = self.planned.memory_mb
        if props.get("_type") == "AWS::Lambda::Function" and memory_mb and planned_mb and memory_mb != planned_mb:
            # CPU decode speed is linear in vCPUs; Lambda gives one vCPU per mb_per_vcpu MB.
            lim = lambda_limits()
            per_vcpu, vcpus_max = lim.mb_per_vcpu, lim.vcpus_max
            scale = min(memory_mb / per_vcpu, vcpus_max) / min(planned_mb / per_vcpu, vcpus_max)
            decode *= scale
            prompt = None if prompt is None else prompt * scale
            notes.append(f"rates scaled by vCPUs: {memory_mb:.0f} MB here, {planned_mb:.0f} MB planned")
        return decode, prompt, notes


def _props(resource: Mapping[str, Any]) -> dict[str, Any]:
    props = resource.get("Properties")
    return props if isinstance(props, dict) else {}


def _model_server_functions(ctx: PricingContext) -> set[str]:
    """Lambda functions that serve a model: named in the usage file, or the lambda-gguf function
    (the container image one, else the largest) of a tierwise-tagged stack."""
    functions = [(lid, res) for lid, res in ctx.resources.items() if res.get("Type") == "AWS::Lambda::Function"]
    named = {lid for lid, _ in functions if ctx.named_in_usage(lid)}
    tagged = [(lid, res) for lid, res in functions if ctx.serves_model("", ctx.tags(res), "AWS::Lambda::Function")]
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
        seconds, more = ctx.request_seconds(logical_id, tags, {**props, "_type": "AWS::Lambda::Function"}, memory_mb)
        seconds = request_within_limit(seconds, "lambda", ctx.stack.path, logical_id, more)
        notes += more
        lines = bills.lambda_function(
            ctx.book, ctx.region, memory_mb=memory_mb, architecture=arch, ephemeral_storage_mb=storage_mb,
            requests=ctx.workload_for(logical_id).requests_per_month, seconds=seconds,
        )
    else:
        notes.append("not on the model's request path: usage not modelled (name it in a usage file to price it)")
        lines = bills.lambda_function_unmodelled(ctx.book, ctx.region, arch)
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
    bounds = _scaling_bounds(ctx, endpoints, endpoint_names, variant)
    return None if bounds is None else bounds[0]


def _scaling_bounds(ctx: PricingContext, endpoints: list[str], endpoint_names: set[str],
                    variant: str) -> tuple[float | None, float | None] | None:
    """(MinCapacity, MaxCapacity) of the scalable target of this endpoint variant, or None."""
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
        return number(props.get("MinCapacity")), number(props.get("MaxCapacity"))
    return None


def _instances_at_load(ctx: PricingContext, workload: Workload, minimum: float,
                       bounds: tuple[float | None, float | None] | None) -> tuple[int, int, str] | None:
    """(baseline, peak, how) instances a stack planned by tierwise runs for `workload`: sized from
    what one instance serves (Metadata.tierwise.requestsPerSecondPerInstance) at the workload's
    target utilization, over its load shape, within the autoscaling bounds."""
    per_instance = ctx.planned.requests_per_second_per_instance
    if per_instance is None or bounds is None or None in bounds:
        return None
    low, high = int(bounds[0]), int(bounds[1])
    base, peak = bills.instances_for_load(workload, per_instance * workload.target_utilization)
    base, peak = min(max(base, low), high), min(max(peak, low), high)
    return base, peak, (f"{base} all month and {peak} for {workload.peak_hours_per_day:g} h a day at peak (one "
                        f"instance serves {per_instance:g} requests/s, planned at {workload.target_utilization:.0%}; "
                        f"autoscaling {low}..{high})")


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
    serves_model = ctx.serves_model(logical_id, tags, "AWS::SageMaker::EndpointConfig")
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
            if serves_model:
                seconds, more = ctx.request_seconds(logical_id, tags, {"memory_mb": memory_mb, **serverless})
                seconds = request_within_limit(seconds, "serverless", ctx.stack.path, logical_id, more)
                notes += more
                lines += bills.serverless_variant(ctx.book, ctx.region, memory_mb=memory_mb,
                                                  provisioned_concurrency=provisioned, workload=workload,
                                                  seconds=seconds)
            else:
                lines.append(not_estimated(f"Serverless inference ({memory_mb} MB)", "GB-seconds",
                                           ctx.book.serverless_gb_second(ctx.region, memory_mb),
                                           price_key(ctx.region, "sagemaker", "serverless_gb_second", memory_mb)))
                if provisioned:
                    lines.append(bills.serverless_provisioned_concurrency(ctx.region, provisioned, memory_mb))
            continue
        instance_type = variant.get("InstanceType")
        if not isinstance(instance_type, str):
            notes.append(f"{vname}: no instance type or serverless config: not priced")
            continue
        if "AsyncInferenceConfig" in props:
            async_bounds = _scaling_bounds(ctx, endpoints, endpoint_names, vname)
            maximum = None if async_bounds is None else async_bounds[1]
            more_lines, more_notes = batch_pricers.async_variant_lines(
                ctx, logical_id, tags, props, variant, instance_type, maximum, serves_model)
            lines += more_lines
            notes += [f"{vname}: {n}" for n in more_notes]
            continue
        initial = number(variant.get("InitialInstanceCount"), 1.0) or 0.0
        bounds = _scaling_bounds(ctx, endpoints, endpoint_names, vname)
        minimum = None if bounds is None else bounds[0]
        count = initial if minimum is None else minimum
        at_load = _instances_at_load(ctx, workload, count, bounds) if serves_model else None
        if at_load is not None:
            base, peak, how = at_load
            notes.append(f"{vname}: {instance_type} x {how}")
            lines += bills.instances_at_load(ctx.book, ctx.region, instance_type=instance_type, baseline=base,
                                             peak=peak, workload=workload)
        else:
            source = "InitialInstanceCount" if minimum is None else "autoscaling MinCapacity"
            notes.append(f"{vname}: {count:g} x {instance_type} ({source}), billed {HOURS_PER_MONTH:.0f} h a month")
            lines.append(bills.instance_hours(ctx.book, ctx.region, instance_type=instance_type, count=count))
        if serves_model:
            lines += bills.sagemaker_data_processed(ctx.book, ctx.region, workload)
        else:
            lines.append(not_estimated("Data processed in", "GB", ctx.book.sagemaker_data_in(ctx.region),
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
    line = bills.provisioned_throughput(ctx.book, ctx.region, model_id=model_id, model_units=units,
                                        commitment=commitment)
    return ResourceCost(logical_id, rtype, tags, [line], notes)


# what the imported-model construct records of its plan on the resource (Metadata.tierwise)
IMPORT_METADATA = ("customModelUnits", "copies")


@pricer("Custom::BedrockImportedModel")
def price_imported_model(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    """An imported model: CMUs x copies in the 5-minute windows with traffic, and storage. AWS sets
    the CMUs at import, so the template carries the construct's estimate (Metadata.tierwise)."""
    tags = ctx.tags(resource)
    rtype = str(resource.get("Type"))
    meta = resource.get("Metadata") if isinstance(resource.get("Metadata"), dict) else {}
    planned = meta.get("tierwise") if isinstance(meta.get("tierwise"), dict) else {}
    cmus, copies = (number(planned.get(key)) for key in IMPORT_METADATA)
    if cmus is None or copies is None or cmus < 1 or copies < 1 or cmus != int(cmus) or copies != int(copies):
        line = CostComponent(name="Model copies active", unit="CMU-minutes", monthly_quantity=None, price=None,
                             monthly_cost=None)
        return ResourceCost(logical_id, rtype, tags, [line],
                            ["the resource records no whole customModelUnits and copies (Metadata.tierwise): cannot price"])
    notes = [f"{cmus:g} CMU per copy (estimated at synth; AWS sets the count at import), {copies:g} cop"
             f"{'y' if copies == 1 else 'ies'} for the average load"]
    workload = ctx.workload_for(logical_id) if ctx.serves_model(logical_id, tags, rtype) else None
    if workload is None:
        notes.append("not tagged as a tierwise tier it serves: usage not modelled")
    lines = bills.custom_model_import(ctx.book, ctx.region, cmus=int(cmus), copies=int(copies), workload=workload)
    return ResourceCost(logical_id, rtype, tags, lines, notes)


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
    if ctx.serves_model(logical_id, tags, "AWS::Bedrock::ApplicationInferenceProfile"):
        lines = bills.bedrock_tokens(ctx.book, ctx.region, model_id=model_id, workload=ctx.workload_for(logical_id))
    else:
        notes.append("not tagged as a tierwise tier it serves: usage not modelled")
        lines = bills.bedrock_tokens(ctx.book, ctx.region, model_id=model_id, workload=None)
    return ResourceCost(logical_id, "AWS::Bedrock::ApplicationInferenceProfile", tags, lines, notes)


@pricer("AWS::S3::Bucket")
def price_bucket(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    batch = batch_pricers.batch_bucket_lines(ctx, logical_id, resource)
    if batch is not None:
        return ResourceCost(logical_id, "AWS::S3::Bucket", ctx.tags(resource), *batch)
    r = ctx.region
    lines = [
        not_estimated("Standard storage", "GB-months", ctx.book.quote(r, "s3", "standard_gb_month"),
                       price_key(r, "s3", "standard_gb_month")),
        not_estimated("PUT, COPY, POST, LIST requests", "1K requests", ctx.book.quote(r, "s3", "put_per_1k"),
                       price_key(r, "s3", "put_per_1k")),
        not_estimated("GET and other requests", "1K requests", ctx.book.quote(r, "s3", "get_per_1k"),
                       price_key(r, "s3", "get_per_1k")),
    ]
    return ResourceCost(logical_id, "AWS::S3::Bucket", ctx.tags(resource), lines, ["storage and requests depend on use"])


@pricer("AWS::IAM::Role")
def price_role(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost | None:
    """A role costs nothing, unless Bedrock batch jobs run as it (their tokens bill through it)."""
    return batch_pricers.price_batch_role(ctx, logical_id, resource)


@pricer("AWS::KMS::Key")
def price_kms_key(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    notes = []
    if _props(resource).get("EnableKeyRotation"):
        notes.append("key rotation on: AWS bills rotated key material too, not modelled")
    return ResourceCost(logical_id, "AWS::KMS::Key", ctx.tags(resource), bills.kms_key(ctx.book, ctx.region), notes)


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
    line = bills.alarm(ctx.book, ctx.region, metrics=count, high_resolution=period < 60)
    return ResourceCost(logical_id, "AWS::CloudWatch::Alarm", ctx.tags(resource), [line], [])


@pricer("AWS::Logs::LogGroup")
def price_log_group(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost:
    retention = _props(resource).get("RetentionInDays", "never expires")
    return ResourceCost(logical_id, "AWS::Logs::LogGroup", ctx.tags(resource), bills.log_group(ctx.book, ctx.region),
                        [f"retention: {retention}"])


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
        not_estimated("Data processed", "GB", ctx.book.interface_endpoint_data_gb(r), data_key),
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
    lim = lambda_limits()
    memory_mb = number(props.get("MemorySize"), 128.0) or 128.0
    if not lim.memory_mb_min <= memory_mb <= lim.memory_mb_max:
        raise TierwiseError(
            f"template {stack.path}: resource {logical_id!r} has MemorySize {memory_mb:g}; Lambda allows "
            f"{lim.memory_mb_min} to {lim.memory_mb_max} MB"
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
    planned = read_planned(stack.tierwise_metadata, f"template {stack.path}")
    ctx = PricingContext(stack, region, book, workload, tokens_per_second, usage, planned)
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

