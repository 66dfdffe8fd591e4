"""The template reader on what users actually hand it: bad templates end as one `error:` line and
exit 2 with nothing written; any JSON at all gives a report or one clear error (fuzzed)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierwise.cli import main
from tierwise.cost.assembly import max_resources_per_template
from tierwise.cost.review import review
from tierwise.errors import TierwiseError
from tierwise.workload import Workload

from .conftest import write_assembly


def _assembly_with(tmp_path: Path, template: object, name: str = "S") -> Path:
    out = write_assembly(tmp_path / "cdk.out", {name: ("us-east-1", {})})
    (out / f"{name}.template.json").write_text(json.dumps(template))
    return out


@pytest.mark.parametrize("template, message", [
    ([{"Resources": {}}], "is a JSON list: a CloudFormation template is a JSON object"),
    ("just text", "is a JSON str: a CloudFormation template is a JSON object"),
    (None, "is a JSON null: a CloudFormation template is a JSON object"),
    ({"Resources": None}, "Resources is null; it must be an object mapping logical ids to resources"),
    ({"Resources": [1]}, "Resources is list; it must be an object"),
    ({"Resources": {"Q": {"Type": 42}}}, "resource 'Q' has Type 42; Type must be a string like AWS::S3::Bucket"),
    ({"Resources": {"Q": {"Type": ["AWS::SQS::Queue"]}}}, "resource 'Q' has Type ['AWS::SQS::Queue']"),
    ({"Resources": {"Q": {"Properties": {}}}}, "resource 'Q' has Type None"),
    ({"Resources": {"Q": "AWS::SQS::Queue"}}, "resource 'Q' must be an object with a Type"),
    ({"Resources": {"Q": {"Type": "AWS::KMS::Key", "Properties": [1]}}}, "Properties that is not an object"),
    ({"Resources": {"Q": {"Type": "AWS::KMS::Key"}}, "Metadata": "x"}, "Metadata must be an object"),
    ({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 1e308}}}},
     "resource 'F' has MemorySize 1e+308; Lambda allows 128 to 10240 MB"),
    ({"Resources": {
        "C": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
            {"InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 1e308}]}},
        "E": {"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointConfigName": {"Fn::GetAtt": ["C", "N"]}}}}},
     "resource 'C' (AWS::SageMaker::EndpointConfig): Instance (ml.g5.2xlarge) x 1e+308 comes to inf"),
])
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_bad_template_is_one_line_exit_2_and_nothing_written(template, message, fmt, tmp_path, capsys):
    out = _assembly_with(tmp_path, template)
    before = sorted(p.name for p in out.iterdir())
    code = main(["cost", str(out), "--format", fmt])
    stdout, err = capsys.readouterr()
    assert code == 2 and stdout == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"error: template {out / 'S.template.json'}") and message in err, err
    assert sorted(p.name for p in out.iterdir()) == before


def test_more_resources_than_cloudformation_allows_is_refused_before_pricing(tmp_path, capsys):
    limit = max_resources_per_template()
    assert limit == 500  # CloudFormation quotas: resources per template
    ok = _assembly_with(tmp_path / "ok", {"Resources": {f"K{i}": {"Type": "AWS::KMS::Key"} for i in range(limit)}})
    assert len(review(ok, Workload()).projects[0].resources) == limit
    over = _assembly_with(tmp_path / "over", {"Resources": {f"K{i}": {"Type": "AWS::KMS::Key"}
                                                          for i in range(limit + 1)}})
    assert main(["cost", str(over)]) == 2
    assert "declares 501 resources; CloudFormation allows at most 500 per template" in capsys.readouterr().err
    huge = {"Resources": {f"Fn{i}": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128}}
                          for i in range(200_000)}}
    out = _assembly_with(tmp_path / "huge", huge)
    started = time.monotonic()
    code = main(["cost", str(out)])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    # 16 MB of template: refused by its size before it is parsed (CloudFormation deploys 1 MB at most)
    assert code == 2 and "S.template.json is 16,288," in err and "at most 1,048,576 are read" in err
    assert elapsed < 2  # was minutes of pricing, then seconds of parsing


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
TYPES = st.sampled_from(["AWS::Lambda::Function", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint",
                         "AWS::KMS::Key", "AWS::CloudWatch::Alarm", "AWS::Logs::LogGroup", "AWS::S3::Bucket",
                         "Custom::BedrockProvisionedThroughput", "AWS::Bedrock::ApplicationInferenceProfile",
                         "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::SQS::Queue"])
# templates shaped like CloudFormation with any values inside, and anything at all
RESOURCE = st.fixed_dictionaries({"Type": TYPES | JSON}, optional={"Properties": st.dictionaries(
    st.sampled_from(["MemorySize", "Architectures", "EphemeralStorage", "PackageType", "Tags", "ProductionVariants",
                     "ModelId", "ModelUnits", "CommitmentDuration", "ModelSource", "Metrics", "Period",
                     "EndpointConfigName", "ResourceId", "MinCapacity", "ServiceNamespace"]), JSON) | JSON,
    "Metadata": JSON})
TEMPLATES = st.fixed_dictionaries({"Resources": st.dictionaries(st.text(min_size=1, max_size=6), RESOURCE, max_size=5)},
                                  optional={"Metadata": st.fixed_dictionaries({"tierwise": JSON}) | JSON}) | JSON


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=TEMPLATES)
def test_any_json_template_gives_a_report_or_one_clear_error(template, tmp_path_factory):
    out = _assembly_with(tmp_path_factory.mktemp("fuzz"), template)
    try:
        report = review(out, Workload(), tokens_per_second=None)
    except TierwiseError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    for project in report.projects:  # totals are real numbers, and the report renders in every format
        assert math.isfinite(project.monthly_usd) and project.monthly_usd >= 0
    from tierwise.cost.infracost import to_infracost
    from tierwise.cost.render import breakdown_lines, to_markdown

    json.dumps(to_infracost(report))
    breakdown_lines(report, width=80)
    to_markdown(report)
