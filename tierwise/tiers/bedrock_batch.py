"""bedrock-batch: Bedrock batch inference (CreateModelInvocationJob) for the models AWS offers it
for: the prompts go to S3 as a JSONL file, a job runs them at the published batch price (half the
on-demand price where offered) and writes the answers to S3 (construct: tiers/bedrock_batch/).

Only in the race with --batch: a job answers in hours, not seconds. Fit: the model takes batch
inference in the region (directly or through a cross-region inference profile the catalogue
names), is not Legacy/EOL, a request fits its context, and the month's records make jobs within
the job quotas (records per job and per input file, the input file's size, jobs in progress).
Bill: batch input and output tokens, and the S3 objects of the input and output buckets.
"""

from __future__ import annotations

import math

from pydantic import Field

from tierwise.contract import TierSettings, base_model_id, is_inference_profile
from tierwise.cost import bills
from tierwise.cost.bills import BYTES_PER_TOKEN, CostComponent
from tierwise.cost.prices import PriceBook
from tierwise.facts import BatchModel, batch_model, bedrock_batch, bedrock_model
from tierwise.throughput import bedrock_speed
from tierwise.tiers import bedrock
from tierwise.tiers.base import Ask, Option, Rejection, TierModule, Usage

ID = "bedrock-batch"
# how long the stack's buckets keep prompts and answers (an S3 lifecycle rule): a month to fetch them
RETENTION_DAYS = 30
GB = 10**9  # the quota table's GB


class BedrockBatchSettings(TierSettings):
    model_id: str
    jobs_per_month: float = Field(ge=0, description="batch jobs a month (one a submission, more past a job's records)")
    min_records_per_job: int = Field(ge=1)
    max_records_per_job: int = Field(ge=1, description="the most records one job (one input file) may hold")
    timeout_hours: int = Field(ge=1, description="a job stops after this long (timeoutDurationInHours)")
    retention_days: int = Field(ge=1, description="days the buckets keep prompts and answers")


class BedrockBatch(TierModule):
    id = ID
    summary = "Bedrock batch inference: prompts as a JSONL file in S3, answers in S3, at the batch price"
    hosting = "managed"
    billing = "per-use"
    settings_models = (BedrockBatchSettings,)
    construct = "tiers.bedrock_batch.construct:BedrockBatchInference"
    streaming = (False, "a batch job writes every answer to S3 when it completes: nothing to stream")
    uses_key = True  # the buckets are encrypted with the stack's key
    client_door = "bedrock-batch-job"
    client_refusal = ("is batch work, answered in S3 by a Bedrock batch job: submit a JSONL file with "
                      "`tierwise batch submit {stack} input.jsonl`")
    # the role Bedrock assumes bills the tokens of every job it runs; the buckets bill their objects
    serving_resource_types = ("AWS::IAM::Role", "AWS::S3::Bucket")

    def settle(self, ask: Ask) -> Option:
        workload = ask.workload
        if not workload.batch:
            raise Rejection("a batch job answers in minutes to hours, not within an interactive request: only for "
                            f"batch work ({ask.option('batch')}{'=true' if ask.prefix != '--' else ''})")
        target = ask.target
        if target.max_seconds is not None or target.tokens_per_second_floor:
            raise Rejection(f"a batch job's turnaround is not published (minutes to hours): it cannot promise "
                            f"{target.describe()}")
        offer = ask.profile.bedrock
        if offer is None:
            raise Rejection(f"Bedrock does not serve {ask.profile.name}")
        model_id, facts, how = _batch_model_id(offer.model_ids, ask.region)
        warnings = bedrock.lifecycle_check(model_id, bedrock_model(model_id))
        # the request against the model's context on Bedrock (its model card), as the other Bedrock tiers
        bedrock.check_context(ask, model_id, bedrock_model(model_id))
        context = ask.profile.architecture.max_context if ask.profile.architecture else None
        tokens = workload.input_tokens + workload.output_tokens
        if context is not None and tokens > context:
            raise Rejection(f"{tokens:,} tokens a request do not fit {ask.profile.name}'s {context:,}-token context")
        q = facts.quotas
        job = bedrock_batch().job
        # one input file per job: its records are bound by the record quotas and the file size
        record_bytes = workload.input_tokens * BYTES_PER_TOKEN
        by_size = int(q.input_file_size_gb.value * GB // record_bytes)
        max_records = min(q.records_per_job.value, q.records_per_input_file.value, by_size)
        min_records = q.min_records_per_job.value
        requests = workload.requests_per_month
        jobs = bills.batch_jobs_per_month(requests, min_records=min_records, max_records=max_records)
        if jobs == 0:
            raise Rejection(f"a batch job takes at least {min_records} records ({facts.batch_name}, not adjustable); "
                            f"{requests:,} requests a month make none")
        per_submission = math.ceil(jobs / bills.BATCH_SUBMISSIONS_PER_MONTH) if jobs > bills.BATCH_SUBMISSIONS_PER_MONTH \
            else 1
        in_progress = q.jobs_in_progress
        if per_submission > in_progress.value:
            raise Rejection(
                f"a day's {requests / bills.BATCH_SUBMISSIONS_PER_MONTH:,.0f} records need {per_submission} jobs at once; "
                f"the quota on batch jobs in progress for {facts.batch_name} is {in_progress.value} (Service Quotas "
                f"{in_progress.code}, adjustable)"
            )
        speed = bedrock_speed(model_id)
        seconds = bedrock.request_seconds(ask, speed)
        timeout = bedrock_batch().turnaround.timeout_hours_min
        settings = {"model_id": model_id, "jobs_per_month": jobs, "min_records_per_job": min_records,
                    "max_records_per_job": max_records, "timeout_hours": timeout, "retention_days": RETENTION_DAYS}
        reasons = [
            f"Bedrock runs {model_id} as batch inference in {ask.region} ({how}): prompts as a JSONL file in S3, "
            f"answers in S3, at the batch price ({bedrock_batch().pricing.discount_vs_on_demand:.0%} of on demand "
            "where offered)",
            f"{requests:,} requests a month, submitted once a day (tierwise's assumption for batch work): "
            f"{jobs:g} jobs a month of {min_records:,}..{max_records:,} records each ({facts.batch_name}'s quotas: "
            f"{q.records_per_job.value:,} records a job, {q.records_per_input_file.value:,} a file, "
            f"{q.input_file_size_gb.value:g} GB a file; {job.operation})",
            f"turnaround: AWS publishes none; a job that has not finished after {timeout} h stops "
            f"(timeoutDurationInHours {timeout}..{bedrock_batch().turnaround.timeout_hours_max})",
        ]
        capacity = {"jobs_per_month": jobs, "records_per_job": round(requests / jobs, 1),
                    "jobs_at_once": per_submission, "jobs_in_progress_quota": in_progress.value}
        return Option(settings, reasons, None, None, speed, seconds, speed.time_to_first_token(workload.input_tokens),
                      None, capacity, warnings)

    def bill(self, settings: TierSettings, usage: Usage, book: PriceBook, region: str) -> list[CostComponent]:
        s = self.settings(settings)
        lines = bills.bedrock_batch_tokens(book, region, model_id=s.model_id, workload=usage.workload)
        for holds in (bills.JOB_INPUT, bills.JOB_OUTPUT):
            puts, gets, stored = bills.batch_objects(holds, usage.workload, jobs=s.jobs_per_month,
                                                     retention_days=s.retention_days)
            lines += bills.s3_objects(book, region, puts=puts, gets=gets, gb_months=stored)
        return lines

    def cold_start(self, settings: TierSettings) -> tuple[float | None, str]:
        t = bedrock_batch().turnaround
        return None, (f"a job waits in Bedrock's queue: AWS publishes no turnaround; it stops after "
                      f"{self.settings(settings).timeout_hours} h (timeoutDurationInHours {t.timeout_hours_min}.."
                      f"{t.timeout_hours_max})")

    def limitations(self, settings: TierSettings, seconds: float | None) -> list[str]:
        s = self.settings(settings)
        job = bedrock_batch().job
        out = [f"answers arrive in S3 when the job completes, within {s.timeout_hours} h (no turnaround is published)",
               f"{s.min_records_per_job:,}..{s.max_records_per_job:,} records a job"]
        if not job.tool_calling:
            out.append("no tool calling or structured output in batch inference")
        return out


def _batch_model_id(model_ids: list[str], region: str) -> tuple[str, BatchModel, str]:
    """The id a job runs for the first of `model_ids` Bedrock batches in `region`, its facts, and how
    it runs there; a Rejection naming what stands in the way of each."""
    why = []
    for model_id in model_ids:
        facts = batch_model(model_id)
        if facts is None:
            why.append(f"tierwise/data/bedrock_batch.yaml does not know {model_id}")
            continue
        if not facts.supported:
            why.append(f"{model_id} is not a model Bedrock batch inference takes ({bedrock_batch().support_source})")
            continue
        profile = is_inference_profile(model_id)
        if region in facts.single_region and not profile:
            return model_id, facts, "in the region itself"
        if region in facts.inference_profile_regions and profile:
            return model_id, facts, "through the cross-region inference profile"
        if region in facts.single_region or region in facts.inference_profile_regions:
            # the other form of the id (profile or base) is what runs here: it may come later in the list
            why.append(f"batch inference for {base_model_id(model_id)} in {region} runs "
                       f"{'in the region itself' if region in facts.single_region else 'through a cross-region profile'}, "
                       f"not as {model_id}")
            continue
        where = [*facts.single_region, *(f"{r} (cross-region profile)" for r in facts.inference_profile_regions)]
        why.append(f"batch inference for {model_id} runs in {', '.join(where) or 'no region'}, not {region}")
    raise Rejection("; ".join(dict.fromkeys(why)) or "no Bedrock model id to run a batch job on")


TIER = BedrockBatch()
