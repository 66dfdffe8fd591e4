"""Where the constructs' code and weights come from: AWS Deep Learning Container images per region,
private ECR images, S3 objects, and the least-privilege statements to pull them."""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from tiers.props import PropError, parse_ecr_image_uri
from tierwise.facts import containers


def ecr_image_repository_arn(scope: Construct, owner: str, prop: str, uri: str, *,
                             rule: str) -> tuple[re.Match[str], str]:
    """The parsed image URI and the ARN of its repository, for a pull grant on that one repo. The
    image must be in the stack's region when the stack has one (`rule`: which service pulls it,
    a same_region rule of tierwise/data/aws_names.yaml); an environment-agnostic stack cannot
    know, and the service refuses a foreign image at deploy time."""
    region = cdk.Stack.of(scope).region
    if cdk.Token.is_unresolved(region):
        match = parse_ecr_image_uri(owner, prop, uri)
    else:
        match = parse_ecr_image_uri(owner, prop, uri, stack_region=region, rule=rule)
    arn = cdk.Stack.of(scope).format_arn(
        service="ecr", account=match["account"], region=match["region"],
        resource="repository", resource_name=match["repository"],
    )
    return match, arn



def dlc_regions() -> list[str]:
    return sorted(containers().registry.accounts)


def dlc_image_uri(scope: Construct, image: str) -> str:
    """The Deep Learning Container image `image` (a key of tierwise/data/containers.yaml) for the
    stack's region: a plain string when the region is known at synth time, else a lookup in a
    CloudFormation mapping keyed by AWS::Region."""
    spec = containers().image(image)
    accounts = containers().registry.accounts
    stack = cdk.Stack.of(scope)
    region = stack.region
    path = spec.reference
    if not cdk.Token.is_unresolved(region):
        if region not in accounts:
            raise PropError(
                f"no checked Deep Learning Container registry for region {region}; "
                f"supported regions: {', '.join(sorted(accounts))}"
            )
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"{accounts[region]}.dkr.ecr.{region}.{suffix}/{path}"
    mapping = stack.node.try_find_child("DlcRegistry")
    if mapping is None:
        mapping = cdk.CfnMapping(
            stack, "DlcRegistry", mapping={r: {"account": a} for r, a in sorted(accounts.items())}
        )
    account = mapping.find_in_map(cdk.Aws.REGION, "account")
    return f"{account}.dkr.ecr.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}/{path}"


def dlc_repository_arn(scope: Construct, image: str) -> str:
    """ARN of the DLC repository `image` comes from, for a pull permission scoped to it."""
    repository = containers().image(image).repository
    stack = cdk.Stack.of(scope)
    region = stack.region
    if not cdk.Token.is_unresolved(region):
        account = containers().registry.accounts[region]
    else:
        dlc_image_uri(scope, image)  # makes sure the mapping exists
        account = cdk.Fn.find_in_map("DlcRegistry", cdk.Aws.REGION, "account")
    return stack.format_arn(service="ecr", account=account, resource="repository", resource_name=repository)


def ecr_pull_statements(repository_arns: Sequence[str]) -> list[iam.PolicyStatement]:
    """Pull an image from these repositories and nothing else (GetAuthorizationToken has no
    resource-level permission: AWS requires Resource "*" for it)."""
    return [
        iam.PolicyStatement(
            sid="PullModelImage",
            actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=list(repository_arns),
        ),
        iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
    ]


ECR_TOKEN_REASON = (
    "ecr:GetAuthorizationToken supports no resource-level permission (Resource must be *); it only issues a "
    "registry login token, and the image pull itself is limited to the one repository in the statement above"
)


def s3_object_arn(scope: Construct, bucket: str, key: str) -> str:
    return cdk.Stack.of(scope).format_arn(
        service="s3", region="", account="", resource=bucket, resource_name=key,
        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
    )

