"""SageMakerGpuEndpoint: instance type, tensor parallelism, LMI image per region, KMS, scaling."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from tests.tiers.conftest import grantee, only, resources, statements, template
from tiers.sagemaker_gpu import SageMakerGpuEndpoint
from tiers.props import PropError
from tierwise.facts import containers

MODEL = "meta-llama/Meta-Llama-3-70B-Instruct"
LMI = containers().image("lmi")


def test_multi_gpu_instance_shards_across_all_gpus(make_stack):
    stack = make_stack()
    ep = SageMakerGpuEndpoint(
        stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g6.48xlarge", max_model_len=4096, max_batch_size=5,
        volume_size_gb=293, startup_health_check_timeout_s=1712, min_instances=1, max_instances=2,
    )
    t = template(stack)
    (variant,) = only(t, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"]
    assert variant["InstanceType"] == "ml.g6.48xlarge"
    assert variant["InitialInstanceCount"] == 1
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 1712
    # g6 keeps its volume on NVMe instance storage: no VolumeSizeInGB, no KMS key on the config
    assert "VolumeSizeInGB" not in variant
    assert "KmsKeyId" not in only(t, "AWS::SageMaker::EndpointConfig")["Properties"]

    container = only(t, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]
    assert container["Image"] == f"763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:{LMI.tag}"
    assert container["Environment"] == {
        "HF_MODEL_ID": MODEL,
        "OPTION_TENSOR_PARALLEL_DEGREE": "8",
        "OPTION_DTYPE": "bf16",
        "OPTION_MAX_MODEL_LEN": "4096",
        "OPTION_MAX_ROLLING_BATCH_SIZE": "5",
        "OPTION_PREDICT_TIMEOUT": "60",
    }
    assert ep.tensor_parallel_degree == 8

    # the role may pull the LMI repository of this region's DLC account, nothing else
    (pull,) = [s for s in statements(t) if s.get("Sid") == "PullModelImage"]
    assert json.dumps(pull["Resource"]).endswith(':ecr:us-east-1:763104351884:repository/djl-inference"]]}')


def test_autoscaling_tracks_invocations_per_instance_between_min_and_max(make_stack):
    stack = make_stack()
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g5.12xlarge", min_instances=2, max_instances=5,
                         invocations_per_instance_target=40)
    t = template(stack)
    target = only(t, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert "RoleARN" not in target  # Application Auto Scaling's service-linked role
    assert "variant/AllTraffic" in json.dumps(target["ResourceId"])
    policy = only(t, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert config["TargetValue"] == 40
    (variant,) = only(t, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 2
    assert not [r for r in resources(t, "AWS::IAM::Role").values()
                if "application-autoscaling" in json.dumps(r)]


def test_alarms_on_errors_and_gpu_memory(make_stack):
    stack = make_stack()
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g5.12xlarge")
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in resources(stack, "AWS::CloudWatch::Alarm").values()}
    assert set(alarms) == {"Invocation5XXErrors", "GPUMemoryUtilization"}
    assert alarms["GPUMemoryUtilization"]["Threshold"] == 95 * 4  # the metric sums the instance's 4 GPUs


def test_instance_with_ebs_volume_gets_the_key_and_the_volume_size(make_stack):
    stack = make_stack()
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g5.2xlarge", local_nvme=False, volume_size_gb=60)
    config = only(stack, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert "KmsKeyId" in config
    assert config["ProductionVariants"][0]["VolumeSizeInGB"] == 60


@pytest.mark.parametrize(("region", "account"), [("eu-south-1", "692866216735"), ("ap-northeast-3", "364406365360")])
def test_lmi_image_uri_per_region(make_stack, region, account):
    stack = make_stack(region)
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g5.2xlarge")
    image = only(stack, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Image"]
    assert image == f"{account}.dkr.ecr.{region}.amazonaws.com/djl-inference:{LMI.tag}"


def test_fp8_is_runtime_quantization(make_stack):
    stack = make_stack()
    SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g6e.12xlarge", serving_dtype="FP8")
    env = only(stack, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Environment"]
    assert (env["OPTION_DTYPE"], env["OPTION_QUANTIZE"]) == ("bf16", "fp8")


def test_an_int4_plan_deploys_the_awq_checkpoint(make_stack):
    from model_profiles import load_profile
    from tierwise.placement import plan

    placement = plan(load_profile("qwen2.5-7b"), tier="sagemaker-gpu", quant="INT4")
    assert placement.settings.hf_model_id == "Qwen/Qwen2.5-7B-Instruct-AWQ" and placement.quant == "INT4"
    stack = make_stack()
    SageMakerGpuEndpoint.for_placement(stack, "Gpu", placement)
    env = only(stack, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Environment"]
    assert (env["HF_MODEL_ID"], env["OPTION_DTYPE"], env["OPTION_QUANTIZE"]) == (
        "Qwen/Qwen2.5-7B-Instruct-AWQ", "fp16", "awq")
    # the batch and the autoscaling target are the plan's operating point
    assert env["OPTION_MAX_ROLLING_BATCH_SIZE"] == str(placement.capacity["concurrency_per_instance"])
    policy = only(stack, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]
    target = policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
    assert target == placement.settings.invocations_per_instance_target
    assert target == int(placement.capacity["planned_requests_per_second_per_instance"] * 60)


def test_bf16_on_t4_is_served_as_fp16_with_a_warning(make_stack):
    stack = make_stack()
    ep = SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g4dn.12xlarge", serving_dtype="BF16")
    env = only(stack, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]["Environment"]
    assert env["OPTION_DTYPE"] == "fp16"
    from aws_cdk.assertions import Annotations

    Annotations.from_stack(stack).has_warning(f"/{ep.node.path}", Match.string_like_regexp("no bfloat16"))


def test_grant_invoke(make_stack):
    stack = make_stack()
    ep = SageMakerGpuEndpoint(stack, "Gpu", hf_model_id=MODEL, instance_type="ml.g5.2xlarge")
    ep.grant_invoke(grantee(stack))
    (granted,) = [s for s in statements(template(stack)) if "sagemaker:InvokeEndpoint" in s["Action"]]
    assert sorted(granted["Action"]) == ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]


@pytest.mark.parametrize(
    ("props", "named", "allowed"),
    [
        ({"instance_type": "ml.m5.large"}, "instance_type", "ml.g5.2xlarge"),
        ({"instance_type": "ml.g5.12xlarge", "tensor_parallel_degree": 3}, "tensor_parallel_degree", "1, 2, 4"),
        ({"instance_type": "ml.g5.2xlarge", "tensor_parallel_degree": 2}, "tensor_parallel_degree", "1..1"),
        ({"serving_dtype": "INT8"}, "serving_dtype", "F32, F16, BF16, FP8, INT4"),
        ({"min_instances": 0}, "min_instances", ">= 1"),
        ({"min_instances": 3, "max_instances": 2}, "max_instances", ">= 3"),
        ({"startup_health_check_timeout_s": 30}, "startup_health_check_timeout_s", "60..3,600"),
        ({"hf_model_id": "not an id"}, "hf_model_id", "org/name"),
    ],
)
def test_bad_props_name_the_prop_and_what_is_allowed(make_stack, props, named, allowed):
    with pytest.raises(PropError) as err:
        SageMakerGpuEndpoint(make_stack(), "Gpu", **{"hf_model_id": MODEL, **props})
    assert str(err.value).startswith("SageMakerGpuEndpoint: ")
    assert named in str(err.value) and allowed in str(err.value)


def test_for_profile_sizes_the_instance(make_stack):
    from model_profiles import load_profile

    stack = make_stack()
    ep = SageMakerGpuEndpoint.for_profile(stack, "Gpu", load_profile("llama3-70b"), min_instances=2)
    (variant,) = only(stack, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"]
    assert variant["InstanceType"] == ep.instance_type and variant["InitialInstanceCount"] == 2
