"""Private networking (-c vpc_id=...): what a security team checks in the templates, the one-line
errors for what cannot be had, and the stacks created in moto inside a VPC made there.

moto's CloudFormation creates VPC endpoints, security groups and ingress rules but has no
AWS::EC2::SecurityGroupEgress: the egress rules are checked in the templates only.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import boto3
import pytest

import app as cdk_app
from model_profiles import load_profile
from stacks.app_context import SUBNET_TYPE_NAMES, read
from stacks.model_stack import ModelStack
from tests.stacks.conftest import (
    ACCOUNT,
    REGION,
    SUBNETS,
    VPC_ID,
    VPC_STACKS,
    Synthesis,
    vpc_lookup_context,
)
from tests.stacks.test_moto_deploy import _create, aws  # noqa: F401  (aws: moto fixture)
from tests.synth import synth_context
from tierwise.errors import TierwiseError
from tierwise.placement import plan
from tiers.network import SUBNET_TYPES
from tierwise import tiers
from tiers.sagemaker_serverless import SageMakerServerlessEndpoint
from tiers.props import PropError

LAMBDA_ISOLATED, GPU_PRIVATE, LAMBDA_SHARED = VPC_STACKS


def ids(kind: str) -> list[str]:
    return [s["subnetId"] for s in SUBNETS[kind]]


def of_type(template: dict, type_: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def only(template: dict, type_: str) -> tuple[str, dict]:
    (item,) = of_type(template, type_).items()
    return item


def ref_id(value) -> str:
    """The logical id a {"Fn::GetAtt": [id, "GroupId"]} or {"Ref": id} points at."""
    return value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"]


def security_groups(template: dict) -> tuple[str, str | None]:
    """(workload group, endpoint group) logical ids."""
    groups = of_type(template, "AWS::EC2::SecurityGroup")
    workload = [k for k in groups if k.startswith("NetworkWorkload")]
    endpoints = [k for k in groups if k.startswith("NetworkEndpoints")]
    return workload[0], (endpoints[0] if endpoints else None)


def egress(template: dict, group: str) -> list[tuple]:
    rules = [r["Properties"] for r in of_type(template, "AWS::EC2::SecurityGroupEgress").values()
             if ref_id(r["Properties"]["GroupId"]) == group]
    rules += template["Resources"][group]["Properties"].get("SecurityGroupEgress", [])
    return sorted(
        (r["IpProtocol"], r["FromPort"], r["ToPort"],
         r.get("CidrIp") or ref_id(r["DestinationSecurityGroupId"]))
        for r in rules
    )


def ingress(template: dict, group: str) -> list[tuple]:
    rules = [r["Properties"] for r in of_type(template, "AWS::EC2::SecurityGroupIngress").values()
             if ref_id(r["Properties"]["GroupId"]) == group]
    rules += template["Resources"][group]["Properties"].get("SecurityGroupIngress", [])
    return sorted((r["IpProtocol"], r["FromPort"], r["ToPort"],
                   r.get("CidrIp") or ref_id(r["SourceSecurityGroupId"])) for r in rules)


def interface_services(template: dict) -> set[str]:
    return {
        r["Properties"]["ServiceName"].split(f"com.amazonaws.{REGION}.", 1)[1]
        for r in of_type(template, "AWS::EC2::VPCEndpoint").values()
        if r["Properties"]["VpcEndpointType"] == "Interface"
    }


def policy_statements(template: dict, role_prefix: str) -> dict[str, dict]:
    found = {}
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if any(ref_id(r).startswith(role_prefix) for r in policy["Properties"]["Roles"]):
            found.update({s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]})
    return found


# --- the templates -------------------------------------------------------------------------


def test_lambda_runs_in_the_chosen_isolated_subnets_with_only_its_endpoints(vpc_synthesis: Synthesis):
    t = vpc_synthesis.template(LAMBDA_ISOLATED)
    workload, endpoints = security_groups(t)
    _, function = only(t, "AWS::Lambda::Function")
    vpc_config = function["Properties"]["VpcConfig"]
    assert sorted(vpc_config["SubnetIds"]) == ids("Isolated")
    assert [ref_id(g) for g in vpc_config["SecurityGroupIds"]] == [workload]
    # nothing may connect to the workload; it reaches S3 (its model) and the interface endpoints
    assert ingress(t, workload) == []
    assert egress(t, workload) == [("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 443, 443, endpoints)]
    assert ingress(t, endpoints) == [("tcp", 443, 443, workload)]
    assert interface_services(t) == set(tiers.get("lambda-gguf").vpc_endpoints) == {"lambda"}
    for endpoint in of_type(t, "AWS::EC2::VPCEndpoint").values():
        p = endpoint["Properties"]
        assert p["VpcId"] == VPC_ID
        if p["VpcEndpointType"] == "Gateway":
            assert sorted(p["RouteTableIds"]) == sorted(s["routeTableId"] for s in SUBNETS["Isolated"])
        else:
            assert sorted(p["SubnetIds"]) == ids("Isolated") and p["PrivateDnsEnabled"] is True
            assert [ref_id(g) for g in p["SecurityGroupIds"]] == [endpoints]
    # the function may attach interfaces in these subnets with this group, and nothing wider
    statements = policy_statements(t, "EndpointRole")
    create = json.dumps(statements["CreateInterfaces"]["Resource"])
    assert all(f"subnet/{s}" in create for s in ids("Isolated")) and "subnet/*" not in create
    assert statements["DescribeNetwork"]["Resource"] == "*"
    assert not [a for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
                if a.endswith("*")]
    assert set(statements) == {"WriteOwnLogs", "ReadModelObject", "DescribeNetwork", "CreateInterfaces", "ManageInterfaces"}
    # in a VPC, checkov's VPC check passes on its own: no acknowledgment is written for it
    skips = {s["id"] for s in function.get("Metadata", {}).get("checkov", {}).get("skip", [])}
    assert "CKV_AWS_117" not in skips and "CKV_AWS_116" in skips
    assert t["Outputs"]["SecurityGroup"]["Value"] == {"Fn::GetAtt": [workload, "GroupId"]}


def test_gpu_model_runs_in_private_subnets_and_reaches_the_hub_through_the_nat(vpc_synthesis: Synthesis):
    t = vpc_synthesis.template(GPU_PRIVATE)
    workload, endpoints = security_groups(t)
    _, model = only(t, "AWS::SageMaker::Model")
    vpc_config = model["Properties"]["VpcConfig"]
    assert sorted(vpc_config["Subnets"]) == ids("Private")
    assert [ref_id(g) for g in vpc_config["SecurityGroupIds"]] == [workload]
    # the LMI container downloads HF_MODEL_ID from the Hub at start-up: isolation would break it
    assert "EnableNetworkIsolation" not in model["Properties"]
    assert "HF_MODEL_ID" in model["Properties"]["PrimaryContainer"]["Environment"]
    assert egress(t, workload) == [("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 443, 443, endpoints)]
    assert interface_services(t) == {"sagemaker.runtime", "ecr.api", "ecr.dkr", "logs"}
    statements = policy_statements(t, "EndpointExecutionRole")
    assert set(statements["ManageInterfaces"]["Action"]) == {
        "ec2:DeleteNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterfacePermission",
    }
    assert "network-interface/*" in json.dumps(statements["ManageInterfaces"]["Resource"])


def test_given_subnets_without_new_endpoints_for_a_vpc_that_has_them(vpc_synthesis: Synthesis):
    t = vpc_synthesis.template(LAMBDA_SHARED)
    workload, endpoints = security_groups(t)
    assert endpoints is None and of_type(t, "AWS::EC2::VPCEndpoint") == {}
    _, function = only(t, "AWS::Lambda::Function")
    assert sorted(function["Properties"]["VpcConfig"]["SubnetIds"]) == ids("Private")
    # the model is baked into the image: the function calls nothing, so no egress is open
    assert egress(t, workload) == [("icmp", 252, 86, "255.255.255.255/32")]


def test_subnet_type_names_match_the_network_module():
    assert tuple(SUBNET_TYPES) == SUBNET_TYPE_NAMES


# --- what cannot be had: one line each -----------------------------------------------------

LOOKUP = vpc_lookup_context(VPC_ID, SUBNETS)
ENV = {"CDK_DEFAULT_ACCOUNT": ACCOUNT}


@pytest.mark.parametrize(
    ("context", "environ", "message"),
    [
        ({"model": "distilbert-sst2", "vpc_id": VPC_ID}, ENV,
         "distilbert-sst2 is placed on sagemaker-serverless: SageMaker Serverless Inference supports no VPC configuration"),
        ({"model": "qwen2.5-0.5b", "tier": "sagemaker-serverless", "vpc_id": VPC_ID}, ENV,
         "lambda-gguf and sagemaker-gpu can"),
        # the catalogue's classifier (and whatever else plans put there) is on sagemaker-serverless
        ({"model": "all", "vpc_id": VPC_ID}, ENV, "placed on sagemaker-serverless: SageMaker Serverless Inference supports no VPC"),
        ({"model": "nova-pro", "vpc_id": VPC_ID}, ENV,
         "-c vpc_id applies to lambda-gguf and sagemaker-gpu; nova-pro is placed on bedrock-"),
        ({"model": "llama3-70b", "tier": "sagemaker-gpu", "vpc_id": VPC_ID, "subnet_type": "isolated"}, ENV,
         "downloads its weights from the Hugging Face Hub at start-up"),
        ({"model": "llama3-8b", "subnet_type": "private"}, ENV, "-c subnet_type places the model in a VPC: give the VPC too"),
        ({"model": "llama3-8b", "vpc_id": "my-vpc"}, ENV, "-c vpc_id: a VPC id, vpc- and 8 or 17 hex digits (got 'my-vpc')"),
        ({"model": "llama3-8b", "vpc_id": VPC_ID, "subnet_type": "public"}, ENV, "-c subnet_type: one of private, isolated"),
        ({"model": "llama3-8b", "vpc_id": VPC_ID, "subnet_ids": "subnet-1,sn-2"}, ENV, "-c subnet_ids: comma-separated subnet ids"),
        ({"model": "llama3-8b", "vpc_id": VPC_ID, "subnet_type": "private", "subnet_ids": ids("Private")[0]}, ENV,
         "-c subnet_type and -c subnet_ids both choose the subnets"),
        ({"model": "llama3-8b", "vpc_id": VPC_ID, "vpc_endpoints": "maybe"}, ENV, "-c vpc_endpoints: true or false (got 'maybe')"),
        ({"model": "llama3-8b", "vpc_id": VPC_ID}, {}, "the VPC is looked up at synth, which needs the account and region"),
    ],
)
def test_a_vpc_that_cannot_be_had_is_one_clear_error(context, environ, message):
    with pytest.raises(TierwiseError) as error:
        read({"region": REGION, **context}, environ)
    assert message in str(error.value)
    if context["model"] == "all":
        assert "distilbert-sst2" in str(error.value).split(" placed on ")[0]
    assert "\n" not in str(error.value)


def test_the_app_prints_the_error_and_exits_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", ACCOUNT)
    with pytest.raises(SystemExit) as exit_:
        cdk_app.main(synth_context({"model": "distilbert-sst2", "region": REGION, "vpc_id": VPC_ID}), str(tmp_path))
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: -c vpc_id: distilbert-sst2 is placed on sagemaker-serverless")
    assert list(tmp_path.iterdir()) == []


def _stack_with_vpc(**options) -> ModelStack:
    app = cdk.App(context=LOOKUP)
    model = options.pop("model", "llama3.2-1b")
    plan_options = options.pop("plan", {"tier": "lambda-gguf"})
    return ModelStack(app, "S", placement=plan(load_profile(model), region=REGION, **plan_options),
                      env=cdk.Environment(account=ACCOUNT, region=REGION), vpc_id=VPC_ID, **options)


def test_public_or_unknown_subnets_are_refused_by_id():
    with pytest.raises(PropError, match=r"vpc_subnets must be private or isolated subnets; subnet-01"):
        _stack_with_vpc(subnet_ids=ids("Public"))
    with pytest.raises(PropError, match=rf"subnet_ids subnet-0abcdef12 are not subnets of {VPC_ID} \(its subnets: subnet-01"):
        _stack_with_vpc(subnet_ids=["subnet-0abcdef12"])


def test_a_gpu_model_needs_subnets_in_two_availability_zones():
    with pytest.raises(PropError, match="must span at least two Availability Zones.*got us-east-1a$"):
        _stack_with_vpc(model="llama3-70b", plan={"tier": "sagemaker-gpu"}, subnet_ids=ids("Private")[:1])


def test_the_serverless_construct_refuses_a_vpc():
    with pytest.raises(PropError, match="vpc_id applies to lambda-gguf and sagemaker-gpu; qwen2.5-0.5b is placed on sagemaker-serverless"):
        _stack_with_vpc(model="qwen2.5-0.5b", plan={"tier": "sagemaker-serverless"})
    stack = cdk.Stack(cdk.App())
    from aws_cdk import aws_ec2 as ec2

    vpc = ec2.Vpc.from_vpc_attributes(stack, "V", vpc_id=VPC_ID, availability_zones=["us-east-1a"],
                                      private_subnet_ids=[ids("Private")[0]])
    with pytest.raises(PropError, match="vpc, vpc_subnets and security_groups cannot be used"):
        SageMakerServerlessEndpoint(stack, "E", container="huggingface-cpu", hf_model_id="org/model",
                                    hf_task="text-classification", vpc=vpc)


# --- created in moto, in a VPC made there ------------------------------------------------------


def _moto_vpc() -> tuple[str, dict[str, list[dict]]]:
    """A VPC with two private subnets in moto, and the context the CDK CLI's VPC lookup would
    write for it (its subnet-type tag, then the main route table, as the CLI reads them)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    (main_table,) = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    subnets = []
    for index, az in enumerate(("a", "b")):
        subnet = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.20.{index}.0/24", AvailabilityZone=f"{REGION}{az}",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "aws-cdk:subnet-type", "Value": "Private"}]}],
        )["Subnet"]
        subnets.append({"subnetId": subnet["SubnetId"], "cidr": subnet["CidrBlock"],
                        "availabilityZone": subnet["AvailabilityZone"], "routeTableId": main_table["RouteTableId"]})
    return vpc_id, {"Private": subnets}


@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
def test_stacks_in_a_moto_vpc_place_the_function_and_the_model_in_its_subnets(aws, tmp_path):  # noqa: F811
    vpc_id, groups = _moto_vpc()
    subnet_ids = sorted(s["subnetId"] for s in groups["Private"])
    app = cdk.App(outdir=str(tmp_path), context=vpc_lookup_context(vpc_id, groups, cidr="10.20.0.0/16"))
    env = cdk.Environment(account=ACCOUNT, region=REGION)
    stacks = {
        "vpc-lambda": plan(load_profile("llama3.2-1b"), tier="lambda-gguf", region=REGION),
        "vpc-gpu": plan(load_profile("llama3-8b"), tier="sagemaker-gpu", region=REGION),
    }
    for name, placement in stacks.items():
        ModelStack(app, name, placement=placement, env=env, vpc_id=vpc_id)
    app.synth()
    synthesis = Synthesis(app=app, outdir=Path(tmp_path), placements=stacks)
    ec2 = boto3.client("ec2", region_name=REGION)

    outputs = _create(synthesis, "vpc-lambda")
    lam = boto3.client("lambda", region_name=REGION)
    config = lam.get_function(FunctionName=outputs["FunctionName"])["Configuration"]
    assert sorted(config["VpcConfig"]["SubnetIds"]) == subnet_ids
    assert config["VpcConfig"]["SecurityGroupIds"] == [outputs["SecurityGroup"]]
    (group,) = ec2.describe_security_groups(GroupIds=[outputs["SecurityGroup"]])["SecurityGroups"]
    assert group["VpcId"] == vpc_id and group["IpPermissions"] == []

    outputs = _create(synthesis, "vpc-gpu")
    sm = boto3.client("sagemaker", region_name=REGION)
    endpoint = sm.describe_endpoint(EndpointName=outputs["EndpointName"])
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert sorted(model["VpcConfig"]["Subnets"]) == subnet_ids
    assert model["VpcConfig"]["SecurityGroupIds"] == [outputs["SecurityGroup"]]
    assert not model.get("EnableNetworkIsolation")

    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    services = sorted(e["ServiceName"].rsplit(".", 1)[-1] if e["VpcEndpointType"] == "Gateway"
                      else e["ServiceName"].split(f"{REGION}.", 1)[1] for e in endpoints)
    # the gateway (one per stack) and each stack's interface endpoints
    assert services == sorted(["s3", "s3", "lambda", "sagemaker.runtime", "ecr.api", "ecr.dkr", "logs"])
    for e in endpoints:
        if e["VpcEndpointType"] == "Interface":
            (endpoint_group,) = e["Groups"]
            (found,) = ec2.describe_security_groups(GroupIds=[endpoint_group["GroupId"]])["SecurityGroups"]
            (rule,) = found["IpPermissions"]
            assert (rule["FromPort"], rule["ToPort"], rule["IpRanges"]) == (443, 443, [])
            (source,) = rule["UserIdGroupPairs"]
            assert source["GroupId"] in {o["OutputValue"] for s in ("vpc-lambda", "vpc-gpu") for o in
                                         boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=s)["Stacks"][0]["Outputs"]
                                         if o["OutputKey"] == "SecurityGroup"}


@pytest.mark.parametrize("subnets", [{}, {"subnet_ids": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb"}])
def test_without_the_lookup_the_app_asks_the_cli_for_the_vpc(monkeypatch, tmp_path, subnets):
    """The first `cdk synth` has no cdk.context.json entry: the app must still synthesize, and
    name the lookup the CLI then performs (with credentials) before synthesizing again."""
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", ACCOUNT)
    vpc_id = "vpc-0123456789abcdef0"
    app = cdk_app.main(synth_context({"model": "llama3.2-1b", "tier": "lambda-gguf", "region": REGION,
                                      "vpc_id": vpc_id, **subnets}), str(tmp_path))
    try:
        app.synth()
    except RuntimeError as exc:
        # cdk.json's @aws-cdk/core:validateAgainstDefaultRules refuses CDK's placeholder VPC
        # (vpc-12345) in this first pass; the manifest still asks for the lookup, and the CLI then
        # looks the VPC up and synthesizes again (tests/deploy/test_vpc_lookup_on_moto.py runs it
        # with the repository's cdk.json)
        assert "vpc-12345" in str(exc), exc
    missing = json.loads((tmp_path / "manifest.json").read_text())["missing"]
    assert [m["key"] for m in missing] == list(vpc_lookup_context(vpc_id, {}))
    assert missing[0]["props"]["lookupRoleArn"].endswith(f"cdk-hnb659fds-lookup-role-{ACCOUNT}-{REGION}")


def test_each_network_nag_acknowledgment_answers_a_finding(vpc_synthesis: Synthesis, monkeypatch, tmp_path):
    """cdk-nag passes on the VPC stacks (their synthesis runs it); the ENI acknowledgments
    tiers/network.py writes are each needed: without them cdk-nag raises those findings."""
    from cdk_nag import AwsSolutionsChecks

    import tiers.network
    import tiers.sagemaker_endpoint
    import tiers.security
    from tests.stacks.conftest import build_vpc_app
    from tests.stacks.test_template_checks import _acknowledgments

    acks = [(path, rule.removeprefix("Annotation::")) for (path, rule), reason in _acknowledgments(vpc_synthesis.app).items()
            if reason in (tiers.network.DESCRIBE_REASON, tiers.network.ENI_REASON)]
    assert len(acks) == 2 * len(VPC_STACKS)  # Describe* on *, and the interfaces of this account and region
    # every source of acknowledgments on these roles (tiers.security: acknowledge_wildcard_resource)
    for module in (tiers.network, tiers.sagemaker_endpoint, tiers.security):
        monkeypatch.setattr(module, "acknowledge", lambda *args, **kwargs: None)
    unacknowledged, _ = build_vpc_app(tmp_path / "cdk.out")
    raised = {
        (resource.construct_path, violation.rule_name)
        for violation in AwsSolutionsChecks().validate_scope(unacknowledged).violations
        for resource in violation.violating_resources
    }
    stale = [(p, r) for p, r in acks if not any(r == rule and (found + "/").startswith(p + "/") for found, rule in raised)]
    assert stale == []


def test_cfn_lint_passes_the_vpc_templates(vpc_synthesis: Synthesis):
    from cfnlint.api import ManualArgs, lint

    from tests.stacks.test_template_checks import IGNORED_LINT_RULES

    problems = [
        f"{name}: {m.rule.id} {m.message}"
        for name in sorted(vpc_synthesis.placements)
        for m in lint((vpc_synthesis.outdir / f"{name}.template.json").read_text(), config=ManualArgs(regions=[REGION]))
        if m.rule.id not in IGNORED_LINT_RULES
    ]
    assert problems == []
