"""LambdaGgufEndpoint: the template properties a deployment depends on."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from tests.tiers.conftest import grantee, only, resources, statements, template
from tiers.gguf_runtime import RUNTIME_DIRECTORY
from tiers.lambda_gguf import LambdaGgufEndpoint
from tiers.props import PropError

URL = "https://huggingface.co/org/repo/resolve/main/model-Q4_K_M.gguf"
SHA = "ab" * 32
BAKED = {"gguf_url": URL, "gguf_sha256": SHA, "gguf_file": "model-Q4_K_M.gguf"}


def docker_assets(stack: cdk.Stack) -> list[dict]:
    """The Docker image assets of the stack's asset manifest (what `cdk deploy` would build)."""
    assembly = stack.node.root.synth()
    manifest = json.loads((Path(assembly.directory) / f"{stack.artifact_id}.assets.json").read_text())
    return [image["source"] for image in manifest.get("dockerImages", {}).values()]


def test_baked_in_model_is_a_sound_deployment(make_stack):
    stack = make_stack()
    ep = LambdaGgufEndpoint(
        stack, "Llm", **BAKED, memory_mb=6233, ephemeral_storage_mb=5161, timeout_s=900, n_ctx=4096, threads=3,
        reserved_concurrency=5, model_name="llama3-8b",
    )
    t = template(stack)
    fn = only(t, "AWS::Lambda::Function")["Properties"]
    assert fn["PackageType"] == "Image"
    assert fn["MemorySize"] == 6233
    assert fn["EphemeralStorage"] == {"Size": 5161}
    assert fn["Timeout"] == 900
    assert fn["Architectures"] == ["x86_64"]
    assert fn["ReservedConcurrentExecutions"] == 5
    assert fn["Environment"]["Variables"] == {
        "N_CTX": "4096", "MAX_TOKENS_DEFAULT": "256", "N_THREADS": "3", "MODEL_NAME": "llama3-8b",
        "GENERATION_TIMEOUT_S": "897", "FUNCTION_URL_INVOKE_MODE": "RESPONSE_STREAM",
    }
    assert "KmsKeyArn" in fn  # environment encrypted with the construct's key
    assert "cdk-hnb659fds-container-assets" in json.dumps(fn["Code"]["ImageUri"])

    # the model is baked in at build time, checked against its sha256, for linux/amd64
    (image,) = docker_assets(stack)
    assert image["dockerBuildArgs"] == {"GGUF_URL": URL, "GGUF_SHA256": SHA, "GGUF_FILE": "model-Q4_K_M.gguf"}
    assert image["platform"] == "linux/amd64"

    # a Function URL, IAM auth only
    url = only(t, "AWS::Lambda::Url")["Properties"]
    assert url["AuthType"] == "AWS_IAM"

    # logs: own group, retention, KMS
    group = only(t, "AWS::Logs::LogGroup")["Properties"]
    assert group["RetentionInDays"] == 30
    assert "KmsKeyId" in group
    key = only(t, "AWS::KMS::Key")["Properties"]
    assert key["EnableKeyRotation"] is True

    # alarms on errors, throttles and near-timeout duration
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in resources(t, "AWS::CloudWatch::Alarm").values()}
    assert set(alarms) == {"Errors", "Throttles", "Duration"}
    assert alarms["Duration"]["Threshold"] == pytest.approx(900 * 1000 * 0.8)

    # least privilege: no managed policy, logs of its own group only, no model bucket access
    role = only(t, "AWS::IAM::Role")["Properties"]
    assert "ManagedPolicyArns" not in role
    actions = sorted(a for s in statements(t) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    assert actions == ["logs:CreateLogStream", "logs:PutLogEvents"]

    # escape hatch: the default child is the CfnFunction
    assert isinstance(ep.node.default_child, lambda_.CfnFunction)


def test_arm64_builds_and_runs_arm(make_stack):
    stack = make_stack()
    LambdaGgufEndpoint(stack, "Llm", **BAKED, architecture="arm64")
    fn = only(stack, "AWS::Lambda::Function")["Properties"]
    assert fn["Architectures"] == ["arm64"]
    (image,) = docker_assets(stack)
    assert image["platform"] == "linux/arm64"


def test_model_from_s3_reads_exactly_that_object(make_stack):
    stack = make_stack()
    LambdaGgufEndpoint(stack, "Llm", model_uri="s3://my-models/llama/model.gguf", model_sha256=SHA, ephemeral_storage_mb=6000)
    t = template(stack)
    env = only(t, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert env["MODEL_S3_URI"] == "s3://my-models/llama/model.gguf"
    assert env["MODEL_SHA256"] == SHA
    read = [s for s in statements(t) if s.get("Sid") == "ReadModelObject"]
    assert read[0]["Action"] == "s3:GetObject"
    assert json.dumps(read[0]["Resource"]).endswith(':s3:::my-models/llama/model.gguf"]]}')
    # the image carries no model: no build args
    (image,) = docker_assets(stack)
    assert not image.get("dockerBuildArgs")


def test_local_model_file_becomes_an_s3_asset(make_stack, tmp_path):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    stack = make_stack()
    ep = LambdaGgufEndpoint(stack, "Llm", model_uri=str(gguf))
    env = only(stack, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert "cdk-hnb659fds-assets" in json.dumps(env["MODEL_S3_URI"])
    assert ep.model_source == "s3"


def test_prebuilt_image_builds_nothing(make_stack):
    stack = make_stack()
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tierwise-runtime:llama3-8b"
    ep = LambdaGgufEndpoint(stack, "Llm", image_uri=uri)
    fn = only(stack, "AWS::Lambda::Function")["Properties"]
    assert json.dumps(fn["Code"]["ImageUri"]).count("tierwise-runtime") == 1
    assert "llama3-8b" in json.dumps(fn["Code"]["ImageUri"])
    assert docker_assets(stack) == []
    assert ep.model_source == "image"


def test_grant_invoke_allows_url_and_invoke_on_this_function_only(make_stack):
    stack = make_stack()
    ep = LambdaGgufEndpoint(stack, "Llm", **BAKED)
    caller = grantee(stack)
    ep.grant_invoke(caller)
    t = template(stack)
    (granted,) = [
        s for s in statements(t)
        if isinstance(s["Action"], list) and "lambda:InvokeFunctionUrl" in s["Action"]
    ]
    assert sorted(granted["Action"]) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert granted["Resource"] == {"Fn::GetAtt": [stack.get_logical_id(ep.node.default_child), "Arn"]}


def test_runtime_directory_is_the_image_build_context():
    assert (RUNTIME_DIRECTORY / "Dockerfile").is_file()


@pytest.mark.parametrize(
    ("props", "named", "allowed"),
    [
        ({**BAKED, "memory_mb": 20_000}, "memory_mb", "128..10,240"),
        ({**BAKED, "memory_mb": 64}, "memory_mb", "128..10,240"),
        ({**BAKED, "ephemeral_storage_mb": 100}, "ephemeral_storage_mb", "512..10,240"),
        ({**BAKED, "timeout_s": 901}, "timeout_s", "1..900"),
        ({**BAKED, "architecture": "sparc"}, "architecture", "x86_64, arm64"),
        ({**BAKED, "threads": 7}, "threads", "1..6"),
        ({**BAKED, "gguf_sha256": "xyz"}, "gguf_sha256", "64 lowercase hex"),
        ({}, "no model", "gguf_url"),
        ({**BAKED, "model_uri": "s3://b/k.gguf"}, "gguf_url", "pick one"),
        ({"model_uri": "s3:/bucket"}, "model_uri", "s3://bucket/key"),
        ({"model_uri": "/no/such/file.gguf"}, "model_uri", "existing local file"),
        ({"image_uri": "docker.io/library/python:3"}, "image_uri", "ACCOUNT.dkr.ecr"),
    ],
)
def test_bad_props_name_the_prop_and_what_is_allowed(make_stack, props, named, allowed):
    with pytest.raises(PropError) as err:
        LambdaGgufEndpoint(make_stack(), "Llm", **props)
    message = str(err.value)
    assert message.startswith("LambdaGgufEndpoint: ")
    assert named in message and allowed in message
    assert "\n" not in message


def test_a_profile_alone_is_a_sound_deployment(make_stack):
    from model_profiles import load_profile
    from tierwise.placement import plan

    profile = load_profile("llama3.2-1b")
    stack = make_stack()
    LambdaGgufEndpoint.for_profile(stack, "Llm", profile, quant="Q8_0", context=2048)
    planned = plan(profile, quant="Q8_0", context=2048, tier="lambda-gguf").settings.model_dump()
    fn = only(stack, "AWS::Lambda::Function")["Properties"]
    assert (fn["MemorySize"], fn["Timeout"], fn["EphemeralStorage"]["Size"]) == (
        planned["memory_mb"], planned["timeout_s"], 512)  # baked in: nothing of the model in /tmp
    (image,) = docker_assets(stack)
    assert image["dockerBuildArgs"]["GGUF_URL"] == planned["gguf_url"]


def test_a_placement_for_another_tier_is_refused(make_stack):
    from model_profiles import load_profile
    from tierwise.placement import plan

    placement = plan(load_profile("llama3-70b"), hosting="self")
    with pytest.raises(PropError, match="LambdaGgufEndpoint: the placement is for tier sagemaker-gpu"):
        LambdaGgufEndpoint.for_placement(make_stack(), "Llm", placement)
