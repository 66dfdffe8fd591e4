"""BedrockOnDemand: a foundation model Bedrock serves on demand, reached through an application
inference profile of ours so that its spend carries the stack's cost-allocation tags."""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_iam as iam
from constructs import Construct

from tiers.bedrock.models import bedrock_model_arn, foundation_model_arns
from tiers.construct_base import ForPlacement, TierOptions, converse_command
from tiers.props import PropError, check_text
from tierwise.tiers import bedrock_on_demand

NAME_MAX = 64


class BedrockOnDemand(ForPlacement, Construct):
    """No capacity of ours: Bedrock bills per token. The application inference profile copies
    ``model_id`` (a foundation model, or a cross-region system inference profile such as
    ``us.anthropic...``); invoking the profile's ARN instead of the model id puts the calls
    under the profile's tags in Cost Explorer. Deploying needs Bedrock model access for the
    model. ``grant_invoke(grantee)`` allows inference through the profile
    (tiers/bedrock/README.md). Props (all keyword):

    - ``model_id``: a foundation model id, a system inference profile id (``us.``, ``eu.``,
      ``apac.``, ``jp.``, ``au.``, ``ca.``, ``us-gov.``, ``global.``) or an ARN. Required.
    - ``profile_name``: the application inference profile's name, 1-64 characters.
      Default: generated from the construct path (unique in the account and region).
    - ``description``: the profile's description. Default: ``"tierwise: on-demand <model_id>"``.
    - ``options``: a ``tiers.TierOptions``; it has nothing to set here (no key, role, logs or
      alarms of its own), so only the default is accepted. Default: ``TierOptions()``.

    Attributes: ``cfn_inference_profile`` (the AWS::Bedrock::ApplicationInferenceProfile, also the
    default child), ``inference_profile_arn``, ``model_id``.
    """

    TIER = bedrock_on_demand.ID

    @classmethod
    def props_for_placement(cls, placement, **props) -> dict:
        return {"model_id": placement.settings.model_id, **props}

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        model_id: str,
        profile_name: str | None = None,
        description: str | None = None,
        options: TierOptions | None = None,
    ) -> None:
        owner = type(self).__name__
        TierOptions.checked(owner, options, uses=())
        super().__init__(scope, id)
        check_text(owner, "model_id", model_id, r"[\w.:/-]+", "a Bedrock model id, inference profile id or ARN")
        if description is not None:
            check_text(owner, "description", description, r"[^\n]{1,200}", "one line of text, at most 200 characters")
        name = profile_name or re.sub(r"-{2,}", "-", cdk.Names.unique_resource_name(self, max_length=NAME_MAX, separator="-"))
        if not re.fullmatch(r"([0-9a-zA-Z:.][ _-]?)+", name) or len(name) > NAME_MAX:
            raise PropError(f"{owner}: profile_name must be 1-{NAME_MAX} letters, digits, '.', ':', ' ', '-' or '_' (got {name!r})")
        self.model_id = model_id
        self.cfn_inference_profile = bedrock.CfnApplicationInferenceProfile(
            self,
            "Resource",
            inference_profile_name=name,
            description=description or f"tierwise: on-demand {model_id}",
            model_source=bedrock.CfnApplicationInferenceProfile.InferenceProfileModelSourceProperty(
                copy_from=bedrock_model_arn(self, model_id)
            ),
        )
        self.inference_profile_arn = self.cfn_inference_profile.attr_inference_profile_arn

    def outputs(self) -> dict[str, tuple[str, str]]:
        return {
            "InferenceProfileArn": (self.inference_profile_arn,
                                    "pass it as modelId so that the spend carries this stack's tags"),
            "InvokeCommand": (converse_command(self.inference_profile_arn),
                              "call the model (boto3: bedrock-runtime converse with the same arguments)"),
        }

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` run inference through the profile. IAM checks the profile and the
        model(s) it routes to, so both are in the statement."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            resource_arns=[self.inference_profile_arn, bedrock_model_arn(self, self.model_id), *foundation_model_arns(self, self.model_id)],
        )
