"""`review` over cloud assemblies: hand-built templates for every tier, priced against figures
computed by hand from the price file, and stacks synthesized from the tier constructs."""

from __future__ import annotations

import json

import pytest

from tierwise.cost.estimates import HOURS_PER_MONTH
from tierwise.cost.review import review, to_infracost, to_markdown, render_table
from tierwise.errors import TierwiseError
from tierwise.workload import Workload

from .conftest import tagged, write_assembly

W = Workload(requests_per_month=50_000, input_tokens=400, output_tokens=300)


def p(book, region, *path):
    return book.figure(region, *path).value


def resource(report, stack, logical_id):
    project = next(pr for pr in report.projects if pr.name == stack)
    return next(r for r in project.resources if r.logical_id == logical_id)


def hand_built(tmp_path):
    fn = tagged({"Type": "AWS::Lambda::Function", "Properties": {
        "PackageType": "Image", "MemorySize": 8192, "Architectures": ["arm64"],
        "EphemeralStorage": {"Size": 4096}}}, "llama3-8b", "lambda-gguf", "Q4_K_M")
    helper = tagged({"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128, "Runtime": "python3.12"}},
                    "llama3-8b", "lambda-gguf", "Q4_K_M")
    serverless_cfg = tagged({"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "m",
         "ServerlessConfig": {"MemorySizeInMB": 6144, "MaxConcurrency": 4}}]}},
        "qwen2.5-0.5b", "sagemaker-serverless", "Q4_K_M")
    gpu_cfg = tagged({"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.g6.12xlarge",
         "InitialInstanceCount": 1}]}}, "llama3-70b", "sagemaker-gpu", "BF16")
    return write_assembly(tmp_path / "cdk.out", {
        "LambdaStack": ("us-east-1", {
            "Fn": fn, "Helper": helper,
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}},
            "Errors": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": 60}},
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Role": {"Type": "AWS::IAM::Role"},
            "Queue": {"Type": "AWS::SQS::Queue"},
        }),
        "ServerlessStack": ("eu-west-1", {
            "Config": serverless_cfg,
            "Endpoint": {"Type": "AWS::SageMaker::Endpoint",
                         "Properties": {"EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}}},
        }),
        "GpuStack": ("us-east-1", {
            "Config": gpu_cfg,
            "Endpoint": {"Type": "AWS::SageMaker::Endpoint",
                         "Properties": {"EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}}},
            "Target": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
                "ServiceNamespace": "sagemaker", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                "MinCapacity": 3, "MaxCapacity": 6,
                "ResourceId": {"Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": ["Endpoint", "EndpointName"]},
                                                 "/variant/AllTraffic"]]}}},
            "Orphan": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
                {"VariantName": "AllTraffic", "InstanceType": "ml.p5.48xlarge", "InitialInstanceCount": 1}]}},
        }),
        "ProvisionedStack": ("us-east-1", {
            "Pt": {"Type": "Custom::BedrockProvisionedThroughput", "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["Provider", "Arn"]}, "ModelId": "meta.llama3-8b-instruct-v1:0",
                "ModelUnits": "2", "CommitmentDuration": "OneMonth", "ProvisionedModelName": "x"}},
        }),
        "OnDemandStack": (None, {
            "Profile": tagged({"Type": "AWS::Bedrock::ApplicationInferenceProfile", "Properties": {
                "InferenceProfileName": "p",
                "ModelSource": {"CopyFrom": {"Fn::Join": ["", [
                    "arn:", {"Ref": "AWS::Partition"}, ":bedrock:", {"Ref": "AWS::Region"},
                    "::foundation-model/meta.llama3-8b-instruct-v1:0"]]}}}}, "llama3-8b", "bedrock-on-demand"),
        }),
    })


def test_every_tier_by_hand(tmp_path, book):
    out = hand_built(tmp_path)
    report = review(out, W, tokens_per_second=lambda model, tier, quant, props: (12.0, 300.0), prices=book)
    seconds = 400 / 300 + 300 / 12

    fn = resource(report, "LambdaStack", "Fn")
    expected = (50_000 / 1e6 * p(book, "us-east-1", "lambda", "requests_per_million")
                + 50_000 * seconds * 8 * p(book, "us-east-1", "lambda", "duration_gb_second", "arm64")
                + 50_000 * seconds * (4096 - 512) / 1024 * p(book, "us-east-1", "lambda",
                                                              "ephemeral_storage_gb_second"))
    assert fn.monthly_usd == pytest.approx(expected)
    helper = resource(report, "LambdaStack", "Helper")  # zip helper: usage not modelled, listed at $0
    assert helper.monthly_usd == 0 and all(c.not_estimated for c in helper.components)
    assert resource(report, "LambdaStack", "Key").monthly_usd == p(book, "us-east-1", "kms", "key_month")
    assert resource(report, "LambdaStack", "Errors").monthly_usd == p(book, "us-east-1", "cloudwatch",
                                                                       "alarm_standard_month")
    lam_project = report.projects[0]
    assert lam_project.monthly_usd == pytest.approx(expected + 1.0 + 0.1)
    assert lam_project.unsupported == {"AWS::SQS::Queue": 1} and lam_project.free["AWS::IAM::Role"] == 1

    cfg = resource(report, "ServerlessStack", "Config")  # eu-west-1 from the manifest
    compute = 50_000 * seconds * 6 * p(book, "eu-west-1", "sagemaker", "serverless_gb_second", 6144)
    data = 50_000 * 700 * 4 / 1024**3 * p(book, "eu-west-1", "sagemaker", "data_processed_in_gb")
    assert cfg.monthly_usd == pytest.approx(compute + data)

    gpu = resource(report, "GpuStack", "Config")  # MinCapacity 3 wins over InitialInstanceCount 1
    assert gpu.components[0].monthly_quantity == 3 * HOURS_PER_MONTH
    assert gpu.components[0].monthly_cost == pytest.approx(
        3 * HOURS_PER_MONTH * p(book, "us-east-1", "sagemaker", "instance_hour", "ml.g6.12xlarge"))
    gpu_data = 50_000 * 4 / 1024**3 * (400 * p(book, "us-east-1", "sagemaker", "data_processed_in_gb")
                                       + 300 * p(book, "us-east-1", "sagemaker", "data_processed_out_gb"))
    assert gpu.monthly_usd == pytest.approx(gpu.components[0].monthly_cost + gpu_data)
    assert resource(report, "GpuStack", "Orphan").components == []  # no endpoint uses it

    pt = resource(report, "ProvisionedStack", "Pt")
    assert pt.components[0].monthly_quantity == 2 * HOURS_PER_MONTH
    assert pt.monthly_usd is None and "OneMonth" in pt.unknown[0]

    od = resource(report, "OnDemandStack", "Profile")  # environment-agnostic: priced in us-east-1
    assert od.monthly_usd == pytest.approx(50_000 * (
        0.4 * p(book, "us-east-1", "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0", "input_per_1k_tokens")
        + 0.3 * p(book, "us-east-1", "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0",
                  "output_per_1k_tokens")))
    assert "environment-agnostic" in report.projects[-1].notes[0]

    assert report.monthly_usd is None  # some price unknown somewhere
    assert report.known_usd == pytest.approx(sum(pr.known_usd for pr in report.projects))
    assert any("ProvisionedStack/Pt" in u for u in report.unknown())


def test_region_override_and_a_region_without_prices(tmp_path, book):
    out = hand_built(tmp_path)
    report = review(out, W, region="ap-south-1", tokens_per_second=10.0, prices=book)
    assert all(pr.region == "ap-south-1" for pr in report.projects)
    key = resource(report, "LambdaStack", "Key")
    assert key.monthly_usd is None and key.known_usd == 0  # unknown, never $0
    assert "no prices for ap-south-1" in report.projects[0].notes[0]


def test_infracost_json_shape(tmp_path, book):
    data = to_infracost(review(hand_built(tmp_path), W, tokens_per_second=10.0, prices=book))
    root = {"version", "currency", "projects", "totalHourlyCost", "totalMonthlyCost", "pastTotalHourlyCost",
            "pastTotalMonthlyCost", "diffTotalHourlyCost", "diffTotalMonthlyCost", "timeGenerated", "summary"}
    assert set(data) == root and data["version"] == "0.2" and data["currency"] == "USD"
    json.dumps(data)
    for project in data["projects"]:
        assert set(project) == {"name", "metadata", "pastBreakdown", "breakdown", "diff", "summary"}
        assert set(project["metadata"]) <= {"path", "type", "vcsRepoUrl", "vcsSubPath"}
        breakdown = project["breakdown"]
        assert set(breakdown) == {"resources", "totalHourlyCost", "totalMonthlyCost"}
        known = []
        for res in breakdown["resources"]:
            assert set(res) <= {"name", "tags", "metadata", "hourlyCost", "monthlyCost", "costComponents",
                                "subresources"}
            for comp in res["costComponents"]:
                assert set(comp) == {"name", "unit", "hourlyQuantity", "monthlyQuantity", "price", "hourlyCost",
                                     "monthlyCost"}
                assert all(v is None or isinstance(v, str) for k, v in comp.items() if k not in ("name", "unit"))
            known.append(res["monthlyCost"])
        if None not in known:
            assert float(breakdown["totalMonthlyCost"]) == pytest.approx(sum(float(k) for k in known))
        else:
            assert breakdown["totalMonthlyCost"] is None
    lam = data["projects"][0]["breakdown"]["resources"]
    fn = next(r for r in lam if r["name"] == "Fn")
    assert fn["metadata"]["resourceType"] == "AWS::Lambda::Function"
    assert fn["tags"]["tierwise:tier"] == "lambda-gguf"
    assert sum(float(c["monthlyCost"]) for c in fn["costComponents"]) == pytest.approx(float(fn["monthlyCost"]))


def test_markdown_and_table_name_unknowns(tmp_path, book, capsys):
    report = review(hand_built(tmp_path), W, tokens_per_second=10.0, prices=book)
    md = to_markdown(report)
    assert "| Fn (AWS::Lambda::Function) |" in md and "unknown (≥ $" in md and "usage not modelled" in md
    assert "ProvisionedStack/Pt: Provisioned throughput (2 MU, OneMonth): price unknown" in md
    from rich.console import Console
    console = Console(width=200, record=True)
    render_table(report, console)
    text = console.export_text()
    assert "LambdaStack (us-east-1)" in text and "Overall total: unknown" in text


def test_nested_assembly_and_bad_input(tmp_path, book):
    inner = write_assembly(tmp_path / "cdk.out" / "assembly-Stage", {
        "Inner": ("us-east-1", {"Key": {"Type": "AWS::KMS::Key"}})})
    outer = tmp_path / "cdk.out" / "manifest.json"
    outer.write_text(json.dumps({"version": "36.0.0", "artifacts": {"assembly-Stage": {
        "type": "cdk:cloud-assembly", "properties": {"directoryName": inner.name, "displayName": "Stage"}}}}))
    report = review(tmp_path / "cdk.out", W, prices=book)
    assert [pr.name for pr in report.projects] == ["Inner"]
    assert report.monthly_usd == pytest.approx(p(book, "us-east-1", "kms", "key_month"))

    with pytest.raises(TierwiseError, match="no cloud assembly at"):
        review(tmp_path / "nowhere", W)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TierwiseError, match="no stack templates"):
        review(tmp_path / "empty", W)
    broken = write_assembly(tmp_path / "broken", {"S": ("us-east-1", {})})
    (broken / "S.template.json").write_text("{ not json")
    with pytest.raises(TierwiseError, match="is not valid JSON"):
        review(broken, W)
    with pytest.raises(TierwiseError, match="greater than 0"):
        review(broken, W, tokens_per_second=-1.0)


# -- stacks synthesized from the tier constructs --------------------------------------------

def test_synthesized_stacks_for_every_tier(synthesized, book):
    report = review(synthesized, W, tokens_per_second=lambda m, t, q, props: (9.0, 250.0), prices=book)
    projects = {pr.name: pr for pr in report.projects}
    assert set(projects) == {"LambdaStack", "ServerlessStack", "GpuStack", "ProvisionedStack", "OnDemandStack"}
    seconds = 400 / 250 + 300 / 9

    def only(project, rtype):
        found = [r for r in projects[project].resources if r.resource_type == rtype]
        return found

    [fn] = [r for r in only("LambdaStack", "AWS::Lambda::Function") if r.components and not r.components[0].not_estimated]
    assert fn.monthly_usd == pytest.approx(
        50_000 / 1e6 * p(book, "us-east-1", "lambda", "requests_per_million")
        + 50_000 * seconds * 8 * p(book, "us-east-1", "lambda", "duration_gb_second", "arm64")
        + 50_000 * seconds * (1024 - 512) / 1024 * p(book, "us-east-1", "lambda", "ephemeral_storage_gb_second"))

    [sls] = only("ServerlessStack", "AWS::SageMaker::EndpointConfig")
    assert sls.components[0].monthly_cost == pytest.approx(
        50_000 * seconds * 4 * p(book, "us-east-1", "sagemaker", "serverless_gb_second", 4096))

    [gpu] = only("GpuStack", "AWS::SageMaker::EndpointConfig")
    assert gpu.components[0].monthly_quantity == 2 * HOURS_PER_MONTH  # the construct's min_instances
    assert gpu.components[0].monthly_cost == pytest.approx(
        2 * HOURS_PER_MONTH * p(book, "us-east-1", "sagemaker", "instance_hour", "ml.g5.2xlarge"))

    [pt] = only("ProvisionedStack", "Custom::BedrockProvisionedThroughput")
    assert pt.components[0].monthly_quantity == 2 * HOURS_PER_MONTH
    assert pt.monthly_usd is None and "meta.llama3-2-1b-instruct-v1:0:128k/OneMonth" in pt.unknown[0]

    [od] = only("OnDemandStack", "AWS::Bedrock::ApplicationInferenceProfile")
    assert od.monthly_usd == pytest.approx(50_000 * (
        0.4 * p(book, "us-east-1", "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0", "input_per_1k_tokens")
        + 0.3 * p(book, "us-east-1", "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0",
                  "output_per_1k_tokens")))

    for name in ("LambdaStack", "ServerlessStack", "GpuStack", "ProvisionedStack"):  # their KMS keys priced
        keys = only(name, "AWS::KMS::Key")
        assert keys and all(k.monthly_usd == p(book, "us-east-1", "kms", "key_month") for k in keys)


def test_synthesized_review_uses_tierwise_speed_estimates(synthesized, book):
    """Without an override, tokens/s come from the catalogue and placement, per tagged model."""
    report = review(synthesized, W, prices=book)
    fn = next(r for pr in report.projects if pr.name == "LambdaStack" for r in pr.resources
              if r.resource_type == "AWS::Lambda::Function" and not r.components[0].not_estimated)
    assert fn.monthly_usd is not None and fn.monthly_usd > 0
    assert any("tokens/s" in n for n in fn.notes)
