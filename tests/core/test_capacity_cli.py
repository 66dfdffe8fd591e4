"""What issue #17 changes in what a user sees through the CLI: the capacity curve and its knee,
the new options and their one-line errors, context sized to the request, peaks priced, cold
starts in the p95, quota increases named, unknown prices never chosen, out-of-proportion bills
flagged, and `compare`'s break-evens."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from model_profiles import load_profile
from tierwise import tiers
from tierwise.cli import main
from tierwise.cost import bills
from tierwise.placement import plan
from tierwise.tiers.bedrock_on_demand import BedrockOnDemand
from tierwise.workload import Workload


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def plan_json(*argv: str) -> dict:
    code, out, err = run("plan", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_plan_json_has_the_curve_the_operating_point_and_the_p95():
    d = plan_json("llama3-8b", "--hosting", "self", "--requests-per-month", "3000000", "--input-tokens", "1000",
                  "--output-tokens", "300")
    cap = d["capacity"]
    concurrency = [p["concurrency"] for p in cap["curve"]]
    assert concurrency[:3] == [1, 2, 4] and concurrency[-1] == cap["max_concurrency_per_instance"]
    assert all(set(p) >= {"output_tokens_per_second", "seconds_per_request", "time_to_first_token_s"}
               for p in cap["curve"])
    op = cap["operating_point"]
    assert op["concurrency"] == d["settings"]["max_batch_size"] == cap["concurrency_per_instance"]
    assert op["seconds_per_request"] <= 30 and d["seconds_per_request"] == op["seconds_per_request"]
    assert d["p95_seconds_per_request"] == d["seconds_per_request"] and d["cold_request_share"] == 0
    assert cap["utilization"] <= cap["target_utilization"] == 0.7
    assert cap["instance_hours_per_month"] >= 730


def test_the_printed_plan_shows_the_knee_in_a_few_lines_of_80_columns():
    code, out, _ = run("plan", "llama3-8b", "--hosting", "self", "--requests-per-month", "3000000")
    assert code == 0
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("capacity curve, one instance"))
    table = lines[start + 1:start + 6]
    assert table[0].split() == ["in", "flight", "tokens/s", "s/request", "first", "token"]
    rows = [line for line in table[1:] if line.strip() and line.strip()[0].isdigit()]
    assert 3 <= len(rows) <= 4 and all(len(line) <= 80 for line in rows)
    assert "alone" in rows[0] and any("knee" in r for r in rows) and any("operating point at 70%" in r for r in rows)


def test_instance_type_pins_the_gpu_instance_and_a_bad_one_is_one_line():
    d = plan_json("llama3-8b", "--instance-type", "ml.g6e.xlarge")
    assert d["tier"] == "sagemaker-gpu" and d["settings"]["instance_type"] == "ml.g6e.xlarge"
    assert "instance type ml.g6e.xlarge" in d["reasons"][0]
    code, _, err = run("plan", "llama3-8b", "--instance-type", "ml.x9.huge")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --instance-type: 'ml.x9.huge' is not a GPU instance") and "ml.g6e.xlarge" in err
    code, _, err = run("plan", "llama3-8b", "--tier", "lambda-gguf", "--batch", "--instance-type", "ml.g6e.xlarge")
    assert code == 2 and err == ("error: --instance-type ml.g6e.xlarge pins an instance of sagemaker-gpu; llama3-8b "
                                 "is placed on lambda-gguf\n")


def test_quant_takes_the_gpu_precisions_the_container_loads():
    fp8 = plan_json("llama3-8b", "--hosting", "self", "--quant", "fp8")
    assert fp8["tier"] == "sagemaker-gpu" and fp8["settings"]["serving_dtype"] == "FP8" and fp8["quant"] == "FP8"
    assert fp8["memory"]["weights_bytes"] < 0.6 * plan_json("llama3-8b", "--hosting", "self")["memory"]["weights_bytes"]
    int4 = plan_json("qwen2.5-7b", "--hosting", "self", "--quant", "INT4")
    assert int4["settings"]["hf_model_id"] == "Qwen/Qwen2.5-7B-Instruct-AWQ"
    for argv, needles in (
        (["llama3-8b", "--quant", "FP8", "--instance-type", "ml.g5.2xlarge"], ["compute capability 8.9", "A10G"]),
        (["llama3-8b", "--hosting", "self", "--quant", "INT4"], ["--quant INT4 needs a published 4-bit checkpoint"]),
        (["llama3-8b", "--quant", "Q9"], ["--quant: unknown quantization 'Q9'", "Q4_K_M", "FP8, INT4 (sagemaker-gpu)"]),
    ):
        code, _, err = run("plan", *argv)
        assert code == 2 and err.count("\n") == 1, err
        for needle in needles:
            assert needle in err, err


@pytest.mark.parametrize(("argv", "needles"), [
    (["--target-utilization", "0"], ["--target-utilization", "greater than 0"]),
    (["--target-utilization", "1.5"], ["--target-utilization", "less than or equal to 1"]),
    (["--peak-factor", "20"], ["--peak-factor with the default peak_hours_per_day", "40 hours of average traffic",
                               "at most 1.2 h"]),
    (["--peak-hours-per-day", "25"], ["--peak-hours-per-day", "less than or equal to 24"]),
    (["--peak-factor", "6", "--peak-hours-per-day", "5"], ["--peak-factor with --peak-hours-per-day", "30 hours"]),
])
def test_bad_load_shape_values_are_one_line(argv, needles):
    code, _, err = run("plan", "llama3-8b", *argv)
    assert code == 2 and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_context_is_sized_to_the_request_and_only_what_the_model_cannot_hold_is_refused():
    # the refusals: 5,000 tokens on a 8,192-token model, and a 32k-context model
    for model in ("llama3-8b", "qwen2.5-0.5b"):
        d = plan_json(model, "--requests-per-month", "3000000", "--input-tokens", "4000", "--output-tokens", "1000")
        assert d["context"] >= 5000
        deployed = d["settings"].get("max_model_len") or d["settings"].get("n_ctx")
        assert deployed is None or deployed == d["context"]
    code, _, err = run("plan", "phi3-mini", "--input-tokens", "4000", "--output-tokens", "1000")
    assert code == 2 and "5,000 tokens do not fit phi3-mini, whose context holds at most 4,096 tokens" in err


def test_peaks_are_priced_as_instance_hours_and_the_review_prices_the_same():
    w = Workload(requests_per_month=30_000_000)
    p = plan(load_profile("mistral-7b"), workload=w, hosting="self")
    s = p.settings
    assert s.max_instances > s.min_instances
    hours = [c for c in p.bill if c.unit == "instance-hours"]
    assert [c.monthly_quantity for c in hours] == pytest.approx(
        [s.min_instances * 730, (s.max_instances - s.min_instances) * w.peak_hours_per_day * 730 / 24])
    assert p.capacity["instance_hours_per_month"] == pytest.approx(sum(c.monthly_quantity for c in hours), abs=0.1)
    # a longer daily peak costs more, the month's requests being the same
    longer = plan(load_profile("mistral-7b"), workload=w.model_copy(update={"peak_hours_per_day": 6.0}),
                  hosting="self")
    assert longer.monthly_cost_usd > p.monthly_cost_usd


def test_a_cold_start_counts_in_the_p95_and_a_tier_whose_p95_misses_the_target_is_not_chosen():
    """The issue: phi3-mini at 1,000 requests a month on Lambda, ~26 s cold + 16.5 s warm."""
    low = plan_json("phi3-mini", "--hosting", "self", "--requests-per-month", "1000", "--input-tokens", "200",
                    "--output-tokens", "50")
    refused = low["rejected"]["lambda-gguf"]
    assert "p95 request takes ~42.5 s" in refused and "86% of requests find no warm copy" in refused
    assert low["tier"] != "lambda-gguf"
    busy = plan_json("phi3-mini", "--hosting", "self", "--requests-per-month", "30000", "--input-tokens", "200",
                     "--output-tokens", "50")
    assert busy["tier"] == "lambda-gguf" and busy["cold_request_share"] < 0.05
    assert busy["p95_seconds_per_request"] == busy["seconds_per_request"]
    # a trickle of requests to a small model: most are cold, and its p95 still meets the target
    tiny = plan_json("tinyllama-1.1b", "--requests-per-month", "1000", "--input-tokens", "200", "--output-tokens", "50")
    assert tiny["tier"] == "lambda-gguf" and tiny["cold_request_share"] > 0.8
    assert tiny["p95_seconds_per_request"] == pytest.approx(tiny["seconds_per_request"] + tiny["cold_start_s"], abs=0.06)


def test_on_demand_past_a_raisable_quota_stays_on_demand_and_names_the_increase():
    """Nova Pro through its cross-region profile: the tokens-a-minute quota can be raised."""
    base = load_profile("nova-pro")
    profile = base.model_copy(update={"bedrock": base.bedrock.model_copy(update={"model_ids": ["us.amazon.nova-pro-v1:0"]})})
    w = Workload(requests_per_month=600_000, input_tokens=20_000, output_tokens=1_000, peak_factor=10,
                 peak_hours_per_day=2)
    p = plan(profile, workload=w)
    assert p.tier == "bedrock-on-demand"
    [increase] = p.capacity["quota_increases"]
    assert increase["name"] == "Cross-region model inference tokens per minute for Amazon Nova Pro"
    assert increase["code"] == "L-C0326783" and increase["needed"] > increase["default"] == 2_000_000
    assert any("request an increase of 'Cross-region model inference tokens per minute for Amazon Nova Pro' "
               "(Service Quotas code L-C0326783)" in w for w in p.warnings)


def test_a_tier_with_an_unknown_price_is_never_chosen_over_one_with_a_known_price():
    class Unpriced(BedrockOnDemand):
        id = "toy-unpriced"

        def bill(self, settings, usage, book, region):
            return [bills.component("Toy units", "unit-months", 1.0, None, "toy/unit_month")]

    with tiers.registered(Unpriced()):
        p = plan(load_profile("llama3-8b"))
    assert p.tier == "bedrock-on-demand" and p.monthly_cost_usd is not None
    assert "its price is unknown" in p.rejected["toy-unpriced"]


def test_a_bill_out_of_proportion_names_the_managed_alternatives():
    p = plan(load_profile("llama3.1-405b"), workload=Workload(requests_per_month=1000))
    [warning] = [w for w in p.warnings if w.startswith("out of proportion")]
    assert f"${p.monthly_cost_usd / 1000:,.2f} a request" in warning and "nova-pro on bedrock-on-demand" in warning
    assert not any(w.startswith("out of proportion") for w in plan(load_profile("llama3-8b")).warnings)


def test_compare_gives_one_break_even_per_pair_with_its_cause():
    code, out, _ = run("compare", "llama3-8b", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert all(set(b) == {"tiers", "requests_per_month", "cheaper_below", "cheaper_above", "cause", "why"}
               for b in data["break_even"])
    assert all(b["cause"] in ("cost", "quota", "limit") for b in data["break_even"])
    code, out, _ = run("compare", "llama3-8b")
    lines = [line for line in out.splitlines() if "->" in line and "/month (" in line]
    assert len(lines) == len(data["break_even"]) >= 1
