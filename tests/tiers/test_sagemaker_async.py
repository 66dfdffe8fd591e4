"""sagemaker-async: the GPU tier's sizing on the instances offered for asynchronous inference, busy
instance-hours as the bill, and the SageMakerAsyncEndpoint construct (the async config, its bucket,
scaling to zero as AWS documents it, the same LMI container as the GPU tier)."""

from __future__ import annotations

import json
import math

import pytest

from model_profiles import load_profile
from tests.tiers.conftest import only, resources, statements, template
from tiers.props import PropError
from tiers.sagemaker_async import SageMakerAsyncEndpoint
from tiers.sagemaker_gpu import SageMakerGpuEndpoint
from tierwise.cost import bills
from tierwise.cost.prices import load_prices
from tierwise.facts import async_limits, sagemaker_async
from tierwise.placement import candidates, plan
from tierwise.workload import Workload

BATCH = Workload(requests_per_month=30_000, input_tokens=1000, output_tokens=300, batch=True)
MODEL = "meta-llama/Meta-Llama-3-8B-Instruct"


def test_llama3_8b_batch_work_runs_on_the_gpu_tiers_instance_for_the_hours_it_is_busy():
    p = plan(load_profile("llama3-8b"), workload=BATCH, tier="sagemaker-async")
    gpu = plan(load_profile("llama3-8b"), workload=BATCH, tier="sagemaker-gpu")
    s = p.settings
    # the GPU tier's own sizing: the same instance, dtype, context and batch
    for field in ("instance_type", "serving_dtype", "max_model_len", "max_batch_size", "hf_model_id",
                  "startup_health_check_timeout_s"):
        assert getattr(s, field) == getattr(gpu.settings, field), field
    assert (s.min_instances, s.max_instances, s.max_concurrent_invocations_per_instance) == (0, 1, s.max_batch_size)
    assert p.seconds_per_request == pytest.approx(gpu.seconds_per_request)
    # busy hours: the work at the batch the GPU tier runs, and per daily submission the start-up
    # timeout and the 15 minutes the target tracking policy waits before it scales in
    work_h = 30_000 * p.seconds_per_request / s.max_batch_size / 3600
    overhead_h = 30 * (s.startup_health_check_timeout_s + 15 * 60) / 3600
    (line,) = [c for c in p.bill if c.name.startswith("Async instance")]
    assert line.monthly_quantity == pytest.approx(work_h + overhead_h)
    assert line.price == load_prices().instance_hour("us-east-1", s.instance_type).value
    assert p.capacity["busy_instance_hours"] == pytest.approx(work_h + overhead_h, abs=0.01)
    assert p.cold_start_s == 120 + s.startup_health_check_timeout_s
    # a fraction of the same GPU running all month
    assert p.monthly_cost_usd < gpu.monthly_cost_usd / 10


def test_with_batch_it_wins_issue_17s_example_and_the_cpu_tier_is_the_runner_up():
    p = plan(load_profile("llama3-8b"), workload=BATCH, hosting="self")
    assert p.tier == "sagemaker-async" and p.runner_up["tier"] == "lambda-gguf"
    assert p.runner_up["monthly_cost_usd"] > 10 * p.monthly_cost_usd


def test_an_instance_type_not_offered_for_asynchronous_inference_is_never_chosen():
    not_offered = sagemaker_async().pricing.not_offered.instance_types
    for model in ("tinyllama-1.1b", "qwen2.5-0.5b", "phi3-mini"):
        found = candidates(load_profile(model), workload=BATCH)
        assert found["sagemaker-gpu"].settings.instance_type in not_offered  # the always-on choice
        assert found["sagemaker-async"].settings.instance_type not in not_offered, model


def test_a_submission_starts_enough_instances_to_drain_before_requests_expire():
    big = BATCH.model_copy(update={"requests_per_month": 30_000_000})
    p = plan(load_profile("llama3-8b"), workload=big, tier="sagemaker-async")
    s = p.settings
    work_s = 1_000_000 * p.seconds_per_request / s.max_batch_size
    ttl = async_limits().request_ttl_s_max
    assert s.max_instances == math.ceil(work_s / (ttl - 120 - s.startup_health_check_timeout_s)) > 1
    assert s.request_ttl_s == ttl


def test_interactive_work_and_closed_models_are_refused():
    assert candidates(load_profile("llama3-8b"))["sagemaker-async"].startswith(
        "an asynchronous endpoint queues each request")
    assert "closed model" in candidates(load_profile("nova-pro"), workload=BATCH)["sagemaker-async"]


def test_async_hours_are_unknown_when_the_price_list_offers_no_rate(monkeypatch):
    facts = sagemaker_async()
    pricing = facts.pricing.model_copy(update={"instance_hour_same_as_realtime": None})
    monkeypatch.setattr(bills, "sagemaker_async", lambda: facts.model_copy(update={"pricing": pricing}))
    line = bills.async_instance_hours(load_prices(), "us-east-1", instance_type="ml.g6.xlarge", hours=10.0)
    assert line.monthly_cost is None and line.price is None
    # and a type the Price List does not offer for it, even with the rate established
    monkeypatch.undo()
    line = bills.async_instance_hours(load_prices(), "us-east-1", instance_type="ml.g4dn.xlarge", hours=10.0)
    assert line.monthly_cost is None


def test_busy_hours_never_exceed_the_instances_running_all_month():
    hours = bills.async_busy_hours(requests=10**9, seconds_per_request=30.0, concurrency=1, instances_per_job=2,
                                   start_s=600, idle_s=900)
    assert hours == 2 * bills.HOURS_PER_MONTH
    assert bills.async_busy_hours(requests=0, seconds_per_request=None, concurrency=1, instances_per_job=1,
                                  start_s=600, idle_s=900) == 0
    # a month of fewer requests than submissions starts an instance per request
    assert bills.async_busy_hours(requests=3, seconds_per_request=36.0, concurrency=1, instances_per_job=1,
                                  start_s=600, idle_s=900) == pytest.approx((3 * 36 + 3 * 1500) / 3600)


def test_the_construct_configures_asynchronous_inference_into_its_own_bucket(make_stack):
    stack = make_stack()
    ep = SageMakerAsyncEndpoint(stack, "Async", hf_model_id=MODEL, instance_type="ml.g6.xlarge", max_batch_size=5,
                                max_instances=3, startup_health_check_timeout_s=600)
    t = template(stack)
    config = only(t, "AWS::SageMaker::EndpointConfig")["Properties"]
    out = config["AsyncInferenceConfig"]["OutputConfig"]
    assert json.dumps(out["S3OutputPath"]).endswith('/output"]]}') and json.dumps(out["S3FailurePath"]).endswith(
        '/failures"]]}')
    assert "KmsKeyId" in out and config["AsyncInferenceConfig"]["ClientConfig"] == {
        "MaxConcurrentInvocationsPerInstance": 5}
    (variant,) = config["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 1 and variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 600
    (bucket,) = resources(t, "AWS::S3::Bucket").values()
    assert bucket["Metadata"]["tierwise"] == {"holds": "request-io"}
    by_sid = {s.get("Sid"): s for s in statements(t)}
    assert by_sid["ReadRequests"]["Action"] == "s3:GetObject"
    assert by_sid["WriteAnswers"]["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert set(ep.outputs()) == {"EndpointName", "Bucket", "InvokeCommand"}


def test_it_scales_to_zero_as_aws_documents_for_asynchronous_endpoints(make_stack):
    stack = make_stack()
    SageMakerAsyncEndpoint(stack, "Async", hf_model_id=MODEL, max_batch_size=5, max_instances=3)
    t = template(stack)
    scaling = sagemaker_async().scaling
    target = only(t, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 3) and "RoleARN" not in target
    found = resources(t, "AWS::ApplicationAutoScaling::ScalingPolicy")
    policies = {p["Properties"]["PolicyType"]: p["Properties"] for p in found.values()}
    (step_id,) = [lid for lid, p in found.items() if p["Properties"]["PolicyType"] == "StepScaling"]
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 5
    metric = tracking["CustomizedMetricSpecification"]
    assert (metric["MetricName"], metric["Namespace"], metric["Statistic"]) == (
        "ApproximateBacklogSizePerInstance", "AWS/SageMaker", "Average")
    step = policies["StepScaling"]
    assert step["PolicyName"] == scaling.scale_from_zero.policy_name
    config = step["StepScalingPolicyConfiguration"]
    assert (config["AdjustmentType"], config["Cooldown"], config["MetricAggregationType"]) == (
        "ChangeInCapacity", 300, "Average")
    assert config["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in resources(t, "AWS::CloudWatch::Alarm").values()}
    zero = alarms["HasBacklogWithoutCapacity"]
    assert (zero["EvaluationPeriods"], zero["DatapointsToAlarm"], zero["Threshold"], zero["Period"]) == (2, 2, 1, 60)
    assert (zero["ComparisonOperator"], zero["TreatMissingData"], zero["Statistic"]) == (
        "GreaterThanOrEqualToThreshold", "missing", "Average")
    assert zero["AlarmActions"] == [{"Ref": step_id}]  # the alarm starts an instance through the step policy
    assert set(alarms) == {"HasBacklogWithoutCapacity", "InvocationFailures"}


def test_it_runs_the_gpu_tiers_lmi_container(make_stack):
    """The same container as SageMakerGpuEndpoint for the same props; only LMI's request timeout
    follows the asynchronous invocation timeout instead of the 60 s real-time limit."""
    props = dict(hf_model_id=MODEL, instance_type="ml.g5.2xlarge", max_model_len=4096, max_batch_size=6)
    a, g = make_stack(), make_stack()
    SageMakerAsyncEndpoint(a, "Ep", **props)
    SageMakerGpuEndpoint(g, "Ep", **props)
    async_env = only(template(a), "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]
    gpu_env = only(template(g), "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]
    assert async_env["Image"] == gpu_env["Image"]
    assert {**async_env["Environment"], "OPTION_PREDICT_TIMEOUT": "60"} == gpu_env["Environment"]
    assert async_env["Environment"]["OPTION_PREDICT_TIMEOUT"] == str(async_limits().invocation_timeout_s_default)


@pytest.mark.parametrize("props,message", [
    ({"instance_type": "ml.g4dn.xlarge"}, "instance_type ml.g4dn.xlarge is not offered for asynchronous inference"),
    ({"max_concurrent_invocations_per_instance": 0}, "max_concurrent_invocations_per_instance must be an integer 1..1,000"),
    ({"invocation_timeout_s": 4000}, "invocation_timeout_s must be an integer 1..3,600"),
    ({"max_instances": 0}, "max_instances must be an integer >= 1"),
    ({"tensor_parallel_degree": 3, "instance_type": "ml.g5.12xlarge"}, "tensor_parallel_degree must divide the 4 GPUs"),
])
def test_bad_props_are_one_line(make_stack, props, message):
    with pytest.raises(PropError, match=message):
        SageMakerAsyncEndpoint(make_stack(), "Async", hf_model_id=MODEL, **props)
