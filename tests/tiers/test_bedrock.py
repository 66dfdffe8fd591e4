"""Bedrock constructs: the provisioned-throughput custom resource and the on-demand profile."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_bedrock as bedrock

from tests.tiers.conftest import grantee, only, resources, statements, template
from tiers.bedrock import BedrockOnDemand, BedrockProvisionedThroughput
from tiers.bedrock.provisioned import HANDLER_DIRECTORY, HANDLER_RUNTIME, RESOURCE_TYPE
from tiers.props import PropError

MODEL = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def policies_of(t, role_logical_id: str) -> list[dict]:
    out = []
    for policy in t.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def test_provisioned_throughput_custom_resource(make_stack):
    stack = make_stack()
    pt = BedrockProvisionedThroughput(stack, "Pt", model_id=MODEL, model_units=2, tags={"tierwise:model": "m"})
    t = template(stack)
    (resource,) = resources(t, RESOURCE_TYPE).values()
    props = resource["Properties"]
    assert props["ModelId"] == MODEL
    assert props["ModelUnits"] == 2
    assert "CommitmentDuration" not in props  # no commitment unless asked for
    # the construct's owner tag always rides along: the handler's rights are scoped by it
    assert props["Tags"] == [{"Key": "tierwise:model", "Value": "m"}, {"Key": "tierwise:owner", "Value": "Test/Pt"}]
    assert props["ProvisionedModelName"] and len(props["ProvisionedModelName"]) <= 63
    assert resource["DeletionPolicy"] == "Delete"
    assert pt.node.default_child.cfn_resource_type == RESOURCE_TYPE

    handlers = {
        f["Properties"]["Handler"]: f["Properties"]
        for f in resources(t, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("provisioned_throughput.")
    }
    assert set(handlers) == {"provisioned_throughput.on_event", "provisioned_throughput.is_complete"}
    assert {h["Runtime"] for h in handlers.values()} == {HANDLER_RUNTIME.name}

    # the waiter polls once a minute; its polls are logged by the functions it invokes, so it needs
    # no log delivery of its own (tests/tiers/test_security_provisioned.py)
    machine = only(t, "AWS::StepFunctions::StateMachine")["Properties"]
    assert "LoggingConfiguration" not in machine
    assert (HANDLER_DIRECTORY / "provisioned_throughput.py").is_file()


def test_handler_roles_are_least_privilege(make_stack):
    stack = make_stack()
    pt = BedrockProvisionedThroughput(stack, "Pt", model_id=MODEL)
    t = template(stack)
    on_event = policies_of(t, stack.get_logical_id(pt.node.find_child("OnEventRole").node.default_child))
    by_sid = {s.get("Sid"): s for s in on_event}
    create = by_sid["CreateFromThisModelWithOwnerTag"]
    assert create["Action"] == "bedrock:CreateProvisionedModelThroughput"
    assert json.dumps(create["Resource"]).endswith(f':bedrock:us-east-1::foundation-model/{MODEL}"]]}}')
    manage = by_sid["ManageOwnProvisionedModel"]
    assert "bedrock:DeleteProvisionedModelThroughput" in manage["Action"]
    assert json.dumps(manage["Resource"]).endswith(':provisioned-model/*"]]}')
    is_complete = policies_of(t, stack.get_logical_id(pt.node.find_child("IsCompleteRole").node.default_child))
    actions = {s["Action"] for s in is_complete if isinstance(s["Action"], str)}
    assert "bedrock:GetProvisionedModelThroughput" in actions
    assert not any("bedrock:Create" in json.dumps(s["Action"]) for s in is_complete)
    for role in resources(t, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_commitment_is_explicit_and_retained(make_stack):
    stack = make_stack()
    BedrockProvisionedThroughput(stack, "Pt", model_id=MODEL, commitment="SixMonths")
    (resource,) = resources(stack, RESOURCE_TYPE).values()
    assert resource["Properties"]["CommitmentDuration"] == "SixMonths"
    # a committed provisioned model cannot be deleted before its term: keep it out of stack deletion
    assert resource["DeletionPolicy"] == "Retain"


def test_grant_invoke_on_the_provisioned_model(make_stack):
    stack = make_stack()
    pt = BedrockProvisionedThroughput(stack, "Pt", model_id=MODEL)
    pt.grant_invoke(grantee(stack))
    (granted,) = [s for s in statements(template(stack)) if s["Action"] == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]]
    assert granted["Resource"] == {"Fn::GetAtt": [stack.get_logical_id(pt.node.default_child), "ProvisionedModelArn"]}


@pytest.mark.parametrize(
    ("props", "named", "allowed"),
    [
        ({"model_units": 0}, "model_units", ">= 1"),
        ({"commitment": "ThreeMonths"}, "commitment", "none, OneMonth, SixMonths"),
        ({"model_id": "has spaces"}, "model_id", "model id"),
        ({"provisioned_model_name": "--bad"}, "provisioned_model_name", "letters, digits"),
    ],
)
def test_provisioned_bad_props(make_stack, props, named, allowed):
    with pytest.raises(PropError) as err:
        BedrockProvisionedThroughput(make_stack(), "Pt", **{"model_id": MODEL, **props})
    assert named in str(err.value) and allowed in str(err.value)


def test_on_demand_profile_copies_the_foundation_model(make_stack):
    stack = make_stack()
    od = BedrockOnDemand(stack, "Od", model_id="amazon.nova-pro-v1:0")
    t = template(stack)
    profile = only(t, "AWS::Bedrock::ApplicationInferenceProfile")["Properties"]
    assert json.dumps(profile["ModelSource"]["CopyFrom"]).endswith(':bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"]]}')
    assert isinstance(od.node.default_child, bedrock.CfnApplicationInferenceProfile)
    assert set(t.to_json()["Resources"]) == {stack.get_logical_id(od.node.default_child)}  # nothing else to pay for


def test_on_demand_cross_region_profile_and_grant(make_stack):
    stack = make_stack()
    od = BedrockOnDemand(stack, "Od", model_id="us.anthropic.claude-3-5-haiku-20241022-v1:0")
    od.grant_invoke(grantee(stack))
    t = template(stack)
    profile = only(t, "AWS::Bedrock::ApplicationInferenceProfile")["Properties"]
    assert ":inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0" in json.dumps(profile["ModelSource"]["CopyFrom"])
    (granted,) = [s for s in statements(t) if "bedrock:InvokeModel" in s["Action"]]
    text = json.dumps(granted["Resource"])
    assert "InferenceProfileArn" in text  # the application profile
    assert ":bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0" in text  # where it routes


def test_region_agnostic_bedrock_arns(make_stack):
    stack = make_stack(None)
    BedrockOnDemand(stack, "Od", model_id="amazon.nova-pro-v1:0")
    profile = only(stack, "AWS::Bedrock::ApplicationInferenceProfile")["Properties"]
    assert {"Ref": "AWS::Region"} in profile["ModelSource"]["CopyFrom"]["Fn::Join"][1]


def test_stack_tags_reach_the_provisioned_model(make_stack):
    import aws_cdk as cdk

    stack = make_stack()
    cdk.Tags.of(stack).add("team", "ml")
    BedrockProvisionedThroughput(stack, "Pt", model_id=MODEL, tags={"tierwise:tier": "bedrock-provisioned"})
    (resource,) = resources(stack, RESOURCE_TYPE).values()
    assert resource["Properties"]["Tags"] == [
        {"Key": "team", "Value": "ml"}, {"Key": "tierwise:owner", "Value": "Test/Pt"},
        {"Key": "tierwise:tier", "Value": "bedrock-provisioned"}]


def test_acknowledgment_ids_follow_the_arn_as_the_stack_renders_it():
    """cdk-nag names a wildcard resource by the ARN as synthesized: with the partition literal
    when the app enables @aws-cdk/core:enablePartitionLiterals and the region is known (as
    tierwise's cdk.json does), with <AWS::Partition> otherwise; the helper writes both right."""
    import aws_cdk as cdk

    from tiers.security import nag_reference

    def rendered(flag: bool, region: str | None) -> str:
        app = cdk.App(context={"@aws-cdk/core:enablePartitionLiterals": flag})
        stack = cdk.Stack(app, "S", env=cdk.Environment(account="123456789012", region=region) if region else None)
        arn = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
        return nag_reference(stack.resolve(arn))

    assert rendered(True, "us-east-1") == "arn:aws:ec2:us-east-1:123456789012:network-interface/*"
    assert rendered(True, "cn-north-1") == "arn:aws-cn:ec2:cn-north-1:123456789012:network-interface/*"
    assert rendered(False, "us-east-1") == "arn:<AWS::Partition>:ec2:us-east-1:123456789012:network-interface/*"
    assert rendered(True, None) == "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*"
    assert nag_reference({"Fn::GetAtt": ["Handler1A2B", "Arn"]}) == "<Handler1A2B.Arn>"
    assert nag_reference({"Fn::Sub": "arn:${AWS::Partition}:s3:::b/*"}) == "arn:<AWS::Partition>:s3:::b/*"
