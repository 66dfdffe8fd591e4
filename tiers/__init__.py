"""One CDK construct per tier (DESIGN.md calls this folder `constructs/`; a package by that name
would shadow the `constructs` library every CDK module imports).

Each construct stands on its own in any CDK app: keyword props with sound defaults, an
optional existing key or role, ``grant_invoke(grantee)``, the main CloudFormation resource as
its default child. The constructs are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "LambdaGgufEndpoint": "tiers.lambda_gguf.construct",
    "SageMakerServerlessEndpoint": "tiers.sagemaker_serverless.construct",
    "SageMakerGpuEndpoint": "tiers.sagemaker_gpu.construct",
    "BedrockProvisionedThroughput": "tiers.bedrock.provisioned",
    "BedrockOnDemand": "tiers.bedrock.on_demand",
}
# placement's tier name -> construct class name
TIER_CONSTRUCTS = {
    "lambda-gguf": "LambdaGgufEndpoint",
    "sagemaker-serverless": "SageMakerServerlessEndpoint",
    "sagemaker-gpu": "SageMakerGpuEndpoint",
    "bedrock-provisioned": "BedrockProvisionedThroughput",
    "bedrock-on-demand": "BedrockOnDemand",
}

__all__ = [*_WHERE, "TIER_CONSTRUCTS"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
