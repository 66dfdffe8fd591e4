"""The speed model against every published measurement it can be run on (issue #9 proof).

Each CPU measurement in tierwise/data/throughput_measurements.yaml is re-computed with tierwise's
own formulas on the hardware the measurement used (CPU memory bandwidth from throughput.yaml's
reference hosts) and must land within +-35%. The GPU rows belong to the serving model
(tests/core/test_capacity_curve.py); measurements of engines or precisions tierwise never
deploys (GPTQ/AWQ kernels, llama.cpp on a GPU) are out of the model's domain; the in-domain row
the model does not reach is listed with the reason, and the test fails if it starts to agree
(the list must stay true) or if any other row leaves the band.
"""

from __future__ import annotations

import pytest

from tierwise.facts import Measurement, architecture_pairs, bedrock_measurements, speed_model, throughput_measurements
from tierwise.throughput import bedrock_speed, cpu_bandwidth_gbps, cpu_prompt_tokens_per_second, cpu_speed

BAND = 0.35
BITS_PER_WEIGHT = {"Q4_0": 4.5}
# in-domain rows the model misses, and why (each must stay outside the band)
KNOWN_MISSES = {
    "cpu-graviton3-r7g16xl-llama2-7b-q4_0-decode":
        "64 threads on one socket: llama.cpp's decode is synchronisation and compute bound there, "
        "not bandwidth bound; a Lambda has at most 6 vCPUs",
}


def _in_domain(m: Measurement) -> bool:
    """llama.cpp on a CPU: what the GGUF tiers run. The GPU rows are the serving model's
    (tierwise/serving_check.decode_check, held in tests/core/test_capacity_curve.py)."""
    return m.precision in BITS_PER_WEIGHT and m.gpu_count == 0 and m.engine == "llama.cpp"


def predict(m: Measurement) -> float:
    """tierwise's figure for the measurement's metric, on the measurement's hardware."""
    parameters = m.parameters_b * 1e9
    weights = parameters * BITS_PER_WEIGHT[m.precision] / 8
    model = speed_model()
    if m.gpu_count == 0:
        hosts = [h for name, h in model.cpu.reference_hosts.items() if name in m.hardware]
        assert len(hosts) == 1, f"{m.id}: no reference host for {m.hardware!r} in throughput.yaml"
        host = hosts[0]
        if m.metric == "prompt_tokens_per_second":
            return cpu_prompt_tokens_per_second(m.vcpus, parameters)
        assert m.metric == "decode_tokens_per_second_per_stream", m.id
        return cpu_bandwidth_gbps(m.vcpus, per_vcpu_gbps=host.per_thread_gbps,
                                  socket_gbps=host.memory_bandwidth_gbps) * 1e9 / weights
    raise AssertionError(f"{m.id}: not a CPU run")


IN_DOMAIN = [m for m in throughput_measurements() if _in_domain(m)]


def test_the_table_covers_cpu_decode_and_prompt():
    assert all(m.gpu_count == 0 for m in IN_DOMAIN)
    assert {m.metric for m in IN_DOMAIN} == {"decode_tokens_per_second_per_stream", "prompt_tokens_per_second"}
    assert set(KNOWN_MISSES) <= {m.id for m in IN_DOMAIN}
    assert len(IN_DOMAIN) - len(KNOWN_MISSES) >= 6


@pytest.mark.parametrize("m", IN_DOMAIN, ids=lambda m: m.id)
def test_speed_model_lands_within_35_percent_of_each_published_measurement(m):
    error = predict(m) / m.value - 1
    if m.id in KNOWN_MISSES:
        assert abs(error) > BAND, f"{m.id} now agrees ({error:+.0%}): take it off KNOWN_MISSES"
    else:
        assert abs(error) <= BAND, f"{m.id}: model {predict(m):.1f} against {m.value} measured ({error:+.0%}), {m.source}"


# --- Lambda: arm64 against x86_64 -------------------------------------------------------------

@pytest.mark.parametrize("pair", architecture_pairs(), ids=lambda p: p.id)
def test_lambda_arm64_to_x86_decode_ratio_matches_the_published_pair(pair):
    """The only published llama.cpp-on-Lambda figures are a pair without a named model, so the
    model's absolute tokens/s cannot be checked against them; the arm64/x86_64 ratio the
    placement uses (through cpu_speed, the function plans call) can, at the pair's vCPUs."""
    kw = dict(vcpus=pair.vcpus, weights_bytes=4_000_000_000, kv_bytes_per_token_read=0, parameters=7_000_000_000)
    arm, x86 = cpu_speed(architecture="arm64", **kw), cpu_speed(architecture="x86_64", **kw)
    measured = pair.x86_64_ms_per_token / pair.arm64_ms_per_token
    for modelled in (arm.decode_tokens_per_second / x86.decode_tokens_per_second,
                     arm.prompt_tokens_per_second / x86.prompt_tokens_per_second):
        assert abs(modelled / measured - 1) <= BAND, f"arm64/x86 {modelled:.2f} against {measured:.2f} measured ({pair.source})"
    assert modelled > 1, "the source measured arm64 faster: the model must not make it slower or equal"


# --- Bedrock on demand: per model, from published live-service benchmarks -----------------------

CATALOGUE_ON_BEDROCK = ["mistral-7b", "nova-pro", "llama3-8b", "llama3-70b"]


@pytest.mark.parametrize("name", CATALOGUE_ON_BEDROCK)
def test_a_bedrock_plan_decodes_at_its_models_published_rate_or_the_slowest_published_one(name):
    """What a user sees in `plan --hosting managed`: the model's published output speed (within
    +-35%) where a benchmark reports it, else the slowest published Bedrock rate, said in the
    reasons; never the old flat 50 tokens/s."""
    from model_profiles import load_profile
    from tierwise.contract import base_model_id
    from tierwise.placement import plan

    p = plan(load_profile(name), hosting="managed", tier="bedrock-on-demand")
    model_id = base_model_id(p.settings.model_id)
    rows = {m.model_id: m for m in bedrock_measurements()}
    if model_id in rows:
        published = rows[model_id].output_tokens_per_second
        assert abs(p.tokens_per_second / published - 1) <= BAND, (model_id, p.tokens_per_second, published)
        assert any(rows[model_id].source in r for r in p.reasons)
    else:
        slowest = min(rows.values(), key=lambda m: m.output_tokens_per_second)
        assert p.tokens_per_second == slowest.output_tokens_per_second
        assert any(f"no published speed for {model_id}" in r for r in p.reasons)
    assert p.seconds_per_request == pytest.approx(
        p.workload.input_tokens / speed_model().bedrock.input_tokens_per_second
        + p.workload.output_tokens / p.tokens_per_second, rel=1e-3)


@pytest.mark.parametrize("m", bedrock_measurements(), ids=lambda m: m.id)
def test_bedrock_time_to_first_token_of_a_500_token_prompt_is_within_35_percent_of_each_published_one(m):
    """The one Bedrock coefficient that is not read from a measurement, the prompt rate, against
    the published first-token times (which include a network round trip and an unstated prompt)."""
    predicted = bedrock_speed(m.model_id).time_to_first_token(500)
    assert abs(predicted / m.time_to_first_token_s - 1) <= BAND, (m.id, predicted, m.time_to_first_token_s)
