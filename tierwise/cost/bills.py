"""Bill lines: one function per thing AWS bills, shared by the plan and the template review.

A tier's estimate before synth (its module in tierwise/tiers builds its bill from its settings)
and the review after synth (tierwise/cost/pricers.py reads the same quantities back from the
template) call the same functions here, so the two cannot price one resource two ways.

A price the price file does not know makes a line's cost None and is named by its key; a zero
quantity costs zero even when its price is unknown. All lines are monthly.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from tierwise.cost.prices import PriceBook, Quote, commitment_key, price_key
from tierwise.facts import sagemaker_async
from tierwise.workload import HOURS_PER_DAY, MONTH_HOURS, Workload

HOURS_PER_MONTH = MONTH_HOURS  # AWS's own convention for monthly estimates (8,760 h / 12)
DAYS_PER_MONTH = HOURS_PER_MONTH / HOURS_PER_DAY
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
# Request and response bodies are text: about four bytes per token of English (the rule of
# thumb tokenizer documentation gives: a token is ~4 characters). Used only for the
# SageMaker "data processed" line, which is tiny next to compute.
BYTES_PER_TOKEN = 4
BYTES_PER_GB = 1024**3
LAMBDA_FREE_EPHEMERAL_MB = 512


class CostComponent(BaseModel):
    """One line of a bill: quantity per month times price per unit."""

    model_config = ConfigDict(frozen=True)

    name: str
    unit: str = Field(description="unit of the quantity, which the price is quoted per")
    monthly_quantity: float | None
    price: float | None = Field(description="USD per unit; None when the price is unknown")
    monthly_cost: float | None
    price_key: str | None = None
    source: str | None = None
    usage_based: bool = Field(False, description="the quantity comes from the workload")
    not_estimated: bool = Field(
        False,
        description="usage-based line with no usage modelled (like Infracost without a usage file): "
        "shown with its price, left out of totals",
    )


class TierCost(BaseModel):
    """A deployment's monthly bill: every line its stack is billed for."""

    model_config = ConfigDict(frozen=True)

    tier: str
    region: str
    monthly_usd: float | None = Field(description="None when any price or quantity needed is unknown")
    known_usd: float = Field(description="the sum of the components whose cost is known")
    components: list[CostComponent]
    unknown: list[str] = Field(default_factory=list, description="what could not be priced, and why")
    notes: list[str] = Field(default_factory=list)
    request_seconds: float | None = Field(None, description="how long one request runs, where it bills")


def component(
    name: str,
    unit: str,
    quantity: float | None,
    quote: Quote | None,
    key: str,
    *,
    usage_based: bool = False,
) -> CostComponent:
    """A bill line; a zero quantity costs zero even when its price is unknown."""
    if quantity is None:
        cost = None
    elif quantity == 0:
        cost = 0.0
    elif quote is None:
        cost = None
    else:
        cost = quantity * quote.value
    return CostComponent(
        name=name,
        unit=unit,
        monthly_quantity=quantity,
        price=quote.value if quote else None,
        monthly_cost=cost,
        price_key=quote.key if quote else key,
        source=quote.source if quote else None,
        usage_based=usage_based,
    )


def not_estimated(name: str, unit: str, quote: Quote | None, key: str) -> CostComponent:
    """A usage-based line whose usage is not modelled: its price shown, left out of totals."""
    return CostComponent(
        name=name, unit=unit, monthly_quantity=None, price=quote.value if quote else None, monthly_cost=None,
        price_key=quote.key if quote else key, source=quote.source if quote else None,
        usage_based=True, not_estimated=True,
    )


def total(components: list[CostComponent]) -> tuple[float | None, float, list[str]]:
    """(monthly total or None, known part, what is unknown) of a list of components."""
    known = 0.0
    unknown: list[str] = []
    for c in components:
        if c.not_estimated:
            continue
        if c.monthly_cost is not None:
            known += c.monthly_cost
        elif c.monthly_quantity is None:
            unknown.append(f"{c.name}: quantity unknown")
        else:
            unknown.append(f"{c.name}: price unknown ({c.price_key})")
    return (None if unknown else known), known, unknown


def request_seconds(
    workload: Workload,
    tokens_per_second: float | None,
    prompt_tokens_per_second: float | None,
) -> tuple[float | None, list[str]]:
    """How long one request runs: prompt processing plus generation, in the order a plan adds
    them (prompt first), so the review and the plan come to the same figure."""
    notes: list[str] = []
    if tokens_per_second is None or not math.isfinite(tokens_per_second) or tokens_per_second <= 0:
        return None, notes
    seconds = 0.0
    if prompt_tokens_per_second and prompt_tokens_per_second > 0:
        seconds = workload.input_tokens / prompt_tokens_per_second
    else:
        notes.append("prompt processing time not counted: no prompt tokens-per-second given")
    return seconds + workload.output_tokens / tokens_per_second, notes


def usage_seconds(requests: float, seconds: float | None, gb: float) -> float | None:
    """GB-seconds a month; zero requests bill nothing even when the duration is unknown."""
    if requests == 0:
        return 0.0
    return None if seconds is None else requests * seconds * gb


# --- Lambda -----------------------------------------------------------------------------------


def lambda_function(
    book: PriceBook,
    region: str,
    *,
    memory_mb: float,
    architecture: str,
    ephemeral_storage_mb: float,
    requests: float,
    seconds: float | None,
) -> list[CostComponent]:
    """A Lambda function invoked `requests` times a month for `seconds` each."""
    gb_seconds = usage_seconds(requests, seconds, memory_mb / 1024)
    extra_storage_gb = max(0.0, ephemeral_storage_mb - LAMBDA_FREE_EPHEMERAL_MB) / 1024
    lines = [
        component("Requests", "1M requests", requests / 1e6, book.lambda_requests(region),
                  price_key(region, "lambda", "requests_per_million"), usage_based=True),
        component(f"Duration ({architecture})", "GB-seconds", gb_seconds,
                  book.lambda_duration(region, architecture),
                  price_key(region, "lambda", "duration_gb_second", architecture), usage_based=True),
    ]
    if extra_storage_gb > 0:
        lines.append(
            component("Ephemeral storage above 512 MB", "GB-seconds", usage_seconds(requests, seconds, extra_storage_gb),
                      book.lambda_ephemeral_storage(region),
                      price_key(region, "lambda", "ephemeral_storage_gb_second"), usage_based=True)
        )
    return lines


def lambda_function_unmodelled(book: PriceBook, region: str, architecture: str) -> list[CostComponent]:
    """A Lambda function off the model's request path (a custom resource's handler, say)."""
    return [
        not_estimated("Requests", "1M requests", book.lambda_requests(region),
                      price_key(region, "lambda", "requests_per_million")),
        not_estimated(f"Duration ({architecture})", "GB-seconds", book.lambda_duration(region, architecture),
                      price_key(region, "lambda", "duration_gb_second", architecture)),
    ]


# --- SageMaker --------------------------------------------------------------------------------


def sagemaker_data_processed(book: PriceBook, region: str, workload: Workload) -> list[CostComponent]:
    """The request and response bytes a SageMaker endpoint processes."""
    requests = workload.requests_per_month
    gb_in = requests * workload.input_tokens * BYTES_PER_TOKEN / BYTES_PER_GB
    gb_out = requests * workload.output_tokens * BYTES_PER_TOKEN / BYTES_PER_GB
    return [
        component("Data processed in", "GB", gb_in, book.sagemaker_data_in(region),
                  price_key(region, "sagemaker", "data_processed_in_gb"), usage_based=True),
        component("Data processed out", "GB", gb_out, book.sagemaker_data_out(region),
                  price_key(region, "sagemaker", "data_processed_out_gb"), usage_based=True),
    ]


def serverless_variant(
    book: PriceBook,
    region: str,
    *,
    memory_mb: int,
    provisioned_concurrency: int | None,
    workload: Workload,
    seconds: float | None,
) -> list[CostComponent]:
    """A SageMaker Serverless Inference variant serving `workload`, `seconds` a request."""
    lines = [
        component(f"Serverless inference ({memory_mb} MB)", "GB-seconds",
                  usage_seconds(workload.requests_per_month, seconds, memory_mb / 1024),
                  book.serverless_gb_second(region, memory_mb),
                  price_key(region, "sagemaker", "serverless_gb_second", memory_mb), usage_based=True),
        *sagemaker_data_processed(book, region, workload),
    ]
    if provisioned_concurrency:
        lines.append(serverless_provisioned_concurrency(region, provisioned_concurrency, memory_mb))
    return lines


def serverless_provisioned_concurrency(region: str, provisioned: int, memory_mb: float) -> CostComponent:
    """Serverless provisioned concurrency bills per GB-second while provisioned, around the
    clock; the price file has no figure for it yet, so the line is priced unknown."""
    return CostComponent(
        name=f"Provisioned concurrency ({provisioned})",
        unit="GB-seconds",
        monthly_quantity=provisioned * memory_mb / 1024 * SECONDS_PER_MONTH,
        price=None,
        monthly_cost=None,
        price_key=price_key(region, "sagemaker", "serverless_provisioned_concurrency"),
    )


def instance_hours(book: PriceBook, region: str, *, instance_type: str, count: float) -> CostComponent:
    """`count` SageMaker hosting instances running around the clock."""
    return component(f"Instance ({instance_type}) x {count:g}", "instance-hours", count * HOURS_PER_MONTH,
                     book.instance_hour(region, instance_type),
                     price_key(region, "sagemaker", "instance_hour", instance_type))


def instances_for_load(workload: Workload, requests_per_second_per_instance: float) -> tuple[int, int]:
    """(off-peak, peak) instances that keep each at or under `requests_per_second_per_instance`
    (its capacity at the workload's target utilization) over the workload's load shape; at
    least one, so the endpoint answers at any hour."""
    _, off_peak, peak = workload.rates_per_second()
    base = max(1, math.ceil(off_peak / requests_per_second_per_instance - 1e-9))
    return base, max(base, math.ceil(peak / requests_per_second_per_instance - 1e-9))


def peak_instance_hours(workload: Workload, baseline: int, peak: int) -> float:
    """Instance-hours a month the instances above the baseline run: the peak hours of every day."""
    return max(0, peak - baseline) * workload.peak_hours_per_day * DAYS_PER_MONTH


def instances_at_load(book: PriceBook, region: str, *, instance_type: str, baseline: int, peak: int,
                      workload: Workload) -> list[CostComponent]:
    """SageMaker instances that run what the load needs: `baseline` all month, and the extra
    ones autoscaling adds for the peak hours of each day (the workload's load shape)."""
    lines = [instance_hours(book, region, instance_type=instance_type, count=baseline)]
    extra = peak_instance_hours(workload, baseline, peak)
    if extra > 0:
        lines.append(component(
            f"Instance ({instance_type}) +{peak - baseline} at peak, {workload.peak_hours_per_day:g} h a day",
            "instance-hours", extra, book.instance_hour(region, instance_type),
            price_key(region, "sagemaker", "instance_hour", instance_type), usage_based=True))
    return lines


# --- Bedrock ----------------------------------------------------------------------------------


def provisioned_throughput(book: PriceBook, region: str, *, model_id: str, model_units: float,
                           commitment: str | None) -> CostComponent:
    """Bedrock model units bought for the month at the commitment's hourly rate."""
    term = commitment_key(commitment)
    return component(f"Provisioned throughput ({model_units:g} MU, {term})", "model-unit-hours",
                     model_units * HOURS_PER_MONTH, book.bedrock_model_unit_hour(region, model_id, commitment),
                     price_key(region, "bedrock", "provisioned_model_unit_hour", model_id, term))


def import_windows_per_month() -> float:
    """The billing windows of a month for an imported model (tierwise/data/bedrock_custom_import.yaml)."""
    from tierwise.facts import custom_model_import

    return HOURS_PER_MONTH * 60 / custom_model_import().pricing.billing_window_minutes


def active_import_windows(requests_per_month: float) -> float:
    """The windows of a month in which at least one request arrives (arrivals at random, the
    month's average rate): the ones an imported model's copies bill."""
    windows = import_windows_per_month()
    if requests_per_month <= 0:
        return 0.0
    return windows * -math.expm1(-requests_per_month / windows)


def custom_model_import(book: PriceBook, region: str, *, cmus: int, copies: int,
                        workload: Workload | None) -> list[CostComponent]:
    """An imported model: `copies` copies of `cmus` CMUs billed per CMU-minute in the windows with
    traffic (None: usage not modelled), and its storage per CMU-month."""
    from tierwise.facts import custom_model_import as facts

    minutes = facts().pricing.billing_window_minutes
    name = f"Model copies active ({cmus} CMU x {copies})"
    key = price_key(region, "bedrock", "custom_model_import", "custom_model_unit_minute")
    if workload is None:
        active = not_estimated(name, "CMU-minutes", book.custom_model_unit_minute(region), key)
    else:
        quantity = active_import_windows(workload.requests_per_month) * minutes * cmus * copies
        active = component(name, "CMU-minutes", quantity, book.custom_model_unit_minute(region), key, usage_based=True)
    storage = component(f"Model storage ({cmus} CMU)", "CMU-months", float(cmus),
                        book.custom_model_unit_storage_month(region),
                        price_key(region, "bedrock", "custom_model_import", "custom_model_unit_storage_month"))
    return [active, storage]


def bedrock_tokens(book: PriceBook, region: str, *, model_id: str, workload: Workload | None) -> list[CostComponent]:
    """Bedrock on-demand input and output tokens of `workload` (None: usage not modelled)."""
    in_quote, out_quote = book.bedrock_input(region, model_id), book.bedrock_output(region, model_id)
    in_key = price_key(region, "bedrock", "on_demand", model_id, "input_per_1k_tokens")
    out_key = price_key(region, "bedrock", "on_demand", model_id, "output_per_1k_tokens")
    if workload is None:
        return [not_estimated("Input tokens", "1K tokens", in_quote, in_key),
                not_estimated("Output tokens", "1K tokens", out_quote, out_key)]
    requests = workload.requests_per_month
    return [
        component("Input tokens", "1K tokens", requests * workload.input_tokens / 1000, in_quote, in_key,
                  usage_based=True),
        component("Output tokens", "1K tokens", requests * workload.output_tokens / 1000, out_quote, out_key,
                  usage_based=True),
    ]


def bedrock_batch_tokens(book: PriceBook, region: str, *, model_id: str,
                         workload: Workload | None) -> list[CostComponent]:
    """Bedrock batch inference's input and output tokens of `workload` (None: usage not modelled)."""
    in_quote, out_quote = book.bedrock_batch_input(region, model_id), book.bedrock_batch_output(region, model_id)
    in_key = price_key(region, "bedrock", "batch", model_id, "input_per_1k_tokens")
    out_key = price_key(region, "bedrock", "batch", model_id, "output_per_1k_tokens")
    if workload is None:
        return [not_estimated("Batch input tokens", "1K tokens", in_quote, in_key),
                not_estimated("Batch output tokens", "1K tokens", out_quote, out_key)]
    requests = workload.requests_per_month
    return [
        component("Batch input tokens", "1K tokens", requests * workload.input_tokens / 1000, in_quote, in_key,
                  usage_based=True),
        component("Batch output tokens", "1K tokens", requests * workload.output_tokens / 1000, out_quote, out_key,
                  usage_based=True),
    ]


# --- batch work: jobs, busy instances and the objects they leave in S3 ------------------------

# Batch work arrives in submissions, and a batch tier starts its capacity (a Bedrock job, an
# asynchronous endpoint's instances) once per submission. tierwise assumes one submission a day,
# a nightly job: 30 a month. A month that brings fewer requests than that makes one per request.
BATCH_SUBMISSIONS_PER_MONTH = 30
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
# what a bucket of a batch tier holds (its construct marks the bucket with one of these)
JOB_INPUT, JOB_OUTPUT, REQUEST_IO = "job-input", "job-output", "request-io"
BUCKET_HOLDS = (JOB_INPUT, JOB_OUTPUT, REQUEST_IO)


def submissions_per_month(requests: float) -> float:
    return float(min(BATCH_SUBMISSIONS_PER_MONTH, requests))


def batch_jobs_per_month(requests: float, *, min_records: int, max_records: int) -> float:
    """Bedrock batch jobs a month for `requests` records: one a submission, fewer when a
    submission holds fewer records than a job's minimum, more when it holds more than its maximum.
    0 when the month's records cannot make one job."""
    if requests < min_records:
        return 0.0
    per_submission = requests / BATCH_SUBMISSIONS_PER_MONTH
    if per_submission < min_records:
        return float(math.floor(requests / min_records))
    return BATCH_SUBMISSIONS_PER_MONTH * float(math.ceil(per_submission / max_records))


def async_busy_hours(*, requests: float, seconds_per_request: float | None, concurrency: int,
                     instances_per_job: int, start_s: float, idle_s: float) -> float | None:
    """Instance-hours a month of an asynchronous endpoint that scales to zero between
    submissions: the work itself (requests x seconds each / requests one instance runs at once),
    plus, for each submission, each instance's start (from launch to serving) and the idle time
    before the scaling policy removes it. Never more than the instances running all month."""
    if requests == 0:
        return 0.0
    if seconds_per_request is None:
        return None
    work_s = requests * seconds_per_request / concurrency
    overhead_s = submissions_per_month(requests) * instances_per_job * (start_s + idle_s)
    return min((work_s + overhead_s) / 3600, instances_per_job * HOURS_PER_MONTH)


def async_instance_hours(book: PriceBook, region: str, *, instance_type: str, hours: float | None) -> CostComponent:
    """Busy instance-hours of an asynchronous endpoint, at the SageMaker hosting rate the AWS Price
    List gives asynchronous inference (tierwise/data/sagemaker_async.yaml pricing); unknown when
    that rate is not established or the instance type is not offered for it."""
    pricing = sagemaker_async().pricing
    offered = pricing.instance_hour_same_as_realtime is True and instance_type not in pricing.not_offered.instance_types
    quote = book.instance_hour(region, instance_type) if offered else None
    return component(f"Async instance ({instance_type}), busy hours", "instance-hours", hours, quote,
                     price_key(region, "sagemaker", "instance_hour", instance_type), usage_based=True)


def batch_objects(holds: str, workload: Workload, *, jobs: float, retention_days: float) -> tuple[float, float, float]:
    """(PUT requests, GET requests, GB-months stored) a month in a bucket of a batch tier.

    ``job-input``: one JSONL file per job, uploaded once and read once by Bedrock; it holds the
    prompts. ``job-output``: per job, the results file and manifest.json.out, written by Bedrock and
    read once; each result line carries its prompt and its answer. ``request-io``: per request of
    an asynchronous endpoint, the request uploaded and read, the answer written and read.
    Bytes are tokens x BYTES_PER_TOKEN (JSON framing left out); objects are kept `retention_days`
    (the bucket's lifecycle rule), so the month's bytes are stored retention_days / DAYS_PER_MONTH
    months on average."""
    requests = workload.requests_per_month
    prompt_gb = requests * workload.input_tokens * BYTES_PER_TOKEN / BYTES_PER_GB
    answer_gb = requests * workload.output_tokens * BYTES_PER_TOKEN / BYTES_PER_GB
    if holds == JOB_INPUT:
        puts, gets, gb = jobs, jobs, prompt_gb
    elif holds == JOB_OUTPUT:
        puts, gets, gb = 2 * jobs, 2 * jobs, prompt_gb + answer_gb
    elif holds == REQUEST_IO:
        puts, gets, gb = 2.0 * requests, 2.0 * requests, prompt_gb + answer_gb
    else:
        raise ValueError(f"a batch bucket holds one of {', '.join(BUCKET_HOLDS)} (got {holds!r})")
    return puts, gets, gb * retention_days / DAYS_PER_MONTH


def s3_objects(book: PriceBook, region: str, *, puts: float, gets: float, gb_months: float) -> list[CostComponent]:
    """An S3 bucket's standard storage and requests, as used by the workload."""
    return [
        component("Standard storage", "GB-months", gb_months, book.quote(region, "s3", "standard_gb_month"),
                  price_key(region, "s3", "standard_gb_month"), usage_based=True),
        component("PUT, COPY, POST, LIST requests", "1K requests", puts / 1000, book.quote(region, "s3", "put_per_1k"),
                  price_key(region, "s3", "put_per_1k"), usage_based=True),
        component("GET and other requests", "1K requests", gets / 1000, book.quote(region, "s3", "get_per_1k"),
                  price_key(region, "s3", "get_per_1k"), usage_based=True),
    ]


# --- what every stack around a tier may carry -------------------------------------------------


def kms_key(book: PriceBook, region: str) -> list[CostComponent]:
    """A customer managed KMS key: a monthly fee, and requests (not modelled)."""
    return [
        component("Customer managed key", "months", 1.0, book.quote(region, "kms", "key_month"),
                  price_key(region, "kms", "key_month")),
        not_estimated("Requests", "10K requests", book.quote(region, "kms", "requests_per_10k"),
                      price_key(region, "kms", "requests_per_10k")),
    ]


def alarm(book: PriceBook, region: str, *, metrics: int = 1, high_resolution: bool = False) -> CostComponent:
    """A CloudWatch alarm on `metrics` metrics, billed per alarm metric a month."""
    key = "alarm_high_resolution_month" if high_resolution else "alarm_standard_month"
    return component(f"{'High' if high_resolution else 'Standard'} resolution alarm metrics", "alarm metric-months",
                     float(metrics), book.quote(region, "cloudwatch", key), price_key(region, "cloudwatch", key))


def log_group(book: PriceBook, region: str) -> list[CostComponent]:
    """A CloudWatch Logs group: ingestion and storage depend on use (not modelled)."""
    return [
        not_estimated("Data ingested", "GB", book.quote(region, "cloudwatch", "logs_ingested_gb"),
                      price_key(region, "cloudwatch", "logs_ingested_gb")),
        not_estimated("Archival storage", "GB-months", book.quote(region, "cloudwatch", "logs_stored_gb_month"),
                      price_key(region, "cloudwatch", "logs_stored_gb_month")),
    ]
