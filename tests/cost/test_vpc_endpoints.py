"""VPC endpoints in the template review: a real `-c vpc_id=...` synthesis (the stacks of
tests/stacks' VPC fixture, built once here) priced by hand from the price file, and the cases a
template can leave unknown (a subnet list that is a parameter, a region without a price)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierwise.cli import main
from tierwise.cost.bills import HOURS_PER_MONTH
from tierwise.cost.review import review
from tierwise.workload import Workload

from .conftest import assert_infracost_valid, write_assembly

W = Workload(requests_per_month=10_000, input_tokens=400, output_tokens=300)
LAMBDA_VPC = "tierwise-llama3-8b"  # lambda-gguf in isolated subnets: one interface endpoint (lambda)
GPU_VPC = "tierwise-llama3-70b-vpc"  # sagemaker-gpu: sagemaker.runtime, ecr.api, ecr.dkr, logs
SHARED_VPC = "tierwise-llama3-2-1b-shared-vpc"  # vpc_endpoints=False: the VPC already has them


@pytest.fixture(scope="session")
def vpc_assembly(tmp_path_factory) -> Path:
    pytest.importorskip("aws_cdk")
    from tests.stacks.conftest import build_vpc_app

    outdir = tmp_path_factory.mktemp("cdk.out.vpc.cost")
    app, _ = build_vpc_app(outdir)
    app.synth()
    return outdir


@pytest.fixture(scope="session")
def vpc_report(vpc_assembly, book):
    return review(vpc_assembly, W, tokens_per_second=10.0, prices=book)


def endpoints(report, stack):
    project = next(p for p in report.projects if p.name == stack)
    return project, {r.logical_id: r for r in project.resources if r.resource_type == "AWS::EC2::VPCEndpoint"}


def test_interface_endpoints_cost_per_az_hour_and_the_s3_gateway_is_free(vpc_report, vpc_assembly, book):
    hour = book.figure("us-east-1", "vpc", "interface_endpoint_az_hour").value
    assert hour == 0.01  # the figure the hand-checked totals below rest on
    template = json.loads((vpc_assembly / f"{GPU_VPC}.template.json").read_text())
    interface = {lid for lid, r in template["Resources"].items()
                 if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"].get("VpcEndpointType") == "Interface"}
    project, priced = endpoints(vpc_report, GPU_VPC)
    assert set(priced) == interface and len(interface) == 4
    for r in priced.values():
        hours = next(c for c in r.components if c.unit == "endpoint AZ-hours")
        assert hours.monthly_quantity == 2 * HOURS_PER_MONTH  # two private subnets, one per AZ
        assert hours.monthly_cost == pytest.approx(14.60)  # 2 AZ x 730 h x $0.01
        data = next(c for c in r.components if c.unit == "GB")
        assert data.not_estimated and data.price == 0.01
    assert sum(r.monthly_usd for r in priced.values()) == pytest.approx(58.40)
    # the S3 gateway endpoint and the security groups cost nothing and are listed as free
    assert project.free["AWS::EC2::VPCEndpoint"] == 1
    assert project.free["AWS::EC2::SecurityGroup"] == 2
    assert not project.unsupported

    project, priced = endpoints(vpc_report, LAMBDA_VPC)
    assert [r.monthly_usd for r in priced.values()] == [pytest.approx(14.60)]
    assert not project.unsupported
    project, priced = endpoints(vpc_report, SHARED_VPC)
    assert priced == {} and not project.unsupported


def test_vpc_review_adds_the_endpoints_to_the_stack_total(vpc_assembly, book):
    # the same stacks with their endpoints removed: the difference is exactly the endpoint-hours
    report = review(vpc_assembly, W, tokens_per_second=10.0, prices=book)
    with_endpoints = {p.name: p.monthly_usd for p in report.projects}
    stripped = vpc_assembly.parent / "stripped"
    stripped.mkdir(exist_ok=True)
    for f in vpc_assembly.iterdir():
        if f.suffix == ".json":
            data = json.loads(f.read_text())
            if f.name.endswith(".template.json"):
                data["Resources"] = {k: v for k, v in data["Resources"].items() if v["Type"] != "AWS::EC2::VPCEndpoint"}
            (stripped / f.name).write_text(json.dumps(data))
    without = {p.name: p.monthly_usd for p in review(stripped, W, tokens_per_second=10.0, prices=book).projects}
    assert with_endpoints[GPU_VPC] - without[GPU_VPC] == pytest.approx(4 * 2 * 730 * 0.01)
    assert with_endpoints[LAMBDA_VPC] - without[LAMBDA_VPC] == pytest.approx(1 * 2 * 730 * 0.01)
    assert with_endpoints[SHARED_VPC] == pytest.approx(without[SHARED_VPC])


def test_cost_json_of_the_vpc_stacks_is_valid_infracost(vpc_assembly, capsys):
    code = main(["cost", str(vpc_assembly), "--format", "json", "--tokens-per-second", "10"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert_infracost_valid(data)
    gpu = next(p for p in data["projects"] if p["name"] == GPU_VPC)
    rows = [r for r in gpu["breakdown"]["resources"] if r["resourceType"] == "AWS::EC2::VPCEndpoint"]
    assert len(rows) == 4
    for row in rows:
        hours, processed = row["costComponents"]
        assert float(hours["monthlyCost"]) == pytest.approx(14.60) and hours["priceNotFound"] is False
        assert processed["monthlyCost"] is None and float(processed["price"]) == 0.01


def interface_endpoint(subnets) -> dict:
    props = {"ServiceName": "com.amazonaws.us-east-1.sagemaker.runtime", "VpcEndpointType": "Interface",
             "VpcId": "vpc-1"}
    if subnets is not None:
        props["SubnetIds"] = subnets
    return {"Type": "AWS::EC2::VPCEndpoint", "Properties": props}


@pytest.mark.parametrize("subnets", [{"Ref": "PrivateSubnets"}, {"Fn::Split": [",", {"Fn::ImportValue": "x"}]},
                                     None])
def test_a_subnet_count_the_template_does_not_state_is_flagged_not_guessed(subnets, tmp_path, book, capsys):
    out = write_assembly(tmp_path / "cdk.out", {"S": ("us-east-1", {"Ep": interface_endpoint(subnets)})})
    report = review(out, W, prices=book)
    (ep,) = report.projects[0].resources
    assert ep.monthly_usd is None
    assert any("Availability Zones" in n and "unknown" in n for n in ep.notes)
    assert any(u.startswith("Ep: ") for u in report.projects[0].unknown)
    assert main(["cost", str(out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert_infracost_valid(data)
    hours = data["projects"][0]["breakdown"]["resources"][0]["costComponents"][0]
    assert hours["monthlyQuantity"] is None and hours["monthlyCost"] is None


def test_three_subnets_three_azs_and_no_price_outside_the_sourced_regions(tmp_path, book):
    ep = interface_endpoint(["subnet-a", {"Ref": "SubnetB"}, "subnet-c"])
    out = write_assembly(tmp_path / "cdk.out", {"East": ("us-east-1", {"Ep": ep}), "Ireland": ("eu-west-1", {"Ep": ep}),
                                                "Lb": ("us-east-1", {"Ep": {**ep, "Properties": {
                                                    **ep["Properties"], "VpcEndpointType": "GatewayLoadBalancer"}}})})
    report = review(out, W, prices=book)
    by_name = {p.name: p.resources[0] for p in report.projects}
    assert by_name["East"].monthly_usd == pytest.approx(3 * 730 * 0.01)  # $21.90
    # eu-west-1 has no sourced figure: unknown, not us-east-1's price
    assert book.figure("eu-west-1", "vpc", "interface_endpoint_az_hour").value is None
    assert by_name["Ireland"].monthly_usd is None and by_name["Ireland"].unknown
    # a Gateway Load Balancer endpoint bills at other rates: unknown, never $0
    assert by_name["Lb"].monthly_usd is None and by_name["Lb"].unknown
