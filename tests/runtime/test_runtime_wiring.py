"""What the tier constructs tell the runtime: the Function URL streams, and every tier's
runtime gets a generation cutoff from the time its host allows (template properties of
one synthesized stack holding the three self-hosted tiers)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
import pytest  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from tiers.gguf_runtime import GENERATION_MARGIN_S, RUNTIME_DIRECTORY  # noqa: E402
from tiers.lambda_gguf import LambdaGgufEndpoint  # noqa: E402
from tiers.sagemaker_gpu import SageMakerGpuEndpoint  # noqa: E402
from tiers.sagemaker_serverless import SageMakerServerlessEndpoint  # noqa: E402
from tierwise.facts import realtime_limits, serverless_limits  # noqa: E402

MODEL = "s3://my-models/llama/model.gguf"
SHA = "ab" * 32


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = cdk.Stack(app, "Wiring", env=cdk.Environment(region="us-east-1"))
    parts = {
        "lambda": LambdaGgufEndpoint(stack, "Lambda", model_uri=MODEL, model_sha256=SHA, timeout_s=120),
        "serverless": SageMakerServerlessEndpoint(stack, "Serverless", model_uri=MODEL, model_sha256=SHA),
        "gpu": SageMakerGpuEndpoint(stack, "Gpu", hf_model_id="meta-llama/Meta-Llama-3-8B-Instruct"),
    }
    return Template.from_stack(stack), parts


def environment_of(template: Template, type_: str, path) -> dict:
    for resource in template.find_resources(type_).values():
        found = path(resource["Properties"])
        if found is not None:
            return found
    raise AssertionError(f"no {type_} with an environment")


def test_the_function_url_streams_and_the_runtime_knows(synthesized):
    template, _ = synthesized
    (url,) = template.find_resources("AWS::Lambda::Url").values()
    assert url["Properties"]["InvokeMode"] == "RESPONSE_STREAM"
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    env = environment_of(template, "AWS::Lambda::Function", lambda p: p["Environment"]["Variables"])
    assert env["FUNCTION_URL_INVOKE_MODE"] == "RESPONSE_STREAM"


def test_lambda_generation_stops_before_the_function_timeout(synthesized):
    template, _ = synthesized
    env = environment_of(template, "AWS::Lambda::Function", lambda p: p["Environment"]["Variables"])
    assert env["GENERATION_TIMEOUT_S"] == str(120 - GENERATION_MARGIN_S)


def test_serverless_generation_stops_before_sagemakers_60_s(synthesized):
    template, _ = synthesized

    def gguf_env(props):
        env = (props.get("PrimaryContainer") or {}).get("Environment") or {}
        return env if "N_CTX" in env else None

    env = environment_of(template, "AWS::SageMaker::Model", gguf_env)
    limit = serverless_limits().invocation_timeout_s
    assert limit == 60 and env["GENERATION_TIMEOUT_S"] == str(limit - GENERATION_MARGIN_S) == "57"


def test_the_gpu_container_holds_requests_to_sagemakers_60_s(synthesized):
    template, _ = synthesized

    def lmi_env(props):
        env = (props.get("PrimaryContainer") or {}).get("Environment") or {}
        return env if "HF_MODEL_ID" in env else None

    env = environment_of(template, "AWS::SageMaker::Model", lmi_env)
    assert env["OPTION_PREDICT_TIMEOUT"] == str(realtime_limits().invocation_timeout_s) == "60"


def test_outputs_say_how_to_chat(synthesized):
    _, parts = synthesized
    for name in ("lambda", "serverless", "gpu"):
        command, _ = parts[name].outputs()["ChatCommand"]
        assert command.startswith("tierwise chat ")


def test_the_image_asset_carries_every_module_of_the_runtime(synthesized):
    # the CDK stages the build context by the image's .dockerignore: a module left out
    # there would be missing from the image, not from the tests
    template, parts = synthesized
    outdir = Path(parts["lambda"].node.root.outdir)
    [asset] = {path.parent for path in outdir.glob("asset.*/Dockerfile")}
    package = sorted(p.name for p in (RUNTIME_DIRECTORY / "gguf_serving").glob("*.py"))
    assert sorted(p.name for p in (asset / "gguf_serving").glob("*.py")) == package
    for door in ("handler.py", "lambda_runtime.py", "sagemaker_server.py", "entrypoint.sh"):
        assert (asset / door).is_file(), door
    assert not list(asset.rglob("__pycache__"))
