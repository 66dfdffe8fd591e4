"""The GPU tier with its weights in S3, isolated: `cdk synth -c weights_uri=... -c subnet_type=isolated`
against a VPC whose subnets have no route out, created in moto's CloudFormation, read back with
boto3. What moto keeps of the model (its container, its VpcConfig) is asserted through the API; it
drops EnableNetworkIsolation (it always reports False: tierwise/data/sagemaker_s3_weights.yaml,
moto), so that one flag is asserted in the template that was created."""

from __future__ import annotations

import json

import boto3
import pytest

import app as cdk_app
from tests.stacks.conftest import ACCOUNT, REGION, Synthesis, vpc_lookup_context
from tests.stacks.test_moto_deploy import _create, _role_actions, aws  # noqa: F401 (fixture)
from tierwise.facts import s3_weights

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

WEIGHTS = "s3://tierwise-models-example/qwen2.5-7b-instruct/"


@pytest.fixture
def isolated_vpc(aws):  # noqa: F811
    """A VPC of two subnets in two zones, each with a route table of its own and no route out (no
    internet gateway, no NAT): what CDK calls isolated subnets."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for index, zone in enumerate("ab"):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{index}.0/24",
                                   AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        subnets.append({"subnetId": subnet, "cidr": f"10.40.{index}.0/24", "availabilityZone": f"{REGION}{zone}",
                        "routeTableId": table})
    return vpc, subnets


def test_the_isolated_gpu_stack_is_created_with_its_vpc_and_s3_weights(isolated_vpc, tmp_path, monkeypatch):
    vpc, subnets = isolated_vpc
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", ACCOUNT)  # what the CDK CLI sets from the credentials
    context = {"model": "qwen2.5-7b", "tier": "sagemaker-gpu", "region": REGION, "weights_uri": WEIGHTS,
               "vpc_id": vpc, "subnet_type": "isolated", **vpc_lookup_context(vpc, {"Isolated": subnets})}
    outdir = tmp_path / "cdk.out"
    app = cdk_app.main(context, str(outdir))
    app.synth()
    stack = "tierwise-qwen2-5-7b"
    synthesis = Synthesis(app=app, outdir=outdir, placements={})
    template = synthesis.template(stack)
    (model_props,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    assert model_props["EnableNetworkIsolation"] is True

    outputs = _create(synthesis, stack)
    sm = boto3.client("sagemaker", region_name=REGION)
    endpoint = sm.describe_endpoint(EndpointName=outputs["EndpointName"])
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    group = outputs["SecurityGroup"]
    assert sorted(model["VpcConfig"]["Subnets"]) == sorted(s["subnetId"] for s in subnets)
    assert model["VpcConfig"]["SecurityGroupIds"] == [group]
    facts = s3_weights()
    assert model["PrimaryContainer"]["ModelDataSource"] == {"S3DataSource": {
        "S3Uri": WEIGHTS, "S3DataType": facts.model_data_source.s3_data_type,
        "CompressionType": facts.model_data_source.compression_type}}
    environment = model["PrimaryContainer"]["Environment"]
    assert environment[facts.lmi.model_id_env] == facts.lmi.model_id_value == "/opt/ml/model"
    assert "HF_MODEL_ID" not in environment and "HF_TOKEN" not in environment
    # moto keeps no isolation flag (see the module docstring): what it reports is not evidence either way
    assert model.get("EnableNetworkIsolation") is False

    # the only way out of the subnets is the S3 gateway the stack put on their route tables
    ec2 = boto3.client("ec2", region_name=REGION)
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    (gateway,) = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    assert gateway["ServiceName"] == f"com.amazonaws.{REGION}.s3"
    assert sorted(gateway["RouteTableIds"]) == sorted(s["routeTableId"] for s in subnets)
    for table in ec2.describe_route_tables(RouteTableIds=[s["routeTableId"] for s in subnets])["RouteTables"]:
        assert not [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    (sg,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert sg["IpPermissions"] == []  # nothing comes in through the VPC
    # moto gives every group its default allow-all egress whatever the template says: the
    # group's HTTPS-only egress is asserted on the template
    (workload,) = [r["Properties"] for k, r in template["Resources"].items()
                   if r["Type"] == "AWS::EC2::SecurityGroup" and k.startswith("NetworkWorkload")]
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in workload["SecurityGroupEgress"]] == [("tcp", 443, 443)]

    # SageMaker downloads the weights as the execution role, which may read only that folder
    actions = _role_actions(model["ExecutionRoleArn"])
    assert {"s3:GetObject", "s3:ListBucket"} <= actions
    iam = boto3.client("iam")
    role = model["ExecutionRoleArn"].rsplit("/", 1)[1]
    documents = [iam.get_role_policy(RoleName=role, PolicyName=p)["PolicyDocument"]
                 for p in iam.list_role_policies(RoleName=role)["PolicyNames"]]
    reads = [s for d in documents for s in d["Statement"] if s.get("Sid") == "ReadTheWeights"]
    assert json.dumps(reads).count("tierwise-models-example/qwen2.5-7b-instruct/*") == 1
