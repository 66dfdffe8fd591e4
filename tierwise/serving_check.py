"""The serving model (tierwise/serving.py) run on the hardware and load of each published batched
run in tierwise/data/throughput_measurements.yaml (`batched_serving`), so the curve can be held to
them (tests/core/test_capacity_curve.py) and its efficiencies fitted on them
(scripts/fit_serving_model.py).

Each run is compared on the figure its source reports for the server:

- a run at a concurrency with a request latency (fmbench on SageMaker): the latency. fmbench's
  own tokens/s divides by the test's wall time with requests sent in lock-step rounds, a
  client-side figure; the latency is the server's;
- a run at a concurrency with output tokens/s (TensorRT-LLM's static batches): that throughput,
  with the whole batch's prefill first and then its decode steps, as a static batch runs;
- a run at one request with a first-token time: the time to the first token;
- a run at a request rate with median time per output token (SGLang/vLLM on ShareGPT): the time
  per output token at the concurrency Little's law gives (rate x median latency), with ShareGPT's
  prompt length taken from the one ShareGPT run that states it (SHAREGPT_PROMPT_ROW);
- an offline maximum-throughput run: an upper bound the curve must stay under.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tierwise.facts import BatchedServingMeasurement, gpu_instances, measured_shape, throughput_measurements
from tierwise.serving import ModelShape, Server, curve, point, step_seconds

# The online ShareGPT runs of the SGLang README state neither length: the prompt is the mean of
# this run of the same dataset with a Llama 3 tokenizer (total input tokens / requests), the
# answer the mean of the README's own offline run (output tokens/s / requests/s).
SHAREGPT_PROMPT_ROW = "gpu-a10g-x2-vllm-llama3-8b-sharegpt"
SHAREGPT_ANSWER_ROW = "sglang-a100-80g-llama3.1-8b-sharegpt-offline"
BYTES_PER_WEIGHT = {"BF16": 2.0, "FP16": 2.0, "FP8": 1.0, "INT8": 1.0}
BAND = 0.35  # the curve must land within +-35% of each run (an offline maximum: stay under it +35%)

_TGI_2023 = ("TGI 1.0.3 (2023) on SageMaker, prompt length not stated: its figure counts the prefill of prompts "
             "of unknown length, and that engine's per-layer overhead (no CUDA graphs, NCCL all-reduce) is not "
             "what the current LMI/vLLM engine pays")
# Runs the serving model does not reach, and why; each must stay outside the band (the list stays true).
KNOWN_MISSES: dict[str, str] = {
    **{f"vllm-{gpu}-llama3.1-{size}-sharegpt-rps{rate}/ttft":
       "vLLM 0.6.0 ran with --num-scheduler-steps 10 (the README's notes): a new prompt waits for the running "
       "10-step batch to end, so its median first token is ~3x SGLang's; LMI's engine schedules every step"
       for gpu, size in (("a100-80g", "8b"), ("h100x4", "70b")) for rate in (4, 8)},
    **{i: _TGI_2023 for i in (
        "gpu-a100-40g-x8-p4d-llama2-7b-fp16-c1", "gpu-a100-40g-x8-p4d-llama2-70b-fp16-c1",
        "gpu-a10g-g5.2xl-llama2-7b-fp16-c20",
        "gpu-a10g-x4-g5.12xl-llama2-7b-fp16-c10", "gpu-a10g-x4-g5.12xl-llama2-7b-fp16-c20",
        "gpu-a10g-x4-g5.12xl-llama2-13b-fp16-c20", "gpu-a100-40g-x8-p4d-llama2-13b-fp16-c20",
        "gpu-a100-40g-x8-p4d-llama2-70b-fp16-c20", "gpu-a10g-x8-g5.48xl-llama2-70b-fp16-c20")},
    "gpu-a10g-x2-vllm-llama3-8b-sharegpt":
        "1,000 requests sent at once to vLLM (mid-2024) over 2 PCIe A10Gs: the figure is the burst's tokens over "
        "its whole wall time, queueing and the client included; the model's steady state at the KV room's "
        "concurrency is 2.5x it, and nothing in the source separates the two",
}

Kind = Literal["latency", "throughput", "ttft", "tpot", "upper_bound"]


@dataclass(frozen=True)
class Check:
    id: str
    kind: Kind
    published: float
    modelled: float
    unit: str
    detail: str

    @property
    def error(self) -> float:
        return self.modelled / self.published - 1


def sharegpt_lengths() -> tuple[int, int]:
    """(prompt, answer) tokens of an average ShareGPT request, from the two runs that give them."""
    from tierwise.facts import batched_serving_measurements

    prompt = next(m for m in throughput_measurements() if m.id == SHAREGPT_PROMPT_ROW).input_tokens
    answer = next(m for m in batched_serving_measurements() if m.id == SHAREGPT_ANSWER_ROW).output_tokens
    assert prompt is not None and answer is not None
    return prompt, answer


def shape_of(row: BatchedServingMeasurement, dtype: str) -> ModelShape:
    """The run's model at its precision; TensorRT-LLM's FP8 engines keep an FP8 KV cache."""
    _, s = measured_shape(row.model)
    parameters = round(row.parameters_b * 1e9)
    embedding = s.vocabulary * s.hidden * (1 if s.tied_embeddings else 2)
    if dtype == "FP8":  # linear layers in FP8, embedding and output head in 16 bits
        weights = (parameters - embedding) + 2 * embedding
    else:
        weights = round(parameters * BYTES_PER_WEIGHT[dtype])
    kv = 1.0 if (dtype == "FP8" and row.engine == "TensorRT-LLM") else 2.0
    return ModelShape(layers=s.layers, hidden=s.hidden, attention_heads=s.attention_heads, kv_heads=s.kv_heads,
                      head_dim=s.head_dim, parameters=parameters, weights_bytes=weights, kv_element_bytes=kv)


def server_of(row: BatchedServingMeasurement, shape: ModelShape, dtype: str) -> Server:
    """The run's GPUs as tierwise models them: its family's efficiencies, `tensor_parallel` GPUs."""
    family = [i for i in gpu_instances() if i.spec.gpu == row.gpu]
    if not family:
        raise ValueError(f"{row.id}: {row.gpu} is no AWS family's GPU")
    inst = max(family, key=lambda i: i.gpu_count)
    # the engines the runs used batch far beyond vLLM's 256 (TensorRT-LLM's 768 and 1,024)
    return Server.for_instance(inst, dtype, shape.weights_bytes, 0, max_sequences=4096, gpus=row.tensor_parallel)


def static_batch_tokens_per_second(shape: ModelShape, server: Server, input_tokens: int, output_tokens: int,
                                   batch: int) -> float:
    """A static batch: every prompt's prefill in one step, then the decode steps in lock-step."""
    prefill = step_seconds(shape, server, decode=0, context=0, prefill=batch * input_tokens,
                           attended=input_tokens / 2)
    decode = step_seconds(shape, server, decode=batch, context=input_tokens + output_tokens / 2)
    return batch * output_tokens / (prefill + output_tokens * decode)


def check(row: BatchedServingMeasurement) -> Check | None:
    """The model's figure against the run's, or None when the run gives nothing comparable."""
    dtype = row.dtype or "BF16"  # a run that does not state it served the 16-bit checkpoint
    shape = shape_of(row, dtype)
    server = server_of(row, shape, dtype)
    i, o = row.input_tokens, row.output_tokens
    if row.request_rate is not None:
        if row.time_per_output_token_s is None or row.request_latency_s is None:
            return None
        i, o = (i, o) if i and o else sharegpt_lengths()
        c = max(1, round(row.request_rate * row.request_latency_s))
        tpot = 1 / point(shape, server, i, o, c).decode_tokens_per_second
        return Check(row.id, "tpot", row.time_per_output_token_s, tpot, "s",
                     f"concurrency ~{c} (rate x median latency), {i} in / {o} out")
    if i is None or o is None:
        return None
    if row.offline:
        best = max(curve(shape, server, i, o), key=lambda q: q.output_tokens_per_second)
        return Check(row.id, "upper_bound", row.output_tokens_per_second, best.output_tokens_per_second,
                     "tokens/s", f"best of the curve (concurrency {best.concurrency})")
    c = row.concurrency
    if row.time_to_first_token_s is not None and c == 1 and o == 1:
        return Check(row.id, "ttft", row.time_to_first_token_s, point(shape, server, i, 1, 1).time_to_first_token_s,
                     "s", f"{i}-token prompt at batch 1")
    if row.request_latency_s is not None:
        return Check(row.id, "latency", row.request_latency_s, point(shape, server, i, o, c).seconds_per_request,
                     "s", f"concurrency {c}, {i} in / {o} out")
    if row.output_tokens_per_second is not None and row.batching == "static":
        return Check(row.id, "throughput", row.output_tokens_per_second,
                     static_batch_tokens_per_second(shape, server, i, o, c), "tokens/s",
                     f"static batch of {c}, {i} in / {o} out")
    if row.output_tokens_per_second is not None:
        return Check(row.id, "throughput", row.output_tokens_per_second,
                     point(shape, server, i, o, c).output_tokens_per_second, "tokens/s",
                     f"concurrency {c}, {i} in / {o} out")
    return None


def ttft_check(row: BatchedServingMeasurement) -> Check | None:
    """A request-rate run's median time to the first token at its Little's-law concurrency."""
    if row.request_rate is None or row.time_to_first_token_s is None or row.request_latency_s is None:
        return None
    dtype = row.dtype or "BF16"
    shape = shape_of(row, dtype)
    server = server_of(row, shape, dtype)
    i, o = sharegpt_lengths()
    c = max(1, round(row.request_rate * row.request_latency_s))
    return Check(row.id + "/ttft", "ttft", row.time_to_first_token_s,
                 point(shape, server, i, o, c).time_to_first_token_s, "s", f"concurrency ~{c}")


# --- the single-stream and aggregate GPU rows of the `measurements` table --------------------------

SERVED_ENGINES = ("TGI", "vLLM")  # LMI runs vLLM; TGI batches continuously the same way


def decode_check(m) -> Check | None:
    """A GPU run of the `measurements` table (decode tokens/s of one stream, or summed over the
    streams in flight) against the decode steps of the serving model at its concurrency. Those
    sources give no prompt length, so the steps are decode steps over the answer alone."""
    if m.gpu_count == 0 or m.engine not in SERVED_ENGINES or m.precision not in BYTES_PER_WEIGHT:
        return None
    if m.metric not in ("decode_tokens_per_second_per_stream", "aggregate_decode_tokens_per_second"):
        return None
    family = [i for i in gpu_instances() if i.spec.gpu == m.gpu]
    if not family:
        return None
    _, s = measured_shape(m.model)
    parameters = round(m.parameters_b * 1e9)
    shape = ModelShape(layers=s.layers, hidden=s.hidden, attention_heads=s.attention_heads, kv_heads=s.kv_heads,
                       head_dim=s.head_dim, parameters=parameters,
                       weights_bytes=round(parameters * BYTES_PER_WEIGHT[m.precision]))
    inst = max(family, key=lambda i: i.gpu_count)
    server = Server.for_instance(inst, m.precision, shape.weights_bytes, 0, max_sequences=4096, gpus=m.gpu_count)
    held = (m.input_tokens or 0) + (m.output_tokens or 0) / 2
    streams = m.concurrency
    if m.input_tokens and m.output_tokens and streams > 1:
        modelled = point(shape, server, m.input_tokens, m.output_tokens, min(streams, max(1, _room(shape, server, m))))
        return Check(m.id, "throughput", m.value, modelled.output_tokens_per_second, "tokens/s",
                     f"{streams} requests at once, {m.input_tokens} in / {m.output_tokens} out")
    step = step_seconds(shape, server, decode=streams, context=held)
    per_stream = m.metric == "decode_tokens_per_second_per_stream"
    return Check(m.id, "throughput", m.value, (1 if per_stream else streams) / step, "tokens/s",
                 f"decode steps of {streams} stream(s)")


def _room(shape: ModelShape, server: Server, m) -> int:
    from tierwise.serving import max_concurrency

    return max_concurrency(shape, server, m.input_tokens, m.output_tokens)
