"""Custom::BedrockImportedModel: a Bedrock Custom Model Import, run by the CDK Provider framework
(on_event starts the work, is_complete polls it once a minute).

Create starts CreateModelImportJob from the S3 folder of Hugging Face files, with the service
role Bedrock assumes to read it; the physical id is the job's ARN until the job completes, then
the imported model's ARN (is_complete hands it to CloudFormation with the model's CMUs). An
imported model cannot be changed: new weights (another folder, a new WeightsRevision), another
name or key make a new import under a new name, and CloudFormation deletes the old model after.
Tags are changed in place. Whether an update needs a new import is read from the model itself
(its name, and a tag holding a fingerprint of the weights it was imported from), not from the
old properties alone, so a rollback to the model that still exists never imports it again. Delete calls DeleteImportedModel; a job still running (a create that
timed out) is waited for, and its model deleted, so nothing is left behind to bill storage.

Every failure is one line CloudFormation shows as the resource's reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

log = logging.getLogger()
log.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

NAME_MAX = 63  # importedModelName and jobName
NAME = re.compile(r"([0-9a-zA-Z][_-]?)+")
S3_FOLDER = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/(?:[^/]+/)+")
# the tag holding what an imported model was imported from (its weights' folder, revision and key)
FINGERPRINT_TAG = "tierwise:weights"
_client = None


class ImportFailed(Exception):
    """The one-line reason CloudFormation shows for a failed import."""


def bedrock():
    """The Bedrock control-plane client (created once per execution environment)."""
    global _client
    if _client is None:
        _client = boto3.client("bedrock", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return _client


@dataclass(frozen=True)
class Request:
    weights_uri: str
    name: str
    role_arn: str
    kms_key_arn: str | None = None
    weights_revision: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> "Request":
        uri = str(props.get("WeightsUri") or "").strip()
        if not S3_FOLDER.fullmatch(uri):
            raise ImportFailed(f"WeightsUri must be s3://bucket/prefix/, the folder holding the model's safetensors, "
                               f"config.json and tokenizer files (got {uri!r})")
        name = str(props.get("ImportedModelName") or "").strip()
        if not NAME.fullmatch(name) or len(name) > NAME_MAX:
            raise ImportFailed(f"ImportedModelName must be 1-{NAME_MAX} letters, digits, '-' or '_' starting with a "
                               f"letter or digit (got {name!r})")
        role = str(props.get("RoleArn") or "").strip()
        if not role.startswith("arn:") or ":role/" not in role:
            raise ImportFailed(f"RoleArn must be the ARN of the service role Bedrock assumes to read the weights (got {role!r})")
        tags = {str(t["Key"]): str(t["Value"]) for t in props.get("Tags") or []}
        return cls(weights_uri=uri, name=name, role_arn=role, kms_key_arn=props.get("KmsKeyArn") or None,
                   weights_revision=props.get("WeightsRevision") or None, tags=tags)

    @property
    def fingerprint(self) -> str:
        source = "\n".join((self.weights_uri, self.kms_key_arn or "", self.weights_revision or ""))
        return hashlib.sha256(source.encode()).hexdigest()[:16]

    @property
    def model_tags(self) -> dict[str, str]:
        return {**self.tags, FINGERPRINT_TAG: self.fingerprint}


def _is_model(physical_id: str | None) -> bool:
    return bool(physical_id) and ":imported-model/" in physical_id


def _is_job(physical_id: str | None) -> bool:
    return bool(physical_id) and ":model-import-job/" in physical_id


def _suffixed(name: str, request_id: str) -> str:
    suffix = hashlib.sha256(request_id.encode()).hexdigest()[:8]
    return f"{name[: NAME_MAX - len(suffix) - 1].rstrip('-_')}-{suffix}"


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def _explain(exc: ClientError, action: str, subject: str) -> ImportFailed:
    code = exc.response.get("Error", {}).get("Code", "Error")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    if code == "ServiceQuotaExceededException":
        return ImportFailed(
            f"{action} failed: {message}. An account holds 3 imported models per region by default (Service Quotas, "
            f"Amazon Bedrock, L-45B04988) and runs one import job at a time: delete unused imported models, wait for "
            f"the running job, or ask for more"
        )
    if code == "AccessDeniedException":
        return ImportFailed(f"{action} failed for {subject}: access denied ({message}); check the handler's and the "
                            f"service role's permissions and the key policies of the keys involved")
    if code == "ConflictException":
        return ImportFailed(f"{action} failed: {subject} exists already ({message}); give another imported_model_name")
    if code == "ThrottlingException":
        return ImportFailed(f"{action} failed: Bedrock throttled the request ({message}); deploy again in a minute")
    return ImportFailed(f"{action} failed for {subject}: {code}: {message}")


def _start(request: Request, request_id: str, name: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        # job names take no "_" (botocore's JobName pattern), model names do
        "jobName": _suffixed(name, request_id).replace("_", "-"),
        "importedModelName": name,
        "roleArn": request.role_arn,
        "modelDataSource": {"s3DataSource": {"s3Uri": request.weights_uri}},
        "clientRequestToken": request_id,  # CloudFormation retries with the same id: no second job
    }
    if request.kms_key_arn:
        params["importedModelKmsKeyId"] = request.kms_key_arn
    params["importedModelTags"] = _tag_list(request.model_tags)
    params["jobTags"] = _tag_list(request.model_tags)
    try:
        job = bedrock().create_model_import_job(**params)["jobArn"]
    except ClientError as exc:
        raise _explain(exc, "import", f"{request.weights_uri} as {name}") from None
    log.info("importing %s as %s: %s", request.weights_uri, name, job)
    return {"PhysicalResourceId": job, "Data": {"JobArn": job}}


def _job(job_arn: str) -> dict[str, Any] | None:
    try:
        return bedrock().get_model_import_job(jobIdentifier=job_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise _explain(exc, "reading the import job", job_arn) from None


def _model(model: str) -> dict[str, Any] | None:
    try:
        return bedrock().get_imported_model(modelIdentifier=model)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise _explain(exc, "reading the imported model", model) from None


def _delete_model(model_arn: str) -> None:
    try:
        bedrock().delete_imported_model(modelIdentifier=model_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise _explain(exc, "delete", model_arn) from None
    log.info("deleted imported model %s", model_arn)


def _tags(model_arn: str) -> dict[str, str]:
    try:
        listed = bedrock().list_tags_for_resource(resourceARN=model_arn).get("tags") or []
    except ClientError as exc:
        raise _explain(exc, "reading the tags of", model_arn) from None
    return {t["key"]: t["value"] for t in listed}


def _retag(model_arn: str, current: dict[str, str], wanted: dict[str, str]) -> None:
    try:
        removed = sorted(k for k in current if k not in wanted and not k.startswith("aws:"))
        if removed:
            bedrock().untag_resource(resourceARN=model_arn, tagKeys=removed)
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changed:
            bedrock().tag_resource(resourceARN=model_arn, tags=_tag_list(changed))
    except ClientError as exc:
        raise _explain(exc, "tag", model_arn) from None


def _same_name(model_name: str, name: str) -> bool:
    """`model_name` is `name`, or `name` with the suffix a replacement import gave it."""
    return model_name == name or bool(
        re.fullmatch(re.escape(name[: NAME_MAX - 9].rstrip("-_")) + r"-[0-9a-f]{8}", model_name))


def _ready(model: dict[str, Any], job_arn: str | None = None) -> dict[str, Any]:
    units = model.get("customModelUnits") or {}
    arn = model["modelArn"]
    return {
        "IsComplete": True,
        "PhysicalResourceId": arn,
        "Data": {
            "ModelArn": arn,
            "CustomModelUnits": str(units.get("customModelUnitsPerModelCopy", "")),
            "CustomModelUnitsVersion": str(units.get("customModelUnitsVersion", "")),
            "InstructSupported": str(bool(model.get("instructSupported"))).lower(),
            "JobArn": job_arn or model.get("jobArn", ""),
        },
    }


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    kind = event["RequestType"]
    log.info("%s %s", kind, event.get("LogicalResourceId"))
    if kind == "Delete":
        return _on_delete(event["PhysicalResourceId"])
    request = Request.from_properties(event["ResourceProperties"])
    if kind == "Create":
        return _start(request, event["RequestId"], request.name)
    if kind != "Update":
        raise ImportFailed(f"unknown request type {kind!r}")
    physical_id = event["PhysicalResourceId"]
    model = _model(physical_id) if _is_model(physical_id) else None
    if model is not None:
        current = _tags(physical_id)
        if current.get(FINGERPRINT_TAG) == request.fingerprint and _same_name(model["modelName"], request.name):
            _retag(physical_id, current, request.model_tags)
            return {"PhysicalResourceId": physical_id, "Data": {"ModelArn": physical_id}}
    # new weights, name or key; the current model keeps its name until CloudFormation deletes it
    taken = model is not None and _same_name(model["modelName"], request.name)
    name = _suffixed(request.name, event["RequestId"]) if taken else request.name
    return _start(request, event["RequestId"], name)


def _on_delete(physical_id: str) -> dict[str, Any]:
    if _is_model(physical_id):
        _delete_model(physical_id)
    elif _is_job(physical_id):
        job = _job(physical_id)
        if job is not None and job.get("status") == "Completed" and job.get("importedModelArn"):
            _delete_model(job["importedModelArn"])
        # a job still in progress is waited for by is_complete; a failed one left no model
    return {"PhysicalResourceId": physical_id}


def is_complete(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    physical_id = event["PhysicalResourceId"]
    if event["RequestType"] == "Delete":
        return _deleted(physical_id)
    if _is_model(physical_id):
        model = _model(physical_id)
        if model is None:
            raise ImportFailed(f"the imported model {physical_id} no longer exists: it was deleted outside CloudFormation")
        return _ready(model)
    job = _job(physical_id)
    if job is None:
        raise ImportFailed(f"the import job {physical_id} is not found")
    status = job.get("status")
    if status == "Failed":
        raise ImportFailed(f"import of {job.get('modelDataSource', {}).get('s3DataSource', {}).get('s3Uri', 'the weights')} "
                           f"failed: {job.get('failureMessage') or 'Bedrock gave no reason'}")
    if status != "Completed":
        log.info("%s is %s", physical_id, status)
        return {"IsComplete": False}
    model = _model(job["importedModelArn"])
    if model is None:
        raise ImportFailed(f"the import job {physical_id} completed but its model {job['importedModelArn']} is gone")
    return _ready(model, physical_id)


def _deleted(physical_id: str) -> dict[str, Any]:
    if _is_model(physical_id):
        return {"IsComplete": _model(physical_id) is None}
    if not _is_job(physical_id):
        return {"IsComplete": True}  # the create never reached Bedrock
    job = _job(physical_id)
    if job is None or job.get("status") == "Failed":
        return {"IsComplete": True}
    if job.get("status") != "Completed":
        return {"IsComplete": False}  # an import still running: its model is deleted once it exists
    model_arn = job.get("importedModelArn")
    if model_arn and _model(model_arn) is not None:
        _delete_model(model_arn)
        return {"IsComplete": _model(model_arn) is None}
    return {"IsComplete": True}
