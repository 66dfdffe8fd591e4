"""GPU facts: the instances the sagemaker-gpu tier may choose (GPUs, memory, bandwidth, compute,
interconnect, engine support) and what a serving engine keeps for itself (runtime_model.yaml)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field, PositiveFloat

from tierwise.errors import TierwiseError
from tierwise.facts.base import _Fact, _typed


# --- gpu_instances.yaml -----------------------------------------------------------------------


class EngineSupport(_Fact):
    engine: str
    applies_to: str
    supported: bool
    reason: str
    source: str
    taken: str


class GpuCompute(_Fact):
    """Datasheet dense (no sparsity) tensor throughput; None where no source read publishes it
    or the GPU lacks the type (the note says which)."""

    fp16_tensor_tflops: PositiveFloat | None
    fp8_tensor_tflops: PositiveFloat | None
    int8_tensor_tops: PositiveFloat | None
    source: str
    taken: str
    note: str


class GpuInterconnect(_Fact):
    """The GPU-to-GPU link inside the instance (what tensor-parallel all-reduces cross)."""

    kind: Literal["NVLink", "PCIe"]
    generation: str
    gbps: PositiveFloat | None = Field(description="GB/s per GPU as the source states it; None: not stated")
    source: str
    taken: str
    note: str


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
    compute: GpuCompute
    interconnect: GpuInterconnect
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
