"""The URIs a user hands tierwise (an S3 object, an S3 folder of model files, a private ECR image,
a KMS key), recognised the same way by
the CDK app's context checks (stacks/app_context.py) and by the constructs' props (tiers/props.py)."""

from __future__ import annotations

import re

# a bucket name as S3 allows it (3-63 lower-case letters, digits, dots, hyphens) and an object key
S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.+)")
# a private ECR image by tag or digest, in any partition's domain
ECR_IMAGE_URI = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::(?P<tag>[\w.-]{1,128})|@(?P<digest>sha256:[0-9a-f]{64}))"
)
# a "folder" of objects: a bucket and a non-empty key prefix ending in "/", in S3's safe key
# characters (no "*": the prefix goes into IAM resource ARNs, where it would be a wildcard)
S3_PREFIX_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<prefix>(?:[A-Za-z0-9!_.'()=+-]+/)+)")
# a KMS key by its ARN (an alias would not name the key a policy can be scoped to)
KMS_KEY_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{36}")
