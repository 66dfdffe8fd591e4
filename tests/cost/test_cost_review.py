"""`review` over cloud assemblies: hand-built templates for every tier, priced against figures
computed by hand from the price file, and stacks synthesized from the tier constructs."""

from __future__ import annotations

import json

import pytest

from tierwise.cost.bills import HOURS_PER_MONTH
from tierwise.cost.infracost import to_infracost
from tierwise.cost.render import breakdown_lines, to_markdown
from tierwise.cost.review import review
from tierwise.errors import TierwiseError
from tierwise.workload import Workload

from .conftest import assert_infracost_valid, tagged, write_assembly

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
    helper = resource(report, "LambdaStack", "Helper")  # zip helper: usage not modelled, no cost at all
    assert helper.monthly_usd is None and not helper.unknown and all(c.not_estimated for c in helper.components)
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
    # every us-east-1 SageMaker line is priced: instance-hours plus data processed, nothing unknown
    assert gpu.monthly_usd == pytest.approx(gpu.components[0].monthly_cost + gpu_data) and gpu.unknown == []
    assert resource(report, "GpuStack", "Orphan").components == []  # no endpoint uses it

    pt = resource(report, "ProvisionedStack", "Pt")
    assert pt.components[0].monthly_quantity == 2 * HOURS_PER_MONTH
    assert pt.monthly_usd is None and "OneMonth" in pt.unknown[0]  # its only line has no price

    od = resource(report, "OnDemandStack", "Profile")  # environment-agnostic: priced in us-east-1
    assert od.monthly_usd == pytest.approx(50_000 * (
        0.4 * p(book, "us-east-1", "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0", "input_per_1k_tokens")
        + 0.3 * p(book, "us-east-1", "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0",
                  "output_per_1k_tokens")))
    assert any("environment-agnostic" in note for note in report.projects[-1].notes)

    assert not report.complete  # some price unknown somewhere: the total is a number, flagged
    assert report.monthly_usd == pytest.approx(sum(pr.monthly_usd for pr in report.projects))
    assert any("ProvisionedStack/Pt" in u for u in report.unknown())


def test_region_override_and_a_region_without_prices(tmp_path, book):
    out = hand_built(tmp_path)
    report = review(out, W, region="ap-south-1", tokens_per_second=10.0, prices=book)
    assert all(pr.region == "ap-south-1" for pr in report.projects)
    key = resource(report, "LambdaStack", "Key")
    assert key.monthly_usd is None and key.unknown  # unknown, never $0
    assert "no prices for ap-south-1" in report.projects[0].notes[0]


def test_infracost_json_is_schema_valid_with_flagged_totals(tmp_path, book_without_data_price):
    data = to_infracost(review(hand_built(tmp_path), W, tokens_per_second=10.0, prices=book_without_data_price))
    assert_infracost_valid(data)
    assert data["version"] == "0.2" and data["currency"] == "USD"
    for project in data["projects"]:
        breakdown = project["breakdown"]
        # Infracost's rule: a total is the known parts summed, never null
        assert breakdown["totalMonthlyCost"] is not None
        known = [float(r["monthlyCost"]) for r in breakdown["resources"] if r["monthlyCost"] is not None]
        assert float(breakdown["totalMonthlyCost"]) == pytest.approx(sum(known))
        unknown_lines = [c for r in breakdown["resources"] for c in r["costComponents"]
                         if c["monthlyCost"] is None and not r["metadata"]["tierwise"]["notEstimated"].count(c["name"])]
        assert bool(unknown_lines) == bool(project["metadata"].get("warnings"))
    gpu = next(p for p in data["projects"] if p["name"] == "GpuStack")
    # with the data-processed price unknown, the total is the instance-hours, flagged
    config = next(r for r in gpu["breakdown"]["resources"] if r["name"] == "Config")
    assert float(gpu["breakdown"]["totalMonthlyCost"]) == pytest.approx(float(config["costComponents"][0]["monthlyCost"]))
    assert any("Data processed in" in w["message"] for w in gpu["metadata"]["warnings"])
    assert float(data["totalMonthlyCost"]) == pytest.approx(sum(float(p["breakdown"]["totalMonthlyCost"])
                                                                for p in data["projects"]))
    lam = data["projects"][0]["breakdown"]
    fn = next(r for r in lam["resources"] if r["name"] == "Fn")
    assert fn["resourceType"] == "AWS::Lambda::Function" and fn["tags"]["tierwise:tier"] == "lambda-gguf"
    assert sum(float(c["monthlyCost"]) for c in fn["costComponents"]) == pytest.approx(float(fn["monthlyCost"]))
    assert {r["name"] for r in lam["freeResources"]} == {"Role"}
    assert lam["totalMonthlyUsageCost"] == fn["monthlyUsageCost"]  # the Lambda lines are its usage


def test_every_null_price_says_price_not_found(tmp_path, book):
    """Infracost's tools read a null price without priceNotFound as free: never write one."""
    report = review(hand_built(tmp_path), W, region="ap-south-1", tokens_per_second=10.0, prices=book)
    data = to_infracost(report)
    assert_infracost_valid(data)
    components = [c for p in data["projects"] for r in p["breakdown"]["resources"] for c in r["costComponents"]]
    assert components and all(c["price"] is None for c in components)  # no prices for ap-south-1
    assert all(c["priceNotFound"] is True for c in components)
    priced = to_infracost(review(hand_built(tmp_path), W, tokens_per_second=10.0, prices=book))
    for c in (c for p in priced["projects"] for r in p["breakdown"]["resources"] for c in r["costComponents"]):
        assert c["priceNotFound"] is (c["price"] is None)
        for key in ("price", "monthlyCost", "monthlyQuantity", "hourlyCost", "hourlyQuantity"):
            assert c[key] is None or "e" not in c[key].lower()  # plain decimals


def test_markdown_and_table_name_unknowns(tmp_path, book):
    report = review(hand_built(tmp_path), W, tokens_per_second=10.0, prices=book)
    md = to_markdown(report)
    assert "| `Fn` (AWS::Lambda::Function) |" in md and "(lower bound)" in md and "depends on usage" in md
    assert "ProvisionedStack/Pt: Provisioned throughput (2 MU, OneMonth): price unknown" in md
    assert "AWS::SQS::Queue" in md  # unsupported resources are named, not dropped
    text = "\n".join(breakdown_lines(report, width=100))
    assert "Project: LambdaStack (us-east-1)" in text and "OVERALL TOTAL" in text


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


def test_synthesized_review_uses_the_rates_the_stack_recorded(synthesized, book):
    """Without an override, tokens/s come from the template's Metadata.tierwise, scaled by vCPUs
    when the function's memory differs from the planned one (Lambda: 1 vCPU per 1,769 MB)."""
    report = review(synthesized, W, prices=book)
    fn = next(r for pr in report.projects if pr.name == "LambdaStack" for r in pr.resources
              if r.resource_type == "AWS::Lambda::Function" and not r.components[0].not_estimated)
    scale = (8192 / 1769) / (4096 / 1769)  # both under the 6-vCPU cap
    seconds = 400 / (100.0 * scale) + 300 / (6.0 * scale)
    duration = next(c for c in fn.components if c.name.startswith("Duration"))
    assert duration.monthly_quantity == pytest.approx(50_000 * seconds * 8)
    assert any("Metadata.tierwise" in n for n in fn.notes) and any("scaled by vCPUs" in n for n in fn.notes)
    # a stack that recorded nothing: the request time is unknown, said so, and not counted
    [sls] = [r for pr in report.projects if pr.name == "ServerlessStack" for r in pr.resources
             if r.resource_type == "AWS::SageMaker::EndpointConfig"]
    assert sls.components[0].monthly_quantity is None and any("--tokens-per-second" in n for n in sls.notes)


def test_a_breakdown_saved_before_price_not_found_existed_diffs_into_valid_json(tmp_path, book):
    """A BASE saved by an older tierwise (null totals, no priceNotFound) still gives a
    schema-valid diff, its null prices read as unknown and its total as the known parts."""
    from tierwise.cost.infracost import diff

    report = review(hand_built(tmp_path), W, tokens_per_second=10.0, prices=book)
    old = to_infracost(report)
    for project in old["projects"]:
        del project["breakdown"]["totalMonthlyUsageCost"]
        project["breakdown"]["totalMonthlyCost"] = None
        for res in project["breakdown"]["resources"]:
            for c in res["costComponents"]:
                del c["priceNotFound"]
    data = diff(old, to_infracost(report))
    assert_infracost_valid(data)
    assert float(data["diffTotalMonthlyCost"]) == pytest.approx(0, abs=1e-9)
    assert float(data["pastTotalMonthlyCost"]) == pytest.approx(report.monthly_usd)
    past = [c for p in data["projects"] for r in p["pastBreakdown"]["resources"] for c in r["costComponents"]]
    assert all(c["priceNotFound"] is (c["price"] is None) for c in past)
