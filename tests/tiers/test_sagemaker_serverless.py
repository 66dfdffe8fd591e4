"""SageMakerServerlessEndpoint: ServerlessConfig, the image for the stack's region, the role."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import aws_sagemaker as sagemaker

from tests.tiers.conftest import grantee, only, statements, template
from tiers.sagemaker_serverless import SageMakerServerlessEndpoint
from tiers.props import PropError
from tierwise.facts import containers

HF = {"container": "huggingface-cpu", "hf_model_id": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
      "hf_task": "text-classification"}
GGUF = {"container": "gguf", "gguf_url": "https://huggingface.co/o/r/resolve/main/m.gguf", "gguf_sha256": "cd" * 32,
        "gguf_file": "m.gguf"}
HF_TAG = containers().image("huggingface-cpu").tag


def test_serverless_config_memory_concurrency_and_key(make_stack):
    stack = make_stack()
    ep = SageMakerServerlessEndpoint(stack, "Srv", **GGUF, memory_mb=4096, max_concurrency=7, provisioned_concurrency=2,
                                     n_ctx=2048, threads=2)
    t = template(stack)
    config = only(t, "AWS::SageMaker::EndpointConfig")["Properties"]
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 7, "ProvisionedConcurrency": 2}
    assert "InstanceType" not in variant
    assert "KmsKeyId" in config

    model = only(t, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]
    assert model["Environment"] == {"N_CTX": "2048", "MAX_TOKENS_DEFAULT": "256", "N_THREADS": "2", "GENERATION_TIMEOUT_S": "57"}
    assert "cdk-hnb659fds-container-assets" in json.dumps(model["Image"])

    # a generated endpoint name, and its log group exists beforehand with retention and KMS
    endpoint = only(t, "AWS::SageMaker::Endpoint")["Properties"]
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", endpoint["EndpointName"])
    group = only(t, "AWS::Logs::LogGroup")["Properties"]
    assert group["LogGroupName"] == f"/aws/sagemaker/Endpoints/{endpoint['EndpointName']}"
    assert group["RetentionInDays"] == 30 and "KmsKeyId" in group
    assert isinstance(ep.node.default_child, sagemaker.CfnEndpoint)

    # the execution role pulls the one asset repository, no managed policy
    role = only(t, "AWS::IAM::Role")["Properties"]
    assert "ManagedPolicyArns" not in role
    (pull,) = [s for s in statements(t) if s.get("Sid") == "PullModelImage"]
    assert "cdk-hnb659fds-container-assets" in json.dumps(pull["Resource"])


def test_gguf_model_from_s3(make_stack):
    stack = make_stack()
    SageMakerServerlessEndpoint(stack, "Srv", container="gguf", model_uri="s3://models/q.gguf")
    t = template(stack)
    env = only(t, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Environment"]
    assert env["MODEL_S3_URI"] == "s3://models/q.gguf"
    (read,) = [s for s in statements(t) if s.get("Sid") == "ReadModelObject"]
    assert read["Action"] == "s3:GetObject" and "models/q.gguf" in json.dumps(read["Resource"])


@pytest.mark.parametrize(
    ("region", "account", "domain"),
    [
        ("us-east-1", "763104351884", "amazonaws.com"),
        ("eu-west-1", "763104351884", "amazonaws.com"),
        ("ap-east-1", "871362719292", "amazonaws.com"),
        ("me-south-1", "217643126080", "amazonaws.com"),
        ("cn-north-1", "727897471807", "amazonaws.com.cn"),
    ],
)
def test_huggingface_cpu_image_uri_is_right_for_the_region(make_stack, region, account, domain):
    stack = make_stack(region)
    SageMakerServerlessEndpoint(stack, "Srv", **HF)
    t = template(stack)
    container = only(t, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]
    assert container["Image"] == f"{account}.dkr.ecr.{region}.{domain}/huggingface-pytorch-inference:{HF_TAG}"
    assert container["Environment"] == {"HF_MODEL_ID": HF["hf_model_id"], "HF_TASK": "text-classification"}
    assert "cpu" in HF_TAG


def test_region_agnostic_stack_looks_the_image_up_by_region(make_stack):
    stack = make_stack(None)
    SageMakerServerlessEndpoint(stack, "Srv", **HF)
    t = template(stack).to_json()
    image = t["Resources"][next(k for k, r in t["Resources"].items() if r["Type"] == "AWS::SageMaker::Model")][
        "Properties"]["PrimaryContainer"]["Image"]
    assert {"Fn::FindInMap": ["DlcRegistry", {"Ref": "AWS::Region"}, "account"]} in image["Fn::Join"][1]
    accounts = containers().registry.accounts
    assert t["Mappings"]["DlcRegistry"] == {r: {"account": a} for r, a in accounts.items()}


def test_unknown_region_fails_with_the_supported_list(make_stack):
    with pytest.raises(PropError, match=r"no checked Deep Learning Container registry for region ap-south-2; supported regions: af-south-1"):
        SageMakerServerlessEndpoint(make_stack("ap-south-2"), "Srv", **HF)


def test_grant_invoke_on_this_endpoint(make_stack):
    stack = make_stack()
    ep = SageMakerServerlessEndpoint(stack, "Srv", **HF)
    ep.grant_invoke(grantee(stack))
    t = template(stack)
    (granted,) = [s for s in statements(t) if "sagemaker:InvokeEndpoint" in s["Action"]]
    assert granted["Resource"] == {"Ref": stack.get_logical_id(ep.cfn_endpoint)}


@pytest.mark.parametrize(
    ("props", "named", "allowed"),
    [
        ({**HF, "memory_mb": 1536}, "memory_mb", "1024, 2048, 3072, 4096, 5120, 6144"),
        ({**HF, "memory_mb": 8192}, "memory_mb", "6144"),
        ({**HF, "max_concurrency": 0}, "max_concurrency", "1..200"),
        ({**HF, "max_concurrency": 201}, "max_concurrency", "1..200"),
        ({**HF, "max_concurrency": 5, "provisioned_concurrency": 6}, "provisioned_concurrency", "1..5"),
        ({**HF, "container": "gpu"}, "container", "gguf, huggingface-cpu"),
        ({"container": "huggingface-cpu", "hf_task": "text-classification"}, "hf_model_id", "org/name"),
        ({**HF, "hf_task": "dance"}, "hf_task", "text-classification"),
        ({"container": "gguf"}, "no model: pass model=GgufModel", "gguf_url"),
    ],
)
def test_bad_props_name_the_prop_and_what_is_allowed(make_stack, props, named, allowed):
    with pytest.raises(PropError) as err:
        SageMakerServerlessEndpoint(make_stack(), "Srv", **props)
    assert str(err.value).startswith("SageMakerServerlessEndpoint: ")
    assert named in str(err.value) and allowed in str(err.value)
