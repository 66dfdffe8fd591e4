"""Fixtures for the cost tests: the embedded price book, hand-built cloud assemblies, and one
synthesis of every tier construct (shared by the whole session: a synth costs ~6 s)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tierwise.cost.prices import PriceBook, load_prices

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tierwise-gguf:test"


SCHEMA = Path(__file__).parent / "schema" / "infracost.schema.json"  # vendored: see schema/SOURCE.md


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_infracost_valid(data: dict) -> None:
    """``data`` validates against Infracost's own JSON schema (draft 4, date-time formats checked)."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="session")
def book() -> PriceBook:
    return load_prices()


@pytest.fixture(scope="session")
def book_without_data_price(book: PriceBook) -> PriceBook:
    """The embedded book with us-east-1's SageMaker data-processed lines unknown, for the tests
    of how an unknown price is reported (the shipped file prices every us-east-1 line they use)."""
    data = book.model_dump(by_alias=True)
    for key in ("data_processed_in_gb", "data_processed_out_gb"):
        data["regions"]["us-east-1"]["sagemaker"][key] = {
            "value": None, "unit": "USD per GB", "source": None, "taken": None}
    return PriceBook.model_validate(data)


def tagged(resource: dict[str, Any], model: str, tier: str, quant: str = "none") -> dict[str, Any]:
    props = resource.setdefault("Properties", {})
    props["Tags"] = [
        {"Key": "tierwise:model", "Value": model},
        {"Key": "tierwise:quant", "Value": quant},
        {"Key": "tierwise:tier", "Value": tier},
    ]
    return resource


def _recorded_by_model_stack(resources: dict[str, Any]) -> dict[str, Any]:
    """What ModelStack records for a stack whose resources carry a tierwise tier tag: the tier and
    the types of its resources that serve requests (Metadata.tierwise.servingResourceTypes)."""
    from tierwise import tiers

    for resource in resources.values():
        for tag in (resource.get("Properties") or {}).get("Tags") or []:
            if isinstance(tag, dict) and tag.get("Key") == "tierwise:tier" and tiers.is_tier(tag.get("Value")):
                module = tiers.get(tag["Value"])
                return {"tier": module.id, "servingResourceTypes": list(module.serving_resource_types)}
    return {}


def write_assembly(directory: Path, stacks: dict[str, tuple[str | None, dict]]) -> Path:
    """A cloud assembly folder like `cdk synth` writes: manifest.json plus one template per stack.

    ``stacks`` maps stack name -> (region or None for environment-agnostic, resources).
    """
    directory.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Any] = {}
    for name, (region, resources) in stacks.items():
        template = {"Resources": resources}
        planned = _recorded_by_model_stack(resources)
        if planned:
            template["Metadata"] = {"tierwise": planned}
        (directory / f"{name}.template.json").write_text(json.dumps(template), encoding="utf-8")
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://123456789012/{region or 'unknown-region'}",
            "properties": {"templateFile": f"{name}.template.json"},
            "displayName": name,
        }
    manifest = {"version": "36.0.0", "artifacts": artifacts}
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


SYNTH_APP = r'''
import sys
import aws_cdk as cdk
from tiers.lambda_gguf.construct import LambdaGgufEndpoint
from tiers.sagemaker_serverless import SageMakerServerlessEndpoint
from tiers.sagemaker_gpu import SageMakerGpuEndpoint
from tiers.bedrock.provisioned import BedrockProvisionedThroughput
from tiers.bedrock.on_demand import BedrockOnDemand

app = cdk.App(outdir=sys.argv[1])
env = cdk.Environment(account="123456789012", region="us-east-1")
image = sys.argv[2]

def stack(name, tier, model, quant):
    from tierwise import tiers

    s = cdk.Stack(app, name, env=env)
    for key, value in (("tierwise:model", model), ("tierwise:tier", tier), ("tierwise:quant", quant)):
        cdk.Tags.of(s).add(key, value)
    # what ModelStack records: which resources serve requests
    s.template_options.metadata = {"tierwise": {"servingResourceTypes": list(tiers.get(tier).serving_resource_types)}}
    return s

lam = stack("LambdaStack", "lambda-gguf", "llama3-8b", "Q4_K_M")
# what ModelStack records: the planned rates at the planned memory (4096 MB here, 8192 deployed)
lam.template_options.metadata = {"tierwise": {"decodeTokensPerSecond": "6.0", "promptTokensPerSecond": "100.0",
                                              "memoryMb": 4096, "servingResourceTypes": ["AWS::Lambda::Function"]}}
LambdaGgufEndpoint(lam, "Llm", image_uri=image, memory_mb=8192, ephemeral_storage_mb=1024, architecture="arm64")
SageMakerServerlessEndpoint(stack("ServerlessStack", "sagemaker-serverless", "qwen2.5-0.5b", "Q4_K_M"), "Llm",
                            image_uri=image, memory_mb=4096, max_concurrency=5)
SageMakerGpuEndpoint(stack("GpuStack", "sagemaker-gpu", "llama3-8b", "BF16"), "Llm",
                     hf_model_id="meta-llama/Meta-Llama-3-8B-Instruct", instance_type="ml.g5.2xlarge",
                     min_instances=2, max_instances=3)
BedrockProvisionedThroughput(stack("ProvisionedStack", "bedrock-provisioned", "llama3.2-1b", "none"), "Llm",
                             model_id="meta.llama3-2-1b-instruct-v1:0:128k", model_units=2, commitment="OneMonth")
BedrockOnDemand(stack("OnDemandStack", "bedrock-on-demand", "llama3-8b", "none"), "Llm",
                model_id="meta.llama3-8b-instruct-v1:0")
app.synth()
'''


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cloud assembly with a stack per tier, synthesized from the tier constructs."""
    pytest.importorskip("aws_cdk")
    if shutil.which("node") is None:
        pytest.skip("node is needed to synthesize CDK stacks")
    try:
        import tiers.lambda_gguf.construct  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the tiers are part of the repository
        pytest.skip(f"tier constructs not importable: {exc}")
    work = tmp_path_factory.mktemp("synth")
    script = work / "app.py"
    script.write_text(SYNTH_APP, encoding="utf-8")
    out = work / "cdk.out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([sys.executable, str(script), str(out), IMAGE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out
