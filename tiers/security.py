"""The security parts every tier construct shares: a rotating KMS key CloudWatch Logs may use,
encrypted log groups, alarms, resources created after their role's policy, and cdk-nag
acknowledgments with the reason a reviewer reads."""

from __future__ import annotations

import json
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct


def create_key(scope: Construct, id: str, *, description: str) -> kms.Key:
    """A customer managed key with rotation that CloudWatch Logs of this account and region may use."""
    key = kms.Key(
        scope,
        id,
        description=description,
        enable_key_rotation=True,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        pending_window=cdk.Duration.days(7),
    )
    allow_logs(key)
    return key


def grant_key_to_aws_services(grantee: iam.IGrantable, key: kms.IKey, *actions: str, sid: str) -> None:
    """`actions` on `key` for `grantee`, plus kms:CreateGrant only for an AWS service's use of the
    key (kms:GrantIsForAWSResource): the service (SageMaker, Bedrock) creates the grants it needs
    on the caller's behalf, and the caller can never hand the key to another principal."""
    if actions:
        key.grant(grantee, *actions)
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )
    )


def allow_logs(key: kms.IKey) -> None:
    """Let CloudWatch Logs encrypt log groups of this account and region with `key`."""
    if not isinstance(key, kms.Key) or key.node.try_find_child("LogsMayUse") is not None:
        return  # an imported key's policy is its owner's to manage; ours gets the statement once
    stack = cdk.Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogs",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs", resource="log-group", resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    Construct(key, "LogsMayUse")  # marks the key: the statement is there


def log_group(
    scope: Construct,
    id: str,
    *,
    key: kms.IKey,
    retention: logs.RetentionDays,
    removal_policy: cdk.RemovalPolicy,
    name: str | None = None,
) -> logs.LogGroup:
    allow_logs(key)
    group = logs.LogGroup(
        scope, id, log_group_name=name, encryption_key=key, retention=retention, removal_policy=removal_policy
    )
    return group


def after_policies_of(resource: Construct, role: iam.IRole) -> None:
    """Create `resource` only once `role`'s inline policy exists: services check the role's
    permissions when the resource is created (the role itself is already referenced)."""
    policy = role.node.try_find_child("DefaultPolicy") if isinstance(role, iam.Role) else None
    resource.node.add_dependency(policy if policy is not None else role)


def alarm(
    scope: Construct,
    id: str,
    *,
    metric: cloudwatch.Metric,
    threshold: float,
    description: str,
    actions: Sequence[cloudwatch.IAlarmAction],
    comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation_periods: int = 1,
) -> cloudwatch.Alarm:
    made = cloudwatch.Alarm(
        scope,
        id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        comparison_operator=comparison,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    for action in actions:
        made.add_alarm_action(action)
    return made


def nag_resource(scope: Construct, arn: str) -> str:
    """An ARN as cdk-nag spells it in a finding id, e.g. AwsSolutions-IAM5[Resource::<that>]
    (its tokens as <Name>: arn:<AWS::Partition>:s3:::<WeightsBucket>/models/*)."""
    resolved = cdk.Stack.of(scope).resolve(arn)
    if isinstance(resolved, str):
        return resolved
    def text(part: object) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return f"<{part['Ref']}>"
        if "Fn::GetAtt" in part:
            return f"<{'.'.join(part['Fn::GetAtt'])}>"
        return f"<{json.dumps(part)}>"

    return "".join(text(p) for p in resolved.get("Fn::Join", [None, []])[1])


def acknowledge(construct: Construct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `construct` (and its children), with the reason a
    reviewer reads. cdk-nag 3.x wants each finding by its full id, e.g. AwsSolutions-IAM5[Resource::*]."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def acknowledge_wildcard_resource(construct: Construct, arn: str, reason: str) -> None:
    """Acknowledge cdk-nag's AwsSolutions-IAM5 finding on the wildcard resource `arn` (the value,
    usually a token from Stack.format_arn, that the policy statement holds), named as the stack
    renders it: with the partition as a literal `aws` when the app enables
    `@aws-cdk/core:enablePartitionLiterals` (tierwise's cdk.json does) and the region is known,
    as `<AWS::Partition>` when not. Writing the id by hand gets one of the two wrong."""
    acknowledge(construct, f"AwsSolutions-IAM5[Resource::{nag_reference(cdk.Stack.of(construct).resolve(arn))}]", reason)


def nag_reference(value: object) -> str:
    """A resolved CloudFormation value flattened the way cdk-nag names a resource in a finding id
    (cdk-nag's utils/flatten-cfn-reference): Fn::Join joined, Ref as <Name>, Fn::GetAtt as
    <Resource.Attribute>, ${...} of Fn::Sub as <...>, anything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(nag_reference(item) for item in items)
        if "Fn::Sub" in value:
            return nag_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{nag_reference(resource)}.{nag_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return nag_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{nag_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


# --- how to call what was deployed -----------------------------------------------------------

# a first request for each runtime, used in the "how to invoke" outputs
