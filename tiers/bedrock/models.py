"""ARNs of the Bedrock models and inference profiles the constructs name in policies."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct


from tierwise.contract import base_model_id, is_inference_profile


def bedrock_model_arn(scope: Construct, model_id: str) -> str:
    """The ARN IAM checks when `model_id` is the modelId of a Bedrock call: an ARN as given, a
    system inference profile of this account, or a foundation model (no account in its ARN)."""
    if model_id.startswith("arn:"):
        return model_id
    stack = cdk.Stack.of(scope)
    if is_inference_profile(model_id):
        return stack.format_arn(service="bedrock", resource="inference-profile", resource_name=model_id)
    return stack.format_arn(service="bedrock", account="", resource="foundation-model", resource_name=model_id)


def foundation_model_arns(scope: Construct, model_id: str) -> list[str]:
    """Foundation-model ARNs a call through `model_id` reaches: one region for a model id, every
    region of the geography for a cross-region inference profile (it routes between them)."""
    if model_id.startswith("arn:"):
        return []
    stack = cdk.Stack.of(scope)
    region = "*" if is_inference_profile(model_id) else None
    return [
        stack.format_arn(
            service="bedrock", account="", region=region, resource="foundation-model",
            resource_name=base_model_id(model_id),
        )
    ]
