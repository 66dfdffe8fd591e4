"""The sagemaker-async tier: a SageMaker asynchronous endpoint on GPUs that scales to zero (README.md)."""

from tiers.sagemaker_async.construct import SageMakerAsyncEndpoint

__all__ = ["SageMakerAsyncEndpoint"]
