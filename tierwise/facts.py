"""The data files in tierwise/data, each read through one typed accessor.

Every fact lives once, with its source and date, in a YAML file; the accessors validate the
file against a pydantic model on first read, so a missing or misspelt field is an error that
names the file and the field, never a silent default. `load(name)` remains for the sizing
tables (quant types, recipes, runtime model) whose readers validate what they take.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model_profiles.userinput import load_yaml
from tierwise.errors import TierwiseError

M = TypeVar("M", bound=BaseModel)


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed YAML file tierwise/data/<name>.yaml (cached: facts do not change in a run)."""
    try:
        text = resources.files("tierwise.data").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TierwiseError(f"tierwise/data/{name}.yaml is missing: reinstall tierwise") from None
    return load_yaml(text, f"tierwise/data/{name}.yaml", TierwiseError)


def _typed(name: str, model: type[M], part: str | None = None) -> M:
    data = load(name)
    if part is not None:
        if part not in data:
            raise TierwiseError(f"tierwise/data/{name}.yaml has no {part!r} section")
        data = data[part]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise TierwiseError(f"tierwise/data/{name}.yaml{'/' + part if part else ''}: {where}: {err['msg']}") from None


class _Fact(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


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


class CloudFormationLimits(_Fact):
    resources_per_template_max: int
    template_bytes_max: int
    source: str
    template_size_source: str


@cache
def cloudformation_limits() -> CloudFormationLimits:
    return _typed("aws_limits", CloudFormationLimits, "cloudformation")


# --- input_bounds.yaml: what tierwise accepts from a user, beyond what AWS itself limits --------


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


# --- gpu_instances.yaml -----------------------------------------------------------------------


class EngineSupport(_Fact):
    engine: str
    applies_to: str
    supported: bool
    reason: str
    source: str
    taken: str


class GpuFamily(_Fact):
    gpu: str
    memory_per_gpu_gib: int
    usable_memory_per_gpu_mib: int
    usable_memory_source: str
    gpu_bandwidth_gbps: float
    bandwidth_source: str
    local_nvme: bool
    bf16: bool
    architecture: str
    compute_capability: str
    engine_support: list[EngineSupport]
    source: str

    @property
    def compute_capability_value(self) -> float:
        return float(self.compute_capability)


class GpuInstance(_Fact):
    instance_type: str
    family: str
    gpu_count: int
    vcpus: int
    host_memory_gib: int
    spec: GpuFamily


class _GpuFile(_Fact):
    families: dict[str, GpuFamily]
    instances: dict[str, tuple[int, int, int]]


@cache
def gpu_instances() -> tuple[GpuInstance, ...]:
    """Every GPU instance type the sagemaker-gpu tier may choose, with its family's facts."""
    data = _typed("gpu_instances", _GpuFile)
    out = []
    for name, (gpus, vcpus, host_gib) in data.instances.items():
        family = name.rsplit(".", 1)[0]
        if family not in data.families:
            raise TierwiseError(f"tierwise/data/gpu_instances.yaml: {name} has no family {family!r}")
        out.append(GpuInstance(instance_type=name, family=family, gpu_count=gpus, vcpus=vcpus,
                               host_memory_gib=host_gib, spec=data.families[family]))
    return tuple(out)


def gpu_family(family: str) -> GpuFamily:
    families = {i.family: i.spec for i in gpu_instances()}
    if family not in families:
        raise TierwiseError(f"unknown GPU family {family!r}; known: {', '.join(sorted(families))}")
    return families[family]


# --- runtime_model.yaml: what a GPU serving engine keeps for itself ------------------------------


class GpuRuntime(_Fact):
    gpu_memory_utilization: float
    per_gpu_overhead_bytes: int
    batched_tokens: int
    utilization_source: str
    fp8_min_compute_capability: float
    fp8_source: str


@cache
def gpu_runtime() -> GpuRuntime:
    return _typed("runtime_model", GpuRuntime, "gpu")


class LlamaCppRuntime(_Fact):
    """llama.cpp's compute buffers and process, calibrated against measured peak RSS."""

    process_baseline_bytes: int
    compute_fixed_bytes: int
    ubatch_tokens: int
    score_bytes_per_element: int
    score_buffers: float
    mask_bytes_per_element: int
    activation_embd_tensors: int
    logits_rows: int
    lambda_runtime_bytes: int
    source: str


@cache
def llama_cpp_runtime() -> LlamaCppRuntime:
    return _typed("runtime_model", LlamaCppRuntime, "llama_cpp")


class FrameworkRuntime(_Fact):
    process_baseline_bytes: int
    source: str


@cache
def framework_runtime() -> FrameworkRuntime:
    return _typed("runtime_model", FrameworkRuntime, "cpu_framework")


# --- recipes.yaml: llama.cpp's quantization recipes ----------------------------------------------


class RecipeRule(_Fact):
    tensor: str
    type: str
    layers: str = Field(description="a layer selector of tierwise.quant (all, more_bits, first_4, ...)")
    gqa_below: int | None = None
    gqa_at_least: int | None = None


class Recipe(_Fact):
    base: str
    output: str
    quantized: bool = True
    rules: list[RecipeRule] = Field(default_factory=list)


class LargeModelAttnV(_Fact):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    layers: int
    from_types: list[str] = Field(alias="from")
    to: str


class Recipes(_Fact):
    recipes: dict[str, Recipe]
    large_model_attn_v: LargeModelAttnV
    fallback: dict[str, str]
    source: str


@cache
def recipes() -> Recipes:
    return _typed("recipes", Recipes)


# --- throughput.yaml: the speed model's coefficients ---------------------------------------------


class CpuHost(_Fact):
    """A CPU whose memory system bounds llama.cpp's decode (a measured machine, or Lambda)."""

    memory_bandwidth_gbps: float | None = Field(description="the socket's DRAM bandwidth; None: not the bound")
    per_thread_gbps: float | None = Field(None, description="a dedicated core's share; None: the tier's per-vCPU figure")
    source: str


class CpuSpeed(_Fact):
    bandwidth_gbps_per_vcpu: float
    socket_bandwidth_efficiency: float
    prefill_gflops_per_vcpu: float
    serverless_mb_per_vcpu: int
    arm64_speed_ratio: float
    arm64_speed_source: str
    arm64_speed_taken: str
    reference_hosts: dict[str, CpuHost]
    source: str


class GpuSpeed(_Fact):
    bandwidth_efficiency: float
    tp_sync_seconds_per_extra_gpu: float
    batch_flops_efficiency: float
    batch_spread_exponent: float
    max_sequences_per_instance: int
    prefill_tflops_per_gpu: dict[str, float]
    source: str


class BedrockSpeed(_Fact):
    input_tokens_per_second: float
    source: str


class ColdStart(_Fact):
    lambda_image_s_per_gb: float
    lambda_base_s: float
    serverless_base_s: float
    gpu_s: float
    bedrock_s: float


class SpeedModel(_Fact):
    cpu: CpuSpeed
    gpu: GpuSpeed
    bedrock: BedrockSpeed
    cold_start: ColdStart
    checked: str


@cache
def speed_model() -> SpeedModel:
    return _typed("throughput", SpeedModel)


# --- throughput_measurements.yaml: what the speed model is checked against -----------------------

Metric = Literal[
    "decode_tokens_per_second_per_stream", "aggregate_decode_tokens_per_second",
    "prompt_tokens_per_second", "time_to_first_token_s",
]


class Measurement(_Fact):
    id: str
    engine: str
    hardware: str
    instance_type: str | None
    gpu: str | None
    gpu_count: int
    vcpus: int | None
    architecture: str | None
    model: str
    parameters_b: float
    precision: str
    concurrency: int
    metric: Metric
    value: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    source: str
    taken: str


class ArchitecturePair(_Fact):
    """One source's decode speed of the same function on arm64 and on x86_64."""

    id: str
    engine: str
    hardware: str
    memory_mb: int
    vcpus: int
    model: str | None
    x86_64_ms_per_token: float
    arm64_ms_per_token: float
    source: str
    taken: str


class BedrockMeasurement(_Fact):
    """One Bedrock on-demand model's published speed (a live-service benchmark)."""

    id: str
    model_id: str
    output_tokens_per_second: float = Field(gt=0)
    time_to_first_token_s: float = Field(gt=0)
    source: str
    taken: str


class _MeasurementFile(_Fact):
    measurements: list[Measurement]
    architecture_pairs: list[ArchitecturePair]
    bedrock_on_demand: list[BedrockMeasurement]


@cache
def throughput_measurements() -> tuple[Measurement, ...]:
    return tuple(_typed("throughput_measurements", _MeasurementFile).measurements)


@cache
def architecture_pairs() -> tuple[ArchitecturePair, ...]:
    return tuple(_typed("throughput_measurements", _MeasurementFile).architecture_pairs)


@cache
def bedrock_measurements() -> tuple[BedrockMeasurement, ...]:
    return tuple(_typed("throughput_measurements", _MeasurementFile).bedrock_on_demand)


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
