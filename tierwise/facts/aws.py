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


class BedrockModel(_Fact):
    name: str
    # the longest request, prompt + answer, in tokens (None: not known for this id)
    context_tokens: int | None = Field(None, gt=0)
    context_source: str | None = None
    lifecycle: Literal["Active", "Legacy", "EOL"] | None
    legacy_date: str | None = None
    eol_date: str | None = None
    lifecycle_source: str
    provisioned_throughput_ids: list[str] | None
    provisioned_throughput_source: str
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
    # the environment variables the container reads a Hub revision and token from
    revision_env: str
    token_env: str
    env_source: str
    # the image's own entrypoint and Python, for an image built on top of it (LMI only)
    entrypoint: str | None = None
    python: str | None = None
    digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")
    digest_note: str

    @property
    def reference(self) -> str:
        """repository@digest when the digest is known, else repository:tag."""
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"


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


# --- aws_names.yaml: what AWS accepts as a name, and where a referenced resource must live ------------


class NameRule(_Fact):
    pattern: str
    characters: str
    length_min: int | None = None
    length_max: int | None = None
    source: str
    taken: str


class BucketNameRule(NameRule):
    no_adjacent_periods: bool
    no_ip_address: bool
    reserved_prefixes: list[str]
    reserved_suffixes: list[str]


class SecretNameRule(NameRule):
    arn_suffix_characters: int


class SameRegion(_Fact):
    rule: str
    source: str
    quote: str


class AwsNames(_Fact):
    s3_bucket: BucketNameRule
    secrets_manager_secret: SecretNameRule
    sns_topic: NameRule
    same_region: dict[str, SameRegion]

    def region_rule(self, name: str) -> SameRegion:
        if name not in self.same_region:
            raise TierwiseError(f"tierwise/data/aws_names.yaml has no same_region rule {name!r}")
        return self.same_region[name]


@cache
def aws_names() -> AwsNames:
    """Naming rules of S3 buckets, Secrets Manager secrets and SNS topics, and the references a
    service resolves only in its own region, each with its source."""
    return _typed("aws_names", AwsNames)


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
