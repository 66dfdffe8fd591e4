"""The classifier's request time in the review: the predictive model's stack, synthesized through
app.py as `cdk synth -c model=distilbert-sst2` does, priced by `tierwise cost` from the template
alone equals what `tierwise plan` said it costs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.synth import synth_context
from tierwise.cli import main
from tierwise.cost.review import review
from tierwise.workload import Workload

from .conftest import assert_infracost_valid

MODEL = "distilbert-sst2"
STACK = "tierwise-distilbert-sst2"
FLAGS = ["--requests-per-month", "30000", "--input-tokens", "500", "--output-tokens", "200"]


@pytest.fixture(scope="session")
def classifier_out(tmp_path_factory) -> Path:
    pytest.importorskip("aws_cdk")
    import app as cdk_app

    outdir = tmp_path_factory.mktemp("cdk.out.classifier")
    cdk_app.main(synth_context({"model": MODEL, "region": "us-east-1", "requests_per_month": 30000, "input_tokens": 500,
                               "output_tokens": 200}), str(outdir)).synth()
    return outdir


def config_of(data: dict) -> dict:
    (project,) = data["projects"]
    return next(r for r in project["breakdown"]["resources"] if r["resourceType"] == "AWS::SageMaker::EndpointConfig")


def test_the_template_records_the_forward_pass_as_decimal_strings(classifier_out):
    meta = json.loads((classifier_out / f"{STACK}.template.json").read_text())["Metadata"]["tierwise"]
    assert meta["tier"] == "sagemaker-serverless" and "decodeTokensPerSecond" not in meta
    assert isinstance(meta["secondsPerRequest"], str) and float(meta["secondsPerRequest"]) > 0
    assert meta["plannedInputTokens"] == 500
    # cfn-lint E4002: no floating-point number anywhere in template Metadata
    assert not [v for v in meta.values() if isinstance(v, float)]


def test_cost_of_the_synthesized_classifier_equals_the_plan(classifier_out, capsys):
    assert main(["plan", MODEL, "--json", *FLAGS]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["tier"] == "sagemaker-serverless" and planned["monthly_cost_usd"] > 0
    assert main(["cost", str(classifier_out), "--format", "json", *FLAGS]) == 0
    data = json.loads(capsys.readouterr().out)
    assert_infracost_valid(data)
    config = config_of(data)
    assert all(not c["priceNotFound"] for c in config["costComponents"])
    # the plan bills the whole stack (endpoint, key, alarms), line for line as the review does
    assert round(float(data["projects"][0]["breakdown"]["totalMonthlyCost"]), 2) == planned["monthly_cost_usd"]
    assert round(float(config["monthlyCost"]), 4) == round(sum(
        line["monthly_cost_usd"] for line in planned["bill"] if line["name"].startswith(("Serverless", "Data"))), 4)
    # by hand: 30,000 requests x seconds x 6 GB x the serverless GB-second price
    serverless = next(c for c in config["costComponents"] if c["name"].startswith("Serverless"))
    seconds = float(planned["seconds_per_request"])
    assert float(serverless["monthlyQuantity"]) == pytest.approx(30_000 * seconds * 6, rel=1e-3)


def test_the_review_matches_placement_to_the_cent_fraction(classifier_out, book):
    from tierwise.placement import plan
    from model_profiles import load_profile

    workload = Workload(requests_per_month=30_000, input_tokens=500, output_tokens=200)
    placement = plan(load_profile(MODEL), workload=workload, region="us-east-1")
    report = review(classifier_out, workload, prices=book)
    config = next(r for r in report.projects[0].resources if r.resource_type == "AWS::SageMaker::EndpointConfig")
    assert config.unknown == []
    assert report.projects[0].monthly_usd == pytest.approx(placement.monthly_cost_usd, rel=1e-9)


def test_a_longer_prompt_scales_the_forward_pass_and_a_usage_rate_overrides_it(classifier_out, book):
    base = Workload(requests_per_month=30_000, input_tokens=500, output_tokens=200)
    longer = Workload(requests_per_month=30_000, input_tokens=1000, output_tokens=200)

    def gb_seconds(workload, **kw):
        report = review(classifier_out, workload, prices=book, **kw)
        config = next(r for r in report.projects[0].resources if r.resource_type == "AWS::SageMaker::EndpointConfig")
        return next(c for c in config.components if c.unit == "GB-seconds").monthly_quantity

    assert gb_seconds(longer) == pytest.approx(2 * gb_seconds(base))
    # a caller's token rate is more specific than the recorded forward pass: 200 tokens at 100/s
    assert gb_seconds(base, tokens_per_second=100.0) != pytest.approx(gb_seconds(base))
