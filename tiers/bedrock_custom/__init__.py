"""The bedrock-custom tier: your weights imported into Bedrock (Custom Model Import), a custom
resource and its handler. The construct is imported on first use, so the handler package imports
without aws_cdk."""

from __future__ import annotations

from typing import Any

__all__ = ["BedrockImportedModel"]


def __getattr__(name: str) -> Any:
    if name == "BedrockImportedModel":
        from tiers.bedrock_custom.construct import BedrockImportedModel

        return BedrockImportedModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
