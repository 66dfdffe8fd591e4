"""One bill: what `tierwise plan` says a deployment costs is what `tierwise cost` prices the stack
`cdk synth` writes for it, to the cent, and what the budget guard counts, for every catalogue
model on every tier that can serve it, at three workloads (the default, 1M requests a month, and
a long batch request). The review reads the planned workload from the template alone."""

from __future__ import annotations

import json
import shutil

import pytest

from model_profiles import load_catalogue
from tests.synth import synth_context
from tierwise import tiers
from tierwise.cli import main
from tierwise.cost.assembly import read_assembly
from tierwise.cost.budget import check_budget
from tierwise.cost.review import review
from tierwise.errors import TierwiseError
from tierwise.placement import plan
from tierwise.workload import Workload

WORKLOADS = {
    "default": Workload(),
    "1M": Workload(requests_per_month=1_000_000),
    "long": Workload(requests_per_month=200_000, input_tokens=1500, output_tokens=400, batch=True),
}
REGION = "us-east-1"


def _grid() -> dict[str, object]:
    """stack id -> the plan it deploys: every model x every tier that serves it x every workload."""
    grid = {}
    for profile in load_catalogue().values():
        for label, workload in WORKLOADS.items():
            for tier in tiers.ids():
                try:
                    placement = plan(profile, workload=workload, tier=tier, region=REGION)
                except TierwiseError:
                    continue  # this tier cannot serve this model at this workload (the plan says why)
                grid[f"{profile.name}-{tier}-{label}".replace(".", "-")] = placement
    return grid


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Every plan of the grid synthesized once, in one cloud assembly, as ModelStack builds it."""
    pytest.importorskip("aws_cdk")
    if shutil.which("node") is None:
        pytest.skip("node is needed to synthesize CDK stacks")
    import aws_cdk as cdk

    from stacks.model_stack import ModelStack

    plans = _grid()
    outdir = tmp_path_factory.mktemp("one-bill") / "cdk.out"
    app = cdk.App(outdir=str(outdir), context=synth_context({}))
    for stack_id, placement in plans.items():
        ModelStack(app, stack_id, placement=placement)
    app.synth()
    return plans, outdir


def test_the_grid_covers_every_model_and_tier(grid):
    plans, _ = grid
    assert {p.model for p in plans.values()} == set(load_catalogue())
    assert {p.tier for p in plans.values()} == set(tiers.ids())
    assert len(plans) > 60


def test_the_review_of_every_stack_equals_its_plan_to_the_cent(grid):
    plans, outdir = grid
    report = review(outdir)
    assert len(report.projects) == len(plans)
    for project in report.projects:
        planned = plans[project.name]
        if planned.monthly_cost_usd is None:  # a price is unknown: both say so, with the same lower bound
            assert project.unknown, project.name
            continue
        assert not project.unknown, (project.name, project.unknown)
        assert round(project.monthly_usd, 2) == round(planned.monthly_cost_usd, 2), project.name
        assert any(n.startswith("workload as planned at synth") for n in project.notes), project.name
        # line for line: the same names and costs, in the stack's and the plan's bill
        billed = sorted((c.name, round(c.monthly_cost or 0, 6)) for r in project.resources for c in r.components
                        if not c.not_estimated)
        assert billed == sorted((c.name, round(c.monthly_cost or 0, 6)) for c in planned.bill
                                if not c.not_estimated), project.name


def test_the_budget_guard_counts_the_same_figure(grid):
    plans, outdir = grid
    stacks = read_assembly(outdir)
    findings = {f.stack: f for f in check_budget(stacks, 0.01)}
    for name, placement in plans.items():
        if placement.monthly_cost_usd is not None and placement.monthly_cost_usd > 0.01:
            assert round(findings[name].monthly_usd, 2) == round(placement.monthly_cost_usd, 2), name


# --- the three stacks the issue found priced for another workload ---------------------------------

ISSUE_STACKS = {
    "qwen-lambda-1M": {"model": "qwen2.5-0.5b", "tier": "lambda-gguf", "requests_per_month": "1000000"},
    "tinyllama-lambda-long": {"model": "tinyllama-1.1b", "tier": "lambda-gguf", "requests_per_month": "200000",
                              "input_tokens": "1500", "output_tokens": "400", "batch": "true"},
    "distilbert-2M": {"model": "distilbert-sst2", "requests_per_month": "2000000"},
}


def _plan_flags(context: dict[str, str]) -> list[str]:
    out = []
    for key, value in context.items():
        flag = "--" + key.replace("_", "-")
        if key == "model":
            continue
        out += [flag] if value == "true" else [flag, value]
    return [context["model"], *out]


@pytest.mark.parametrize("name", ISSUE_STACKS)
def test_cost_of_the_synthesized_stack_equals_plan_with_the_same_inputs(name, tmp_path, capsys, monkeypatch):
    import app as cdk_app

    context = ISSUE_STACKS[name]
    monkeypatch.chdir(tmp_path)  # no cdk.json here: the review has only the template to go by
    outdir = tmp_path / "cdk.out"
    cdk_app.main(synth_context(context), str(outdir)).synth()
    assert main(["plan", *_plan_flags(context), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert main(["cost", str(outdir), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert float(data["totalMonthlyCost"]) == pytest.approx(planned["monthly_cost_usd"], abs=0.005)
    # a flag still wins over the recorded plan, field by field, and the review says so
    assert main(["cost", str(outdir), "--requests-per-month", "10"]) == 0
    out = capsys.readouterr().out
    assert "with --requests-per-month from the command line: 10 requests/month" in " ".join(out.split())


def test_a_stray_template_left_by_an_earlier_synth_is_not_priced(tmp_path, capsys, monkeypatch):
    """`make run` then `make run MODEL=llama3-70b`: the second synth's manifest lists only its own
    stack; the first one's template stays in cdk.out and must not be added to the bill."""
    import app as cdk_app

    monkeypatch.chdir(tmp_path)
    outdir = tmp_path / "cdk.out"
    cdk_app.main(synth_context({"model": "llama3-8b"}), str(outdir)).synth()
    cdk_app.main(synth_context({"model": "llama3-70b"}), str(outdir)).synth()
    assert (outdir / "tierwise-llama3-8b.template.json").exists()
    assert main(["plan", "llama3-70b", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    report = review(outdir)
    assert [p.name for p in report.projects] == ["tierwise-llama3-70b"]
    assert round(report.monthly_usd, 2) == round(planned["monthly_cost_usd"], 2)
    assert any("tierwise-llama3-8b.template.json is not in" in n and "not priced" in n for n in report.notes)
    assert main(["cost", str(outdir)]) == 0
    assert "tierwise-llama3-8b.template.json" in capsys.readouterr().out


def test_the_batch_tiers_review_follows_a_changed_volume_as_the_plan_would(synthesis):
    """`tierwise cost --requests-per-month N` on a batch stack: the jobs, the busy hours and the
    objects follow N from the template (its autoscaling maximum, concurrency, lifecycle rule and
    job limits) and the recorded rates, as a plan for N on the same deployment would."""
    from tierwise import tiers as registry
    from tierwise.cost.estimates import estimate

    for tier in ("bedrock-batch", "sagemaker-async"):
        (name,) = synthesis.stacks_on(tier)
        planned = synthesis.placements[name]
        (project,) = [p for p in review(synthesis.outdir, overrides={"requests_per_month": 90_000}).projects
                      if p.name == name]
        more = planned.model_copy(update={"workload": planned.workload.model_copy(update={"requests_per_month": 90_000})})
        if tier == "bedrock-batch":  # 3,000 records a day: still one job a day
            assert registry.get(tier).settings(more.settings).jobs_per_month == 30
        expected = estimate(more)
        assert not project.unknown and round(project.monthly_usd, 2) == round(expected.monthly_usd, 2), tier
        assert project.monthly_usd > planned.monthly_cost_usd


def test_a_gguf_read_from_s3_is_billed_as_deployed(tmp_path):
    """-c model_uri: the construct keeps /tmp room for the GGUF it downloads, so the stack's
    recorded bill (Metadata.tierwise, what the review and the budget guard compare) counts that
    room; the bare plan, which bakes the GGUF into the image, counts Lambda's 512 MB."""
    pytest.importorskip("aws_cdk")
    import aws_cdk as cdk

    from stacks.model_stack import ModelStack
    from tierwise.facts import lambda_limits
    from tierwise.workload import Workload

    bare = plan(load_catalogue()["tinyllama-1.1b"], tier="lambda-gguf", region=REGION,
                workload=Workload(requests_per_month=1_000_000))
    outdir = tmp_path / "cdk.out"
    app = cdk.App(outdir=str(outdir), context=synth_context({}))
    stack = ModelStack(app, "from-s3", placement=bare, model_uri="s3://models-1/tiny.gguf")
    app.synth()
    template = json.loads((outdir / "from-s3.template.json").read_text())
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    room = function["Properties"]["EphemeralStorage"]["Size"]
    assert room == bare.settings.ephemeral_storage_mb > lambda_limits().ephemeral_storage_mb_min
    recorded = float(template["Metadata"]["tierwise"]["monthlyCostUsd"])
    [project] = review(outdir).projects
    assert round(project.monthly_usd, 2) == round(recorded, 2) == round(stack.placement.monthly_cost_usd, 2)
    assert recorded > bare.monthly_cost_usd  # the /tmp room above 512 MB is billed
    assert "model_baked" not in json.dumps(stack.placement.settings.model_dump())  # not part of the plan's JSON
