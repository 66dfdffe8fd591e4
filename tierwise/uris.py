"""The references a user hands tierwise (an S3 object, an S3 folder of model files, a private ECR
image, a Secrets Manager secret, an SNS topic, a KMS key), recognised the same way by the CDK app's context checks
(stacks/app_context.py) and by the constructs' props (tiers/props.py).

Each check returns what it accepted or raises UriProblem with the reason, in words; the caller
puts the option's name in front (`-c model_uri: ...`, `LambdaGgufEndpoint: model_uri ...`). A
reference is refused when it cannot work where the stack deploys: an image in another region
(Lambda and SageMaker pull only from their own), a secret or topic in another region or
partition, a prefix where an object is needed. Naming rules and the same-region rules are
sourced facts (tierwise/data/aws_names.yaml); regions and partitions come from botocore.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from tierwise.facts import aws_names
from tierwise.validate import region_partition, shown


class UriProblem(ValueError):
    """Why a reference cannot be used, as a phrase the caller prefixes with the option's name."""


# s3://BUCKET/KEY, split loosely: the bucket's and the key's own rules are checked in words
S3_URI = re.compile(r"s3://(?P<bucket>[^/]*)/(?P<key>.*)", re.DOTALL)
# a private ECR image by tag or digest; the domain is checked against the region's partition
ECR_IMAGE_URI = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<domain>[a-z0-9.-]+)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::(?P<tag>[\w.-]{1,128})|@(?P<digest>sha256:[0-9a-f]{64}))"
)
ARN = re.compile(r"arn:(?P<partition>[a-z0-9-]+):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
                 r"(?P<account>\d{12}):(?P<resource>.+)", re.DOTALL)


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not an S3 bucket name S3 accepts today, or None."""
    rule = aws_names().s3_bucket
    if not rule.length_min <= len(name) <= rule.length_max:
        return f"a bucket name has {rule.length_min} to {rule.length_max} characters (got {len(name)})"
    if not re.fullmatch(rule.pattern, name):
        return f"a bucket name has {rule.characters} only, and starts and ends with a letter or digit"
    if rule.no_adjacent_periods and ".." in name:
        return "a bucket name has no two adjacent periods"
    if rule.no_ip_address:
        try:
            ipaddress.IPv4Address(name)
            return "a bucket name is not formatted as an IP address"
        except ValueError:
            pass
    for prefix in rule.reserved_prefixes:
        if name.startswith(prefix):
            return f"bucket names starting with {prefix} are reserved by S3"
    for suffix in rule.reserved_suffixes:
        if name.endswith(suffix):
            return f"bucket names ending with {suffix} are reserved by S3"
    return None


def s3_object(uri: str, *, suffix: str | None = None) -> tuple[str, str]:
    """(bucket, key) of one S3 object, s3://BUCKET/KEY; `suffix` (e.g. '.gguf') is the kind of
    file the key must name."""
    match = S3_URI.fullmatch(uri or "")
    if not match:
        raise UriProblem(f"{shown(uri, 80)!r} is not s3://BUCKET/KEY")
    bucket, key = match["bucket"], match["key"]
    problem = bucket_name_problem(bucket)
    if problem:
        raise UriProblem(f"{shown(uri, 80)!r} names bucket {shown(bucket, 80)!r}, but {problem} "
                         f"({aws_names().s3_bucket.source})")
    if not key or key.endswith("/"):
        raise UriProblem(f"{shown(uri, 80)!r} is a prefix, not an object: name the file itself, s3://{bucket}/path/file"
                         + (suffix or ""))
    if suffix is not None and not key.lower().endswith(suffix):
        raise UriProblem(f"{shown(uri, 80)!r} does not name a {suffix} file")
    return bucket, key


def _region_known(region: str, what: str) -> tuple[str, str]:
    try:
        return region_partition(region)
    except KeyError:
        raise UriProblem(f"{what} names region {shown(region)!r}, which is not an AWS region") from None


def _same_region(found: str, stack_region: str | None, rule: str, what: str) -> None:
    """The referenced resource's region against the stack's (None: the stack is not pinned)."""
    fact = aws_names().region_rule(rule)
    if stack_region is None:
        raise UriProblem(f"{what} is in {found}, and {fact.rule}: pin the stack there with -c region={found}")
    if found != stack_region:
        raise UriProblem(f"{what} is in {found}, the stack in {stack_region}: {fact.rule} ({fact.source})")


def ecr_image(uri: str, *, stack_region: str | None, rule: str | None) -> re.Match[str]:
    """A private ECR image the stack's compute can pull: a real region, the domain of that
    region's partition, and (`rule`, a same_region rule of aws_names.yaml; None: not checked yet)
    the stack's region."""
    match = ECR_IMAGE_URI.fullmatch(uri or "")
    if not match:
        raise UriProblem(f"an ECR image, ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG or @sha256:DIGEST "
                         f"(got {shown(uri, 80)!r})")
    region = match["region"]
    partition, domain = _region_known(region, "the image")
    if match["domain"] != domain:
        raise UriProblem(f"the image's domain {match['domain']} is not {domain}, the domain of {region} "
                         f"(partition {partition})")
    if rule is not None:
        _same_region(region, stack_region, rule, "the image")
    return match


@dataclass(frozen=True)
class SecretRef:
    """A Secrets Manager secret, by name or by its full ARN (never one turned into the other)."""

    name: str | None = None
    arn: str | None = None


def secret(value: str, *, stack_region: str | None) -> SecretRef:
    """A secret's name, or its full ARN (arn:...:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX) in
    the stack's region and partition."""
    rule = aws_names().secrets_manager_secret
    text = str(value)
    if text.startswith("arn:"):
        match = ARN.fullmatch(text)
        if not match or match["service"] != "secretsmanager" or not match["resource"].startswith("secret:"):
            raise UriProblem(f"{shown(text, 80)!r} is not a Secrets Manager secret ARN, "
                             "arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX")
        name = match["resource"][len("secret:"):]
        tail = rule.arn_suffix_characters
        if not re.fullmatch(rf".+-[A-Za-z0-9]{{{tail}}}", name) or not re.fullmatch(rule.pattern, name):
            raise UriProblem(f"{shown(text, 80)!r} is not a complete secret ARN: it ends with the name, a hyphen and "
                             f"the {tail} characters Secrets Manager adds (copy it from the console or "
                             "describe-secret), or give the secret's name instead")
        partition, _ = _region_known(match["region"], "the secret ARN")
        if match["partition"] != partition:
            raise UriProblem(f"the secret ARN says partition {match['partition']}, but {match['region']} is in "
                             f"{partition}")
        if stack_region is None:
            raise UriProblem(f"the secret is in {match['region']}: pin the stack there with -c region={match['region']}, "
                             "or give the secret's name")
        if match["region"] != stack_region:
            raise UriProblem(f"the secret is in {match['region']}, the stack in {stack_region}: give a secret of "
                             f"{stack_region} (by name or ARN)")
        return SecretRef(arn=text)
    maximum = _secret_name_max()
    if not (1 <= len(text) <= maximum and re.fullmatch(rule.pattern, text)):
        raise UriProblem(f"a secret's name ({rule.characters}, 1 to {maximum} characters) or its full ARN "
                         f"(got {shown(text, 80)!r}; {rule.source})")
    return SecretRef(name=text)


def _secret_name_max() -> int:
    # the bound Secrets Manager's API model declares for a name (botocore, shipped with boto3)
    from botocore.loaders import create_loader

    return int(create_loader().load_service_model("secretsmanager", "service-2")["shapes"]["NameType"]["max"])


def sns_topic_arn(value: str, *, stack_region: str | None) -> str:
    """An SNS topic ARN that alarms of the stack can notify: the stack's region and partition."""
    rule = aws_names().sns_topic
    text = str(value)
    match = ARN.fullmatch(text)
    if not match or match["service"] != "sns":
        raise UriProblem(f"an SNS topic ARN, arn:PARTITION:sns:REGION:ACCOUNT:TOPIC (got {shown(text, 80)!r})")
    topic = match["resource"]
    if not (rule.length_min <= len(topic) <= rule.length_max and re.fullmatch(rule.pattern, topic)):
        raise UriProblem(f"{shown(topic, 80)!r} is not a topic name: {rule.characters}, {rule.length_min} to "
                         f"{rule.length_max} characters ({rule.source})")
    partition, _ = _region_known(match["region"], "the topic ARN")
    if match["partition"] != partition:
        raise UriProblem(f"the topic ARN says partition {match['partition']}, but {match['region']} is in {partition}")
    _same_region(match["region"], stack_region, "alarm_action", "the topic")
    return text


# a "folder" of objects: a bucket and a non-empty key prefix ending in "/", in S3's safe key
# characters (no "*": the prefix goes into IAM resource ARNs, where it would be a wildcard)
S3_PREFIX_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<prefix>(?:[A-Za-z0-9!_.'()=+-]+/)+)")
# a KMS key by its ARN (an alias would not name the key a policy can be scoped to)
KMS_KEY_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{36}")


__all__ = ["ARN", "ECR_IMAGE_URI", "KMS_KEY_ARN", "S3_PREFIX_URI", "S3_URI", "SecretRef", "UriProblem",
           "bucket_name_problem", "ecr_image", "s3_object", "secret", "sns_topic_arn"]
