"""sagemaker-async: a SageMaker asynchronous endpoint on the GPU instance the model needs, with
its requests and answers in an S3 bucket of the stack, scaling to zero instances between
submissions (construct: tiers/sagemaker_async/).

Only in the race with --batch: a request waits in SageMaker's queue, and the first of a
submission waits for an instance to start. Fit, speed and the instance are the GPU tier's own
sizing (tierwise/tiers/sagemaker_gpu.py: the LMI container on the cheapest instance that holds the
model and serves the load), restricted to the instance types the AWS Price List offers for
asynchronous inference. Capacity: every submission (tierwise assumes one a day) starts enough
instances to drain it before a request outlives the queue's time-to-live. Bill: the busy
instance-hours (the work, plus each instance's start and the idle time before the scaling policy
removes it, per submission), and the bucket's objects.
"""

from __future__ import annotations

import math
from dataclasses import replace
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.bills import CostComponent
from tierwise.cost.prices import PriceBook, Quote
from tierwise.facts import async_limits, realtime_limits, sagemaker_async
from tierwise.tiers import sagemaker_gpu
from tierwise.tiers.base import Ask, Option, Rejection, TierModule, Usage
from tierwise.tiers.sagemaker_gpu import SageMakerGpuSettings

ID = "sagemaker-async"
# how long the stack's bucket keeps requests and answers (an S3 lifecycle rule)
RETENTION_DAYS = 30


class SageMakerAsyncSettings(SageMakerGpuSettings):
    """The GPU tier's settings (min_instances is 0: the endpoint scales to zero; max_instances is
    what each submission starts) and what the asynchronous endpoint adds."""

    max_concurrent_invocations_per_instance: int = Field(ge=1, le=1000)
    # the time a request may wait in the queue before SageMaker expires it (RequestTTLSeconds)
    request_ttl_s: int = Field(ge=60, le=21600)
    retention_days: int = Field(ge=1)


class _AsyncOffer:
    """The price book as the GPU tier's sizing sees it for an asynchronous endpoint: an instance
    type the AWS Price List does not offer for asynchronous inference has no price, so the sizing
    leaves it out of the choice."""

    def __init__(self, book: PriceBook) -> None:
        self._book = book
        self._not_offered = set(sagemaker_async().pricing.not_offered.instance_types)

    def instance_hour(self, region: str, instance_type: str) -> Quote | None:
        return None if instance_type in self._not_offered else self._book.instance_hour(region, instance_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._book, name)


class SageMakerAsync(TierModule):
    id = ID
    summary = "SageMaker asynchronous endpoint on a GPU instance (LMI/vLLM), S3 in and out, scales to zero"
    hosting = "self"
    billing = "per-use"
    settings_models = (SageMakerAsyncSettings,)
    options = frozenset({"image_uri", "hf_token_secret", "alarm_topic_arn"})
    image_region_rule = "sagemaker_image"
    construct = "tiers.sagemaker_async.construct:SageMakerAsyncEndpoint"
    streaming = (False, "InvokeEndpointAsync queues the request and writes the answer to S3: nothing to stream")
    uses_key = True
    alarms = ("ScaleFromZero", "Failures")
    client_door = "sagemaker-async-endpoint"
    client_refusal = ("is an asynchronous endpoint: put the request in its bucket and call InvokeEndpointAsync "
                      "(the stack's InvokeCommand output shows how); the answer lands in S3")
    vpc_endpoints = None
    # the LMI container downloads hf_model_id from the Hugging Face Hub at start-up
    needs_internet = True
    serving_resource_types = ("AWS::SageMaker::EndpointConfig", "AWS::S3::Bucket")

    def missing(self, placement: Any, options: Mapping[str, Any]) -> str | None:
        # the same LMI container downloads the same Hub repository: the GPU tier's rule, its own id
        found = sagemaker_gpu.TIER.missing(placement, options)
        return None if found is None else found.replace(f"on {sagemaker_gpu.ID} ", f"on {ID} ")

    def settle(self, ask: Ask) -> Option:
        workload = ask.workload
        if not workload.batch:
            raise Rejection("an asynchronous endpoint queues each request and starts instances from zero: only for "
                            f"batch work ({ask.option('batch')}{'=true' if ask.prefix != '--' else ''})")
        try:
            gpu = sagemaker_gpu.TIER.settle(replace(ask, book=_AsyncOffer(ask.book)))
        except Rejection as exc:
            raise Rejection(f"the GPU sizing it shares with {sagemaker_gpu.ID}: {exc}") from None
        s = dict(gpu.settings)
        facts = sagemaker_async()
        lim = async_limits()
        # SageMaker hands an instance at most this many requests at once; each takes the time it
        # takes in the GPU tier's batch, which a smaller batch only shortens
        c = min(int(s["max_batch_size"]), lim.max_concurrent_invocations_per_instance_max)
        seconds = gpu.seconds
        start_s = facts.scaling.scale_out_from_zero_s + s["startup_health_check_timeout_s"]
        idle_s = facts.scaling.scale_in.idle_s
        ttl_s = lim.request_ttl_s_max
        requests = workload.requests_per_month
        submissions = bills.submissions_per_month(requests) or 1.0
        work_s = requests / submissions * seconds / c  # one submission's work on one instance
        instances = max(1, math.ceil(work_s / (ttl_s - start_s)))
        s.update(min_instances=0, max_instances=instances, max_concurrent_invocations_per_instance=c,
                 request_ttl_s=ttl_s, retention_days=RETENTION_DAYS)
        hours = bills.async_busy_hours(requests=requests, seconds_per_request=seconds, concurrency=c,
                                       instances_per_job=instances, start_s=s["startup_health_check_timeout_s"],
                                       idle_s=idle_s)
        reasons = [
            f"the GPU tier's sizing on the instances the AWS Price List offers for asynchronous inference "
            f"(not {', '.join(facts.pricing.not_offered.instance_types)}): {s['instance_type']}, "
            f"{c} requests at once, ~{seconds:.1f} s each",
            f"{requests:,} requests a month, submitted once a day (tierwise's assumption for batch work): "
            f"{work_s / 3600:.2f} instance-hours of work a submission; {instances} instance(s) drain it within "
            f"the queue's {ttl_s / 3600:g} h time-to-live",
            f"each submission starts from zero: ~{facts.scaling.scale_out_from_zero_s} s of backlog before the "
            f"HasBacklogWithoutCapacity alarm, up to {s['startup_health_check_timeout_s']} s to start (billed: the "
            f"container start-up timeout, AWS publishes no figure), and {idle_s // 60} min idle before the target "
            f"tracking policy scales in: ~{hours:,.1f} instance-hours a month",
            # the GPU tier's sizing, less its always-on load and price comparison lines
            *[r for r in gpu.reasons if not r.startswith(("not compared", "load:"))],
        ]
        capacity = {"instances_per_submission": instances, "submissions_per_month": submissions,
                    "busy_instance_hours": round(hours, 2), "max_concurrent_invocations_per_instance": c,
                    "requests_per_second_per_instance": gpu.capacity.get("requests_per_second_per_instance")}
        return Option(s, reasons, gpu.memory, gpu.quant, gpu.speed, seconds, gpu.ttft, float(start_s), capacity,
                      gpu.warnings)

    def check_options(self, placement: Any, options: Any, *, forced: bool) -> None:
        sagemaker_gpu.TIER.check_options(placement, options, forced=forced)

    def weights(self, placement: Any) -> str:
        return sagemaker_gpu.TIER.weights(placement)

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        hours = bills.async_busy_hours(
            requests=usage.workload.requests_per_month, seconds_per_request=usage.seconds_per_request,
            concurrency=s.max_concurrent_invocations_per_instance, instances_per_job=s.max_instances,
            start_s=s.startup_health_check_timeout_s, idle_s=sagemaker_async().scaling.scale_in.idle_s,
        )
        puts, gets, stored = bills.batch_objects(bills.REQUEST_IO, usage.workload, jobs=0,
                                                 retention_days=s.retention_days)
        return [bills.async_instance_hours(book, region, instance_type=s.instance_type, hours=hours),
                *bills.s3_objects(book, region, puts=puts, gets=gets, gb_months=stored)]

    def bills_request_time(self) -> bool:
        return True

    def instances(self, settings: TierSettings) -> int | None:
        return 0

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        s = self.settings(settings)
        wait = sagemaker_async().scaling.scale_out_from_zero_s
        return (float(wait + s.startup_health_check_timeout_s),
                f"scales to zero: {wait} s of backlog before an instance starts, up to "
                f"{s.startup_health_check_timeout_s} s to load the model")

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        s = self.settings(settings)
        limit = realtime_limits().invocation_timeout_s
        out = [f"answers land in S3; a request queued over {s.request_ttl_s // 3600} h expires",
               f"at most {s.max_instances} instance(s) a submission",
               f"no request over {limit} s (sized at the real-time limit; async allows "
               f"{async_limits().processing_time_s_max:,} s)",
               "no VPC placement"]
        if seconds is not None and seconds > limit:
            out.insert(0, f"this workload's requests take {seconds:.0f} s")
        return out


TIER = SageMakerAsync()
