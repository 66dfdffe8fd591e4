"""How fast each tier generates: tokens/s for decode and prompt, and request duration.

Decode reads every weight once per token, so it is bandwidth bound; prompt processing is
compute bound. The coefficients are data (tierwise/data/throughput.yaml) with their basis.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierwise.facts import load


@dataclass(frozen=True)
class Speed:
    decode_tokens_per_second: float
    prompt_tokens_per_second: float
    basis: str

    def request_seconds(self, input_tokens: int, output_tokens: int) -> float:
        return input_tokens / self.prompt_tokens_per_second + output_tokens / self.decode_tokens_per_second


def cpu_speed(*, vcpus: float, weights_bytes: int, kv_bytes_per_token_read: int, parameters: int) -> Speed:
    cpu = load("throughput")["cpu"]
    bandwidth = cpu["bandwidth_gbps_per_vcpu"] * 1e9 * vcpus
    per_token = weights_bytes + kv_bytes_per_token_read
    decode = bandwidth / per_token
    prompt = cpu["prefill_gflops_per_vcpu"] * 1e9 * vcpus / (2 * parameters)
    basis = (
        f"{vcpus:.2f} vCPU x {cpu['bandwidth_gbps_per_vcpu']} GB/s / {per_token / 1e9:.2f} GB read per token"
    )
    return Speed(decode, prompt, basis)


def gpu_speed(*, family: str, gpu_count: int, weights_bytes: int, parameters: int) -> Speed:
    t = load("throughput")["gpu"]
    fam = load("gpu_instances")["families"][family]
    bandwidth = fam["gpu_bandwidth_gbps"] * 1e9 * gpu_count * t["bandwidth_efficiency"]
    decode = bandwidth / weights_bytes
    prompt = t["prefill_tflops_per_gpu"][family] * 1e12 * gpu_count * 0.5 / (2 * parameters)
    basis = (
        f"{gpu_count} x {fam['gpu']} {fam['gpu_bandwidth_gbps']} GB/s x {t['bandwidth_efficiency']} "
        f"/ {weights_bytes / 1e9:.1f} GB per token"
    )
    return Speed(decode, prompt, basis)


def bedrock_speed(model_units: int = 1) -> Speed:
    b = load("throughput")["bedrock"]
    return Speed(b["output_tokens_per_second"], b["input_tokens_per_second"], b["source"])
