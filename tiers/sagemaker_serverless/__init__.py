"""The sagemaker-serverless tier: a CPU model on a SageMaker Serverless Inference endpoint (README.md)."""

from tiers.sagemaker_serverless.construct import SageMakerServerlessEndpoint

__all__ = ["SageMakerServerlessEndpoint"]
