"""The sagemaker-gpu tier: an open-weights model on GPU instances behind a real-time SageMaker endpoint (README.md)."""

from tiers.sagemaker_gpu.construct import SageMakerGpuEndpoint, gpu_instance

__all__ = ["SageMakerGpuEndpoint", "gpu_instance"]
