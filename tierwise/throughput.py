"""How fast each tier generates: tokens/s for decode and prompt, request duration, batching.

Decode reads every weight once per token, so a stream is bandwidth bound; prompt processing
is compute bound. The coefficients are data (tierwise/data/throughput.yaml) and
tests/core/test_speed_model.py holds the model to the published measurements in
tierwise/data/throughput_measurements.yaml. The GPU tier's speed under load is
tierwise/serving.py's (tests/core/test_capacity_curve.py).

A mixture of experts holds every expert but a decode step reads only the experts its tokens are
routed to (`experts`: the routed experts' bytes and routing; None for a dense model, whose figures
are unchanged), and each token's FLOPs come from its active parameters (callers pass those as
`parameters`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierwise.facts import bedrock_measurements, speed_model

if TYPE_CHECKING:
    from tierwise.sizing import ExpertWeights


@dataclass(frozen=True)
class Speed:
    """One stream's speed: decode and prompt tokens per second, and how that was reached."""

    decode_tokens_per_second: float
    prompt_tokens_per_second: float
    basis: str

    def time_to_first_token(self, input_tokens: int) -> float:
        return input_tokens / self.prompt_tokens_per_second

    def request_seconds(self, input_tokens: int, output_tokens: int) -> float:
        return self.time_to_first_token(input_tokens) + output_tokens / self.decode_tokens_per_second


# --- CPU (llama.cpp) ----------------------------------------------------------------------------


def cpu_bandwidth_gbps(vcpus: float, *, per_vcpu_gbps: float, socket_gbps: float | None) -> float:
    """Bandwidth llama.cpp's decode gets from `vcpus` threads: each thread's share, up to
    what the socket's memory system delivers."""
    cpu = speed_model().cpu
    bandwidth = vcpus * per_vcpu_gbps
    if socket_gbps is not None:
        bandwidth = min(bandwidth, socket_gbps * cpu.socket_bandwidth_efficiency)
    return bandwidth


def cpu_prompt_tokens_per_second(vcpus: float, parameters: int) -> float:
    return speed_model().cpu.prefill_gflops_per_vcpu * 1e9 * vcpus / (2 * parameters)


def weights_read(weights_bytes: int, experts: ExpertWeights | None, tokens: int = 1) -> int:
    """Weight bytes a decode step of `tokens` sequences reads: every weight of a dense model; the
    shared weights and the experts the tokens are routed to in a mixture of experts."""
    if experts is None:
        return weights_bytes
    return weights_bytes - experts.weights_bytes + experts.read_bytes(tokens)


def cpu_speed(
    *, vcpus: float, weights_bytes: int, kv_bytes_per_token_read: int, parameters: int,
    architecture: str = "x86_64", experts: ExpertWeights | None = None,
) -> Speed:
    """A Lambda or serverless CPU with `vcpus` vCPUs running llama.cpp."""
    cpu = speed_model().cpu
    host = cpu.reference_hosts["lambda"]
    ratio = cpu.arm64_speed_ratio if architecture == "arm64" else 1.0
    bandwidth = cpu_bandwidth_gbps(vcpus, per_vcpu_gbps=cpu.bandwidth_gbps_per_vcpu * ratio,
                                   socket_gbps=host.memory_bandwidth_gbps)
    per_token = weights_read(weights_bytes, experts) + kv_bytes_per_token_read
    decode = bandwidth * 1e9 / per_token
    prompt = cpu_prompt_tokens_per_second(vcpus, parameters) * ratio
    basis = f"{vcpus:.2f} vCPU x {cpu.bandwidth_gbps_per_vcpu * ratio:g} GB/s / {per_token / 1e9:.2f} GB read per token"
    return Speed(decode, prompt, basis)


# --- GPU: the serving model of tierwise/serving.py (continuous batching over paged KV) -------------


def bedrock_speed(model_id: str) -> Speed:
    """One request's speed on Bedrock for `model_id` (an inference-profile prefix names the same
    model): its published output rate, or, for a model no benchmark
    reports, the slowest published Bedrock rate, so an unmeasured model is never assumed fast."""
    from tierwise.contract import base_model_id

    rows = bedrock_measurements()
    prompt = speed_model().bedrock.input_tokens_per_second
    base = base_model_id(model_id)
    for row in rows:
        if row.model_id == base:
            return Speed(row.output_tokens_per_second, prompt,
                         f"{row.output_tokens_per_second:g} tokens/s published for {base} ({row.source}, {row.taken})")
    slowest = min(rows, key=lambda r: r.output_tokens_per_second)
    return Speed(slowest.output_tokens_per_second, prompt,
                 f"no published speed for {base}: the slowest published Bedrock rate, "
                 f"{slowest.output_tokens_per_second:g} tokens/s ({slowest.model_id}, {slowest.source})")
