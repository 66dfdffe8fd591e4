"""GgufModel: one model source for both GGUF tiers, with the sha256 checked the same way on both.

The decisive test reads the container environment each tier synthesizes and starts the GGUF
runtime with it against S3 (moto): a model file that is not the one the sha256 names is
refused by both tiers, the right one is loaded by both.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from moto import mock_aws

from tests.tiers.conftest import only, statements, template
from tiers import GgufModel, PropError
from tiers.gguf_runtime import RUNTIME_DIRECTORY
from tiers.lambda_gguf import LambdaGgufEndpoint
from tiers.sagemaker_serverless import SageMakerServerlessEndpoint

URL = "https://huggingface.co/org/repo/resolve/main/model-Q4_K_M.gguf"
SHA = "ab" * 32
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tierwise-runtime:ci"


def lambda_env(t) -> dict:
    return only(t, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]


def serverless_env(t) -> dict:
    return only(t, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Environment"]


# each GGUF tier: (construct, where its container environment is in the template)
TIERS = {
    "lambda-gguf": (LambdaGgufEndpoint, lambda_env),
    "sagemaker-serverless": (SageMakerServerlessEndpoint, serverless_env),
}


def docker_build_args(stack: cdk.Stack) -> list[dict]:
    assembly = stack.node.root.synth()
    manifest = json.loads((Path(assembly.directory) / f"{stack.artifact_id}.assets.json").read_text())
    return [image["source"].get("dockerBuildArgs", {}) for image in manifest.get("dockerImages", {}).values()]


# --- the runtime refuses a model the sha256 does not name, on both tiers -------------------------


@pytest.fixture
def runtime():
    """The runtime image's serving core, imported the way the image runs it (top-level module)."""
    if str(RUNTIME_DIRECTORY) not in sys.path:
        sys.path.insert(0, str(RUNTIME_DIRECTORY))
    import gguf_serving

    return gguf_serving


@pytest.fixture
def model_bucket(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="my-models")
        yield client


@pytest.mark.parametrize("tier", TIERS)
def test_both_tiers_refuse_a_model_that_is_not_the_one_the_sha256_names(
    tier, make_stack, runtime, model_bucket, tmp_path
):
    construct, env_of = TIERS[tier]
    published = b"GGUF" + b"\x03\x00\x00\x00" + b"the published weights" * 100
    sha = hashlib.sha256(published).hexdigest()
    stack = make_stack()
    construct(stack, "Llm", model=GgufModel.from_s3("s3://my-models/llama/model.gguf", sha256=sha))
    environment = env_of(template(stack))
    assert environment["MODEL_SHA256"] == sha

    def start(body: bytes, attempt: str):
        model_bucket.put_object(Bucket="my-models", Key="llama/model.gguf", Body=body)
        config = runtime.RuntimeConfig.from_env({**environment, "MODEL_DOWNLOAD_DIR": str(tmp_path / attempt)})
        loaded = []
        engine = runtime.Engine(config, s3_client=model_bucket,
                                llama_factory=lambda **kw: loaded.append(kw["model_path"]) or SimpleNamespace())
        return engine, loaded

    engine, loaded = start(published[:-1] + b"!", "tampered")
    with pytest.raises(runtime.ModelUnavailable, match=f"expected {sha} \\(MODEL_SHA256\\)"):
        engine.load()
    assert loaded == []  # llama.cpp never saw the file

    engine, loaded = start(published, "published")
    engine.load()
    assert loaded == [str(tmp_path / "published" / "model.gguf")]


@pytest.mark.parametrize("tier", TIERS)
def test_both_tiers_warn_when_nothing_checks_the_model(tier, make_stack):
    construct, _ = TIERS[tier]
    for source in (GgufModel.baked(URL), GgufModel.from_s3("my-models", "llama/model.gguf")):
        stack = make_stack()
        construct(stack, "Llm", model=source)
        warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("without a sha256"))
        assert len(warnings) == 1, warnings
    stack = make_stack()
    construct(stack, "Llm", model=GgufModel.from_s3("my-models", "llama/model.gguf", sha256=SHA))
    assert Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("without a sha256")) == []


# --- each source, the same on both tiers --------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_baked_model_is_built_into_the_image_with_its_checksum(tier, make_stack):
    construct, env_of = TIERS[tier]
    stack = make_stack()
    source = GgufModel.baked(URL, sha256=SHA, file="model.gguf")
    ep = construct(stack, "Llm", model=source)
    assert ep.gguf_model == source
    assert "MODEL_S3_URI" not in env_of(template(stack))
    assert docker_build_args(stack) == [{"GGUF_URL": URL, "GGUF_SHA256": SHA, "GGUF_FILE": "model.gguf"}]
    assert ep.model_source == "baked-in"


@pytest.mark.parametrize("tier", TIERS)
def test_model_in_an_encrypted_bucket_of_the_app_gets_read_and_decrypt(tier, make_stack):
    construct, env_of = TIERS[tier]
    stack = make_stack()
    key = kms.Key(stack, "ModelsKey", enable_key_rotation=True)
    bucket = s3.Bucket(stack, "Models", encryption=s3.BucketEncryption.KMS, encryption_key=key,
                       enforce_ssl=True)
    construct(stack, "Llm", model=GgufModel.from_s3(bucket, "llama/model.gguf", sha256=SHA))
    t = template(stack)
    env = env_of(t)
    assert env["MODEL_SHA256"] == SHA
    assert stack.resolve(bucket.bucket_name)["Ref"] in json.dumps(env["MODEL_S3_URI"])
    (read,) = [s for s in statements(t) if s.get("Sid") == "ReadModelObject"]
    assert read["Action"] == "s3:GetObject" and json.dumps(read["Resource"]).endswith('/llama/model.gguf"]]}')
    decrypt = [s for s in statements(t) if s["Action"] == "kms:Decrypt"]
    assert decrypt and decrypt[0]["Resource"] == {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]}


@pytest.mark.parametrize("tier", TIERS)
def test_local_file_becomes_an_s3_asset_read_at_start(tier, make_stack, tmp_path):
    construct, env_of = TIERS[tier]
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    stack = make_stack()
    ep = construct(stack, "Llm", model=GgufModel.from_file(gguf, sha256=SHA))
    env = env_of(template(stack))
    assert "cdk-hnb659fds-assets" in json.dumps(env["MODEL_S3_URI"]) and env["MODEL_SHA256"] == SHA
    assert ep.model_source == "s3"


@pytest.mark.parametrize("tier", TIERS)
def test_pushed_image_builds_nothing(tier, make_stack):
    construct, _ = TIERS[tier]
    stack = make_stack()
    ep = construct(stack, "Llm", model=GgufModel.from_ecr_image(IMAGE))
    assert docker_build_args(stack) == []
    assert ep.model_source == "image"
    t = template(stack)
    if tier == "lambda-gguf":
        image = only(t, "AWS::Lambda::Function")["Properties"]["Code"]["ImageUri"]
    else:
        image = only(t, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Image"]
        (pull,) = [s for s in statements(t) if s.get("Sid") == "PullModelImage"]
        assert json.dumps(pull["Resource"]).endswith(':ecr:us-east-1:123456789012:repository/tierwise-runtime"]]}')
    assert "tierwise-runtime:ci" in json.dumps(image)


@pytest.mark.parametrize("tier", TIERS)
def test_model_from_s3_run_by_a_pushed_runtime_image(tier, make_stack):
    construct, env_of = TIERS[tier]
    stack = make_stack()
    construct(stack, "Llm", model=GgufModel.from_s3("s3://my-models/m.gguf", runtime_image_uri=IMAGE))
    assert env_of(template(stack))["MODEL_S3_URI"] == "s3://my-models/m.gguf"
    assert docker_build_args(stack) == []


def test_the_shorthand_props_make_the_same_template_as_the_model_prop(make_stack):
    by_prop, by_shorthand = make_stack(), make_stack()
    SageMakerServerlessEndpoint(by_prop, "Llm", model=GgufModel.from_s3("s3://my-models/k.gguf", sha256=SHA))
    SageMakerServerlessEndpoint(by_shorthand, "Llm", model_uri="s3://my-models/k.gguf", model_sha256=SHA)
    assert template(by_prop).to_json() == template(by_shorthand).to_json()


# --- mistakes: one line naming the prop and what is allowed ---------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GgufModel.baked("http://x/m.gguf"), "GgufModel.baked: url must be an https:// URL"),
        (lambda: GgufModel.baked(URL, sha256="ABC"), "GgufModel.baked: sha256 must be 64 lowercase hex digits"),
        (lambda: GgufModel.from_s3("s3://my-models/k.gguf", "k2"), "GgufModel.from_s3: key must be left out"),
        (lambda: GgufModel.from_s3("my-models"), "GgufModel.from_s3: key must be the object key"),
        (lambda: GgufModel.from_s3("s3:/b"), "GgufModel.from_s3: bucket_or_uri must be s3://bucket/key"),
        (lambda: GgufModel.from_s3("s3://my-models/k.gguf", sha256="12"), "GgufModel.from_s3: sha256 must be 64"),
        (lambda: GgufModel.from_s3("s3://my-models/k.gguf", runtime_image_uri="python:3"),
         "GgufModel.from_s3: runtime_image_uri must be a private ECR image"),
        (lambda: GgufModel.from_file("/no/such.gguf"), "GgufModel.from_file: path must be an existing local file"),
        (lambda: GgufModel.from_ecr_image("docker.io/x:1"), "GgufModel.from_ecr_image: uri must be a private ECR image"),
    ],
)
def test_bad_sources_name_the_parameter(make, message):
    with pytest.raises(PropError) as err:
        make()
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("tier", TIERS)
def test_model_and_shorthand_together_are_refused(tier, make_stack):
    construct, _ = TIERS[tier]
    with pytest.raises(PropError, match=f"{construct.__name__}: model and model_uri both name the model"):
        construct(make_stack(), "Llm", model=GgufModel.baked(URL), model_uri="s3://my-models/k.gguf")
    with pytest.raises(PropError, match=f"{construct.__name__}: model must be a tiers.GgufModel"):
        construct(make_stack(), "Llm", model="s3://my-models/k.gguf")


@pytest.mark.parametrize("tier", TIERS)
def test_a_plan_lends_its_sha256_only_to_a_copy_of_its_own_file(tier, make_stack):
    from model_profiles import load_profile
    from tierwise.placement import plan

    construct, env_of = TIERS[tier]
    placement = plan(load_profile("qwen2.5-0.5b"), tier=tier, region="us-east-1")
    settings = placement.settings
    same = make_stack()
    construct.for_placement(same, "Llm", placement, model_uri=f"s3://my-models/any/{settings.gguf_file}")
    assert env_of(template(same))["MODEL_SHA256"] == settings.gguf_sha256
    other = make_stack()
    construct.for_placement(other, "Llm", placement, model=GgufModel.from_s3("s3://my-models/fine-tuned.gguf"))
    assert "MODEL_SHA256" not in env_of(template(other))
    assert Annotations.from_stack(other).find_warning("*", Match.string_like_regexp("without a sha256"))
