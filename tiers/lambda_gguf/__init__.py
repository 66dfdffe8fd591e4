"""The lambda-gguf tier: a GGUF model in a container-image Lambda function (the image is tiers/gguf_runtime).

The construct is imported on first use, so code that only needs the runtime directory's
modules does not load aws_cdk.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RUNTIME_DIRECTORY", "LambdaGgufEndpoint", "runtime_image_build_args"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tiers.lambda_gguf import construct

        return getattr(construct, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
