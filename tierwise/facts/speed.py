"""Speed facts: llama.cpp's quantization recipes, the speed model's coefficients
(throughput.yaml) and the published measurements it is checked against
(throughput_measurements.yaml)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from tierwise.errors import TierwiseError
from tierwise.facts.base import _Fact, _typed
from tierwise.facts.gpu import gpu_instances


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


class EightExperts(_Fact):
    """What llama.cpp's quantizer does differently for a model with exactly `experts` experts."""

    experts: int
    types: dict[str, str] = Field(description="tensor role -> type, in every quantized recipe")
    attn_output: str
    attn_output_recipes: list[str]
    source: str
    checked: str


class Recipes(_Fact):
    recipes: dict[str, Recipe]
    large_model_attn_v: LargeModelAttnV
    eight_experts: EightExperts
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


# --- throughput_measurements.yaml: batched serving under load (issue #17) ------------------------

ServingEngine = Literal["vLLM", "TGI", "TensorRT-LLM", "LMI", "SGLang"]
Statistic = Literal["mean", "median", "single"]
Dtype = Literal["BF16", "FP16", "FP8", "INT8", "AWQ-INT4", "GPTQ-INT4"]


class BatchedServingMeasurement(_Fact):
    """One published run of one server under load: its load (offline, concurrency or request
    rate), the server's output tokens/s and the latencies the source gives."""

    id: str
    engine: ServingEngine
    engine_version: str | None
    gpu: str
    gpu_count: PositiveInt
    tensor_parallel: PositiveInt
    instance_type: str | None
    model: str
    parameters_b: PositiveFloat
    dtype: Dtype | None = Field(description="None: the source does not state it (the note says so)")
    dataset: str
    input_tokens: PositiveInt | None
    output_tokens: PositiveInt | None
    batching: Literal["continuous", "static"]
    offline: bool
    concurrency: PositiveInt | None
    request_rate: PositiveFloat | None
    output_tokens_per_second: PositiveFloat | None
    total_tokens_per_second: PositiveFloat | None
    time_to_first_token_s: PositiveFloat | None
    ttft_statistic: Statistic | None
    time_per_output_token_s: PositiveFloat | None
    tpot_statistic: Statistic | None
    request_latency_s: PositiveFloat | None
    latency_statistic: Statistic | None
    source: str
    taken: str
    note: str

    @model_validator(mode="after")
    def _consistent(self) -> BatchedServingMeasurement:
        loads = [self.offline, self.concurrency is not None, self.request_rate is not None]
        if sum(loads) != 1:
            raise ValueError(f"{self.id}: exactly one of offline, concurrency, request_rate must be set")
        if self.batching == "static" and self.concurrency is None:
            raise ValueError(f"{self.id}: a static batch states its batch size as concurrency")
        if self.tensor_parallel > self.gpu_count:
            raise ValueError(f"{self.id}: tensor_parallel {self.tensor_parallel} exceeds gpu_count {self.gpu_count}")
        for value, stat in (("time_to_first_token_s", "ttft_statistic"),
                            ("time_per_output_token_s", "tpot_statistic"),
                            ("request_latency_s", "latency_statistic")):
            if (getattr(self, value) is None) != (getattr(self, stat) is None):
                raise ValueError(f"{self.id}: {value} and {stat} are given together or not at all")
        results = (self.output_tokens_per_second, self.total_tokens_per_second, self.time_to_first_token_s,
                   self.time_per_output_token_s, self.request_latency_s)
        if all(r is None for r in results):
            raise ValueError(f"{self.id}: no throughput or latency figure")
        return self


class OtherGpu(_Fact):
    """A GPU a measurement ran on that no AWS family in gpu_instances.yaml carries."""

    name: str
    memory_gib: PositiveFloat
    bandwidth_gbps: PositiveFloat
    fp16_tensor_tflops: PositiveFloat
    fp8_tensor_tflops: PositiveFloat | None
    source: str
    taken: str
    note: str


class EfficiencyEvidence(_Fact):
    """A share of peak (or a batching gain) a source states for a serving engine."""

    id: str
    engine: ServingEngine | None
    gpu: str | None
    model: str | None
    dtype: Dtype | None
    concurrency: PositiveInt
    metric: Literal["memory_bandwidth_utilization", "throughput_gain", "latency_gain"]
    value: PositiveFloat
    source: str
    taken: str
    note: str

    @model_validator(mode="after")
    def _in_range(self) -> EfficiencyEvidence:
        if self.metric == "memory_bandwidth_utilization" and (self.value > 1 or self.gpu is None):
            raise ValueError(f"{self.id}: a bandwidth utilization is a share (<= 1) of a named GPU's peak")
        if self.metric != "memory_bandwidth_utilization" and (self.value < 1 or self.concurrency < 2):
            raise ValueError(f"{self.id}: a gain compares concurrency > 1 with 1 and is >= 1")
        return self


class ServingGpu(_Fact):
    """What a serving model needs to know of a GPU, whether an AWS family's or another's."""

    name: str
    memory_gib: float
    bandwidth_gbps: float
    fp16_tensor_tflops: float | None
    fp8_tensor_tflops: float | None
    aws_family: str | None


class _ServingFile(_Fact):
    batched_serving: list[BatchedServingMeasurement]
    other_gpus: list[OtherGpu]
    efficiency_evidence: list[EfficiencyEvidence]


@cache
def serving_gpus() -> dict[str, ServingGpu]:
    """Every GPU name a serving measurement may use: the AWS families' and other_gpus."""
    out: dict[str, ServingGpu] = {}
    for inst in gpu_instances():
        f = inst.spec
        out[f.gpu] = ServingGpu(name=f.gpu, memory_gib=f.memory_per_gpu_gib, bandwidth_gbps=f.gpu_bandwidth_gbps,
                                fp16_tensor_tflops=f.compute.fp16_tensor_tflops,
                                fp8_tensor_tflops=f.compute.fp8_tensor_tflops, aws_family=inst.family)
    for g in _typed("throughput_measurements", _ServingFile).other_gpus:
        if g.name in out:
            raise TierwiseError(f"tierwise/data/throughput_measurements.yaml: other_gpus {g.name!r} is an AWS family's GPU")
        out[g.name] = ServingGpu(name=g.name, memory_gib=g.memory_gib, bandwidth_gbps=g.bandwidth_gbps,
                                 fp16_tensor_tflops=g.fp16_tensor_tflops, fp8_tensor_tflops=g.fp8_tensor_tflops,
                                 aws_family=None)
    return out


def serving_gpu(name: str) -> ServingGpu:
    gpus = serving_gpus()
    if name not in gpus:
        raise TierwiseError(f"unknown GPU {name!r}; known: {', '.join(sorted(gpus))}")
    return gpus[name]


def serving_measurement_problems(rows: tuple[BatchedServingMeasurement, ...]) -> list[str]:
    """What ties a measurement to the other data files: a known GPU, and an instance type whose
    family carries that GPU with at least that many of them. Empty for consistent rows."""
    gpus = serving_gpus()
    instances = {i.instance_type: i for i in gpu_instances()}
    problems = []
    for r in rows:
        if r.gpu not in gpus:
            problems.append(f"{r.id}: unknown GPU {r.gpu!r} (add it to other_gpus with its specs)")
        if r.instance_type is None:
            continue
        inst = instances.get(r.instance_type)
        if inst is None:
            problems.append(f"{r.id}: instance_type {r.instance_type!r} is not in gpu_instances.yaml")
        elif inst.spec.gpu != r.gpu or inst.gpu_count < r.gpu_count:
            problems.append(f"{r.id}: {r.instance_type} has {inst.gpu_count} x {inst.spec.gpu}, not {r.gpu_count} x {r.gpu}")
    return problems


@cache
def batched_serving_measurements() -> tuple[BatchedServingMeasurement, ...]:
    rows = tuple(_typed("throughput_measurements", _ServingFile).batched_serving)
    problems = serving_measurement_problems(rows)
    if problems:
        raise TierwiseError(f"tierwise/data/throughput_measurements.yaml/batched_serving: {problems[0]}")
    return rows


@cache
def efficiency_evidence() -> tuple[EfficiencyEvidence, ...]:
    return tuple(_typed("throughput_measurements", _ServingFile).efficiency_evidence)


# --- quant_types.yaml: ggml's block layouts -------------------------------------------------------


class BlockLayout(_Fact):
    block_weights: PositiveInt
    block_bytes: PositiveInt


class _QuantTypes(_Fact):
    source: str
    checked: str
    types: dict[str, BlockLayout]


@cache
def block_layouts() -> dict[str, BlockLayout]:
    """Weights per block and bytes per block of every ggml tensor type (tierwise/data/quant_types.yaml)."""
    return _typed("quant_types", _QuantTypes).types
