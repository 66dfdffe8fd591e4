"""The Bedrock tiers: provisioned throughput (a custom resource and its handler) and on demand.

Constructs are imported on first use, so the handler package imports without aws_cdk.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BedrockOnDemand", "BedrockProvisionedThroughput"]


def __getattr__(name: str) -> Any:
    if name == "BedrockProvisionedThroughput":
        from tiers.bedrock.provisioned import BedrockProvisionedThroughput

        return BedrockProvisionedThroughput
    if name == "BedrockOnDemand":
        from tiers.bedrock.on_demand import BedrockOnDemand

        return BedrockOnDemand
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
