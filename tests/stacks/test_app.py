"""app.py and its context: overrides reach the template, bad input ends as one line and exit 2
before any construct exists, and the pinned CDK CLI synthesizes the default model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.app_context import read
from stacks.model_stack import ModelStack
from tierwise.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({}, "-c model: name a catalogue model or 'all'"),
        ({"model": "llama9"}, "unknown model 'llama9'"),
        ({"model": "llama3-8b", "quant": "Q9_X"}, "unknown quantization 'Q9_X'; allowed:"),
        ({"model": "llama3-8b", "tier": "gpu"}, "unknown tier 'gpu'; allowed:"),
        ({"model": "llama3-70b", "tier": "lambda-gguf"}, "tier lambda-gguf cannot serve llama3-70b"),
        ({"model": "llama3-8b", "context": "lots"}, "-c context: must be a whole number (got 'lots')"),
        ({"model": "llama3-8b", "region": "moon-1"}, "-c region: 'moon-1' is not an AWS region"),
        ({"model": "llama3-8b", "commitment": "forever"}, "-c commitment: unknown commitment 'forever'; allowed: none, OneMonth, SixMonths"),
        ({"model": "llama3-8b", "architecture": "sparc"}, "-c architecture: one of x86_64, arm64"),
        ({"model": "llama3-70b", "hosting": "self", "architecture": "arm64"}, "-c architecture applies to lambda-gguf; llama3-70b is placed on sagemaker-gpu"),
        ({"model": "llama3-8b", "min_instances": "2"}, "-c min_instances applies to sagemaker-gpu"),
        ({"model": "llama3-70b", "min_instances": "3", "max_instances": "2"}, "must not exceed -c max_instances"),
        ({"model": "all", "model_uri": "s3://models/m.gguf"}, "cannot be used with model=all"),
        ({"model": "llama3-8b", "model_uri": "/nope/m.gguf"}, "-c model_uri: no such file"),
        ({"model": "llama3-8b", "image_uri": "python:3"}, "-c image_uri: an ECR image"),
        ({"model": "distilbert-sst2", "model_uri": "s3://models/m.gguf"}, "applies to GGUF models"),
        ({"model": "llama3-8b", "requests_per_month": "-5"}, "-c requests_per_month:"),
    ],
)
def test_bad_context_is_one_clear_error(context, message):
    with pytest.raises(UserError) as err:
        read(context, environ={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def _single(context: dict, tmp_path) -> Template:
    plans = read(context, environ={})
    (stack_plan,) = plans.stacks
    app = cdk.App(outdir=str(tmp_path))
    stack = ModelStack(app, stack_plan.stack_id, placement=stack_plan.placement,
                       env=cdk.Environment(region="us-east-1"), **stack_plan.options)
    return Template.from_stack(stack)


def test_gpu_scaling_bounds_from_context(tmp_path):
    # llama3-70b is gated on the Hub: the GPU tier needs the token's secret (and a region to build on)
    t = _single({"model": "llama3-70b", "hosting": "self", "min_instances": "2", "max_instances": "4",
                 "region": "us-east-1", "hf_token_secret": "hf-token"}, tmp_path)
    target = next(iter(t.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()))["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    (variant,) = next(iter(t.find_resources("AWS::SageMaker::EndpointConfig").values()))["Properties"]["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 2


def test_lambda_overrides_from_context(tmp_path):
    t = _single({"model": "llama3.2-1b", "architecture": "arm64", "model_uri": "s3://models/llama.gguf",
                 "quant": "Q8_0", "context": "2048"}, tmp_path)
    fn = next(iter(t.find_resources("AWS::Lambda::Function").values()))["Properties"]
    assert fn["Architectures"] == ["arm64"]
    assert fn["Environment"]["Variables"]["MODEL_S3_URI"] == "s3://models/llama.gguf"
    assert fn["Environment"]["Variables"]["N_CTX"] == "2048"
    tags = {tag["Key"]: tag["Value"] for tag in fn["Tags"]}
    assert tags["tierwise:quant"] == "Q8_0"


def test_prebuilt_image_from_context_needs_no_docker(tmp_path):
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tierwise-runtime:llama3-8b-q4km"
    t = _single({"model": "llama3-8b", "tier": "lambda-gguf", "batch": "true", "image_uri": uri, "region": "us-east-1"},
                tmp_path)
    fn = next(iter(t.find_resources("AWS::Lambda::Function").values()))["Properties"]
    assert "tierwise-runtime:llama3-8b-q4km" in json.dumps(fn["Code"]["ImageUri"])
    manifest = json.loads((tmp_path / "tierwise-llama3-8b.assets.json").read_text())
    assert manifest.get("dockerImages", {}) == {}


def test_commitment_from_context_reaches_the_custom_resource(tmp_path):
    t = _single({"model": "nova-pro", "tier": "bedrock-provisioned", "commitment": "OneMonth"}, tmp_path)
    (resource,) = t.find_resources("Custom::BedrockProvisionedThroughput").values()
    assert resource["Properties"]["CommitmentDuration"] == "OneMonth"


def _env() -> dict:
    env = dict(os.environ)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_app_py_exits_2_with_one_line_and_writes_nothing(tmp_path):
    outdir = tmp_path / "cdk.out"
    env = {**_env(), "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps({"model": "llama3-8b", "quant": "Q1"})}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: -c quant: unknown quantization 'Q1'")
    assert not outdir.exists() or list(outdir.iterdir()) == []  # no template, no manifest


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="the pinned CDK CLI is not installed (npm install)")
def test_cdk_cli_synthesizes_the_default_model(tmp_path):
    outdir = tmp_path / "cdk.out"
    cdk_cli = str(ROOT / "node_modules" / ".bin" / "cdk")
    done = subprocess.run(
        [cdk_cli, "synth", "--quiet", "--output", str(outdir), "-c", "region=us-east-1"],
        cwd=ROOT, env={**_env(), "CDK_DISABLE_CLI_TELEMETRY": "true"}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    default = json.loads((ROOT / "cdk.json").read_text())["context"]["model"]
    (planned,) = read({"model": default, "region": "us-east-1"}, environ={}).stacks
    template = json.loads((outdir / f"{planned.stack_id}.template.json").read_text())
    assert template["Outputs"]["Tier"]["Value"] == planned.placement.tier
    assert [p.name for p in outdir.glob("*.template.json")] == [f"{planned.stack_id}.template.json"]
