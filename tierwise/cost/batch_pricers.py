"""The review's prices for batch work, read from the template as the batch tiers build it:

- an asynchronous endpoint config (AsyncInferenceConfig): the busy instance-hours of an endpoint
  that scales to zero between submissions (the work, and each instance's start and idle time per
  submission), from its instance type, start-up timeout, MaxConcurrentInvocationsPerInstance and
  the autoscaling maximum;
- the IAM role Bedrock assumes for batch inference jobs (trusted by bedrock.amazonaws.com for
  model-invocation-job ARNs): the batch tokens of the one model its policy lets it invoke;
- a bucket a batch tier marks with what it holds (``Metadata.tierwise.holds``): its storage and
  requests, kept as long as its lifecycle rule says.

Each builds its lines with tierwise/cost/bills.py, the functions the plan's bill uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tierwise.cost import bills
from tierwise.cost.assembly import number, refs, strings
from tierwise.cost.bills import CostComponent, not_estimated
from tierwise.cost.prices import price_key
from tierwise.cost.report import ResourceCost
from tierwise.facts import bedrock_batch, sagemaker_async
from tierwise.stack_metadata import KEY as METADATA_KEY

if TYPE_CHECKING:
    from tierwise.cost.pricers import PricingContext

_MODEL_ARN = re.compile(r"(?:foundation-model|inference-profile)/([A-Za-z0-9][A-Za-z0-9.:\-]*)")


def _props(resource: Mapping[str, Any]) -> dict[str, Any]:
    props = resource.get("Properties")
    return props if isinstance(props, dict) else {}


def async_variant_lines(ctx: PricingContext, logical_id: str, tags: Mapping[str, str], config: Mapping[str, Any],
                        variant: Mapping[str, Any], instance_type: str, max_instances: float | None,
                        serves_model: bool) -> tuple[list[CostComponent], list[str]]:
    """The bill of one instance variant of an asynchronous endpoint config, and its notes."""
    if not serves_model:
        line = not_estimated(f"Async instance ({instance_type}), busy hours", "instance-hours",
                             ctx.book.instance_hour(ctx.region, instance_type),
                             price_key(ctx.region, "sagemaker", "instance_hour", instance_type))
        return [line], ["asynchronous: billed for the hours its instances run, usage not modelled"]
    client = (config.get("AsyncInferenceConfig") or {}).get("ClientConfig") or {}
    concurrency = number(client.get("MaxConcurrentInvocationsPerInstance") if isinstance(client, dict) else None)
    start_s = number(variant.get("ContainerStartupHealthCheckTimeoutInSeconds"))
    workload = ctx.workload_for(logical_id)
    notes = []
    seconds, more = ctx.request_seconds(logical_id, tags, {**variant, "_type": "AWS::SageMaker::EndpointConfig"})
    notes += more
    hours = None
    if concurrency is None or start_s is None or max_instances is None:
        notes.append("MaxConcurrentInvocationsPerInstance, ContainerStartupHealthCheckTimeoutInSeconds or the "
                     "autoscaling MaxCapacity is not a literal in the template: busy hours unknown")
    else:
        idle_s = sagemaker_async().scaling.scale_in.idle_s
        hours = bills.async_busy_hours(requests=workload.requests_per_month, seconds_per_request=seconds,
                                       concurrency=int(concurrency), instances_per_job=int(max_instances),
                                       start_s=start_s, idle_s=idle_s)
        notes.append(
            f"asynchronous, scales to zero: {bills.submissions_per_month(workload.requests_per_month):g} submissions "
            f"a month (one a day), {max_instances:g} instance(s) each, {concurrency:g} requests at once, "
            f"{start_s:g} s start and {idle_s} s idle per instance and submission"
        )
    return [bills.async_instance_hours(ctx.book, ctx.region, instance_type=instance_type, hours=hours)], notes


def _statements(ctx: PricingContext, logical_id: str, props: Mapping[str, Any]) -> list[dict]:
    """Every policy statement a role carries: its inline Policies and the AWS::IAM::Policy
    resources attached to it."""
    documents = [p.get("PolicyDocument") for p in props.get("Policies") or [] if isinstance(p, dict)]
    for resource in ctx.resources.values():
        if resource.get("Type") == "AWS::IAM::Policy" and logical_id in refs(_props(resource).get("Roles")):
            documents.append(_props(resource).get("PolicyDocument"))
    out = []
    for document in documents:
        found = document.get("Statement") if isinstance(document, dict) else None
        out += [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]
    return out


def _batch_service_role(props: Mapping[str, Any]) -> bool:
    """Trusted by Bedrock for batch inference jobs (the role of CreateModelInvocationJob)."""
    trust = props.get("AssumeRolePolicyDocument")
    principal = bedrock_batch().service_role.principal
    for statement in (trust.get("Statement") or []) if isinstance(trust, dict) else []:
        if not isinstance(statement, dict):
            continue
        if principal in strings(statement.get("Principal")) and "model-invocation-job" in " ".join(
                strings(statement.get("Condition"))):
            return True
    return False


def price_batch_role(ctx: PricingContext, logical_id: str, resource: dict) -> ResourceCost | None:
    """A role Bedrock batch jobs run as bills the batch tokens of the model it may invoke; any
    other role costs nothing."""
    props = _props(resource)
    if not _batch_service_role(props):
        return None
    invoked = []
    for statement in _statements(ctx, logical_id, props):
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else actions if isinstance(actions, list) else []
        if statement.get("Effect") == "Allow" and "bedrock:InvokeModel" in actions:
            invoked += _MODEL_ARN.findall(" ".join(strings(statement.get("Resource"))))
    tags = ctx.tags(resource)
    models = list(dict.fromkeys(invoked))
    if not models:
        return ResourceCost(logical_id, "AWS::IAM::Role", tags, [],
                            ["a Bedrock batch service role whose policy names no model: tokens not priced"])
    model_id = models[0]  # a profile's ARN comes before the foundation models it routes to
    notes = [f"Bedrock batch inference jobs run as this role: batch tokens of {model_id}"]
    if ctx.serves_model(logical_id, tags, "AWS::IAM::Role"):
        lines = bills.bedrock_batch_tokens(ctx.book, ctx.region, model_id=model_id,
                                           workload=ctx.workload_for(logical_id))
    else:
        notes.append("not tagged as a tierwise tier it serves: usage not modelled")
        lines = bills.bedrock_batch_tokens(ctx.book, ctx.region, model_id=model_id, workload=None)
    return ResourceCost(logical_id, "AWS::IAM::Role", tags, lines, notes)


def batch_bucket_lines(ctx: PricingContext, logical_id: str, resource: dict) -> tuple[list[CostComponent], list[str]] | None:
    """The storage and requests of a bucket a batch tier marked with what it holds, as the plan
    prices them; None for any other bucket."""
    meta = resource.get("Metadata")
    marker = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    holds = marker.get("holds") if isinstance(marker, dict) else None
    tags = ctx.tags(resource)
    if holds not in bills.BUCKET_HOLDS or not ctx.serves_model(logical_id, tags, "AWS::S3::Bucket"):
        return None
    rules = ((_props(resource).get("LifecycleConfiguration") or {}).get("Rules") or [])
    days = [number(r.get("ExpirationInDays")) for r in rules if isinstance(r, dict) and r.get("Status") == "Enabled"]
    days = [d for d in days if d is not None]
    workload = ctx.workload_for(logical_id)
    jobs = 0.0
    if holds != bills.REQUEST_IO:
        limits = marker.get("recordsPerJob")
        if not (isinstance(limits, list) and len(limits) == 2 and all(number(x) for x in limits)):
            return None
        jobs = bills.batch_jobs_per_month(workload.requests_per_month, min_records=int(number(limits[0])),
                                          max_records=int(number(limits[1])))
    if not days:
        notes = ["no lifecycle rule expires its objects: storage grows without bound, not priced"]
        return [bills.component("Standard storage", "GB-months", None, None,
                                price_key(ctx.region, "s3", "standard_gb_month"), usage_based=True)], notes
    puts, gets, stored = bills.batch_objects(holds, workload, jobs=jobs, retention_days=min(days))
    notes = [f"holds {holds} objects of {workload.requests_per_month:,} requests a month"
             + (f" in {jobs:g} jobs" if holds != bills.REQUEST_IO else "")
             + f", kept {min(days):g} days (its lifecycle rule)"]
    return bills.s3_objects(ctx.book, ctx.region, puts=puts, gets=gets, gb_months=stored), notes
