"""ModelStack over the whole catalogue: every model synthesizes, the template says what the plan
says, every resource carries the cost tags, the outputs say how to call what was deployed."""

from __future__ import annotations

import json

import pytest

from model_profiles import load_catalogue
from stacks.app_context import stack_id
from tierwise.contract import TAG_MODEL, TAG_QUANT, TAG_TIER
from tests.stacks.conftest import WEIGHTS_URI, Synthesis
from tiers.bedrock.provisioned import RESOURCE_TYPE
from tiers.bedrock_custom.construct import RESOURCE_TYPE as IMPORT_TYPE

# CloudFormation resource types that take no Tags property (so cannot carry the cost tags)
UNTAGGABLE = {
    "AWS::IAM::Policy",
    "AWS::S3::BucketPolicy",
    "AWS::Lambda::Url",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
}


def resources_of(template: dict, type_: str) -> list[dict]:
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def main_kind(resource: dict, imports: bool = False) -> str | None:
    """Which tier a resource is the main resource of (None for supporting resources). `imports`:
    the template imports weights, so a role Bedrock assumes is the import's service role."""
    type_ = resource["Type"]
    if type_ == "AWS::Lambda::Function" and resource["Properties"].get("PackageType") == "Image":
        return "lambda"
    if (type_ == "AWS::IAM::Role" and not imports
            and "bedrock.amazonaws.com" in json.dumps(resource["Properties"]["AssumeRolePolicyDocument"])):
        return "bedrock"  # the role batch jobs run as: bedrock-batch's one resource that does the work
    return {"AWS::SageMaker::Endpoint": "sagemaker", RESOURCE_TYPE: "bedrock", IMPORT_TYPE: "bedrock",
            "AWS::Bedrock::ApplicationInferenceProfile": "bedrock"}.get(type_)


def one(template: dict, type_: str) -> dict:
    found = resources_of(template, type_)
    assert len(found) == 1, f"{len(found)} x {type_}"
    return found[0]["Properties"]


def test_every_catalogue_model_has_a_stack(synthesis: Synthesis):
    expected = {stack_id(name) for name in load_catalogue()}
    assert expected <= set(synthesis.placements)
    for name in synthesis.placements:
        assert (synthesis.outdir / f"{name}.template.json").is_file()
    # every tier and container kind is synthesized (forced onto a model where no plan uses it)
    kinds = {p.tier if p.tier != "sagemaker-serverless" else f"{p.tier}/{p.settings.container}"
             for p in synthesis.placements.values()}
    assert kinds == {"lambda-gguf", "sagemaker-serverless/gguf", "sagemaker-serverless/huggingface-cpu",
                     "sagemaker-gpu", "sagemaker-async", "bedrock-provisioned", "bedrock-on-demand", "bedrock-batch",
                     "bedrock-custom"}


def test_each_template_holds_the_planned_tier_with_the_planned_settings(synthesis: Synthesis):
    for name, placement in synthesis.placements.items():
        t = synthesis.template(name)
        s = placement.settings.model_dump()
        assert t["Outputs"]["Tier"]["Value"] == placement.tier, name
        if placement.tier == "lambda-gguf":
            fn = one(t, "AWS::Lambda::Function")
            assert (fn["MemorySize"], fn["Timeout"]) == (s["memory_mb"], s["timeout_s"]), name
            # the model is baked into the image here: /tmp keeps Lambda's free 512 MB
            assert fn["EphemeralStorage"]["Size"] == 512
            assert fn["Architectures"] == [s["architecture"]]
            assert fn.get("ReservedConcurrentExecutions") == s["reserved_concurrency"]
            assert fn["Environment"]["Variables"]["N_CTX"] == str(s["n_ctx"])
            (image,) = synthesis.assets(name)["dockerImages"].values()
            args = image["source"]["dockerBuildArgs"]
            assert args["GGUF_URL"] == s["gguf_url"] and args["GGUF_FILE"] == s["gguf_file"]
            assert args.get("GGUF_SHA256") == s["gguf_sha256"]
        elif placement.tier == "sagemaker-serverless":
            (variant,) = one(t, "AWS::SageMaker::EndpointConfig")["ProductionVariants"]
            assert variant["ServerlessConfig"]["MemorySizeInMB"] == s["memory_mb"]
            assert variant["ServerlessConfig"]["MaxConcurrency"] == s["max_concurrency"]
        elif placement.tier == "sagemaker-gpu":
            (variant,) = one(t, "AWS::SageMaker::EndpointConfig")["ProductionVariants"]
            assert variant["InstanceType"] == s["instance_type"]
            assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == s["startup_health_check_timeout_s"]
            env = one(t, "AWS::SageMaker::Model")["PrimaryContainer"]["Environment"]
            assert env["OPTION_TENSOR_PARALLEL_DEGREE"] == str(s["tensor_parallel_degree"]) == str(s["gpu_count"])
            assert env["OPTION_MAX_MODEL_LEN"] == str(s["max_model_len"])
            scaling = one(t, "AWS::ApplicationAutoScaling::ScalableTarget")
            assert (scaling["MinCapacity"], scaling["MaxCapacity"]) == (s["min_instances"], s["max_instances"])
        elif placement.tier == "sagemaker-async":
            config = one(t, "AWS::SageMaker::EndpointConfig")
            (variant,) = config["ProductionVariants"]
            assert variant["InstanceType"] == s["instance_type"]
            client = config["AsyncInferenceConfig"]["ClientConfig"]
            assert client["MaxConcurrentInvocationsPerInstance"] == s["max_concurrent_invocations_per_instance"]
            scaling = one(t, "AWS::ApplicationAutoScaling::ScalableTarget")
            assert (scaling["MinCapacity"], scaling["MaxCapacity"]) == (0, s["max_instances"])
            (bucket,) = resources_of(t, "AWS::S3::Bucket")
            assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == s["retention_days"]
        elif placement.tier == "bedrock-batch":
            buckets = resources_of(t, "AWS::S3::Bucket")
            assert [b["Metadata"]["tierwise"]["holds"] for b in buckets] == ["job-input", "job-output"]
            for bucket in buckets:
                assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == s["retention_days"]
                assert bucket["Metadata"]["tierwise"]["recordsPerJob"] == [s["min_records_per_job"], s["max_records_per_job"]]
            policies = json.dumps(resources_of(t, "AWS::IAM::Policy"))
            assert f"foundation-model/{s['model_id']}" in policies
            assert t["Outputs"]["ModelId"]["Value"] == s["model_id"]
        elif placement.tier == "bedrock-provisioned":
            props = resources_of(t, RESOURCE_TYPE)[0]["Properties"]
            assert (props["ModelId"], props["ModelUnits"]) == (s["model_id"], s["model_units"])
            assert props.get("CommitmentDuration") == s["commitment"]
        elif placement.tier == "bedrock-custom":
            (resource,) = resources_of(t, IMPORT_TYPE)
            assert resource["Properties"]["WeightsUri"] == WEIGHTS_URI
            assert resource["Metadata"]["tierwise"] == {"customModelUnits": s["custom_model_units"], "copies": s["copies"]}
        else:
            profile = one(t, "AWS::Bedrock::ApplicationInferenceProfile")
            assert s["model_id"] in json.dumps(profile["ModelSource"])
        imports = bool(resources_of(t, IMPORT_TYPE))
        present = [main_kind(r, imports) for r in t["Resources"].values() if main_kind(r, imports)]
        assert present == [placement.tier.split("-")[0]], f"{name}: exactly one tier construct, found {present}"


def test_every_resource_carries_the_cost_tags(synthesis: Synthesis):
    for name, placement in synthesis.placements.items():
        expected = {TAG_MODEL: placement.model, TAG_TIER: placement.tier, TAG_QUANT: placement.quant or "none"}
        for logical_id, resource in synthesis.template(name)["Resources"].items():
            if resource["Type"] in UNTAGGABLE:
                continue
            tags = resource.get("Properties", {}).get("Tags")
            assert tags is not None, f"{name}/{logical_id} ({resource['Type']}) has no tags"
            as_dict = tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}
            assert {k: as_dict.get(k) for k in expected} == expected, f"{name}/{logical_id}"


def test_outputs_say_how_to_invoke(synthesis: Synthesis):
    wanted = {
        "lambda-gguf": {"FunctionUrl", "FunctionName", "InvokeCommand", "InvokeUrlCommand", "ChatCommand"},
        "sagemaker-serverless": {"EndpointName", "InvokeCommand"},
        "sagemaker-gpu": {"EndpointName", "InvokeCommand", "ChatCommand"},
        "bedrock-provisioned": {"ProvisionedModelArn", "InvokeCommand"},
        "bedrock-on-demand": {"InferenceProfileArn", "InvokeCommand"},
        "sagemaker-async": {"EndpointName", "Bucket", "InvokeCommand"},
        "bedrock-batch": {"InputBucket", "OutputBucket", "ServiceRoleArn", "ModelId", "JobTimeoutHours", "SubmitCommand"},
        "bedrock-custom": {"ImportedModelArn", "CustomModelUnits", "InvokeCommand", "ChatCommand"},
    }
    commands = {
        "lambda-gguf": "aws lambda invoke",
        "sagemaker-serverless": "aws sagemaker-runtime invoke-endpoint",
        "sagemaker-gpu": "aws sagemaker-runtime invoke-endpoint",
        "bedrock-provisioned": "aws bedrock-runtime converse",
        "bedrock-on-demand": "aws bedrock-runtime converse",
        "sagemaker-async": "aws sagemaker-runtime invoke-endpoint-async",
        "bedrock-batch": "tierwise batch submit",
        "bedrock-custom": "aws bedrock-runtime invoke-model",
    }
    for name, placement in synthesis.placements.items():
        outputs = synthesis.template(name)["Outputs"]
        # `tierwise chat` for the generative containers (the GGUF runtime, LMI)
        chat = {"ChatCommand"} if placement.tier == "sagemaker-serverless" and placement.settings.container == "gguf" else set()
        alarmed = {"AlarmsNotify"} if placement.module().alarms else set()  # who the alarms notify (nobody here)
        assert wanted[placement.tier] | chat | alarmed | {"Tier", "Model"} == set(outputs), name
        command = outputs.get("InvokeCommand", outputs.get("SubmitCommand"))
        assert commands[placement.tier] in json.dumps(command["Value"]), name
        if placement.tier == "lambda-gguf":
            assert "awscurl --service lambda" in json.dumps(outputs["InvokeUrlCommand"]["Value"])


def test_function_urls_are_iam_only(synthesis: Synthesis):
    for name in synthesis.stacks_on("lambda-gguf"):
        for url in resources_of(synthesis.template(name), "AWS::Lambda::Url"):
            assert url["Properties"]["AuthType"] == "AWS_IAM", name


def test_no_managed_policies_and_no_full_access(synthesis: Synthesis):
    for name in synthesis.placements:
        text = json.dumps(synthesis.template(name))
        assert "ManagedPolicyArns" not in text, name
        assert "FullAccess" not in text, name


@pytest.mark.parametrize("tier", ["sagemaker-serverless", "sagemaker-gpu", "sagemaker-async"])
def test_endpoint_names_are_generated_and_valid(synthesis: Synthesis, tier):
    import re

    for name in synthesis.stacks_on(tier):
        endpoint = one(synthesis.template(name), "AWS::SageMaker::Endpoint")
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", endpoint["EndpointName"]), name
