"""The expert's grid of issue #17, again: every catalogue model x 1k/30k/300k/3M/30M requests a
month x three request shapes (200/50, 1,000/300, 4,000/1,000 tokens) x --hosting auto|self, plus
--batch (every model, 1,000/300 tokens, 30k/300k/3M requests, --hosting self): 495 points, each
planned and compared through the CLI in-process (no synth).

At every point:
- plan and compare agree on the chosen tier and on what it deploys;
- a request that fits the model (input + output within its context) is never refused for its
  size; a refusal says which target it misses (and the flags that change it) or that the model
  cannot hold the request;
- the deployed context covers the request;
- the bill is at least what the running instances cost, and a GPU plan uses at most its target
  utilization of what its instances serve;
- an interactive plan's p95 (cold starts included) meets the target;
- a chosen tier has a known price unless no feasible tier has one.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from model_profiles import load_catalogue
from tierwise.cli import main
from tierwise.cost.prices import load_prices
from tierwise.workload import INTERACTIVE_MAX_SECONDS

VOLUMES = (1_000, 30_000, 300_000, 3_000_000, 30_000_000)
SHAPES = ((200, 50), (1_000, 300), (4_000, 1_000))
BATCH_VOLUMES = (30_000, 300_000, 3_000_000)
REGION = "us-east-1"


def tool(*argv: str) -> tuple[dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    if code != 0:
        assert code == 2 and err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1, err.getvalue()
        return None, err.getvalue()
    return json.loads(out.getvalue()), ""


def _points():
    for model in load_catalogue():
        for hosting in ("auto", "self"):
            for shape in SHAPES:
                for volume in VOLUMES:
                    yield model, volume, shape, hosting, False
        for volume in BATCH_VOLUMES:
            yield model, volume, (1_000, 300), "self", True


@pytest.fixture(scope="module")
def grid():
    points = []
    for model, volume, shape, hosting, batch in _points():
        args = ["--requests-per-month", str(volume), "--input-tokens", str(shape[0]), "--output-tokens",
                str(shape[1]), "--region", REGION, "--hosting", hosting] + (["--batch"] if batch else [])
        plan, refused = tool("plan", model, *args, "--json")
        compare, _ = tool("compare", model, *args, "--format", "json")
        points.append((model, volume, shape, hosting, batch, plan, refused, compare))
    return points


def test_the_grid_is_the_experts(grid):
    assert len(grid) == len(load_catalogue()) * (len(VOLUMES) * len(SHAPES) * 2 + len(BATCH_VOLUMES)) >= 480


def test_plan_and_compare_agree_on_the_tier_and_its_settings(grid):
    for model, volume, shape, hosting, batch, plan, _, compare in grid:
        where = (model, volume, shape, hosting, batch)
        if plan is None:
            assert compare is None or compare["chosen_tier"] is None, where
            continue
        assert compare["chosen_tier"] == plan["tier"], where
        chosen = next(t for t in compare["tiers"] if t["tier"] == plan["tier"])
        assert chosen["settings"] == plan["settings"], where
        assert chosen["monthly_cost_usd"] == pytest.approx(plan["monthly_cost_usd"], abs=0.01) \
            if plan["monthly_cost_usd"] is not None else chosen["monthly_cost_usd"] is None, where


def test_no_request_that_fits_the_model_is_refused_for_its_size(grid):
    catalogue = load_catalogue()
    refused = []
    for model, volume, shape, hosting, batch, plan, error, _ in grid:
        arch = catalogue[model].architecture
        fits = arch is None or sum(shape) <= arch.max_context
        if plan is not None:
            assert fits, (model, shape)
            assert plan["context"] >= sum(shape) or arch is None, (model, shape, plan["context"])
            continue
        if not fits:
            assert "do not fit" in error and f"{arch.max_context:,}" in error, error
            continue
        if arch is None and hosting == "self":  # a closed model only AWS serves: nothing of ours can
            assert "closed model: its weights cannot be hosted" in error, error
            continue
        # a request the model holds is refused only because no tier meets the target
        assert not batch and "target" in error and ("--max-seconds" in error or "max_seconds" in error), error
        assert "do not fit" not in error and "context" not in error.split("target")[0], error
        refused.append((model, volume, shape, hosting))
    # the refusals are the big models' long answers at the interactive target, nothing else
    assert all(shape == (4_000, 1_000) for *_, shape, _ in refused), refused


def test_the_bill_counts_the_instances_that_run_within_the_target_utilization(grid):
    book = load_prices()
    for model, volume, shape, hosting, batch, plan, _, _ in grid:
        if plan is None or "instance_hours_per_month" not in plan["capacity"]:
            continue
        cap, s = plan["capacity"], plan["settings"]
        hourly = book.instance_hour(REGION, s["instance_type"]).value
        hours = sum(line["monthly_quantity"] for line in plan["bill"] if line["unit"] == "instance-hours")
        assert cap["instance_hours_per_month"] == pytest.approx(hours, abs=0.05)
        assert hours >= s["min_instances"] * 730 - 1e-6
        assert plan["monthly_cost_usd"] >= hours * hourly - 0.01, (model, volume, shape, hosting)
        assert cap["utilization"] <= cap["target_utilization"] + 1e-9, (model, volume, shape, hosting, cap)
        assert s["max_instances"] * cap["planned_requests_per_second_per_instance"] >= \
            cap["peak_requests_per_second"] * 0.999


def test_an_interactive_plan_meets_the_target_cold_starts_included(grid):
    for model, volume, shape, hosting, batch, plan, _, _ in grid:
        if plan is None or batch or plan["tokens_per_second"] is None:
            continue
        assert plan["p95_seconds_per_request"] <= INTERACTIVE_MAX_SECONDS + 1e-6, (model, volume, shape, plan["tier"])
        assert plan["cold_request_share"] is None or 0 <= plan["cold_request_share"] <= 1


def test_a_chosen_tier_has_a_known_price_unless_no_feasible_tier_has_one(grid):
    for model, volume, shape, hosting, batch, plan, _, compare in grid:
        if plan is None or plan["monthly_cost_usd"] is not None:
            continue
        # the tiers the policy let compete: feasible, and not set aside by --hosting or a tier's own rule
        competing = [t["tier"] for t in compare["tiers"] if t["feasible"] and t["monthly_cost_usd"] is not None
                     and plan["rejected"].get(t["tier"], "").startswith("feasible")]
        assert competing == [], (model, volume, shape, hosting, competing)
        assert any("undecided" in r for r in plan["reasons"]), plan["reasons"]
