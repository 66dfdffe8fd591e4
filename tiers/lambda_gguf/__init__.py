"""The lambda-gguf tier: a GGUF model in a container-image Lambda function (README.md); the
image is tiers/gguf_runtime, shared with the sagemaker-serverless tier."""

from tiers.lambda_gguf.construct import LambdaGgufEndpoint

__all__ = ["LambdaGgufEndpoint"]
