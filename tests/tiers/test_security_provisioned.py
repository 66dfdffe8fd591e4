"""Bedrock provisioned throughput, as a security reviewer reads the template (issue 20): the
provisioned model carries the stack's tags and an owner tag, the handler's rights on
provisioned-model/* hold only for that owner, the Provider framework's waiter has no logs
permission on *, and the handler passes the tags through (botocore Stubber: moto has no
provisioned-throughput API)."""

from __future__ import annotations

import json
import tempfile

import aws_cdk as cdk
import pytest

from tests.tiers.conftest import only, resources, stubbed_bedrock, template
from tiers.bedrock import BedrockProvisionedThroughput
from tiers.bedrock.handler import provisioned_throughput as handler
from tiers.bedrock.provisioned import OWNER_TAG, RESOURCE_TYPE
from tiers.props import PropError

MODEL = "amazon.nova-pro-v1:0:24k"
ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz"


def build(make_stack, **props):
    stack = make_stack()
    cdk.Tags.of(stack).add("tierwise:model", "nova-pro")
    pt = BedrockProvisionedThroughput(stack, "Pt", model_id=MODEL, **props)
    return stack, pt, template(stack).to_json()


def every_statement(t: dict) -> list[tuple[str, dict]]:
    return [(lid, s) for lid, r in t["Resources"].items() if r["Type"] == "AWS::IAM::Policy"
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def test_provisioned_model_carries_the_stack_tags_and_its_owner(make_stack):
    stack, pt, t = build(make_stack, tags={"team": "ml"})
    (resource,) = [r for r in t["Resources"].values() if r["Type"] == RESOURCE_TYPE]
    tags = {tag["Key"]: tag["Value"] for tag in resource["Properties"]["Tags"]}
    assert tags == {"team": "ml", "tierwise:model": "nova-pro", OWNER_TAG: "Test/Pt"}
    assert pt.owner == "Test/Pt"


def test_every_right_on_provisioned_models_holds_for_its_own_model_only(make_stack):
    stack, pt, t = build(make_stack)
    on_provisioned = [(lid, s) for lid, s in every_statement(t) if "provisioned-model/" in json.dumps(s["Resource"])]
    assert {a for _, s in on_provisioned for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])} == {
        "bedrock:GetProvisionedModelThroughput", "bedrock:UpdateProvisionedModelThroughput",
        "bedrock:DeleteProvisionedModelThroughput", "bedrock:TagResource", "bedrock:UntagResource"}
    for lid, s in on_provisioned:
        assert s["Condition"]["StringEquals"][f"aws:ResourceTag/{OWNER_TAG}"] == pt.owner, (lid, s)
    by_sid = {s.get("Sid"): s for _, s in every_statement(t)}
    # creating is allowed only from this model, and only with the owner tag on the request
    create = by_sid["CreateFromThisModelWithOwnerTag"]
    assert json.dumps(create["Resource"]).endswith(f':bedrock:us-east-1::foundation-model/{MODEL}"]]}}')
    assert create["Condition"] == {"StringEquals": {f"aws:RequestTag/{OWNER_TAG}": pt.owner}}
    # retagging cannot hand the model to another owner, nor untagging drop the owner tag
    assert by_sid["TagOwnProvisionedModel"]["Condition"]["StringEqualsIfExists"] == {f"aws:RequestTag/{OWNER_TAG}": pt.owner}
    assert by_sid["UntagOwnProvisionedModel"]["Condition"]["ForAllValues:StringNotEquals"] == {"aws:TagKeys": [OWNER_TAG]}


def test_the_tag_value_in_the_conditions_is_the_one_on_the_model(make_stack):
    stack, pt, t = build(make_stack)
    (resource,) = [r for r in t["Resources"].values() if r["Type"] == RESOURCE_TYPE]
    (owner,) = [tag["Value"] for tag in resource["Properties"]["Tags"] if tag["Key"] == OWNER_TAG]
    conditions = [s["Condition"] for _, s in every_statement(t) if "Condition" in s]
    assert all(owner in json.dumps(c) for c in conditions if "tierwise:owner" in json.dumps(c))


def test_two_constructs_in_one_stack_own_different_models(make_stack):
    stack = make_stack()
    a = BedrockProvisionedThroughput(stack, "A", model_id=MODEL)
    b = BedrockProvisionedThroughput(stack, "B", model_id=MODEL)
    assert a.owner != b.owner


def test_the_owner_tag_cannot_be_overridden(make_stack):
    with pytest.raises(PropError, match=f"tags must not set {OWNER_TAG}"):
        BedrockProvisionedThroughput(make_stack(), "Pt", model_id=MODEL, tags={OWNER_TAG: "someone-else"})


def test_the_waiter_has_no_logs_permission_at_all(make_stack):
    stack, pt, t = build(make_stack)
    for lid, s in every_statement(t):
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        assert "logs:PutResourcePolicy" not in actions, lid
        if any(a.startswith("logs:") for a in actions):
            assert s["Resource"] != "*", (lid, s)  # log writes name their own log group
    waiter_role = pt.provider.node.find_child("waiter-state-machine").node.find_child("Role")
    (policy,) = [r for lid, r in t["Resources"].items() if r["Type"] == "AWS::IAM::Policy"
                 and {"Ref": stack.get_logical_id(waiter_role.node.default_child)} in r["Properties"]["Roles"]]
    assert {s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]} == {"lambda:InvokeFunction"}
    assert "LoggingConfiguration" not in only(stack, "AWS::StepFunctions::StateMachine")["Properties"]
    # each poll is still logged, by the two functions the waiter invokes, to encrypted log groups
    groups = resources(stack, "AWS::Logs::LogGroup")
    assert len(groups) == 3 and all("KmsKeyId" in g["Properties"] for g in groups.values())


@pytest.mark.parametrize("region", ["us-east-1", None])
def test_cdk_nag_passes_with_the_projects_partition_literals(region):
    """The finding cdk-nag raises on provisioned-model/* is acknowledged as the stack renders the
    ARN: `arn:aws:...` with cdk.json's @aws-cdk/core:enablePartitionLiterals and a region,
    `arn:<AWS::Partition>:...` without one."""
    import app

    from pathlib import Path

    context = json.loads((Path(app.__file__).parent / "cdk.json").read_text())["context"]
    context.update({"model": "nova-pro", "tier": "bedrock-provisioned"}, **({"region": region} if region else {}))
    app.main(context, tempfile.mkdtemp()).synth()  # an unacknowledged cdk-nag finding fails the synth


# --- the handler passes the tags it is given ------------------------------------------------------


@pytest.fixture
def bedrock(monkeypatch):
    yield from stubbed_bedrock(monkeypatch, handler)


PROPS = {"ServiceToken": "arn:aws:lambda:...", "ModelId": MODEL, "ModelUnits": "1", "ProvisionedModelName": "tierwise-pt",
         "Tags": [{"Key": OWNER_TAG, "Value": "tierwise-nova-pro/Endpoint"}, {"Key": "tierwise:model", "Value": "nova-pro"}]}


def test_create_sends_the_owner_tag_the_policy_asks_for(bedrock):
    bedrock.add_response(
        "create_provisioned_model_throughput", {"provisionedModelArn": ARN},
        {"clientRequestToken": "req-1", "modelUnits": 1, "provisionedModelName": "tierwise-pt", "modelId": MODEL,
         "tags": [{"key": "tierwise:model", "value": "nova-pro"}, {"key": OWNER_TAG, "value": "tierwise-nova-pro/Endpoint"}]},
    )
    event = {"RequestType": "Create", "RequestId": "req-1", "LogicalResourceId": "Pt", "ResourceProperties": PROPS}
    assert handler.on_event(event)["PhysicalResourceId"] == ARN


def test_retagging_never_removes_the_owner_tag(bedrock):
    new = {**PROPS, "Tags": [PROPS["Tags"][0], {"Key": "team", "Value": "ml"}]}
    bedrock.add_response("untag_resource", {}, {"resourceARN": ARN, "tagKeys": ["tierwise:model"]})
    bedrock.add_response("tag_resource", {}, {"resourceARN": ARN, "tags": [
        {"key": "team", "value": "ml"}, {"key": OWNER_TAG, "value": "tierwise-nova-pro/Endpoint"}]})
    event = {"RequestType": "Update", "RequestId": "req-2", "LogicalResourceId": "Pt", "ResourceProperties": new,
             "OldResourceProperties": PROPS, "PhysicalResourceId": ARN}
    handler.on_event(event)


def test_a_model_the_handler_does_not_own_is_one_clear_line(bedrock):
    bedrock.add_client_error("delete_provisioned_model_throughput", service_error_code="AccessDeniedException",
                             service_message="not authorized", http_status_code=403)
    event = {"RequestType": "Delete", "RequestId": "req-3", "LogicalResourceId": "Pt", "ResourceProperties": PROPS,
             "PhysicalResourceId": ARN}
    with pytest.raises(handler.ProvisioningError, match=f"only provisioned models tagged {OWNER_TAG}"):
        handler.on_event(event)
