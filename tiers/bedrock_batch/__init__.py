"""The bedrock-batch tier: Bedrock batch inference jobs over JSONL files in S3 (README.md)."""

from tiers.bedrock_batch.construct import BedrockBatchInference

__all__ = ["BedrockBatchInference"]
