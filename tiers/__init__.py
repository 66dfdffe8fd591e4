"""One CDK construct per tier (DESIGN.md calls this folder `constructs/`; a package by that name
would shadow the `constructs` library every CDK module imports).

Each construct stands on its own in any CDK app (each tier's folder has a README with a
minimal example): keyword props with sound defaults, the shared ``TierOptions`` (an existing
key or role may be passed, never required), ``for_placement`` / ``for_profile`` to build from
a tierwise plan, ``grant_invoke(grantee)``, the L1 resources as ``cfn_*`` attributes and the
main one as the default child. The GGUF tiers take their model as a ``GgufModel``.

``construct_for(tier)`` finds the construct a tier's core module names (tierwise/tiers: each
tier module's ``construct``, "module:Class"); nothing here lists the tiers again. Constructs are
imported on first use, so the runtime image and the handler packages import without aws_cdk.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tierwise import tiers

# construct class name -> the module that defines it
_WHERE = {
    "LambdaGgufEndpoint": "tiers.lambda_gguf.construct",
    "SageMakerServerlessEndpoint": "tiers.sagemaker_serverless.construct",
    "SageMakerGpuEndpoint": "tiers.sagemaker_gpu.construct",
    "BedrockProvisionedThroughput": "tiers.bedrock.provisioned",
    "BedrockOnDemand": "tiers.bedrock.on_demand",
    "BedrockBatchInference": "tiers.bedrock_batch.construct",
    "SageMakerAsyncEndpoint": "tiers.sagemaker_async.construct",
    "BedrockImportedModel": "tiers.bedrock_custom.construct",
    "GgufModel": "tiers.gguf_model",
    "TierOptions": "tiers.construct_base",
    "PropError": "tiers.props",
}
__all__ = [*_WHERE, "construct_for"]


def construct_for(tier: str) -> type:
    """The construct class that deploys `tier` (its id, such as "lambda-gguf")."""
    module = tiers.get_or_none(tier)
    if module is None:
        from tiers.props import PropError

        raise PropError(f"no tier construct for tier {str(tier)[:60]!r}; tiers: {', '.join(tiers.ids())}")
    where, name = module.construct.split(":")
    return getattr(import_module(where), name)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
