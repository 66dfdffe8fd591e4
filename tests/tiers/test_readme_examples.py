"""Each tier's README example is a working CDK app: it synthesizes, as printed, without ModelStack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

TIERS_DIR = Path(__file__).resolve().parents[2] / "tiers"
# README -> (stack name, resource types its template must hold)
READMES = {
    "lambda_gguf/README.md": ("TinyLlama", {"AWS::Lambda::Function", "AWS::Lambda::Url"}),
    "sagemaker_serverless/README.md": ("Qwen", {"AWS::SageMaker::Endpoint"}),
    "sagemaker_gpu/README.md": ("Llama3", {"AWS::SageMaker::Endpoint", "AWS::ApplicationAutoScaling::ScalableTarget"}),
    "bedrock/README.md": ("Nova", {"AWS::Bedrock::ApplicationInferenceProfile", "Custom::BedrockProvisionedThroughput"}),
    "bedrock_batch/README.md": ("NovaBatch", {"AWS::S3::Bucket", "AWS::IAM::Role"}),
    "sagemaker_async/README.md": ("Llama3Async", {"AWS::SageMaker::EndpointConfig",
                                                   "AWS::ApplicationAutoScaling::ScalingPolicy"}),
    "bedrock_custom/README.md": ("FineTune", {"Custom::BedrockImportedModel", "AWS::IAM::Role"}),
}


def example(readme: Path) -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, f"{readme} has no python example"
    return blocks[0]


def test_every_tier_folder_has_a_readme():
    folders = {p.parent.name for p in TIERS_DIR.glob("*/construct.py")} | {"bedrock"}
    assert {Path(r).parent.name for r in READMES} == folders


@pytest.mark.parametrize("readme", READMES)
def test_the_readme_example_synthesizes(readme, tmp_path):
    stack_name, types = READMES[readme]
    code = example(TIERS_DIR / readme)
    # the jsii process started long ago, so CDK_OUTDIR cannot reach it: name the outdir in the app
    assert code.count("cdk.App()") == 1
    code = code.replace("cdk.App()", f"cdk.App(outdir={str(tmp_path)!r})")
    exec(compile(code, readme, "exec"), {"__name__": "readme_example"})
    template = json.loads((tmp_path / f"{stack_name}.template.json").read_text())
    found = {r["Type"] for r in template["Resources"].values()}
    assert types <= found, f"{readme}: {sorted(types - found)} missing"
    assert template.get("Outputs"), f"{readme}: the example's outputs say how to call what it deployed"
