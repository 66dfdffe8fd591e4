"""The GPU serving model against published batched runs (issue #17 proof).

tierwise/serving_check.py runs the serving model (tierwise/serving.py) on each run's hardware,
model and load in tierwise/data/throughput_measurements.yaml, with the efficiencies of
tierwise/data/serving_model.yaml, and compares the figure the source reports for the server.
Every comparable run must land within +-35%, and at least 15 of them; an offline
maximum-throughput run is an upper bound the curve must stay under (+35%); the runs the model
does not reach are named with the reason (serving_check.KNOWN_MISSES) and must stay outside the
band, so the list stays true. The fitted figures in the data file must be what the fit gives.
"""

from __future__ import annotations

import statistics

import pytest

from model_profiles import load_profile
from tierwise.facts import (
    batched_serving_measurements,
    efficiency_evidence,
    gpu_instances,
    serving_facts,
    throughput_measurements,
)
from tierwise.serving import ModelShape, Server, curve, highest_concurrency, max_concurrency, point
from tierwise.serving_check import BAND, KNOWN_MISSES, check, decode_check, ttft_check
from tierwise.sizing import estimate_gpu


def _checks():
    out = []
    for row in batched_serving_measurements():
        out += [c for c in (check(row), ttft_check(row)) if c is not None]
    out += [c for c in map(decode_check, throughput_measurements()) if c is not None]
    return out


CHECKS = _checks()
MATCHED = [c for c in CHECKS if c.kind != "upper_bound" and c.id not in KNOWN_MISSES]
BOUNDS = [c for c in CHECKS if c.kind == "upper_bound"]
MISSES = [c for c in CHECKS if c.id in KNOWN_MISSES]


def test_at_least_15_published_batched_runs_are_matched_and_every_miss_is_named():
    batched = [c for c in MATCHED if c.id.split("/")[0] in {r.id for r in batched_serving_measurements()}]
    assert len(batched) >= 15, len(batched)
    assert {c.kind for c in batched} >= {"latency", "throughput", "ttft", "tpot"}
    assert len(BOUNDS) >= 10
    assert set(KNOWN_MISSES) == {c.id for c in MISSES}, "a named miss no longer exists"
    assert all(len(why) > 40 for why in KNOWN_MISSES.values())


@pytest.mark.parametrize("c", MATCHED, ids=lambda c: c.id)
def test_the_curve_lands_within_35_percent_of_each_published_run(c):
    assert abs(c.error) <= BAND, f"{c.id}: model {c.modelled:.4g} against {c.published:.4g} published ({c.error:+.0%})"


@pytest.mark.parametrize("c", BOUNDS, ids=lambda c: c.id)
def test_the_curve_stays_under_each_offline_maximum(c):
    assert c.modelled <= c.published * (1 + BAND), f"{c.id}: {c.modelled:.0f} over the {c.published:.0f} maximum"


@pytest.mark.parametrize("c", MISSES, ids=lambda c: c.id)
def test_each_named_miss_is_still_a_miss(c):
    assert abs(c.error) > BAND, f"{c.id} now agrees ({c.error:+.0%}): take it off KNOWN_MISSES"


def test_the_data_files_fitted_figures_name_real_runs_and_its_summary_is_true():
    facts = serving_facts()
    ids = {r.id for r in batched_serving_measurements()} | {m.id for m in throughput_measurements()}
    for name, fam in facts.families.items():
        assert set(fam.fitted_on) <= ids, name
        assert not set(fam.fitted_on) & set(KNOWN_MISSES), name
        assert fam.bandwidth_efficiency <= facts.bandwidth_ceiling.share
    for kind, link in facts.interconnect.items():
        assert link.fitted_on and set(link.fitted_on) <= ids, kind
    errors = sorted(abs(c.error) for c in MATCHED)
    assert facts.fit["rows"] == len(MATCHED)
    assert facts.fit["median_abs_error"] == pytest.approx(statistics.median(errors), abs=0.01)
    assert facts.fit["worst_abs_error"] == pytest.approx(errors[-1], abs=0.01)
    # the one published share of bandwidth a single stream reaches agrees with the fit
    [mbu] = [e for e in efficiency_evidence() if e.metric == "memory_bandwidth_utilization"]
    fitted = next(c for c in MATCHED if c.id == "gpu-a100-40g-vllm-llama3.1-8b-bf16-c1")
    assert abs(fitted.modelled / fitted.published - 1) <= BAND and mbu.value > 0.5


# --- the curve a plan gets ---------------------------------------------------------------------


def _server(model: str, instance_type: str, dtype: str = "BF16"):
    profile = load_profile(model)
    est = estimate_gpu(profile, 4096, dtype=dtype)
    inst = next(i for i in gpu_instances() if i.instance_type == instance_type)
    return ModelShape.of(profile, est), Server.for_instance(inst, dtype, est.weights_bytes, est.runtime_bytes)


def test_batching_multiplies_an_instances_throughput_until_compute_or_the_kv_cache_binds():
    """The issue's figures: llama3-8b got ~63 tokens/s per ml.g6.xlarge and llama3-70b ~136 per
    ml.g6e.12xlarge; continuous batching over paged KV serves several times that."""
    shape, server = _server("llama3-8b", "ml.g6.xlarge")
    points = curve(shape, server, 500, 200)
    rates = [p.output_tokens_per_second for p in points]
    assert rates == sorted(rates) and rates[-1] > 4 * 63
    seconds = [p.seconds_per_request for p in points]
    assert seconds == sorted(seconds)  # each request waits a little more for the others
    assert points[-1].concurrency == max_concurrency(shape, server, 500, 200) > 5
    shape, server = _server("llama3-70b", "ml.g6e.12xlarge")
    assert max(p.output_tokens_per_second for p in curve(shape, server, 500, 200)) > 3 * 136


def test_the_kv_cache_holds_each_sequences_tokens_not_the_whole_context():
    shape, server = _server("llama3-8b", "ml.g6e.xlarge")
    short, long = max_concurrency(shape, server, 500, 200), max_concurrency(shape, server, 4000, 1000)
    assert short == min(server.max_sequences, int(server.kv_room_bytes // shape.kv_bytes(700)))
    assert long == int(server.kv_room_bytes // shape.kv_bytes(5000)) < short


def test_fp8_halves_the_weights_read_and_speeds_a_stream_on_an_fp8_gpu():
    bf16 = point(*_server("llama3-8b", "ml.g6e.xlarge", "BF16"), 500, 200, 1)
    fp8 = point(*_server("llama3-8b", "ml.g6e.xlarge", "FP8"), 500, 200, 1)
    assert 1.5 < fp8.decode_tokens_per_second / bf16.decode_tokens_per_second < 2.0


def test_the_operating_point_is_the_highest_concurrency_that_meets_the_target():
    shape, server = _server("llama3-8b", "ml.g6e.xlarge")
    op = highest_concurrency(shape, server, 500, 200, lambda p: p.seconds_per_request <= 10)
    assert op.seconds_per_request <= 10
    assert point(shape, server, 500, 200, op.concurrency + 1).seconds_per_request > 10
