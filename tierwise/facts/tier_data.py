"""Typed accessors for the facts behind the batch, asynchronous, imported-model and S3-weights
tiers, their quotas and their cold starts (tierwise/data: bedrock_batch, sagemaker_async,
bedrock_custom_import, bedrock_quotas, cold_starts, sagemaker_s3_weights, and the
`sagemaker_async` block of aws_limits).

Validated on first read like every fact (a bad file is one error naming the file and the field).
Every block that states a fact carries the page it was read from, the day, and in `note` the
words it was read from; a fact nobody published is None, never a default.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field

from tierwise.facts.base import _Fact, _typed

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_URL = r"^https?://\S+$"
QUOTA_CODE = r"^L-[0-9A-F]{8}$"


class Cited(_Fact):
    """Where a block of facts was read: the page, the day it gives (or the day it was read), and
    the words the figures came from."""

    source: str = Field(pattern=_URL)
    taken: str = Field(pattern=_DATE)
    note: str | None = None


class MotoSupport(Cited):
    """What the moto release the tests run against emulates of a feature."""

    version: str
    supported: dict[str, bool]


class ServiceRole(Cited):
    principal: str
    s3_actions: list[str]
    source_arn_format: str | None = None
    sns_actions: list[str] = Field(default_factory=list)
    inference_profile_actions: list[str] = Field(default_factory=list)


class QuotaValue(_Fact):
    """A fixed job or account quota: its default, whether Service Quotas can raise it, its code."""

    value: int = Field(gt=0)
    adjustable: bool
    code: str | None = Field(None, pattern=QUOTA_CODE)


# --- aws_limits.yaml `sagemaker_async` ---------------------------------------------------------


class AsyncLimits(Cited):
    payload_gb_max: int
    processing_time_s_max: int
    invocation_timeout_s_min: int
    invocation_timeout_s_max: int
    invocation_timeout_s_default: int
    request_ttl_s_min: int
    request_ttl_s_max: int
    request_ttl_s_default: int
    inline_body_bytes_max: int
    max_concurrent_invocations_per_instance_min: int
    max_concurrent_invocations_per_instance_max: int
    sns_inline_response_bytes_max: int


@cache
def async_limits() -> AsyncLimits:
    return _typed("aws_limits", AsyncLimits, "sagemaker_async")


# --- sagemaker_async.yaml ------------------------------------------------------------------------


class AsyncEndpointConfig(Cited):
    output_config_fields: list[str]
    notification_config_fields: list[str]
    include_inference_response_in: list[str]
    client_config_fields: list[str]
    async_only: bool


class TargetTracking(_Fact):
    metric: str
    namespace: str
    dimension: str
    statistic: str
    example_target_value: float


class ScaleFromZero(_Fact):
    """The step policy and CloudWatch alarm AWS documents to leave zero instances on a backlog."""

    policy_name: str
    policy_type: Literal["StepScaling"]
    adjustment_type: str
    metric_aggregation_type: str
    cooldown_s: int
    step_metric_interval_lower_bound: float
    step_scaling_adjustment: int
    alarm_metric: str
    alarm_namespace: str
    alarm_dimension: str
    alarm_statistic: str
    alarm_evaluation_periods: int
    alarm_datapoints_to_alarm: int
    alarm_threshold: float
    alarm_comparison_operator: str
    alarm_treat_missing_data: str
    alarm_period_s: int


class ScaleIn(Cited):
    """The low alarm Application Auto Scaling makes for a target tracking policy: how long the
    metric must stay below target before the policy removes capacity."""

    low_alarm_datapoints: int = Field(gt=0)
    low_alarm_period_s: int = Field(gt=0)

    @property
    def idle_s(self) -> int:
        return self.low_alarm_datapoints * self.low_alarm_period_s


class AsyncScaling(Cited):
    service_namespace: str
    scalable_dimension: str
    resource_id_format: str
    min_capacity: int
    target_tracking: TargetTracking
    scale_from_zero: ScaleFromZero
    scale_in: ScaleIn

    @property
    def scale_out_from_zero_s(self) -> int:
        """Seconds of backlog before the HasBacklogWithoutCapacity alarm starts an instance."""
        z = self.scale_from_zero
        return z.alarm_datapoints_to_alarm * z.alarm_period_s


class AsyncMetrics(Cited):
    endpoint: list[str]
    variant: list[str]
    not_published: list[str]


class NotOffered(Cited):
    instance_types: list[str]


class AsyncPricing(Cited):
    billing: str
    instance_hour_same_as_realtime: bool | None
    storage: str
    not_offered: NotOffered


class SageMakerAsync(_Fact):
    checked: str = Field(pattern=_DATE)
    endpoint_config: AsyncEndpointConfig
    scaling: AsyncScaling
    metrics: AsyncMetrics
    execution_role: ServiceRole
    pricing: AsyncPricing
    moto: MotoSupport


@cache
def sagemaker_async() -> SageMakerAsync:
    return _typed("sagemaker_async", SageMakerAsync)


# --- bedrock_batch.yaml --------------------------------------------------------------------------


class BatchQuotas(_Fact):
    min_records_per_job: QuotaValue
    records_per_job: QuotaValue
    records_per_input_file: QuotaValue
    input_file_size_gb: QuotaValue
    job_size_gb: QuotaValue
    jobs_in_progress: QuotaValue


class BatchModel(_Fact):
    batch_name: str | None
    supported: bool
    single_region: list[str]
    inference_profile_regions: list[str]
    quotas: BatchQuotas | None = None
    note: str

    def offered_in(self, region: str) -> bool:
        """True when a batch job can run in ``region``, directly or through a profile."""
        return self.supported and region in {*self.single_region, *self.inference_profile_regions}


class BatchPricing(Cited):
    discount_vs_on_demand: float = Field(gt=0, lt=1)


class BatchTurnaround(Cited):
    completion_hours_published: float | None
    timeout_hours_min: int
    timeout_hours_max: int


class BatchJob(Cited):
    operation: str
    required_fields: list[str]
    optional_fields: list[str]
    invocation_types: list[str]
    input_format: str
    input_file_suffix: str
    record_id_field: str
    model_input_field: str
    model_output_field: str
    error_field: str
    manifest_file: str
    statuses: list[str]
    terminal_statuses: list[str]
    job_name_max: int
    provisioned_models: bool
    tool_calling: bool


class BedrockBatch(_Fact):
    checked: str = Field(pattern=_DATE)
    pricing: BatchPricing
    turnaround: BatchTurnaround
    job: BatchJob
    service_role: ServiceRole
    moto: MotoSupport
    models: dict[str, BatchModel]
    support_source: str = Field(pattern=_URL)
    quota_source: str = Field(pattern=_URL)
    taken: str = Field(pattern=_DATE)


@cache
def bedrock_batch() -> BedrockBatch:
    return _typed("bedrock_batch", BedrockBatch)


def batch_model(model_id: str) -> BatchModel | None:
    """Batch facts on a Bedrock model id (inference-profile prefix stripped), or None when the
    file does not know the model: callers must say so, not assume it unsupported."""
    from tierwise.contract import base_model_id

    return bedrock_batch().models.get(base_model_id(model_id))


# --- bedrock_custom_import.yaml ------------------------------------------------------------------


class ImportArchitecture(_Fact):
    name: str
    model_types: list[str]
    hf_classes: list[str]
    regions: list[str] | None = Field(description="None: every region the feature is offered in")
    converse: bool


class ImportLimits(Cited):
    weights_gb_max_text: int
    weights_gb_max_multimodal: int
    context_tokens_max: int
    transformers_version: str
    embedding_models: bool
    precisions: list[str] | None
    quantized_weights: bool | None
    lora_adapters: Literal["merge_first", "accepted"]


class ImportFiles(Cited):
    required: list[str]
    weights_suffix: str
    tokenizers: list[str]
    llama3_rope_override: dict[str, float]
    chat_template_in_tokenizer_config: bool


class ExampleShape(_Fact):
    """The figures of a published CMU example's config.json that a copy's memory depends on."""

    parameters: int = Field(gt=0)
    layers: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    context_tokens: int = Field(gt=0)
    source: str = Field(pattern=_URL)


class CmuExample(_Fact):
    model: str
    cmus: int = Field(gt=0)
    source: str = Field(pattern=_URL)
    note: str
    shape: ExampleShape


class ImportPricing(Cited):
    billing_window_minutes: int
    billing_starts: str
    import_charge: bool
    cmu_determined_at_import: bool
    cmu_factors: list[str]
    cmu_examples: list[CmuExample]
    billed_windows: Literal["with_traffic"]
    billed_windows_source: str = Field(pattern=_URL)
    billed_windows_note: str


class ImportScaling(Cited):
    idle_minutes_before_unload: int | None
    provisioned_throughput: bool
    max_copies_quota: int | None
    model_copy_metric: str
    not_ready_error: str
    sdk_retries: int


class ImportApi(Cited):
    create: str
    required_fields: list[str]
    optional_fields: list[str]
    model_data_source: str
    job_statuses: list[str]
    get_job: str
    get_model: str
    get_model_fields: list[str]
    delete: str
    invoke: list[str]
    request_formats: list[str]
    name_max: int


class ImportQuotas(Cited):
    imported_models_per_account: QuotaValue
    concurrent_import_jobs: QuotaValue


class ImportMeasurement(Cited):
    id: str
    what: str
    value: float = Field(gt=0)


class ImportCloudFormation(Cited):
    resource: str | None
    batch_inference: bool


class ImportClient(Cited):
    """How a client calls an imported model (the Converse question settled in the file's note)."""

    api: str
    stream_api: str
    request_format: str
    converse: bool


class CmuMemoryEstimate(_Fact):
    weight_bytes_per_parameter: float = Field(gt=0)
    kv_bytes_per_value: float = Field(gt=0)
    note: str


class ImportSpeedEstimate(_Fact):
    gpu_family: str
    note: str


class ImportEstimates(_Fact):
    cmu_memory: CmuMemoryEstimate
    speed: ImportSpeedEstimate


class CustomModelImport(_Fact):
    checked: str = Field(pattern=_DATE)
    regions: list[str]
    regions_source: str = Field(pattern=_URL)
    regions_taken: str = Field(pattern=_DATE)
    architectures: list[ImportArchitecture]
    architectures_source: str = Field(pattern=_URL)
    architectures_taken: str = Field(pattern=_DATE)
    limits: ImportLimits
    files: ImportFiles
    pricing: ImportPricing
    scaling: ImportScaling
    api: ImportApi
    service_role: ServiceRole
    quotas: ImportQuotas
    measurements: list[ImportMeasurement]
    cloudformation: ImportCloudFormation
    moto: MotoSupport
    client: ImportClient
    estimates: ImportEstimates

    def architecture(self, model_type: str) -> ImportArchitecture | None:
        """The supported architecture a config.json `model_type` belongs to, or None."""
        return next((a for a in self.architectures if model_type in a.model_types), None)

    def offered_in(self, architecture: ImportArchitecture, region: str) -> bool:
        return region in self.regions and (architecture.regions is None or region in architecture.regions)


@cache
def custom_model_import() -> CustomModelImport:
    return _typed("bedrock_custom_import", CustomModelImport)


# --- bedrock_quotas.yaml -------------------------------------------------------------------------


class ServiceQuota(_Fact):
    """One Service Quotas entry: its exact name, default (with named regional exceptions),
    whether it is adjustable, and its code (known for the adjustable ones)."""

    name: str
    default: int = Field(ge=0)
    region_overrides: dict[str, int] = Field(default_factory=dict)
    adjustable: bool
    code: str | None = Field(None, pattern=QUOTA_CODE)

    def in_region(self, region: str) -> int:
        return self.region_overrides.get(region, self.default)


class ModelQuotas(_Fact):
    on_demand_rpm: ServiceQuota
    on_demand_tpm: ServiceQuota
    cross_region_rpm: ServiceQuota | None
    cross_region_tpm: ServiceQuota | None
    tokens_per_day: ServiceQuota | None
    pt_model_units: ServiceQuota | None
    pt_model_units_24k: ServiceQuota | None = None
    note: str


class BedrockQuotas(Cited):
    checked: str = Field(pattern=_DATE)
    account: dict[str, ServiceQuota]
    models: dict[str, ModelQuotas]


@cache
def bedrock_quotas() -> BedrockQuotas:
    return _typed("bedrock_quotas", BedrockQuotas)


def model_quotas(model_id: str) -> ModelQuotas | None:
    """Service Quotas of a Bedrock model id (profile prefix stripped), or None when unknown."""
    from tierwise.contract import base_model_id

    return bedrock_quotas().models.get(base_model_id(model_id))


# --- cold_starts.yaml ----------------------------------------------------------------------------

ScaleToZeroTier = Literal["lambda", "sagemaker_serverless", "bedrock_custom_import", "sagemaker_async"]


class TierIdle(Cited):
    aws_idle_s: int | None = Field(description="what AWS states; None: AWS publishes none")
    aws_statement: str


class ColdStartStudy(_Fact):
    id: str
    tier: ScaleToZeroTier
    idle_s_min: int | None
    idle_s_max: int | None
    cold_start_s: float | None
    measured: str | None
    source: str = Field(pattern=_URL)
    taken: str = Field(pattern=_DATE)
    note: str


class ColdStartFacts(_Fact):
    checked: str = Field(pattern=_DATE)
    tiers: dict[ScaleToZeroTier, TierIdle]
    studies: list[ColdStartStudy]

    def studies_of(self, tier: ScaleToZeroTier) -> list[ColdStartStudy]:
        return [s for s in self.studies if s.tier == tier]


@cache
def cold_starts() -> ColdStartFacts:
    return _typed("cold_starts", ColdStartFacts)


# --- sagemaker_s3_weights.yaml -------------------------------------------------------------------


class ModelDataSourceFacts(Cited):
    s3_data_type: Literal["S3Prefix"]
    compression_type: Literal["None"]
    s3_uri_ends_with_slash: bool
    mount_path: str
    api_fields: list[str]
    cloudformation_fields: list[str]
    model_access_config_fields: list[str]
    not_supported_with: list[str]


class LmiModelId(Cited):
    model_id_env: str
    model_id_value: str


class NetworkIsolation(Cited):
    container_outbound_calls: bool
    artifacts_downloaded_by_sagemaker: bool
    downloads_through_vpc: bool
    s3_endpoint_needed_without_internet: bool
    subnets_min_azs: int
    gpu_family_restriction: str | None


class S3Weights(_Fact):
    checked: str = Field(pattern=_DATE)
    model_data_source: ModelDataSourceFacts
    lmi: LmiModelId
    network_isolation: NetworkIsolation
    moto: MotoSupport


@cache
def s3_weights() -> S3Weights:
    return _typed("sagemaker_s3_weights", S3Weights)
