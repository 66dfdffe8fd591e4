"""The GGUF runtime image: llama.cpp (llama-cpp-python) behind an OpenAI-shaped API.

One image serves two tiers: the lambda-gguf tier runs its default command (the Lambda
handler), the sagemaker-serverless tier runs it with ``serve`` (SageMaker's /ping and
/invocations). ``image/`` is the Docker build context; this module only says where it is
and how to build it, so it imports no aws_cdk.
"""

from __future__ import annotations

from pathlib import Path

RUNTIME_DIRECTORY = Path(__file__).resolve().parent / "image"
# Files of the runtime directory that are no part of the image's build context.
BUILD_CONTEXT_EXCLUDES = ["**/__pycache__", "**/*.pyc", "tests", ".pytest_cache", "*.gguf"]


# Generation stops this long before the host's own time limit (the Lambda function timeout,
# SageMaker's 60 s per invocation), leaving time to send the answer, so that a long request
# ends as finish_reason "length" instead of an error at the caller while the runtime keeps
# generating for no one.
GENERATION_MARGIN_S = 3


def generation_timeout_s(host_limit_s: int) -> int:
    """GENERATION_TIMEOUT_S for a runtime whose host allows host_limit_s per request."""
    return max(1, host_limit_s - GENERATION_MARGIN_S)


def runtime_image_build_args(gguf_url: str | None, gguf_sha256: str | None, gguf_file: str | None) -> dict[str, str]:
    """Docker build args that bake a GGUF into the runtime image (docs/CONTRACTS.md)."""
    args = {"GGUF_URL": gguf_url, "GGUF_SHA256": gguf_sha256, "GGUF_FILE": gguf_file}
    return {name: value for name, value in args.items() if value}


__all__ = ["BUILD_CONTEXT_EXCLUDES", "GENERATION_MARGIN_S", "RUNTIME_DIRECTORY", "generation_timeout_s",
           "runtime_image_build_args"]
