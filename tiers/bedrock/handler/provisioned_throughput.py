"""Custom resource handler for Custom::BedrockProvisionedThroughput (CDK Provider framework).

CloudFormation has no resource for Bedrock provisioned throughput, so this handler makes one:
``on_event`` starts the work (create, update, delete) and returns at once; ``is_complete`` is
polled by the framework until the provisioned model is InService (or gone, on delete).

Resource properties (docs/CONTRACTS.md): ModelId, ModelUnits, CommitmentDuration (absent for
no commitment, else OneMonth or SixMonths), ProvisionedModelName, and optionally Tags (a list
of {Key, Value}). CloudFormation hands every property over as a string.
Physical id and attribute ProvisionedModelArn: the provisioned model's ARN.

Every failure is raised as ProvisioningError with one line a person can act on: the framework
reports it to CloudFormation as the resource's status reason.

Bedrock cannot change the model units or the commitment of a provisioned model in place
(UpdateProvisionedModelThroughput changes only its name and, for custom models, the model),
so such an update creates a new one; CloudFormation then deletes the old one.
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

COMMITMENTS = ("OneMonth", "SixMonths")
# the tag the construct scopes this handler's rights by (tiers/bedrock/provisioned.py OWNER_TAG)
OWNER_TAG = "tierwise:owner"
NAME_MAX = 63
_client = None


class ProvisioningError(Exception):
    """The one-line reason CloudFormation shows for a failed provisioned throughput."""


def bedrock():
    """The Bedrock control-plane client (created once per execution environment)."""
    global _client
    if _client is None:
        _client = boto3.client("bedrock", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return _client


@dataclass(frozen=True)
class Request:
    model_id: str
    model_units: int
    commitment: str | None
    name: str
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> "Request":
        model_id = str(props.get("ModelId") or "").strip()
        if not model_id:
            raise ProvisioningError("ModelId is required: the Bedrock model id or ARN to provision throughput for")
        try:
            units = int(str(props.get("ModelUnits", "")).strip())
        except ValueError:
            units = 0
        if units < 1:
            raise ProvisioningError(f"ModelUnits must be a whole number >= 1 (got {props.get('ModelUnits')!r})")
        commitment = props.get("CommitmentDuration") or None
        if commitment is not None and commitment not in COMMITMENTS:
            raise ProvisioningError(
                f"CommitmentDuration must be absent (no commitment), OneMonth or SixMonths (got {commitment!r})"
            )
        name = str(props.get("ProvisionedModelName") or "").strip()
        if not re.fullmatch(r"([0-9a-zA-Z][_-]?)+", name) or len(name) > NAME_MAX:
            raise ProvisioningError(
                f"ProvisionedModelName must be 1-{NAME_MAX} letters, digits, '-' or '_' starting with a letter or "
                f"digit (got {name!r})"
            )
        tags = {str(t["Key"]): str(t["Value"]) for t in props.get("Tags") or []}
        return cls(model_id=model_id, model_units=units, commitment=commitment, name=name, tags=tags)

    def replaces(self, old: "Request") -> bool:
        """Bedrock cannot change these in place."""
        return (self.model_id, self.model_units, self.commitment) != (old.model_id, old.model_units, old.commitment)


def _is_provisioned_arn(physical_id: str | None) -> bool:
    return bool(physical_id) and ":provisioned-model/" in physical_id


def _replacement_name(name: str, request_id: str) -> str:
    # the old provisioned model keeps its name until CloudFormation deletes it afterwards
    suffix = hashlib.sha256(request_id.encode()).hexdigest()[:8]
    return f"{name[: NAME_MAX - len(suffix) - 1].rstrip('-_')}-{suffix}"


def _explain(exc: ClientError, action: str, request: Request | None = None, physical_id: str | None = None) -> ProvisioningError:
    code = exc.response.get("Error", {}).get("Code", "Error")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    model = request.model_id if request else physical_id
    if code == "ServiceQuotaExceededException":
        units = f"{request.model_units} model unit(s)" if request else "model units"
        return ProvisioningError(
            f"{action} failed: the account's provisioned-throughput quota cannot cover {units} for {model} "
            f"({message}). Ask for more model units in Service Quotas (Amazon Bedrock) or delete unused "
            f"provisioned throughput."
        )
    if code == "AccessDeniedException" and action != "create":
        return ProvisioningError(
            f"{action} failed: access denied for {model} ({message}). The handler may read, change and delete only "
            f"provisioned models tagged {OWNER_TAG} with this resource's value (its Tags property); a model created "
            f"without that tag must be tagged first, or managed outside this stack."
        )
    if code == "AccessDeniedException":
        return ProvisioningError(
            f"{action} failed: access denied for {model} ({message}). Enable access to the model on the Bedrock "
            f"console's Model access page, and check that no policy denies the handler's role this call."
        )
    if code in ("ValidationException", "ResourceNotFoundException") and action == "create":
        return ProvisioningError(
            f"create failed: {model} cannot be given provisioned throughput in {os.environ.get('AWS_REGION', 'this region')} "
            f"({message}). Check that the model supports provisioned throughput here and that the id names a "
            f"provisionable variant."
        )
    if code == "ThrottlingException":
        return ProvisioningError(f"{action} failed: Bedrock throttled the request ({message}); deploy again in a minute.")
    return ProvisioningError(f"{action} failed: {code}: {message}")


def _create(request: Request, request_id: str, name: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "clientRequestToken": request_id,  # CloudFormation retries the same request id: no duplicate
        "modelUnits": request.model_units,
        "provisionedModelName": name,
        "modelId": request.model_id,
    }
    if request.commitment:
        params["commitmentDuration"] = request.commitment
    if request.tags:
        params["tags"] = [{"key": k, "value": v} for k, v in sorted(request.tags.items())]
    try:
        arn = bedrock().create_provisioned_model_throughput(**params)["provisionedModelArn"]
    except ClientError as exc:
        raise _explain(exc, "create", request) from None
    log.info("creating provisioned throughput %s: %s x %s", arn, request.model_units, request.model_id)
    return {"PhysicalResourceId": arn, "Data": {"ProvisionedModelArn": arn}}


def _retag(arn: str, old: Request, new: Request) -> None:
    try:
        removed = sorted(set(old.tags) - set(new.tags))
        if removed:
            bedrock().untag_resource(resourceARN=arn, tagKeys=removed)
        if new.tags and new.tags != old.tags:
            bedrock().tag_resource(resourceARN=arn, tags=[{"key": k, "value": v} for k, v in sorted(new.tags.items())])
    except ClientError as exc:
        raise _explain(exc, "tag", new, arn) from None


def _delete(physical_id: str) -> dict[str, Any]:
    if not _is_provisioned_arn(physical_id):
        # the create never got as far as Bedrock: nothing to delete
        return {"PhysicalResourceId": physical_id}
    try:
        bedrock().delete_provisioned_model_throughput(provisionedModelId=physical_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            return {"PhysicalResourceId": physical_id}
        if code in ("ValidationException", "ConflictException"):
            raise ProvisioningError(_delete_refused(physical_id, exc)) from None
        raise _explain(exc, "delete", physical_id=physical_id) from None
    log.info("deleting provisioned throughput %s", physical_id)
    return {"PhysicalResourceId": physical_id}


def _delete_refused(physical_id: str, exc: ClientError) -> str:
    message = exc.response.get("Error", {}).get("Message", str(exc))
    try:
        current = bedrock().get_provisioned_model_throughput(provisionedModelId=physical_id)
    except ClientError:
        current = {}
    if current.get("commitmentDuration"):
        return (
            f"delete refused: {physical_id} has a {current['commitmentDuration']} commitment that ends "
            f"{current.get('commitmentExpirationTime', 'later')}; it cannot be deleted (and bills) until then "
            f"({message}). Retain it in CloudFormation and delete it after the term."
        )
    return f"delete refused for {physical_id}: {message}"


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    kind = event["RequestType"]
    log.info("%s %s", kind, event.get("LogicalResourceId"))
    if kind == "Delete":
        return _delete(event["PhysicalResourceId"])
    request = Request.from_properties(event["ResourceProperties"])
    if kind == "Create":
        return _create(request, event["RequestId"], request.name)
    if kind != "Update":
        raise ProvisioningError(f"unknown request type {kind!r}")
    physical_id = event["PhysicalResourceId"]
    old = Request.from_properties(event.get("OldResourceProperties") or {})
    if request.replaces(old) or not _is_provisioned_arn(physical_id):
        name = request.name if request.name != old.name else _replacement_name(request.name, event["RequestId"])
        return _create(request, event["RequestId"], name)
    if request.name != old.name:
        try:
            bedrock().update_provisioned_model_throughput(provisionedModelId=physical_id, desiredProvisionedModelName=request.name)
        except ClientError as exc:
            raise _explain(exc, "update", request, physical_id) from None
    if request.tags != old.tags:
        _retag(physical_id, old, request)
    return {"PhysicalResourceId": physical_id, "Data": {"ProvisionedModelArn": physical_id}}


def is_complete(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    physical_id = event["PhysicalResourceId"]
    if event["RequestType"] == "Delete":
        if not _is_provisioned_arn(physical_id):
            return {"IsComplete": True}
        try:
            bedrock().get_provisioned_model_throughput(provisionedModelId=physical_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return {"IsComplete": True}
            raise _explain(exc, "delete", physical_id=physical_id) from None
        return {"IsComplete": False}
    try:
        current = bedrock().get_provisioned_model_throughput(provisionedModelId=physical_id)
    except ClientError as exc:
        raise _explain(exc, "wait", physical_id=physical_id) from None
    status = current.get("status")
    if status == "InService":
        return {
            "IsComplete": True,
            "Data": {"ProvisionedModelArn": current.get("provisionedModelArn", physical_id)},
        }
    if status == "Failed":
        raise ProvisioningError(
            f"provisioned throughput {physical_id} failed: {current.get('failureMessage') or 'Bedrock gave no reason'}"
        )
    log.info("%s is %s (%s of %s model units)", physical_id, status, current.get("modelUnits"), current.get("desiredModelUnits"))
    return {"IsComplete": False}
