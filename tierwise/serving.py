"""The GPU tier's serving model: an engine that batches continuously over a paged KV cache, as
vLLM inside SageMaker's LMI container does (issue #17).

A step of the engine gives every running sequence one token and folds in the prompt (prefill)
tokens of sequences that just joined. Its time is the sum of what its kernels do, each bound by
what it reads or by what it computes, whichever takes longer:

- the matrix multiplications read the weights once for the whole step (the routed experts a
  mixture of experts touches) and compute 2 x active parameters FLOPs per token in the step;
- decode attention reads every running sequence's KV cache, for the tokens it holds (paged: a
  sequence holds KV for its tokens, not for the whole context);
- prefill attention computes over the prompt (compute bound);
- tensor parallelism adds two all-reduces per layer: a fixed latency each, plus the step's
  activations over the GPU-to-GPU link;
- and the engine's fixed cost per step (scheduling, sampling, launches).

Bandwidth and compute are the GPU's datasheet figures times the share the engine reaches, per GPU
family (tierwise/data/serving_model.yaml, fitted to the published runs of
tierwise/data/throughput_measurements.yaml by scripts/fit_serving_model.py;
tests/core/test_capacity_curve.py holds the curve to them).

With `concurrency` requests in flight (a closed loop: a request that ends is replaced), one
request's life is its prefill step, then output_tokens - 1 decode steps, during which the other
sequences' prefills join some steps. That gives the curve: output tokens/s of the instance,
seconds per request and time to the first token at each concurrency, up to what the KV cache
holds. Pure arithmetic over frozen dataclasses, cached: a plan evaluates it for every instance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from model_profiles.schema import ModelProfile
from tierwise.errors import TierwiseError
from tierwise.facts import GpuInstance, gpu_runtime
from tierwise.facts.serving import family_efficiency, link_gbps_per_direction, serving_facts
from tierwise.sizing import MIB, ExpertWeights, MemoryEstimate, kv_cache_bytes

ACTIVATION_BYTES = 2  # the engine's activations (what an all-reduce sends) are 16-bit


@dataclass(frozen=True)
class ModelShape:
    """What the serving model needs of a model at its serving precision."""

    layers: int
    hidden: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    parameters: int  # FLOPs per token are 2 x these (a mixture of experts: the active ones)
    weights_bytes: int  # held in GPU memory
    kv_element_bytes: float = 2.0  # vLLM's kv_cache_dtype "auto": the model's 16-bit dtype
    experts: ExpertWeights | None = None
    sliding_layers: int = 0
    sliding_window: int | None = None

    @classmethod
    def of(cls, profile: ModelProfile, est: MemoryEstimate) -> ModelShape:
        arch = profile.architecture
        if arch is None:
            raise TierwiseError(f"{profile.name} is a closed model: it has no shape to serve")
        return cls(layers=arch.layers, hidden=arch.embedding_width, attention_heads=arch.attention_heads,
                   kv_heads=arch.kv_heads, head_dim=arch.head_dim, parameters=profile.parameters_per_token,
                   weights_bytes=est.weights_bytes, experts=est.experts, sliding_layers=arch.sliding_layers,
                   sliding_window=arch.sliding_window)

    def kv_bytes(self, tokens: float) -> float:
        """KV cache of one sequence holding `tokens` positions (sliding-window layers keep their window)."""
        whole = math.ceil(tokens)
        return kv_cache_bytes(layers=self.layers, kv_heads=self.kv_heads, head_dim=self.head_dim, context=whole,
                              element_bytes=self.kv_element_bytes, sliding_layers=self.sliding_layers,
                              sliding_window=self.sliding_window) * (tokens / whole if whole else 0.0)

    def weights_read(self, tokens: int) -> float:
        """Weight bytes a step of `tokens` tokens reads (a mixture of experts: the experts they touch)."""
        if self.experts is None:
            return float(self.weights_bytes)
        return self.weights_bytes - self.experts.weights_bytes + self.experts.read_bytes(max(1, tokens))


@dataclass(frozen=True)
class Server:
    """One model replica: its GPUs (tensor parallel), what the engine reaches of them, its KV room."""

    gpus: int
    bandwidth: float  # bytes/s per GPU the engine reaches
    flops: float  # FLOP/s per GPU the engine reaches, at the precision served
    allreduce_latency_s: float
    link_bytes_per_s: float  # per GPU, each direction
    step_overhead_s: float
    kv_room_bytes: float  # across the GPUs, after weights, activations and CUDA
    max_sequences: int
    name: str = field(default="", compare=False)

    @classmethod
    def for_instance(cls, inst: GpuInstance, dtype: str, weights_bytes: int, runtime_bytes: int,
                     max_sequences: int | None = None, gpus: int | None = None) -> Server:
        """The LMI/vLLM engine on every GPU of `inst` (or its first `gpus`), serving weights of `dtype`."""
        facts, rt = serving_facts(), gpu_runtime()
        eff = family_efficiency(inst.family)
        gpus = gpus or inst.gpu_count
        usable = gpus * (inst.spec.usable_memory_per_gpu_mib * MIB * rt.gpu_memory_utilization
                         - rt.per_gpu_overhead_bytes)
        return cls(
            gpus=gpus,
            bandwidth=inst.spec.gpu_bandwidth_gbps * 1e9 * eff.bandwidth_efficiency,
            flops=effective_tflops(inst, dtype) * 1e12,
            allreduce_latency_s=facts.interconnect[inst.spec.interconnect.kind].allreduce_latency_s,
            link_bytes_per_s=link_gbps_per_direction(inst.spec) * 1e9,
            step_overhead_s=facts.engine.step_overhead_s,
            kv_room_bytes=usable - weights_bytes - runtime_bytes,
            max_sequences=max_sequences or facts.engine.max_num_seqs,
            name=f"{gpus} x {inst.spec.gpu}",
        )


def effective_tflops(inst: GpuInstance, dtype: str) -> float:
    """Dense tensor TFLOP/s one GPU of `inst` reaches for `dtype`: the datasheet peak of the
    precision it computes in (FP8 on FP8 tensor cores, the rest in 16 bits) times the family's
    fitted share; for a family whose datasheet peak is unknown, its fitted effective rate."""
    eff = family_efficiency(inst.family)
    if eff.effective_tflops is not None:
        return eff.effective_tflops
    compute = inst.spec.compute
    peak = compute.fp8_tensor_tflops if dtype == "FP8" else compute.fp16_tensor_tflops
    if peak is None:
        raise TierwiseError(f"tierwise/data/gpu_instances.yaml: {inst.spec.gpu} has no {dtype} tensor peak")
    return peak * eff.compute_efficiency


# --- one step --------------------------------------------------------------------------------


def step_seconds(shape: ModelShape, server: Server, *, decode: int, context: float, prefill: int = 0,
                 attended: float = 0.0) -> float:
    """One engine step: `decode` sequences each holding `context` positions get a token, and
    `prefill` prompt tokens (each attending to `attended` positions on average) are processed."""
    n = server.gpus
    tokens = decode + prefill
    gemm = max(shape.weights_read(tokens) / (n * server.bandwidth),
               tokens * 2 * shape.parameters / (n * server.flops))
    # KV heads fewer than GPUs are replicated on each (vLLM): every GPU reads a whole head
    replicas = max(1.0, n / shape.kv_heads)
    attend_decode = decode * shape.kv_bytes(context) * replicas / (n * server.bandwidth)
    attend_prefill = 4 * shape.layers * shape.attention_heads * shape.head_dim * prefill * attended / (n * server.flops)
    comm = 0.0
    if n > 1 and tokens:
        per_allreduce = (server.allreduce_latency_s
                         + 2 * (n - 1) / n * tokens * shape.hidden * ACTIVATION_BYTES / server.link_bytes_per_s)
        comm = 2 * shape.layers * per_allreduce
    return gemm + attend_decode + attend_prefill + comm + server.step_overhead_s


# --- a concurrency ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CurvePoint:
    concurrency: int
    output_tokens_per_second: float  # of the instance (one replica)
    seconds_per_request: float
    time_to_first_token_s: float
    decode_tokens_per_second: float  # what one stream sees while it is answered

    @property
    def requests_per_second(self) -> float:
        return self.concurrency / self.seconds_per_request

    def contract(self) -> dict[str, float | int]:
        return {"concurrency": self.concurrency,
                "output_tokens_per_second": round(self.output_tokens_per_second, 1),
                "seconds_per_request": round(self.seconds_per_request, 3),
                "time_to_first_token_s": round(self.time_to_first_token_s, 3),
                "decode_tokens_per_second": round(self.decode_tokens_per_second, 1),
                "requests_per_second": round(self.requests_per_second, 4)}


@lru_cache(maxsize=65536)
def point(shape: ModelShape, server: Server, input_tokens: int, output_tokens: int, concurrency: int) -> CurvePoint:
    """The instance at `concurrency` requests in flight, each `input_tokens` in and `output_tokens` out."""
    c, i, o = concurrency, input_tokens, output_tokens
    held = i + o / 2  # a decoding sequence is, on average, half-way through its answer
    decode = step_seconds(shape, server, decode=c, context=held)
    first = step_seconds(shape, server, decode=c - 1, context=held, prefill=i, attended=i / 2)
    joining = step_seconds(shape, server, decode=c, context=held, prefill=i, attended=i / 2) - decode
    seconds = first + (o - 1) * decode + (c - 1) * joining
    streaming = seconds - first
    per_stream = (o - 1) / streaming if o > 1 else 1 / decode
    ttft = first + (decode / 2 if c > 1 else 0.0)  # a request waits, on average, half a step to join
    return CurvePoint(c, c * o / seconds, seconds, ttft, per_stream)


def max_concurrency(shape: ModelShape, server: Server, input_tokens: int, output_tokens: int) -> int:
    """Sequences the KV cache holds at once, each at its longest (no preemption), up to the engine's limit."""
    per_sequence = shape.kv_bytes(input_tokens + output_tokens)
    per_sequence *= max(1.0, server.gpus / shape.kv_heads)
    if server.kv_room_bytes <= 0 or per_sequence <= 0:
        return 0
    return min(server.max_sequences, int(server.kv_room_bytes // per_sequence))


def curve(shape: ModelShape, server: Server, input_tokens: int, output_tokens: int) -> tuple[CurvePoint, ...]:
    """Concurrency 1, 2, 4, ... up to what the KV cache holds (that last figure included)."""
    top = max_concurrency(shape, server, input_tokens, output_tokens)
    levels = sorted({2**k for k in range(int(math.log2(top)) + 1)} | {top}) if top >= 1 else []
    return tuple(point(shape, server, input_tokens, output_tokens, c) for c in levels)


def highest_concurrency(shape: ModelShape, server: Server, input_tokens: int, output_tokens: int,
                        meets) -> CurvePoint | None:
    """The highest concurrency whose point `meets` (a predicate) within the KV room, or None.

    Seconds per request grow and per-stream speed falls with concurrency, so the passing points
    are a prefix: the powers of two find the bracket, bisection the last passing concurrency."""
    top = max_concurrency(shape, server, input_tokens, output_tokens)
    if top < 1:
        return None
    at = lambda c: point(shape, server, input_tokens, output_tokens, c)  # noqa: E731
    if not meets(at(1)):
        return None
    low, high = 1, None
    c = 2
    while c <= top:
        if meets(at(c)):
            low = c
        else:
            high = c
            break
        c *= 2
    if high is None:
        if meets(at(top)):
            return at(top)
        high = top
    while high - low > 1:
        mid = (low + high) // 2
        if meets(at(mid)):
            low = mid
        else:
            high = mid
    return at(low)
