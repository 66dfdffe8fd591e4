"""The Custom Model Import custom resource's handler against botocore's Stubber (moto has no model
import API: tierwise/data/bedrock_custom_import.yaml, moto): create and wait, update in place and
by a new import, a rollback that finds its model still there, delete, and the failure paths, each
with the exact Bedrock calls and the one line CloudFormation would show."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.tiers.conftest import stubbed_bedrock
from tiers.bedrock_custom.handler import model_import as handler

REQUEST_ID = "0f4ef1b6-52d1-4ac2-9cc1-4d1b1d0a7d10"
NEW_REQUEST_ID = "9b2c1e51-4d7a-4a0e-8f0e-2f2b6c9d4e11"
ROLE = "arn:aws:iam::123456789012:role/tierwise-qwen-ServiceRole"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
URI = "s3://tierwise-models/qwen-ft/v1/"
JOB = "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcd1234efgh"
MODEL = "arn:aws:bedrock:us-east-1:123456789012:imported-model/k2x9pq7rt1ab"
NEW_JOB = "arn:aws:bedrock:us-east-1:123456789012:model-import-job/zzzz9999yyyy"
NEW_MODEL = "arn:aws:bedrock:us-east-1:123456789012:imported-model/n3w0ne4you55"
NAME = "tierwise-qwen_Endpoint"
PROPS = {"ServiceToken": "arn:aws:lambda:...", "WeightsUri": URI, "ImportedModelName": NAME, "RoleArn": ROLE,
         "KmsKeyArn": KEY, "Tags": [{"Key": "tierwise:construct", "Value": "tierwise-qwen/Endpoint"},
                                    {"Key": "tierwise:model", "Value": "qwen"}]}
WHEN = datetime(2026, 12, 3, tzinfo=timezone.utc)


@pytest.fixture
def bedrock(monkeypatch):
    yield from stubbed_bedrock(monkeypatch, handler)


def event(kind: str, props=None, old=None, physical=None, request_id=REQUEST_ID) -> dict:
    e = {"RequestType": kind, "RequestId": request_id, "LogicalResourceId": "Endpoint",
         "ResourceProperties": props or PROPS}
    if old is not None:
        e["OldResourceProperties"] = old
    if physical is not None:
        e["PhysicalResourceId"] = physical
    return e


def fingerprint(props=PROPS) -> str:
    return handler.Request.from_properties(props).fingerprint


def tags(props=PROPS) -> list[dict]:
    wanted = {t["Key"]: t["Value"] for t in props["Tags"]} | {handler.FINGERPRINT_TAG: fingerprint(props)}
    return [{"key": k, "value": v} for k, v in sorted(wanted.items())]


def job(status: str, **extra) -> dict:
    return {"jobArn": JOB, "jobName": "tierwise-qwen-Endpoint-5c2d0ba2", "importedModelName": NAME, "roleArn": ROLE,
            "modelDataSource": {"s3DataSource": {"s3Uri": URI}}, "status": status, "creationTime": WHEN, **extra}


def model(arn=MODEL, name=NAME, **extra) -> dict:
    return {"modelArn": arn, "modelName": name, "jobArn": JOB, "modelArchitecture": "qwen2", "instructSupported": True,
            "modelDataSource": {"s3DataSource": {"s3Uri": URI}}, "creationTime": WHEN, "modelKmsKeyArn": KEY,
            "customModelUnits": {"customModelUnitsPerModelCopy": 1, "customModelUnitsVersion": "1.0"}, **extra}


def not_found(stub, method, params):
    stub.add_client_error(method, service_error_code="ResourceNotFoundException", service_message="not found",
                          http_status_code=404, expected_params=params)


def expect_import(stub, name=NAME, job_arn=JOB, request_id=REQUEST_ID, props=PROPS):
    stub.add_response(
        "create_model_import_job", {"jobArn": job_arn},
        {"jobName": handler._suffixed(name, request_id).replace("_", "-"), "importedModelName": name, "roleArn": ROLE,
         "modelDataSource": {"s3DataSource": {"s3Uri": props["WeightsUri"]}}, "clientRequestToken": request_id,
         "importedModelKmsKeyId": KEY, "importedModelTags": tags(props), "jobTags": tags(props)},
    )


# --- create and wait ------------------------------------------------------------------------------


def test_create_starts_the_import_of_the_folder(bedrock):
    expect_import(bedrock)
    assert handler.on_event(event("Create")) == {"PhysicalResourceId": JOB, "Data": {"JobArn": JOB}}


def test_a_job_name_never_carries_an_underscore():
    assert "_" not in handler._suffixed(NAME, REQUEST_ID).replace("_", "-")
    assert handler._suffixed(NAME, REQUEST_ID).startswith("tierwise-qwen_Endpoint-")


def test_is_complete_waits_then_hands_over_the_model_and_its_cmus(bedrock):
    bedrock.add_response("get_model_import_job", job("InProgress"), {"jobIdentifier": JOB})
    assert handler.is_complete(event("Create", physical=JOB)) == {"IsComplete": False}
    bedrock.add_response("get_model_import_job", job("Completed", importedModelArn=MODEL), {"jobIdentifier": JOB})
    bedrock.add_response("get_imported_model", model(), {"modelIdentifier": MODEL})
    done = handler.is_complete(event("Create", physical=JOB))
    assert done["IsComplete"] and done["PhysicalResourceId"] == MODEL
    assert done["Data"] == {"ModelArn": MODEL, "CustomModelUnits": "1", "CustomModelUnitsVersion": "1.0",
                            "InstructSupported": "true", "JobArn": JOB}


def test_a_failed_import_is_one_line_with_bedrocks_reason(bedrock):
    bedrock.add_response("get_model_import_job",
                         job("Failed", failureMessage="Model architecture gemma2 is not supported"), {"jobIdentifier": JOB})
    with pytest.raises(handler.ImportFailed) as caught:
        handler.is_complete(event("Create", physical=JOB))
    assert str(caught.value) == f"import of {URI} failed: Model architecture gemma2 is not supported"
    assert "\n" not in str(caught.value)


def test_the_quota_of_imported_models_is_explained(bedrock):
    bedrock.add_client_error("create_model_import_job", service_error_code="ServiceQuotaExceededException",
                             service_message="Limit of imported models reached", http_status_code=400)
    with pytest.raises(handler.ImportFailed, match="3 imported models per region by default .*L-45B04988"):
        handler.on_event(event("Create"))


@pytest.mark.parametrize(("change", "message"), [
    ({"WeightsUri": "s3://tierwise-models/qwen-ft/model.safetensors"}, "WeightsUri must be s3://bucket/prefix/"),
    ({"ImportedModelName": "has space"}, "ImportedModelName must be 1-63"),
    ({"RoleArn": "tierwise-role"}, "RoleArn must be the ARN"),
])
def test_bad_properties_are_one_line_before_any_call(bedrock, change, message):
    with pytest.raises(handler.ImportFailed, match=message):
        handler.on_event(event("Create", {**PROPS, **change}))


# --- update ---------------------------------------------------------------------------------------


def test_a_tag_change_retags_the_model_in_place(bedrock):
    new = {**PROPS, "Tags": [{"Key": "tierwise:construct", "Value": "tierwise-qwen/Endpoint"},
                             {"Key": "team", "Value": "search"}]}
    bedrock.add_response("get_imported_model", model(), {"modelIdentifier": MODEL})
    bedrock.add_response("list_tags_for_resource", {"tags": tags(PROPS)}, {"resourceARN": MODEL})
    bedrock.add_response("untag_resource", {}, {"resourceARN": MODEL, "tagKeys": ["tierwise:model"]})
    bedrock.add_response("tag_resource", {}, {"resourceARN": MODEL, "tags": [{"key": "team", "value": "search"}]})
    assert handler.on_event(event("Update", new, PROPS, MODEL)) == {"PhysicalResourceId": MODEL,
                                                                     "Data": {"ModelArn": MODEL}}


def test_new_weights_import_again_under_a_new_name_and_cloudformation_deletes_the_old(bedrock):
    new = {**PROPS, "WeightsRevision": "2026-12-03"}  # the same folder, new files in it
    bedrock.add_response("get_imported_model", model(), {"modelIdentifier": MODEL})
    bedrock.add_response("list_tags_for_resource", {"tags": tags(PROPS)}, {"resourceARN": MODEL})
    renamed = handler._suffixed(NAME, NEW_REQUEST_ID)
    expect_import(bedrock, name=renamed, job_arn=NEW_JOB, request_id=NEW_REQUEST_ID, props=new)
    assert handler.on_event(event("Update", new, PROPS, MODEL, NEW_REQUEST_ID))["PhysicalResourceId"] == NEW_JOB
    bedrock.add_response("get_model_import_job", {**job("Completed", importedModelArn=NEW_MODEL), "jobArn": NEW_JOB},
                         {"jobIdentifier": NEW_JOB})
    bedrock.add_response("get_imported_model", model(NEW_MODEL, renamed), {"modelIdentifier": NEW_MODEL})
    done = handler.is_complete(event("Update", new, PROPS, NEW_JOB, NEW_REQUEST_ID))
    assert done["PhysicalResourceId"] == NEW_MODEL  # a new physical id: CloudFormation deletes MODEL


def test_a_rollback_to_the_model_that_still_exists_imports_nothing(bedrock):
    """The update above failed; CloudFormation rolls back with the old properties and the old
    model's id: its fingerprint matches, so nothing is imported again."""
    new = {**PROPS, "WeightsRevision": "2026-12-03"}
    bedrock.add_response("get_imported_model", model(), {"modelIdentifier": MODEL})
    bedrock.add_response("list_tags_for_resource", {"tags": tags(PROPS)}, {"resourceARN": MODEL})
    assert handler.on_event(event("Update", PROPS, new, MODEL))["PhysicalResourceId"] == MODEL


def test_a_replaced_model_keeps_matching_its_name(bedrock):
    renamed = handler._suffixed(NAME, NEW_REQUEST_ID)
    bedrock.add_response("get_imported_model", model(NEW_MODEL, renamed), {"modelIdentifier": NEW_MODEL})
    bedrock.add_response("list_tags_for_resource", {"tags": tags(PROPS)}, {"resourceARN": NEW_MODEL})
    assert handler.on_event(event("Update", PROPS, PROPS, NEW_MODEL))["PhysicalResourceId"] == NEW_MODEL


# --- delete ---------------------------------------------------------------------------------------


def test_delete_removes_the_imported_model_and_waits_until_it_is_gone(bedrock):
    bedrock.add_response("delete_imported_model", {}, {"modelIdentifier": MODEL})
    assert handler.on_event(event("Delete", physical=MODEL)) == {"PhysicalResourceId": MODEL}
    bedrock.add_response("get_imported_model", model(), {"modelIdentifier": MODEL})
    assert handler.is_complete(event("Delete", physical=MODEL)) == {"IsComplete": False}
    not_found(bedrock, "get_imported_model", {"modelIdentifier": MODEL})
    assert handler.is_complete(event("Delete", physical=MODEL)) == {"IsComplete": True}


def test_delete_of_a_model_deleted_by_hand_succeeds(bedrock):
    not_found(bedrock, "delete_imported_model", {"modelIdentifier": MODEL})
    assert handler.on_event(event("Delete", physical=MODEL)) == {"PhysicalResourceId": MODEL}


def test_a_create_that_timed_out_waits_for_its_job_and_deletes_the_model_it_made(bedrock):
    bedrock.add_response("get_model_import_job", job("InProgress"), {"jobIdentifier": JOB})
    assert handler.on_event(event("Delete", physical=JOB)) == {"PhysicalResourceId": JOB}
    bedrock.add_response("get_model_import_job", job("InProgress"), {"jobIdentifier": JOB})
    assert handler.is_complete(event("Delete", physical=JOB)) == {"IsComplete": False}
    bedrock.add_response("get_model_import_job", job("Completed", importedModelArn=MODEL), {"jobIdentifier": JOB})
    bedrock.add_response("get_imported_model", model(), {"modelIdentifier": MODEL})
    bedrock.add_response("delete_imported_model", {}, {"modelIdentifier": MODEL})
    not_found(bedrock, "get_imported_model", {"modelIdentifier": MODEL})
    assert handler.is_complete(event("Delete", physical=JOB)) == {"IsComplete": True}


def test_a_failed_job_leaves_nothing_to_delete(bedrock):
    bedrock.add_response("get_model_import_job", job("Failed", failureMessage="bad files"), {"jobIdentifier": JOB})
    assert handler.on_event(event("Delete", physical=JOB)) == {"PhysicalResourceId": JOB}
    bedrock.add_response("get_model_import_job", job("Failed", failureMessage="bad files"), {"jobIdentifier": JOB})
    assert handler.is_complete(event("Delete", physical=JOB)) == {"IsComplete": True}


def test_a_create_that_never_reached_bedrock_deletes_nothing(bedrock):
    # the framework's failure response carries the request id as the physical id
    assert handler.on_event(event("Delete", physical=REQUEST_ID)) == {"PhysicalResourceId": REQUEST_ID}
    assert handler.is_complete(event("Delete", physical=REQUEST_ID)) == {"IsComplete": True}


def test_a_refused_delete_is_one_line(bedrock):
    bedrock.add_client_error("delete_imported_model", service_error_code="AccessDeniedException",
                             service_message="not authorized to perform bedrock:DeleteImportedModel", http_status_code=403)
    with pytest.raises(handler.ImportFailed) as caught:
        handler.on_event(event("Delete", physical=MODEL))
    assert str(caught.value).startswith(f"delete failed for {MODEL}: access denied")
