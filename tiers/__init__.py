"""One CDK construct per tier (DESIGN.md calls this folder `constructs/`; a package by that name
would shadow the `constructs` library every CDK module imports).

Each construct stands on its own in any CDK app (each tier's folder has a README with a
minimal example): keyword props with sound defaults, the shared ``TierOptions`` (an existing
key or role may be passed, never required), ``for_placement`` / ``for_profile`` to build from
a tierwise plan, ``grant_invoke(grantee)``, the L1 resources as ``cfn_*`` attributes and the
main one as the default child. The GGUF tiers take their model as a ``GgufModel``.

This module is the one tier -> construct registry: ``construct_for(tier)``. Constructs are
imported on first use, so the runtime image and the handler packages import without aws_cdk.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tierwise.contract import Tier

# construct class name -> the module that defines it
_WHERE = {
    "LambdaGgufEndpoint": "tiers.lambda_gguf.construct",
    "SageMakerServerlessEndpoint": "tiers.sagemaker_serverless.construct",
    "SageMakerGpuEndpoint": "tiers.sagemaker_gpu.construct",
    "BedrockProvisionedThroughput": "tiers.bedrock.provisioned",
    "BedrockOnDemand": "tiers.bedrock.on_demand",
    "GgufModel": "tiers.gguf_model",
    "TierOptions": "tiers.shared",
    "PropError": "tiers.shared",
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


def construct_for(tier: Tier | str) -> type:
    """The construct class that deploys `tier` (a Tier, or its id such as "lambda-gguf")."""
    name = TIER_CONSTRUCTS.get(tier) if isinstance(tier, str) else None
    if name is None:
        from tiers.shared import PropError

        raise PropError(f"no tier construct for tier {tier!r}; tiers: {', '.join(TIER_CONSTRUCTS)}")
    return __getattr__(name)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
