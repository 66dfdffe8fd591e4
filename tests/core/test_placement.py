import pytest

from model_profiles import load_catalogue, load_profile
from tierwise.errors import TierwiseError
from tierwise import tiers
from tierwise.placement import Placement, candidates, plan

TIERS = tiers.ids()
from tierwise.workload import Workload

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def plans():
    return {name: plan(p) for name, p in CATALOGUE.items()}


def test_every_catalogue_model_gets_a_tier_with_reasons_and_rejections(plans):
    for name, p in plans.items():
        assert p.tier in TIERS, name
        assert p.reasons, name
        assert set(p.rejected) | {p.tier} == set(TIERS), name
        assert p.tier not in p.rejected


def test_settings_contract_per_tier(plans):
    required = {
        "lambda-gguf": {"memory_mb", "vcpus", "ephemeral_storage_mb", "timeout_s", "architecture", "n_ctx", "threads",
                        "gguf_file", "gguf_url", "gguf_sha256", "file_bytes", "reserved_concurrency"},
        "sagemaker-serverless": {"memory_mb", "max_concurrency", "provisioned_concurrency", "container"},
        "sagemaker-gpu": {"instance_type", "gpu_count", "gpu_memory_gb", "tensor_parallel_degree", "serving_dtype",
                          "hf_model_id", "max_model_len", "max_batch_size", "volume_size_gb",
                          "startup_health_check_timeout_s", "min_instances", "max_instances", "local_nvme"},
        "bedrock-provisioned": {"model_id", "model_units", "commitment"},
        "bedrock-on-demand": {"model_id", "model_units"},
        "bedrock-custom": {"model_type", "architecture", "custom_model_units", "copies", "peak_copies", "weights_gb",
                           "context_tokens", "merge_adapter"},
    }
    for name in CATALOGUE:
        for tier, option in candidates(CATALOGUE[name]).items():
            if isinstance(option, Placement):
                assert required[tier] <= set(option.settings.model_dump()), (name, tier)


def test_small_models_run_on_lambda_with_memory_sized_for_speed(plans):
    # Lambda bills GB-seconds and a vCPU comes with every 1,769 MB, so more memory finishes a
    # request sooner for the same money: the plan takes the most memory when it costs no more
    for name in ("llama3.2-1b", "qwen2.5-0.5b", "tinyllama-1.1b"):
        p = plans[name]
        assert p.tier == "lambda-gguf", (name, p.rejected)
        s = p.settings.model_dump()
        assert s["memory_mb"] * 1024**2 >= p.memory.total_bytes * 1.1
        assert s["memory_mb"] == 10240 and s["threads"] == 5
        assert s["architecture"] == "arm64" and any("linux/arm64" in r for r in p.reasons)
        assert p.seconds_per_request <= 30 and p.tokens_per_second >= 5


def test_lambda_memory_is_the_cheapest_per_request_that_meets_the_target():
    from tierwise.cost.estimates import estimate_tier_cost

    p = plan(load_profile("tinyllama-1.1b"), tier="lambda-gguf")
    smaller = p.settings.model_copy(update={"memory_mb": 4096, "vcpus": round(4096 / 1769, 2)})
    slower = p.seconds_per_request * p.settings.memory_mb / 4096
    big = estimate_tier_cost("lambda-gguf", p.settings, p.profile, p.workload, "us-east-1", None,
                             seconds_per_request=p.seconds_per_request)
    small = estimate_tier_cost("lambda-gguf", smaller, p.profile, p.workload, "us-east-1", None,
                               seconds_per_request=slower)
    assert big.monthly_usd <= small.monthly_usd * 1.005


def test_llama3_8b_plan_numbers():
    p = plan(load_profile("llama3-8b"), tier="lambda-gguf", workload=Workload(batch=True))
    assert p.quant == "Q4_K_M" and p.context == 4096
    # 4.58 GiB weights + 0.5 GiB KV + runtime, +10%, fits; sized up to 10,240 MB for speed
    assert p.memory.total_bytes * 1.1 < 6500 * 1024**2 and p.settings.memory_mb == 10240
    assert p.settings.gguf_file.endswith(".gguf")


def test_a_cpu_that_misses_the_interactive_target_is_rejected_with_the_figures(plans):
    p = plans["llama3-8b"]
    assert p.tier != "lambda-gguf"
    assert "over the 30 s target" in p.rejected["lambda-gguf"]
    batch = plan(load_profile("llama3-8b"), workload=Workload(batch=True), hosting="self")
    assert batch.target["batch"] is True and batch.rejected["lambda-gguf"].startswith("feasible")


def test_70b_hosted_goes_to_a_gpu_instance_with_enough_memory():
    p = plan(load_profile("llama3-70b"), hosting="self")
    assert p.tier == "sagemaker-gpu"
    s = p.settings.model_dump()
    assert s["gpu_count"] * s["gpu_memory_gb"] * 1024**3 * 0.9 > p.memory.total_bytes
    assert s["tensor_parallel_degree"] == s["gpu_count"]
    assert "Lambda allows at most 10,240 MB" in p.rejected["lambda-gguf"]
    assert "at most 6,144 MB" in p.rejected["sagemaker-serverless"]
    assert "--hosting self keeps to tiers we host" in p.rejected["bedrock-on-demand"]
    assert any(w.startswith("bedrock-on-demand would cost $") for w in p.warnings)


def test_405b_at_fp8_goes_to_h100s_because_bedrock_retired_it(plans):
    p = plans["llama3.1-405b"]
    assert p.tier == "sagemaker-gpu"
    assert p.settings.instance_type == "ml.p5.48xlarge" and p.settings.serving_dtype == "FP8"
    assert "EOL" in p.rejected["bedrock-on-demand"]


def test_closed_model_goes_to_bedrock(plans):
    closed = [n for n, prof in CATALOGUE.items() if not prof.open_weights]
    assert closed
    for name in closed:
        assert plans[name].tier in ("bedrock-on-demand", "bedrock-provisioned")
        assert plans[name].settings.model_id


def test_predictive_task_goes_to_the_smallest_cpu_tier(plans):
    p = plans["distilbert-sst2"]
    assert p.tier == "sagemaker-serverless"
    assert p.settings.container == "huggingface-cpu"
    assert p.tokens_per_second is None and p.seconds_per_request < 5
    assert "predictive" in p.reasons[0]
    assert "priced per request" in " ".join(p.reasons)
    assert "text-generation container" in p.rejected["sagemaker-gpu"]
    assert "generative" in p.rejected["lambda-gguf"]


def test_forced_tier_and_infeasible_forced_tier():
    p = plan(load_profile("llama3-8b"), tier="sagemaker-gpu")
    assert p.tier == "sagemaker-gpu" and p.settings.instance_type.startswith("ml.")
    assert p.rejected["bedrock-on-demand"] == "feasible, but --tier sagemaker-gpu was asked for"
    with pytest.raises(TierwiseError, match=r"tier lambda-gguf cannot serve llama3-70b: needs [\d,]+ MB .* at most 10,240 MB"):
        plan(load_profile("llama3-70b"), tier="lambda-gguf")
    with pytest.raises(TierwiseError, match="unknown tier 'ec2'"):
        plan(load_profile("llama3-8b"), tier="ec2")


def test_quant_and_context_change_the_memory():
    small = plan(load_profile("llama3-8b"), quant="Q4_K_M", context=1024, tier="lambda-gguf", workload=Workload(batch=True))
    big = plan(load_profile("llama3-8b"), quant="Q5_K_M", context=8192, tier="lambda-gguf", workload=Workload(batch=True))
    assert small.memory.total_bytes < big.memory.total_bytes
    assert big.settings.n_ctx == 8192


def test_tokens_per_second_floor_moves_a_model_off_cpu():
    slow_ok = plan(load_profile("tinyllama-1.1b"))
    fast = plan(load_profile("tinyllama-1.1b"), workload=Workload(tokens_per_second_floor=40))
    assert slow_ok.tier == "lambda-gguf"
    assert fast.tier != "lambda-gguf"
    assert "floor" in fast.rejected["lambda-gguf"]


def test_workload_is_an_input():
    long_answers = Workload(output_tokens=2000, input_tokens=2000, batch=True)
    p = plan(load_profile("phi3-mini"), workload=long_answers, hosting="self")
    assert "the tier stops at 60 s" in p.rejected["sagemaker-serverless"]


def test_custom_bedrock_model_needs_provisioned_throughput():
    base = load_profile("nova-pro")
    custom = base.model_copy(update={
        "name": "nova-pro-finetuned",
        "bedrock": base.bedrock.model_copy(update={"custom_model": True, "provisioned_throughput": True}),
    })
    p = plan(custom)
    assert p.tier == "bedrock-provisioned"
    assert p.settings.model_units == 1 and p.settings.commitment is None
    assert "only provisioned throughput" in p.rejected["bedrock-on-demand"]
    committed = plan(custom, commitment="SixMonths")
    assert committed.settings.commitment == "SixMonths"
    with pytest.raises(TierwiseError, match="unknown commitment 'TwoYears'"):
        plan(custom, commitment="TwoYears")


def test_hosting_auto_includes_bedrock_on_demand_and_self_says_what_it_costs():
    auto = plan(load_profile("llama3-8b"))
    assert auto.tier == "bedrock-on-demand" and auto.hosting == "auto"
    own = plan(load_profile("llama3-8b"), hosting="self")
    assert own.tier in ("lambda-gguf", "sagemaker-serverless", "sagemaker-gpu")
    warning = next(w for w in own.warnings if w.startswith("bedrock-on-demand would cost $"))
    assert "--tier bedrock-on-demand" in warning and "more under --hosting self" in warning
    managed = plan(load_profile("llama3-8b"), hosting="managed")
    assert managed.tier == "bedrock-on-demand"
    with pytest.raises(TierwiseError, match="unknown hosting 'cloud'"):
        plan(load_profile("llama3-8b"), hosting="cloud")


def test_a_generative_model_for_a_predictive_task_gets_a_warning():
    p = plan(load_profile("llama3-8b"), task="classification")
    warning = next(w for w in p.warnings if "planned for a classification task" in w)
    assert "distilbert-sst2" in warning
    assert not any("planned for" in w for w in plan(load_profile("llama3-8b"), task="chat").warnings)
    with pytest.raises(TierwiseError, match="unknown task 'mowing'"):
        plan(load_profile("llama3-8b"), task="mowing")


def test_gpu_facts_shape_the_gpu_choice():
    gemma = plan(load_profile("gemma2-2b"), tier="sagemaker-gpu")
    assert not gemma.settings.instance_type.startswith("ml.g4dn")
    assert any("not ml.g4dn" in r and "vllm-project/vllm/issues/7464" in r for r in gemma.reasons)
    t4 = plan(load_profile("llama3.2-3b"), tier="sagemaker-gpu")
    if t4.settings.instance_type.startswith("ml.g4dn"):
        assert t4.settings.serving_dtype == "F16"  # Turing has no bfloat16
    llama = plan(load_profile("llama3-8b"), tier="sagemaker-gpu")
    assert any("JumpStart deploys meta-textgeneration-llama-3-8b-instruct to ml.g5.12xlarge" in r for r in llama.reasons)
    assert any("23,034 MiB usable" in r or "23,028 MiB usable" in r for r in llama.reasons)


def test_the_gpu_tier_keeps_sagemakers_60_second_invocation_limit():
    long = Workload(input_tokens=500, output_tokens=4000, batch=True)
    with pytest.raises(TierwiseError, match="the tier stops at 60 s"):
        plan(load_profile("llama3-70b"), tier="sagemaker-gpu", workload=long)


def test_capacity_grows_with_load_and_peak_factor():
    quiet = plan(load_profile("llama3-8b"), tier="sagemaker-gpu", workload=Workload(requests_per_month=30_000))
    busy = plan(load_profile("llama3-8b"), tier="sagemaker-gpu", workload=Workload(requests_per_month=30_000_000))
    spiky = plan(load_profile("llama3-8b"), tier="sagemaker-gpu",
                 workload=Workload(requests_per_month=30_000_000, peak_factor=6))
    assert quiet.capacity["instances"] == 1
    assert busy.settings.max_instances > quiet.settings.max_instances
    assert spiky.settings.max_instances > busy.settings.max_instances
    # the month's requests are the same: a higher peak leaves fewer for the off-peak hours
    assert spiky.settings.min_instances <= busy.settings.min_instances
    assert busy.monthly_cost_usd is None or busy.monthly_cost_usd > quiet.monthly_cost_usd


def test_lambda_concurrency_past_the_default_quota_is_a_warning():
    p = plan(load_profile("tinyllama-1.1b"), tier="lambda-gguf", workload=Workload(requests_per_month=300_000_000))
    assert p.capacity["peak_concurrency"] > 1000
    assert any("'Concurrent executions'" in w for w in p.warnings)


def test_bedrock_on_demand_quota_and_lifecycle():
    nova = plan(load_profile("nova-pro"), workload=Workload(requests_per_month=10_000_000, input_tokens=2000, output_tokens=100))
    assert nova.tier == "bedrock-provisioned" and nova.settings.model_id == "amazon.nova-pro-v1:0:24k"
    refused = nova.rejected["bedrock-on-demand"]
    assert "'On-demand model inference tokens per minute for Amazon Nova Pro'" in refused
    assert "Service Quotas cannot raise" in refused and "(L-C0326783) can be raised" in refused
    eol = candidates(load_profile("llama3.2-1b"))["bedrock-on-demand"]
    assert isinstance(eol, str) and "EOL" in eol
