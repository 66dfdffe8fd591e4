"""AWS facts: the limits each tier must respect, the container images the SageMaker tiers run,
Bedrock models' lifecycle and quotas, and SageMaker JumpStart's default instances."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import Field, model_validator

from tierwise.errors import TierwiseError
from tierwise.facts.base import _Fact, _typed


# --- aws_limits.yaml --------------------------------------------------------------------------


class LambdaLimits(_Fact):
    memory_mb_min: int
    memory_mb_max: int
    mb_per_vcpu: int
    vcpus_max: float
    image_bytes_max: int
    ephemeral_storage_mb_min: int
    ephemeral_storage_mb_max: int
    timeout_s_max: int
    sync_payload_bytes_max: int
    concurrent_executions_default: int
    source: str
    concurrency_source: str


class ServerlessLimits(_Fact):
    memory_mb_allowed: list[int]
    max_concurrency_min: int
    max_concurrency_max: int
    provisioned_concurrency_min: int
    provisioned_concurrency_max: int
    invocation_timeout_s: int
    payload_bytes_max: int
    source: str
    provisioned_concurrency_source: str


class RealtimeLimits(_Fact):
    invocation_timeout_s: int
    payload_bytes_max: int
    startup_health_check_timeout_s_min: int
    startup_health_check_timeout_s_max: int
    volume_size_gb_max: int
    initial_instance_count_min: int
    source: str
    instance_count_source: str


class BedrockProvisionedLimits(_Fact):
    commitments: list[str | None]
    model_units_min: int
    source: str


class CloudFormationLimits(_Fact):
    resources_per_template_max: int
    template_bytes_max: int
    source: str
    template_size_source: str


@cache
def cloudformation_limits() -> CloudFormationLimits:
    return _typed("aws_limits", CloudFormationLimits, "cloudformation")


@cache
def lambda_limits() -> LambdaLimits:
    return _typed("aws_limits", LambdaLimits, "lambda")


@cache
def serverless_limits() -> ServerlessLimits:
    return _typed("aws_limits", ServerlessLimits, "sagemaker_serverless")


@cache
def realtime_limits() -> RealtimeLimits:
    return _typed("aws_limits", RealtimeLimits, "sagemaker_realtime")


@cache
def bedrock_provisioned_limits() -> BedrockProvisionedLimits:
    return _typed("aws_limits", BedrockProvisionedLimits, "bedrock_provisioned")


# --- bedrock_models.yaml ----------------------------------------------------------------------


class Quota(_Fact):
    default: int
    region_overrides: dict[str, int] = Field(default_factory=dict)

    def in_region(self, region: str) -> int:
        return self.region_overrides.get(region, self.default)


class OnDemandQuotas(_Fact):
    requests_per_minute: Quota
    tokens_per_minute: Quota
    quota_names: list[str]
    source: str
    taken: str


class BedrockModel(_Fact):
    name: str
    lifecycle: Literal["Active", "Legacy", "EOL"] | None
    legacy_date: str | None = None
    eol_date: str | None = None
    lifecycle_source: str
    provisioned_throughput_ids: list[str] | None
    provisioned_throughput_source: str
    on_demand_quotas: OnDemandQuotas | None
    checked: str | None = None


class _BedrockFile(_Fact):
    models: dict[str, BedrockModel]


@cache
def _bedrock_models() -> dict[str, BedrockModel]:
    return _typed("bedrock_models", _BedrockFile).models


def bedrock_model(model_id: str) -> BedrockModel | None:
    """The facts on a Bedrock foundation model id (inference-profile prefix stripped), or None
    when the data file does not know the model: callers must say so, not assume."""
    from tierwise.contract import base_model_id

    return _bedrock_models().get(base_model_id(model_id))


# --- jumpstart_defaults.yaml --------------------------------------------------------------------


class SourcedValue(_Fact):
    value: Any = None
    source: str | None = None
    taken: str | None = None
    note: str | None = None


class JumpStartModel(_Fact):
    jumpstart_model_id: str
    source: str
    default_instance_type: SourcedValue


class _JumpStartFile(_Fact):
    models: dict[str, JumpStartModel]


@cache
def _jumpstart() -> dict[str, JumpStartModel]:
    return _typed("jumpstart_defaults", _JumpStartFile).models


def jumpstart_model(catalogue_name: str) -> JumpStartModel | None:
    """SageMaker JumpStart's model for a catalogue model, or None when JumpStart offers none."""
    return _jumpstart().get(catalogue_name)


# --- containers.yaml: the images the SageMaker tiers run ------------------------------------------


class ContainerImage(_Fact):
    repository: str
    tag: str
    release: str
    source: str
    no_bf16_families: list[str] = Field(default_factory=list)


class _Registry(_Fact):
    source: str
    accounts: dict[str, str]


class Containers(_Fact):
    registry: _Registry
    images: dict[str, ContainerImage]

    def image(self, name: str) -> ContainerImage:
        if name not in self.images:
            raise TierwiseError(f"tierwise/data/containers.yaml has no image {name!r}; images: {', '.join(self.images)}")
        return self.images[name]


@cache
def containers() -> Containers:
    """Deep Learning Container images and their registry account per region."""
    return _typed("containers", Containers)


# --- input_bounds.yaml: what a user may declare about a workload -----------------------------------


class WorkloadBounds(_Fact):
    max: dict[str, int | float]
    why: dict[str, str]
    source: dict[str, str]

    @model_validator(mode="after")
    def _every_bound_explained(self) -> "WorkloadBounds":
        missing = [k for k in self.max if k not in self.why or k not in self.source]
        if missing:
            raise ValueError(f"bounds without a reason and a source: {', '.join(missing)}")
        return self


@cache
def workload_bounds() -> WorkloadBounds:
    """Bounds far above any real deployment, each with why and where it was read."""
    return _typed("input_bounds", WorkloadBounds, "workload")


class AutoScalingLimits(_Fact):
    min_capacity_min: int
    source: str


@cache
def autoscaling_limits() -> AutoScalingLimits:
    return _typed("aws_limits", AutoScalingLimits, "application_autoscaling")


class CloudWatchLimits(_Fact):
    alarm_period_s_min: int
    source: str


@cache
def cloudwatch_limits() -> CloudWatchLimits:
    return _typed("aws_limits", CloudWatchLimits, "cloudwatch")


class FileCaps(_Fact):
    max_bytes: dict[str, int]
    why: dict[str, str]


@cache
def _file_caps() -> FileCaps:
    return _typed("input_bounds", FileCaps, "files")


def file_cap(kind: str) -> tuple[int, str]:
    """(the most bytes tierwise reads of a ``kind`` of file, why that many)."""
    caps = _file_caps()
    if kind not in caps.max_bytes or kind not in caps.why:
        raise TierwiseError(f"tierwise/data/input_bounds.yaml/files has no cap for {kind!r}")
    return caps.max_bytes[kind], caps.why[kind]


class BillCeiling(_Fact):
    """No resource is billed more in a month than AWS bills all its customers: past that, a
    count or a usage figure is wrong, not expensive."""

    aws_annual_net_sales_usd: float = Field(gt=0)
    year: int
    source: str
    taken: str

    @property
    def monthly_usd_max(self) -> float:
        return self.aws_annual_net_sales_usd / 12


@cache
def bill_ceiling() -> BillCeiling:
    return _typed("input_bounds", BillCeiling, "bill")
