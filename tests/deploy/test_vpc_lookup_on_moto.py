"""`cdk synth -c vpc_id=...` as a user runs it: the pinned CDK CLI looks the VPC up (its VPC
context provider, against a moto server holding the VPC), writes the answer to cdk.context.json
and synthesizes again with it. What the README promises for private networking, end to end
through the CLI; tests/stacks/test_private_network.py checks the same stacks in detail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.moto_deploy import REGION, boto3_client, cli_environment, start_server

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
CDK = REPO / "node_modules" / ".bin" / "cdk"
TIMEOUT_S = 240


@pytest.fixture
def moto_vpc():
    """A moto server with a VPC of two private subnets (tagged as the CLI's provider reads them)."""
    server, url = start_server()
    try:
        ec2 = boto3_client("ec2", url)
        vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=f"10.30.{index}.0/24", AvailabilityZone=f"{REGION}{zone}",
                TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "aws-cdk:subnet-type", "Value": "Private"}]}],
            )["Subnet"]["SubnetId"]
            for index, zone in enumerate("ab")
        ]
        yield url, vpc_id, sorted(subnets)
    finally:
        server.stop()


def test_cdk_synth_looks_the_vpc_up_and_places_the_function_in_it(moto_vpc, tmp_path):
    if not CDK.exists():
        pytest.fail("the pinned CDK CLI is missing: `make install-test` runs npm ci")
    url, vpc_id, subnets = moto_vpc
    env = cli_environment(url, tmp_path / "home")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    # from a folder of its own, so that cdk.context.json is written there, not in the repository;
    # with the repository's cdk.json there, as at its root: its context (feature flags) is the user's
    shutil.copy(REPO / "cdk.json", tmp_path / "cdk.json")
    command = [str(CDK), "synth", "--app", f"{sys.executable} {REPO / 'app.py'}", "--output", str(tmp_path / "out"),
               "-c", "model=llama3.2-1b", "-c", "tier=lambda-gguf", "-c", f"region={REGION}", "-c", f"vpc_id={vpc_id}", "--quiet", "--no-notices"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"cdk synth did not finish in {TIMEOUT_S} s")
    assert process.returncode == 0, stderr[-3000:]

    (lookup,) = json.loads((tmp_path / "cdk.context.json").read_text()).values()
    assert lookup["vpcId"] == vpc_id
    assert sorted(s["subnetId"] for group in lookup["subnetGroups"] for s in group["subnets"]) == subnets

    template = json.loads((tmp_path / "out" / "tierwise-llama3-2-1b.template.json").read_text())
    resources = template["Resources"].values()
    (function,) = [r for r in resources if r["Type"] == "AWS::Lambda::Function"]
    assert sorted(function["Properties"]["VpcConfig"]["SubnetIds"]) == subnets
    endpoints = [r["Properties"] for r in resources if r["Type"] == "AWS::EC2::VPCEndpoint"]
    assert {e["VpcId"] for e in endpoints} == {vpc_id}
    (gateway,) = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    # moto's subnets use the VPC's main route table: the S3 gateway is routed from there
    main_table = boto3_client("ec2", url).describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"][0]["RouteTableId"]
    assert set(gateway["RouteTableIds"]) == {main_table}
