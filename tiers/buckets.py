"""The S3 bucket a batch tier keeps its prompts and answers in: encrypted with the construct's
KMS key, TLS only, no public access, objects expiring after the retention the plan assumed, and
marked with what it holds so the cost review prices its objects as the plan did
(tierwise.cost.bills.batch_objects)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from tiers.checkov import BATCH_BUCKET_NO_ACCESS_LOGS, BATCH_BUCKET_NO_VERSIONING, acknowledge_checkov
from tiers.props import check_int
from tiers.security import acknowledge
from tierwise.cost.bills import BUCKET_HOLDS
from tierwise.stack_metadata import KEY as METADATA_KEY

ACCESS_LOGS_REASON = (
    "the bucket holds only the prompts and answers of batch work under keys tierwise generates, for "
    "the days its lifecycle rule keeps them; every access is an IAM-authorized, TLS-only S3 API call that "
    "CloudTrail records (data events when the account turns them on), and server access logs would need a "
    "second bucket, which S3 log delivery cannot encrypt with this bucket's KMS key (SSE-S3 only)"
)


def data_bucket(
    scope: Construct,
    id: str,
    *,
    owner: str,
    key: kms.IKey,
    holds: str,
    retention_days: int,
    removal_policy: cdk.RemovalPolicy,
    marker: Mapping[str, Any] | None = None,
) -> s3.Bucket:
    """A bucket for `holds` (one of tierwise.cost.bills.BUCKET_HOLDS), its objects kept
    `retention_days`; `marker` adds figures the review needs to price it (job record limits)."""
    check_int(owner, "retention_days", retention_days, 1)
    if holds not in BUCKET_HOLDS:
        raise ValueError(f"a batch bucket holds one of {', '.join(BUCKET_HOLDS)} (got {holds!r})")
    bucket = s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,  # one data key per bucket, not one KMS request per object
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="ExpireBatchObjects",
                expiration=cdk.Duration.days(retention_days),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
            )
        ],
        # an empty bucket goes with the stack; one still holding objects stops `cdk destroy`
        # instead of losing them (the lifecycle rule empties it within retention_days)
        removal_policy=removal_policy,
    )
    bucket.node.default_child.add_metadata(METADATA_KEY, {"holds": holds, **(marker or {})})
    acknowledge(bucket, "AwsSolutions-S1", ACCESS_LOGS_REASON)
    acknowledge_checkov(bucket, BATCH_BUCKET_NO_ACCESS_LOGS)
    acknowledge_checkov(bucket, BATCH_BUCKET_NO_VERSIONING)
    return bucket
