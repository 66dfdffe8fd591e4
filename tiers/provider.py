"""What a tier's Provider-framework custom resource is built from, for the resources CloudFormation
has no type for (Bedrock provisioned throughput, a Bedrock model import): a handler function per
step with a role of exactly its statements and an encrypted log group, the aws-cdk-lib Provider
with framework roles limited to their log group, the stack's tags as a property the handler
applies, and the scanner acknowledgments of what the framework adds itself.

Everything is created in the calling construct's own scope under the ids given, so a construct
that moves here keeps its logical ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jsii

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from tiers.checkov import (
    PROVIDER_NO_DLQ,
    PROVIDER_NO_RESERVED_CONCURRENCY,
    PROVIDER_NO_VPC,
    acknowledge_checkov,
)
from tiers.security import acknowledge, after_policies_of, log_group

HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14


def handler_function(
    scope: Construct,
    id: str,
    handler: str,
    code: lambda_.Code,
    *,
    key: kms.IKey,
    log_retention: logs.RetentionDays,
    removal_policy: cdk.RemovalPolicy,
    statements: Sequence[iam.PolicyStatement],
    role_description: str,
    description: str,
) -> lambda_.Function:
    """`{id}Handler`, running as `{id}Role` (its own log group and `statements`, nothing else)."""
    logs_group = log_group(scope, f"{id}Logs", key=key, retention=log_retention, removal_policy=removal_policy)
    role = _function_role(scope, f"{id}Role", role_description, logs_group, sid="WriteOwnLogs")
    for statement in statements:
        role.add_to_policy(statement)
    function = lambda_.Function(
        scope,
        f"{id}Handler",
        runtime=HANDLER_RUNTIME,
        handler=handler,
        code=code,
        timeout=cdk.Duration.minutes(1),
        memory_size=256,
        role=role,
        log_group=logs_group,
        environment_encryption=key,
        description=description,
    )
    after_policies_of(function, role)
    return function


def _function_role(scope: Construct, id: str, description: str, logs_group: logs.ILogGroup, *, sid: str) -> iam.Role:
    """A Lambda function's role that may write `logs_group` and nothing else (yet)."""
    role = iam.Role(scope, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)
    role.add_to_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[logs_group.log_group_arn],
        )
    )
    return role


def provider(
    scope: Construct,
    *,
    on_event: lambda_.IFunction,
    is_complete: lambda_.IFunction,
    key: kms.IKey,
    log_retention: logs.RetentionDays,
    removal_policy: cdk.RemovalPolicy,
    total_timeout: cdk.Duration,
    framework_description: str,
) -> tuple[cr.Provider, list[iam.Role]]:
    """The Provider (`Provider`) polling `is_complete` once a minute, its framework functions
    running as roles of their own (`FrameworkOnEventRole`, `FrameworkWaiterRole`) that may only
    write the provider's log group, instead of the AWS managed basic execution policy."""
    provider_logs = log_group(scope, "ProviderLogs", key=key, retention=log_retention, removal_policy=removal_policy)
    roles = {}
    for prop, name in (("framework_on_event_role", "OnEvent"), ("framework_complete_and_timeout_role", "Waiter")):
        roles[prop] = _function_role(scope, f"Framework{name}Role", framework_description, provider_logs,
                                     sid="WriteProviderLogs")
    made = cr.Provider(
        scope,
        "Provider",
        on_event_handler=on_event,
        is_complete_handler=is_complete,
        **roles,
        query_interval=cdk.Duration.minutes(1),
        total_timeout=total_timeout,
        log_group=provider_logs,
        provider_function_env_encryption=key,
        # Step Functions' log delivery needs logs:PutResourcePolicy, CreateLogDelivery... on
        # Resource *, none of which takes a resource-level permission; the waiter only invokes
        # the framework's isComplete function once a minute, and that function and the
        # handler it calls each log every poll to their own encrypted log group
        disable_waiter_state_machine_logging=True,
    )
    return made, list(roles.values())


def acknowledge_provider(made: cr.Provider, framework_roles: Iterable[iam.Role],
                         handlers: Sequence[lambda_.Function]) -> None:
    """The findings the Provider framework's own statements raise, each acknowledged where it
    arises with why it is acceptable."""
    framework = [made.node.find_child(f) for f in ("framework-onEvent", "framework-isComplete", "framework-onTimeout")]
    for function in [*handlers, *framework]:
        for finding in (PROVIDER_NO_DLQ, PROVIDER_NO_VPC, PROVIDER_NO_RESERVED_CONCURRENCY):
            acknowledge_checkov(function, finding)
    waiter = made.node.find_child("waiter-state-machine")
    for role in framework_roles:
        for handler in handlers:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{logical_id(handler)}.Arn>:*]",
                "the Provider framework invokes the tierwise handler by ARN and by its versions and aliases "
                "(ARN:*); the statement names only the two handler functions of this resource",
            )
    for function in ("framework-isComplete", "framework-onTimeout"):
        acknowledge(
            waiter,
            f"AwsSolutions-IAM5[Resource::<{logical_id(made.node.find_child(function))}.Arn>:*]",
            "the waiter state machine invokes the framework's own polling functions by ARN and by version "
            "(ARN:*); only those functions are named",
        )
    acknowledge(
        waiter,
        "AwsSolutions-SF1",
        "the waiter only invokes the framework's isComplete function once a minute; that function and the "
        "tierwise handler it calls log every poll to their own KMS-encrypted log groups, and state machine "
        "logging would need logs:PutResourcePolicy and the log-delivery actions on Resource * (no "
        "resource-level permission exists for them)",
    )
    acknowledge(
        waiter,
        "AwsSolutions-SF2",
        "the Provider framework's waiter state machine has no X-Ray option; it only polls isComplete once a "
        "minute, and each poll is logged by the functions it invokes",
    )


@jsii.implements(cdk.IStableAnyProducer)
class StackTags:
    """The tags Tags.of(...) gave the stack and a taggable resource beside the custom resource,
    merged with extra ones, as [{Key, Value}], produced at synth time after the tag aspects ran (a
    custom resource takes no tags from Tags.of(...): its handler applies these). The sibling
    counts because with @aws-cdk/core:explicitStackTags the stack itself keeps none."""

    def __init__(self, stack: cdk.Stack, extra: dict[str, str], sibling: cdk.CfnResource | None = None) -> None:
        self._stack, self._extra, self._sibling = stack, extra, sibling

    def produce(self) -> list[dict[str, str]]:
        sibling = self._sibling.tags.tag_values() if self._sibling is not None else {}
        merged = {**self._stack.tags.tag_values(), **sibling, **self._extra}
        return [{"Key": k, "Value": v} for k, v in sorted(merged.items())]


def logical_id(construct: Construct) -> str:
    return cdk.Stack.of(construct).get_logical_id(construct.node.default_child)  # type: ignore[arg-type]


def region_text(scope: Construct) -> str:
    """The stack's region as cdk-nag spells it in a finding id."""
    region = cdk.Stack.of(scope).region
    return "<AWS::Region>" if cdk.Token.is_unresolved(region) else region
