"""The provisioned-throughput custom resource handler against botocore's Stubber (moto has no
Bedrock provisioned-throughput API): create, wait, update, delete and every failure path."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.tiers.conftest import stubbed_bedrock
from tiers.bedrock.handler import provisioned_throughput as handler

MODEL = "anthropic.claude-3-haiku-20240307-v1:0:200k"
ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz"
FM_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL}"
NEW_ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/def456uvw"
REQUEST_ID = "0f4ef1b6-52d1-4ac2-9cc1-4d1b1d0a7d10"
PROPS = {"ServiceToken": "arn:aws:lambda:...", "ModelId": MODEL, "ModelUnits": "1", "ProvisionedModelName": "tierwise-pt",
         "Tags": [{"Key": "tierwise:model", "Value": "claude"}]}


@pytest.fixture
def bedrock(monkeypatch):
    yield from stubbed_bedrock(monkeypatch, handler)


def event(kind: str, props=None, old=None, physical=None) -> dict:
    e = {"RequestType": kind, "RequestId": REQUEST_ID, "LogicalResourceId": "Pt", "ResourceProperties": props or PROPS}
    if old is not None:
        e["OldResourceProperties"] = old
    if physical is not None:
        e["PhysicalResourceId"] = physical
    return e


def status(value: str, **extra) -> dict:
    return {
        "modelUnits": 1, "desiredModelUnits": 1, "provisionedModelName": "tierwise-pt", "provisionedModelArn": ARN,
        "modelArn": FM_ARN, "desiredModelArn": FM_ARN,
        "foundationModelArn": FM_ARN, "status": value, "creationTime": datetime(2026, 11, 27, tzinfo=timezone.utc),
        "lastModifiedTime": datetime(2026, 11, 27, tzinfo=timezone.utc), **extra,
    }


def client_error(stub, method, code, message, params=None):
    stub.add_client_error(method, service_error_code=code, service_message=message, http_status_code=400,
                          expected_params=params)


# --- create and wait ------------------------------------------------------------------------------


def test_create_without_commitment(bedrock):
    bedrock.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": ARN},
        {"clientRequestToken": REQUEST_ID, "modelUnits": 1, "provisionedModelName": "tierwise-pt", "modelId": MODEL,
         "tags": [{"key": "tierwise:model", "value": "claude"}]},
    )
    assert handler.on_event(event("Create")) == {"PhysicalResourceId": ARN, "Data": {"ProvisionedModelArn": ARN}}


def test_create_with_commitment_passes_it(bedrock):
    props = {**PROPS, "CommitmentDuration": "OneMonth", "ModelUnits": "3"}
    del props["Tags"]
    bedrock.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": ARN},
        {"clientRequestToken": REQUEST_ID, "modelUnits": 3, "provisionedModelName": "tierwise-pt", "modelId": MODEL,
         "commitmentDuration": "OneMonth"},
    )
    handler.on_event(event("Create", props))


def test_is_complete_waits_until_in_service(bedrock):
    for value in ("Creating", "Creating"):
        bedrock.add_response("get_provisioned_model_throughput", status(value), {"provisionedModelId": ARN})
    bedrock.add_response("get_provisioned_model_throughput", status("InService"), {"provisionedModelId": ARN})
    e = event("Create", physical=ARN)
    assert handler.is_complete(e) == {"IsComplete": False}
    assert handler.is_complete(e) == {"IsComplete": False}
    assert handler.is_complete(e) == {"IsComplete": True, "Data": {"ProvisionedModelArn": ARN}}


def test_failed_provisioning_reports_bedrocks_reason(bedrock):
    bedrock.add_response("get_provisioned_model_throughput", status("Failed", failureMessage="Insufficient capacity"))
    with pytest.raises(handler.ProvisioningError, match="failed: Insufficient capacity"):
        handler.is_complete(event("Create", physical=ARN))


# --- update ---------------------------------------------------------------------------------------


def test_more_model_units_replace_the_provisioned_model(bedrock):
    new = {**PROPS, "ModelUnits": "2"}
    expected_name = handler._replacement_name("tierwise-pt", REQUEST_ID)
    bedrock.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": NEW_ARN},
        {"clientRequestToken": REQUEST_ID, "modelUnits": 2, "provisionedModelName": expected_name, "modelId": MODEL,
         "tags": [{"key": "tierwise:model", "value": "claude"}]},
    )
    result = handler.on_event(event("Update", new, old=PROPS, physical=ARN))
    # a new physical id: CloudFormation deletes the old provisioned model after the update
    assert result["PhysicalResourceId"] == NEW_ARN
    assert expected_name != "tierwise-pt" and expected_name.startswith("tierwise-pt-") and len(expected_name) <= 63
    bedrock.add_response("get_provisioned_model_throughput", status("InService", modelUnits=2, provisionedModelArn=NEW_ARN),
                         {"provisionedModelId": NEW_ARN})
    assert handler.is_complete(event("Update", new, old=PROPS, physical=NEW_ARN))["IsComplete"] is True


def test_rename_is_an_in_place_update(bedrock):
    new = {**PROPS, "ProvisionedModelName": "renamed"}
    bedrock.add_response("update_provisioned_model_throughput", {},
                         {"provisionedModelId": ARN, "desiredProvisionedModelName": "renamed"})
    assert handler.on_event(event("Update", new, old=PROPS, physical=ARN))["PhysicalResourceId"] == ARN


def test_tag_change_retags(bedrock):
    new = {**PROPS, "Tags": [{"Key": "tierwise:tier", "Value": "bedrock-provisioned"}]}
    bedrock.add_response("untag_resource", {}, {"resourceARN": ARN, "tagKeys": ["tierwise:model"]})
    bedrock.add_response("tag_resource", {}, {"resourceARN": ARN, "tags": [{"key": "tierwise:tier", "value": "bedrock-provisioned"}]})
    handler.on_event(event("Update", new, old=PROPS, physical=ARN))


def test_unchanged_update_calls_nothing(bedrock):
    assert handler.on_event(event("Update", PROPS, old=PROPS, physical=ARN)) == {
        "PhysicalResourceId": ARN, "Data": {"ProvisionedModelArn": ARN}}


# --- delete ---------------------------------------------------------------------------------------


def test_delete_then_wait_until_gone(bedrock):
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": ARN})
    assert handler.on_event(event("Delete", physical=ARN)) == {"PhysicalResourceId": ARN}
    bedrock.add_response("get_provisioned_model_throughput", status("InService"))
    assert handler.is_complete(event("Delete", physical=ARN)) == {"IsComplete": False}
    client_error(bedrock, "get_provisioned_model_throughput", "ResourceNotFoundException", "not found")
    assert handler.is_complete(event("Delete", physical=ARN)) == {"IsComplete": True}


def test_delete_of_a_create_that_never_reached_bedrock_is_a_no_op(bedrock):
    # after a failed create the physical id is the framework's placeholder, not an ARN
    assert handler.on_event(event("Delete", physical=REQUEST_ID)) == {"PhysicalResourceId": REQUEST_ID}
    assert handler.is_complete(event("Delete", physical=REQUEST_ID)) == {"IsComplete": True}


def test_delete_of_an_already_deleted_model_succeeds(bedrock):
    client_error(bedrock, "delete_provisioned_model_throughput", "ResourceNotFoundException", "no such model")
    assert handler.on_event(event("Delete", physical=ARN)) == {"PhysicalResourceId": ARN}


def test_delete_during_a_commitment_says_until_when(bedrock):
    client_error(bedrock, "delete_provisioned_model_throughput", "ValidationException",
                 "Provisioned model with commitment cannot be deleted before the commitment expires")
    bedrock.add_response("get_provisioned_model_throughput", status(
        "InService", commitmentDuration="SixMonths", commitmentExpirationTime=datetime(2027, 5, 27, tzinfo=timezone.utc)))
    with pytest.raises(handler.ProvisioningError) as err:
        handler.on_event(event("Delete", physical=ARN))
    assert "SixMonths commitment that ends 2027-05-27" in str(err.value)


# --- failures, as CloudFormation shows them -------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ServiceQuotaExceededException", "Not enough model units", "quota cannot cover 1 model unit(s) for " + MODEL),
        ("ServiceQuotaExceededException", "Not enough model units", "Service Quotas"),
        ("AccessDeniedException", "You don't have access to the model", "Model access page"),
        ("ValidationException", "The provided model identifier is invalid", "cannot be given provisioned throughput"),
        ("ResourceNotFoundException", "Model not found", "supports provisioned throughput"),
        ("ThrottlingException", "Rate exceeded", "deploy again"),
        ("InternalServerException", "boom", "InternalServerException: boom"),
    ],
)
def test_create_failures_become_one_clear_reason(bedrock, code, message, expected):
    client_error(bedrock, "create_provisioned_model_throughput", code, message)
    with pytest.raises(handler.ProvisioningError) as err:
        handler.on_event(event("Create"))
    text = str(err.value)
    assert expected in text and message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"ModelUnits": "0"}, "ModelUnits must be a whole number >= 1"),
        ({"ModelUnits": "two"}, "ModelUnits must be a whole number >= 1"),
        ({"CommitmentDuration": "ThreeMonths"}, "CommitmentDuration must be absent"),
        ({"ModelId": ""}, "ModelId is required"),
        ({"ProvisionedModelName": "-bad name"}, "ProvisionedModelName must be"),
    ],
)
def test_malformed_properties_fail_before_any_call(bedrock, props, expected):
    with pytest.raises(handler.ProvisioningError, match=expected):
        handler.on_event(event("Create", {**PROPS, **props}))


def test_access_denied_while_waiting(bedrock):
    client_error(bedrock, "get_provisioned_model_throughput", "AccessDeniedException", "not authorized")
    with pytest.raises(handler.ProvisioningError, match="wait failed: access denied"):
        handler.is_complete(event("Create", physical=ARN))
