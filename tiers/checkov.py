"""checkov acknowledgments: the one place that writes ``Metadata.checkov.skip`` on a resource.

checkov (bridgecrewio/checkov) reads suppressions from a CloudFormation resource's metadata::

    "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_116", "comment": "why"}]}}

A construct calls ``acknowledge_checkov`` only where the finding is true *and* the reason holds
for that resource (e.g. no VPC acknowledgment on a function that is placed in a VPC); the
reasons live here, once, so a reviewer reads every justification in one file.
tests/stacks/test_checkov.py fails on a finding without one, and on an acknowledgment that
answers no finding.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

METADATA_KEY = "checkov"

# check id -> why tierwise's resource may fail it. Each names the fact it rests on; the AWS pages
# cited were read on 2026-12-01 (Lambda API DeadLetterConfig, Lambda configuration-concurrency,
# SageMaker serverless-endpoints "Feature exclusions").
LAMBDA_NO_DLQ = (
    "CKV_AWS_116",
    "a Lambda dead-letter queue only receives events of asynchronous invocations (Lambda API "
    "DeadLetterConfig: 'the dead-letter queue for failed asynchronous invocations'); this function answers "
    "chat requests synchronously, through its IAM-auth Function URL or a RequestResponse Invoke, so the caller "
    "gets the error itself and the ErrorsAlarm counts it; an asynchronous call would have nowhere to return "
    "the completion to, so no event is worth keeping",
)
LAMBDA_NO_VPC = (
    "CKV_AWS_117",
    "the function is placed in a VPC when the deployer asks for it (-c vpc_id=..., tiers/network.py); "
    "without one it calls no private resource: llama.cpp runs on a model baked into its image or read once "
    "from its own S3 object, and callers reach it only through IAM-signed requests",
)
LAMBDA_NO_RESERVED_CONCURRENCY = (
    "CKV_AWS_115",
    "reserved concurrency is set when the plan or the deployer asks for it (settings.reserved_concurrency); "
    "by default none: Lambda lets a function reserve only the account's unreserved concurrency minus 100 "
    "(docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html), so on an account with the new-account "
    "limit of 10 any reservation fails the deploy; the ThrottlesAlarm reports throttling instead",
)
SAGEMAKER_SERVERLESS_NO_ISOLATION = (
    "CKV_AWS_370",
    "SageMaker Serverless Inference does not support network isolation (nor VPC configuration): both are in "
    "its documented feature exclusions (docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html)",
)
SAGEMAKER_HUB_DOWNLOAD_NO_ISOLATION = (
    "CKV_AWS_370",
    "the serving container downloads the model from the Hugging Face Hub at start-up (HF_MODEL_ID), which "
    "network isolation forbids: an isolated container can make no outbound call at all; in a VPC its "
    "subnets route the download through the deployer's NAT (tiers/network.py)",
)


def acknowledge_checkov(construct: Construct, finding: tuple[str, str]) -> None:
    """Skip checkov check ``finding[0]`` on ``construct``'s CloudFormation resource (the
    construct itself, or its default child), with ``finding[1]`` as the comment."""
    check_id, reason = finding
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path}: no CloudFormation resource to acknowledge {check_id} on")
    current = resource.get_metadata(METADATA_KEY) or {}
    skips = [s for s in current.get("skip", []) if s["id"] != check_id]
    skips.append({"id": check_id, "comment": reason})
    resource.add_metadata(METADATA_KEY, {**current, "skip": skips})

# The custom resources' functions (tiers/provider.py: Bedrock provisioned throughput, Bedrock
# model import): their two handlers and the aws-cdk-lib Provider framework's onEvent, isComplete
# and onTimeout.
PROVIDER_NO_DLQ = (
    "CKV_AWS_116",
    "a custom-resource provider function runs only inside a CloudFormation stack operation: the framework "
    "answers every failure to CloudFormation itself (FAILED on the pre-signed response URL), which shows it as "
    "the stack event; an event parked in a dead-letter queue could no longer be answered once the operation ended",
)
PROVIDER_NO_VPC = (
    "CKV_AWS_117",
    "the provider functions call only public AWS APIs (Bedrock's control plane: provisioned throughput or "
    "model import; Step Functions; CloudFormation's pre-signed S3 response URL) and reach no private resource, "
    "so a VPC would add network interfaces and endpoints without protecting anything",
)
PROVIDER_NO_RESERVED_CONCURRENCY = (
    "CKV_AWS_115",
    "the provider functions run once per stack operation on this one resource (the waiter polls once a "
    "minute), so they never compete for concurrency; a reservation would fail on accounts at the new-account "
    "limit of 10, because Lambda always keeps 100 executions unreserved",
)
# The buckets of the batch tiers (tiers/buckets.py): prompts and answers of batch work.
BATCH_BUCKET_NO_ACCESS_LOGS = (
    "CKV_AWS_18",
    "the bucket holds only batch prompts and answers, under keys tierwise or the service generates, for the "
    "days its lifecycle rule keeps them; every access is an IAM-authorized, TLS-only S3 API call that CloudTrail "
    "records, and server access logs would need a second bucket that S3 log delivery cannot encrypt with the "
    "bucket's KMS key (it takes SSE-S3 only)",
)
BATCH_BUCKET_NO_VERSIONING = (
    "CKV_AWS_21",
    "every object is written once under a key that is never reused (a job's input file and results under the "
    "job's name, an asynchronous request and its answer under their own ids) and expires by the lifecycle "
    "rule; versioning would only keep expired prompts and answers past the retention the stack promises",
)
