"""One CDK construct per tier (DESIGN.md calls this folder `constructs/`; a package by that name
would shadow the `constructs` library every CDK module imports).

Each construct stands on its own in any CDK app: keyword props with sound defaults, an
optional existing key or role, ``grant_invoke(grantee)``, the main CloudFormation resource as
its default child. The constructs are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tierwise.contract import Tier

_WHERE = {
    "LambdaGgufEndpoint": "tiers.lambda_gguf.construct",
    "SageMakerServerlessEndpoint": "tiers.sagemaker_serverless",
    "SageMakerGpuEndpoint": "tiers.sagemaker_gpu",
    "BedrockProvisionedThroughput": "tiers.bedrock.provisioned",
    "BedrockOnDemand": "tiers.bedrock.on_demand",
}
# the one tier -> construct registry (tierwise.contract.Tier names the tiers)
TIER_CONSTRUCTS = {
    Tier.LAMBDA_GGUF: "LambdaGgufEndpoint",
    Tier.SAGEMAKER_SERVERLESS: "SageMakerServerlessEndpoint",
    Tier.SAGEMAKER_GPU: "SageMakerGpuEndpoint",
    Tier.BEDROCK_PROVISIONED: "BedrockProvisionedThroughput",
    Tier.BEDROCK_ON_DEMAND: "BedrockOnDemand",
}

__all__ = [*_WHERE, "TIER_CONSTRUCTS", "construct_for"]


def construct_for(tier: str) -> type:
    """The construct class that deploys ``tier``."""
    return getattr(import_module(_WHERE[TIER_CONSTRUCTS[Tier(tier)]]), TIER_CONSTRUCTS[Tier(tier)])


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
