"""The published facts a continuous-batching GPU serving model is fitted to (issue #17).

Loads tierwise/data/throughput_measurements.yaml (`batched_serving`, `other_gpus`,
`efficiency_evidence`) and the per-family compute and interconnect facts of gpu_instances.yaml
through tierwise.facts, and checks them against each other: every figure is sourced and dated,
ids are unique, every GPU is known, and every throughput or latency respects the physics of
the GPU it ran on (FLOPs and bandwidth bounds), which catches a unit slip (ms for s, per-GPU
for per-server) or a misread cell. ``problems`` returns what is wrong with one row; the
negative tests break a copy of a real row and require the problem to be named.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pytest
from pydantic import ValidationError

from tierwise.errors import TierwiseError
from tierwise.facts import (
    BatchedServingMeasurement,
    EfficiencyEvidence,
    ServingGpu,
    batched_serving_measurements,
    efficiency_evidence,
    gpu_instances,
    gpu_runtime,
    load,
    serving_gpu,
    serving_measurement_problems,
)

ROWS = batched_serving_measurements()
CHECKED = dt.date.fromisoformat(load("throughput_measurements")["checked"])
BYTES_PER_PARAM = {"BF16": 2.0, "FP16": 2.0, "FP8": 1.0, "INT8": 1.0, "AWQ-INT4": 0.5, "GPTQ-INT4": 0.5}
# A row whose source does not state the precision was a 16-bit default; its note must say so.
UNSTATED_DTYPE_BYTES = 2.0


def _url(value: str) -> bool:
    return re.match(r"^https?://\S+$", value) is not None


def _sourced(where: str, source: str, taken: str, checked: dt.date) -> list[str]:
    problems = [] if _url(source) else [f"{where}: source {source!r} is not a URL"]
    try:
        day = dt.date.fromisoformat(taken)
    except ValueError:
        return [*problems, f"{where}: taken {taken!r} is not a YYYY-MM-DD date"]
    if not dt.date(2018, 1, 1) <= day <= checked:
        problems.append(f"{where}: taken {day} is outside 2018-01-01..{checked}")
    return problems


def _weight_bytes(row: BatchedServingMeasurement) -> float:
    per_param = BYTES_PER_PARAM[row.dtype] if row.dtype else UNSTATED_DTYPE_BYTES
    return row.parameters_b * 1e9 * per_param


def _peak_flops(row: BatchedServingMeasurement, gpu: ServingGpu) -> float | None:
    """The server's dense tensor peak for the row's precision (FP8 runs on FP8 units)."""
    tflops = gpu.fp8_tensor_tflops if row.dtype == "FP8" else gpu.fp16_tensor_tflops
    return None if tflops is None else tflops * 1e12 * row.gpu_count


def problems(row: BatchedServingMeasurement, gpu: ServingGpu, checked: dt.date = CHECKED) -> list[str]:
    """What is wrong with one measurement, judged by its source fields and its GPU's physics."""
    out = _sourced(row.id, row.source, row.taken, checked)
    if not re.match(r"^[a-z0-9][a-z0-9._-]*$", row.id):
        out.append(f"{row.id}: id is not a lower-case slug")
    if row.dtype is None and "not stated" not in row.note:
        out.append(f"{row.id}: dtype is null but the note does not say the source leaves it unstated")
    if row.dtype == "FP8" and gpu.fp8_tensor_tflops is None:
        out.append(f"{row.id}: FP8 on {gpu.name}, which has no FP8 tensor units")
    peak = _peak_flops(row, gpu)
    # Every generated token costs at least 2 FLOPs per weight: a rate above the GPUs' peak is a misread.
    if peak is not None and row.output_tokens_per_second is not None:
        if 2 * row.parameters_b * 1e9 * row.output_tokens_per_second > peak:
            out.append(f"{row.id}: {row.output_tokens_per_second} tokens/s needs more than {gpu.name} x{row.gpu_count}'s peak FLOPs")
    # The first token needs the whole prompt's prefill: at least 2 FLOPs per weight per prompt token.
    if peak is not None and row.time_to_first_token_s is not None and row.input_tokens:
        floor = 2 * row.parameters_b * 1e9 * row.input_tokens / peak
        if row.time_to_first_token_s < floor:
            out.append(f"{row.id}: TTFT {row.time_to_first_token_s}s is below the {floor:.4f}s prefill floor")
    # Each decode step reads every weight once: no step is faster than weights / bandwidth.
    bandwidth = gpu.bandwidth_gbps * 1e9 * row.gpu_count
    step_floor = _weight_bytes(row) / bandwidth
    if row.time_per_output_token_s is not None:
        if not step_floor <= row.time_per_output_token_s <= 1.0:
            out.append(f"{row.id}: TPOT {row.time_per_output_token_s}s is outside {step_floor:.4f}..1 s")
    if row.concurrency == 1 and row.output_tokens_per_second is not None:
        if row.output_tokens_per_second > 1 / step_floor:
            out.append(f"{row.id}: one stream at {row.output_tokens_per_second} tokens/s beats the bandwidth bound {1 / step_floor:.1f}")
    if row.request_latency_s is not None and row.time_to_first_token_s is not None:
        if row.request_latency_s < row.time_to_first_token_s:
            out.append(f"{row.id}: request latency is shorter than its first token")
    if row.offline and row.output_tokens_per_second is None:
        out.append(f"{row.id}: an offline run is only useful as a throughput bound")
    return out


# ------------------------------------------------------------------------------------ shipped data
def test_enough_batched_measurements_load_through_the_accessor() -> None:
    assert len(ROWS) >= 20
    assert len({r.id for r in ROWS}) == len(ROWS)
    assert sum(r.output_tokens_per_second is not None for r in ROWS) >= 15


def test_ids_are_unique_across_the_whole_file() -> None:
    doc = load("throughput_measurements")
    ids = [m["id"] for m in doc["measurements"]]
    ids += [o["id"] for o in doc["tensor_parallel"]["observations"]]
    ids += [r.id for r in ROWS] + [e.id for e in efficiency_evidence()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_measurement_is_sourced_and_physically_possible(row: BatchedServingMeasurement) -> None:
    assert problems(row, serving_gpu(row.gpu)) == []


def test_every_gpu_and_instance_matches_gpu_instances_yaml() -> None:
    assert serving_measurement_problems(ROWS) == []
    for row in ROWS:
        if row.instance_type is not None:
            assert row.instance_type.startswith("ml."), row.id


def test_sources_cover_the_engines_and_the_deployable_gpus() -> None:
    engines = {r.engine for r in ROWS}
    assert engines >= {"vLLM", "TGI", "TensorRT-LLM", "LMI", "SGLang"}
    families = {serving_gpu(r.gpu).aws_family for r in ROWS}
    # ml.g6 (L4) is the gap: no citable batched L4 run was found (see the data file's header).
    assert families >= {"ml.g5", "ml.g6e", "ml.p4d", "ml.p4de", "ml.p5"}
    assert any(r.instance_type for r in ROWS), "no run on a SageMaker instance"
    assert any(r.offline for r in ROWS) and any(r.request_rate for r in ROWS)


def test_concurrency_curves_rise_from_one_stream() -> None:
    """The serving model is checked along curves: at least three setups give three or more
    concurrencies, and each curve's best point is above its single-stream point."""
    curves: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in ROWS:
        if r.concurrency is not None and r.output_tokens_per_second is not None and r.batching == "continuous":
            key = (r.source, r.engine, r.gpu, r.gpu_count, r.model, r.dtype, r.dataset)
            curves[key][r.concurrency] = r.output_tokens_per_second
    long_curves = {k: c for k, c in curves.items() if len(c) >= 3}
    assert len(long_curves) >= 3, list(curves)
    for key, curve in long_curves.items():
        if 1 in curve:
            assert max(curve.values()) > curve[1], key


def test_gpu_families_carry_datasheet_compute_and_interconnect() -> None:
    fp8_from = gpu_runtime().fp8_min_compute_capability
    checked = dt.date.fromisoformat(load("gpu_instances")["checked"])
    for inst in gpu_instances():
        f = inst.spec
        where = inst.family
        assert _sourced(where, f.compute.source, f.compute.taken, checked) == []
        assert _sourced(where, f.interconnect.source, f.interconnect.taken, checked) == []
        # FP8 tensor units exist exactly from the compute capability the runtime model names.
        assert (f.compute.fp8_tensor_tflops is not None) == (f.compute_capability_value >= fp8_from), where
        if f.compute.fp16_tensor_tflops is None:
            assert "not" in f.compute.note, f"{where}: a missing FP16 figure must say why"
        else:
            # Dense tensor FP16 lies between 50 and 1,000 TFLOPS for these GPUs; an FP8 figure is
            # twice the FP16 one on Ada and Hopper, and INT8 is at least FP16.
            assert 50 <= f.compute.fp16_tensor_tflops <= 1000, where
            if f.compute.fp8_tensor_tflops is not None:
                assert f.compute.fp8_tensor_tflops == pytest.approx(2 * f.compute.fp16_tensor_tflops, rel=0.03), where
            if f.compute.int8_tensor_tops is not None:
                assert f.compute.int8_tensor_tops >= f.compute.fp16_tensor_tflops, where
        # NVLink on the SXM boards (8-GPU instances that are not PCIe cards); PCIe has no more than Gen5.
        if f.interconnect.kind == "NVLink":
            assert f.interconnect.gbps is not None and f.interconnect.gbps >= 300, where
        else:
            assert int(f.interconnect.generation) <= 5, where


def test_efficiency_evidence_is_sourced_and_names_known_gpus() -> None:
    evidence = efficiency_evidence()
    assert any(e.metric == "memory_bandwidth_utilization" for e in evidence)
    for e in evidence:
        assert _sourced(e.id, e.source, e.taken, CHECKED) == []
        if e.gpu is not None:
            serving_gpu(e.gpu)


# --------------------------------------------------------------------------------- broken copies
def _row(row_id: str, **changes: object) -> BatchedServingMeasurement:
    base = next(r for r in ROWS if r.id == row_id)
    return BatchedServingMeasurement.model_validate({**base.model_dump(), **changes})


H100_8B = "trtllm-h100-llama3.1-8b-fp8-tp1-128-128-offline"
L40S_TTFT = "trtllm-v0.5-l40s-llama2-7b-fp8-ttft-2048"
A100_RPS4 = "vllm-a100-80g-llama3.1-8b-sharegpt-rps4"
G5_C1 = "tgi-a10g-g5.2xl-mistral-7b-fmbench-1000-2000-c1"

BROKEN = [
    (H100_8B, {"output_tokens_per_second": 283120.0}, "peak FLOPs"),  # an extra digit
    (L40S_TTFT, {"time_to_first_token_s": 0.0073}, "prefill floor"),  # 7.3 ms read for 73 ms
    (A100_RPS4, {"time_per_output_token_s": 14.14}, "TPOT 14.14s is outside"),  # ms left as seconds
    (A100_RPS4, {"time_per_output_token_s": 0.001414}, "is outside"),
    (G5_C1, {"output_tokens_per_second": 180.0}, "bandwidth bound"),
    (G5_C1, {"request_latency_s": 0.01, "time_to_first_token_s": 0.5, "ttft_statistic": "mean"}, "shorter than its first token"),
    (G5_C1, {"source": "fmbench csv"}, "is not a URL"),
    (G5_C1, {"taken": "2099-01-01"}, "is outside"),
    (G5_C1, {"taken": "Jan 2024"}, "is not a YYYY-MM-DD date"),
    (G5_C1, {"note": "row c1"}, "note does not say"),
    (G5_C1, {"dtype": "FP8"}, "no FP8 tensor units"),
    (G5_C1, {"id": "Bad Id"}, "not a lower-case slug"),
]


@pytest.mark.parametrize(("row_id", "changes", "expected"), BROKEN, ids=[f"broken-{i:02d}" for i in range(len(BROKEN))])
def test_broken_row_is_named(row_id: str, changes: dict, expected: str) -> None:
    row = _row(row_id, **changes)
    found = problems(row, serving_gpu(row.gpu))
    assert any(expected in p for p in found), found


INVALID = [
    (G5_C1, {"offline": True}, "exactly one of offline, concurrency, request_rate"),
    (H100_8B, {"offline": False}, "exactly one of offline, concurrency, request_rate"),
    (H100_8B, {"tensor_parallel": 2}, "exceeds gpu_count"),
    (A100_RPS4, {"ttft_statistic": None}, "given together"),
    (A100_RPS4, {"time_to_first_token_s": None, "ttft_statistic": None, "time_per_output_token_s": None,
                 "tpot_statistic": None, "request_latency_s": None, "latency_statistic": None}, "no throughput or latency"),
    (L40S_TTFT, {"concurrency": None, "request_rate": 1.0}, "static batch"),
    (G5_C1, {"dtype": "Q4_K_M"}, "dtype"),
    (G5_C1, {"engine": "vllm"}, "engine"),
    (G5_C1, {"output_tokens_per_second": -1.0}, "greater than 0"),
]


@pytest.mark.parametrize(("row_id", "changes", "expected"), INVALID, ids=[f"invalid-{i:02d}" for i in range(len(INVALID))])
def test_invalid_row_is_refused_by_the_model(row_id: str, changes: dict, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        _row(row_id, **changes)


def test_unknown_gpu_and_mismatched_instance_are_named() -> None:
    unknown = _row(G5_C1, gpu="NVIDIA B200")
    wrong_instance = _row(G5_C1, instance_type="ml.g6.2xlarge")
    too_many = _row(G5_C1, gpu_count=4, tensor_parallel=4)
    found = serving_measurement_problems((unknown, wrong_instance, too_many))
    assert any("unknown GPU 'NVIDIA B200'" in p for p in found), found
    assert any("ml.g6.2xlarge has 1 x NVIDIA L4" in p for p in found), found
    assert any("ml.g5.2xlarge has 1 x NVIDIA A10G, not 4 x NVIDIA A10G" in p for p in found), found
    with pytest.raises(TierwiseError, match="unknown GPU 'NVIDIA B200'; known: NVIDIA A100 40GB"):
        serving_gpu("NVIDIA B200")


def test_an_other_gpu_entry_makes_a_non_aws_gpu_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run on a GPU no AWS family carries is accepted once other_gpus gives its specs."""
    import tierwise.facts as facts

    doc = dict(load("throughput_measurements"))
    doc["other_gpus"] = [{"name": "NVIDIA H100 PCIe 80GB", "memory_gib": 80, "bandwidth_gbps": 2000,
                          "fp16_tensor_tflops": 756, "fp8_tensor_tflops": 1513,
                          "source": "https://archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html",
                          "taken": "2026-12-03", "note": "PCIe column, half the sparse figures"}]
    real_load = facts.load
    monkeypatch.setattr(facts.base, "load", lambda name: doc if name == "throughput_measurements" else real_load(name))
    facts.serving_gpus.cache_clear()
    try:
        gpu = facts.serving_gpu("NVIDIA H100 PCIe 80GB")
        assert gpu.aws_family is None and gpu.bandwidth_gbps == 2000
        assert facts.serving_measurement_problems((_row(H100_8B, gpu="NVIDIA H100 PCIe 80GB"),)) == []
        doc["other_gpus"][0]["name"] = "NVIDIA H100 80GB"
        facts.serving_gpus.cache_clear()
        with pytest.raises(TierwiseError, match="is an AWS family's GPU"):
            facts.serving_gpus()
    finally:
        facts.serving_gpus.cache_clear()


def test_efficiency_evidence_ranges_are_enforced() -> None:
    base = next(e for e in efficiency_evidence() if e.metric == "memory_bandwidth_utilization").model_dump()
    with pytest.raises(ValidationError, match="share"):
        EfficiencyEvidence.model_validate({**base, "value": 77.0})  # a percent, not a share
    with pytest.raises(ValidationError, match="gain compares"):
        EfficiencyEvidence.model_validate({**base, "metric": "throughput_gain", "value": 14.0})
