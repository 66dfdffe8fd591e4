"""Each tier's monthly cost against a figure computed by hand from the price file."""

from __future__ import annotations

import pytest

from tests.synth import synth_context
from tierwise.cost import bills
from tierwise.cost.bills import HOURS_PER_MONTH
from tierwise.cost.compare import VolumeStep, compare_tiers, step_break_evens
from tierwise.cost.estimates import estimate_tier_cost
from tierwise.errors import TierwiseError
from tierwise.cost.prices import PriceBook
from tierwise.workload import Workload

W = Workload(requests_per_month=40_000, input_tokens=600, output_tokens=250)
REGION = "us-east-1"


def price(book: PriceBook, *path) -> float:
    fig = book.figure(REGION, *path)
    assert fig is not None and fig.value is not None, path
    return fig.value


def with_price(book: PriceBook, value: float, *path) -> PriceBook:
    """A copy of the book with one figure known (for lines the real file cannot price)."""
    data = book.model_dump(by_alias=True)
    node = data["regions"][REGION]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = {"value": value, "unit": "USD", "source": "https://example.test/price", "taken": "2026-11-27"}
    return PriceBook.model_validate(data)


def without_price(book: PriceBook, *path) -> PriceBook:
    """A copy of the book with one figure unknown, whatever the real file has found."""
    data = book.model_dump(by_alias=True)
    node = data["regions"][REGION]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = {"value": None, "unit": "USD", "source": None, "taken": None}
    return PriceBook.model_validate(data)


@pytest.fixture(scope="module")
def planned():
    """Real settings of each tier (from plans), for bills computed here by hand."""
    from model_profiles import load_profile
    from tierwise.placement import plan

    tiny = load_profile("tinyllama-1.1b")
    return {
        "lambda-gguf": plan(tiny, tier="lambda-gguf"),
        # interactive, its p95 counts a cold start (serverless publishes no idle time): plan it as batch
        "sagemaker-serverless": plan(tiny, tier="sagemaker-serverless", workload=Workload(batch=True)),
        "sagemaker-gpu": plan(tiny, tier="sagemaker-gpu"),
    }


def settings_of(planned, tier, **changes):
    return planned[tier].settings.model_copy(update=changes)


def test_lambda_gguf_by_hand(book, planned):
    settings = settings_of(planned, "lambda-gguf", memory_mb=6144, architecture="x86_64")
    cost = estimate_tier_cost("lambda-gguf", settings, None, W, REGION, 8.0, prompt_tokens_per_second=120.0,
                              prices=book)
    seconds = 600 / 120 + 250 / 8
    expected = (
        40_000 / 1e6 * price(book, "lambda", "requests_per_million")
        + 40_000 * seconds * 6 * price(book, "lambda", "duration_gb_second", "x86_64")
    )
    assert cost.request_seconds == pytest.approx(seconds)
    assert cost.monthly_usd == pytest.approx(expected, rel=1e-12)
    assert cost.unknown == []
    # the plan's GGUF is baked into the image: /tmp stays at Lambda's free 512 MB
    assert not any("Ephemeral" in c.name for c in cost.components)
    # arm64 bills at its own rate
    arm = estimate_tier_cost("lambda-gguf", settings.model_copy(update={"architecture": "arm64"}), None, W, REGION,
                             8.0, prompt_tokens_per_second=120.0, prices=book)
    assert arm.monthly_usd < cost.monthly_usd


def test_a_lambda_function_with_room_in_tmp_bills_it_by_hand(book):
    """The bill line the plan and the review share: /tmp above 512 MB by the GB-second."""
    lines = bills.lambda_function(book, REGION, memory_mb=6144, architecture="x86_64", ephemeral_storage_mb=5120,
                                  requests=40_000, seconds=36.25)
    storage = next(c for c in lines if c.name.startswith("Ephemeral"))
    assert storage.monthly_cost == pytest.approx(
        40_000 * 36.25 * (5120 - 512) / 1024 * price(book, "lambda", "ephemeral_storage_gb_second"))


def test_sagemaker_serverless_by_hand_and_unknown_data_price_is_reported(book, planned):
    settings = settings_of(planned, "sagemaker-serverless", memory_mb=3072)
    unpriced = without_price(without_price(book, "sagemaker", "data_processed_in_gb"), "sagemaker",
                             "data_processed_out_gb")
    cost = estimate_tier_cost("sagemaker-serverless", settings, None, W, REGION, 10.0,
                              prompt_tokens_per_second=200.0, prices=unpriced)
    seconds = 600 / 200 + 250 / 10
    compute = 40_000 * seconds * 3 * price(book, "sagemaker", "serverless_gb_second", 3072)
    assert cost.components[0].monthly_cost == pytest.approx(compute)
    # With the data-processed price unknown, the total is unknown, not compute-only.
    assert cost.monthly_usd is None
    assert cost.known_usd == pytest.approx(compute)
    assert any("data_processed_in_gb" in u for u in cost.unknown)
    # With the price known, the lines add up by hand (4 bytes per token of text).
    priced = with_price(with_price(book, 0.016, "sagemaker", "data_processed_in_gb"), 0.016, "sagemaker",
                        "data_processed_out_gb")
    full = estimate_tier_cost("sagemaker-serverless", settings, None, W, REGION, 10.0,
                              prompt_tokens_per_second=200.0, prices=priced)
    data_gb = 40_000 * (600 + 250) * 4 / 1024**3
    assert full.monthly_usd == pytest.approx(compute + data_gb * 0.016)


def test_sagemaker_gpu_bills_the_baseline_all_month_and_the_peak_instances_for_the_peak_hours(book, planned):
    settings = settings_of(planned, "sagemaker-gpu", instance_type="ml.g5.12xlarge", min_instances=2, max_instances=4)
    priced = with_price(with_price(book, 0.016, "sagemaker", "data_processed_in_gb"), 0.016, "sagemaker",
                        "data_processed_out_gb")
    cost = estimate_tier_cost("sagemaker-gpu", settings, None, W, REGION, 40.0, prices=priced)
    baseline, peak = 2 * HOURS_PER_MONTH, 2 * W.peak_hours_per_day * HOURS_PER_MONTH / 24
    assert [c.monthly_quantity for c in cost.components[:2]] == [pytest.approx(baseline), pytest.approx(peak)]
    assert cost.components[1].name == f"Instance (ml.g5.12xlarge) +2 at peak, {W.peak_hours_per_day:g} h a day"
    hourly = price(book, "sagemaker", "instance_hour", "ml.g5.12xlarge")
    expected = (baseline + peak) * hourly + 40_000 * 850 * 4 / 1024**3 * 0.016
    assert cost.monthly_usd == pytest.approx(expected)
    # a longer peak keeps the extra instances longer
    longer = estimate_tier_cost("sagemaker-gpu", settings, None, W.model_copy(update={"peak_hours_per_day": 6.0}),
                                REGION, 40.0, prices=priced)
    assert longer.monthly_usd == pytest.approx(expected + 2 * 4 * HOURS_PER_MONTH / 24 * hourly)
    # An instance type without a price is unknown, never free.
    unpriced = without_price(priced, "sagemaker", "instance_hour", "ml.g6e.xlarge")
    unknown = estimate_tier_cost("sagemaker-gpu", settings.model_copy(update={"instance_type": "ml.g6e.xlarge"}),
                                 None, W, REGION, 40.0, prices=unpriced)
    assert unknown.monthly_usd is None
    assert any("ml.g6e.xlarge" in u for u in unknown.unknown)


def test_bedrock_provisioned_by_commitment(book):
    settings = {"model_id": "meta.llama3-8b-instruct-v1:0", "model_units": 3, "commitment": "SixMonths"}
    cost = estimate_tier_cost("bedrock-provisioned", settings, None, W, REGION, None, prices=book)
    assert cost.monthly_usd is None and cost.known_usd == 0
    assert cost.unknown == [
        "Provisioned throughput (3 MU, SixMonths): price unknown "
        "(us-east-1/bedrock/provisioned_model_unit_hour/meta.llama3-8b-instruct-v1:0/SixMonths)"
    ]
    priced = with_price(book, 12.5, "bedrock", "provisioned_model_unit_hour", "meta.llama3-8b-instruct-v1:0",
                        "SixMonths")
    cost = estimate_tier_cost("bedrock-provisioned", settings, None, W, REGION, None, prices=priced)
    assert cost.monthly_usd == pytest.approx(3 * HOURS_PER_MONTH * 12.5)
    # No commitment is its own price line.
    none = estimate_tier_cost("bedrock-provisioned", {**settings, "commitment": None}, None, W, REGION, None,
                              prices=priced)
    assert none.monthly_usd is None and "/none" in none.unknown[0]


def test_bedrock_on_demand_by_hand(book):
    settings = {"model_id": "meta.llama3-8b-instruct-v1:0", "model_units": 0}
    cost = estimate_tier_cost("bedrock-on-demand", settings, None, W, REGION, None, prices=book)
    expected = 40_000 * (600 / 1000 * price(book, "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0",
                                            "input_per_1k_tokens")
                         + 250 / 1000 * price(book, "bedrock", "on_demand", "meta.llama3-8b-instruct-v1:0",
                                              "output_per_1k_tokens"))
    assert cost.monthly_usd == pytest.approx(expected)


def test_the_plan_bills_the_whole_stack_its_tier_and_the_parts_around_it(book, planned):
    """plan's monthly cost is every line the synthesized stack is billed for: the tier's own, then
    the KMS key and one standard alarm per alarm the construct creates."""
    from tierwise import tiers
    from tierwise.cost.estimates import estimate

    for tier, p in planned.items():
        whole = estimate(p, REGION, book)
        own = estimate_tier_cost(tier, p.settings, None, p.workload, REGION, p.tokens_per_second,
                                 prompt_tokens_per_second=p.prompt_tokens_per_second,
                                 seconds_per_request=p.seconds_per_request, prices=book)
        module = tiers.get(tier)
        extra = price(book, "kms", "key_month") + len(module.alarms) * price(book, "cloudwatch", "alarm_standard_month")
        assert module.uses_key and len(module.alarms) >= 2
        if own.monthly_usd is not None:
            assert whole.monthly_usd == pytest.approx(own.monthly_usd + extra)
        assert whole.known_usd == pytest.approx(own.known_usd + extra)


def test_unknown_speed_makes_usage_cost_unknown_but_zero_traffic_is_free(book, planned):
    settings = settings_of(planned, "lambda-gguf", memory_mb=2048)
    cost = estimate_tier_cost("lambda-gguf", settings, None, W, REGION, None, prices=book)
    assert cost.monthly_usd is None and any("tokens per second" in u for u in cost.unknown)
    idle = estimate_tier_cost("lambda-gguf", settings, None, W.model_copy(update={"requests_per_month": 0}),
                              REGION, None, prices=book)
    assert idle.monthly_usd == 0


def test_bad_tier_and_missing_setting_are_user_errors(book):
    with pytest.raises(TierwiseError, match="unknown tier"):
        estimate_tier_cost("ec2", {}, None, W, REGION, 1.0, prices=book)
    with pytest.raises(TierwiseError, match="sagemaker-gpu settings: instance_type: Field required"):
        estimate_tier_cost("sagemaker-gpu", {"min_instances": 1}, None, W, REGION, 1.0, prices=book)


def _step(requests: int, **costs: float | None) -> VolumeStep:
    return VolumeStep(requests_per_month=requests, monthly_cost_usd=dict(costs),
                      known_usd={t: c for t, c in costs.items() if c is not None})


def test_one_break_even_per_pair_from_the_step_functions_with_its_cause():
    """A per-use tier (cost grows with volume) against an always-on one (a step per instance),
    and a managed tier that its quota stops past 5M requests a month."""
    def at(requests: int) -> VolumeStep:
        lam = requests * 0.001
        gpu = 800.0 * max(1, -(-requests // 4_000_000))  # one instance per 4M requests
        managed = requests * 0.0001 if requests <= 5_000_000 else None
        return _step(requests, lam=lam, gpu=gpu, managed=managed)

    volumes = [10**k for k in range(3, 9)]
    rejected = lambda volume, tier: ("peak load is past the default quota" if tier == "managed" and volume > 5_000_000
                                     else None)  # noqa: E731
    breaks = {b.tiers: b for b in step_break_evens([at(v) for v in volumes], at, rejected, bisections=30)}
    assert set(breaks) == {("lam", "gpu"), ("lam", "managed"), ("gpu", "managed")}
    lam_gpu = breaks[("lam", "gpu")]
    assert (lam_gpu.cheaper_below, lam_gpu.cheaper_above, lam_gpu.cause) == ("lam", "gpu", "cost")
    assert lam_gpu.requests_per_month == pytest.approx(800_000, rel=1e-3)  # 0.001 x = 800
    quota = breaks[("gpu", "managed")]
    assert (quota.cheaper_below, quota.cheaper_above, quota.cause) == ("managed", "gpu", "quota")
    assert quota.requests_per_month == pytest.approx(5_000_000, rel=1e-3) and "quota" in quota.why
    # lam is never cheaper than managed: no break-even between them ... except where managed stops
    assert breaks[("lam", "managed")].cause == "quota"


def test_compare_tiers_side_by_side(book, planned):
    from tierwise.cost.estimates import estimate

    candidates = {
        "lambda-gguf": planned["lambda-gguf"].model_copy(update={"workload": W}),
        "sagemaker-gpu": planned["sagemaker-gpu"].model_copy(update={"workload": W}),
        "bedrock-on-demand": "the model is not offered on Bedrock",
    }
    priced = with_price(with_price(book, 0.016, "sagemaker", "data_processed_in_gb"), 0.016, "sagemaker",
                        "data_processed_out_gb")
    c = compare_tiers(candidates, W, REGION, chosen_tier="lambda-gguf", model="toy", prices=priced)
    by_tier = {o.tier: o for o in c.options}
    assert by_tier["bedrock-on-demand"].feasible is False
    assert by_tier["bedrock-on-demand"].rejected_because == "the model is not offered on Bedrock"
    lam, gpu = by_tier["lambda-gguf"], by_tier["sagemaker-gpu"]
    assert lam.chosen and not gpu.chosen
    # compare bills each tier as plan does: the whole stack
    assert lam.cost.monthly_usd == pytest.approx(estimate(candidates["lambda-gguf"], REGION, priced).monthly_usd)
    assert lam.cost.request_seconds == pytest.approx(planned["lambda-gguf"].seconds_per_request)
    assert "no GPU" in lam.cannot and gpu.cannot[0].startswith("no scale to zero")
    assert lam.cold_start_s and lam.cold_start_s > 0 and gpu.cold_start_s == 0
    # one workload gives lines, not break-evens: those come from the re-planned step functions
    assert c.break_evens == []
    # The fitted lines reproduce the estimate at the workload itself.
    assert lam.line.at(W.requests_per_month) == pytest.approx(lam.cost.monthly_usd)
    assert gpu.line.at(W.requests_per_month) == pytest.approx(gpu.cost.monthly_usd)


def test_a_request_past_the_timeout_is_named(book, planned):
    slow = planned["lambda-gguf"].model_copy(update={
        "workload": W, "seconds_per_request": 500.0,
        "settings": settings_of(planned, "lambda-gguf", timeout_s=300)})
    c = compare_tiers({"lambda-gguf": slow}, W, REGION, prices=book)
    assert c.options[0].cannot[1] == "this workload's requests take 500 s, over the 300 s timeout"


@pytest.mark.parametrize("geography", ["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"])
def test_a_system_inference_profile_of_any_geography_is_priced_as_its_model(book, geography):
    # the price file and the constructs read one base_model_id (tierwise.contract): before it,
    # the price reader knew fewer geographies than the constructs and a jp. profile had no price
    model = "meta.llama3-8b-instruct-v1:0"
    direct = estimate_tier_cost("bedrock-on-demand", {"model_id": model}, None, W, REGION, None, prices=book)
    profile = estimate_tier_cost("bedrock-on-demand", {"model_id": f"{geography}.{model}"}, None, W, REGION, None,
                                 prices=book)
    assert direct.monthly_usd is not None and direct.monthly_usd > 0
    assert profile.monthly_usd == direct.monthly_usd


# --- the plan's Lambda bill is the deployed function's bill --------------------------------------

@pytest.fixture(scope="module")
def baked_7b(tmp_path_factory):
    """qwen2.5-7b planned and synthesized once with the plan's default model source (the GGUF
    baked into the image): `tierwise plan --json` and the stack `cdk synth` writes."""
    import shutil

    pytest.importorskip("aws_cdk")
    if shutil.which("node") is None:
        pytest.skip("node is needed to synthesize CDK stacks")
    import app

    context = {"model": "qwen2.5-7b", "tier": "lambda-gguf", "batch": "true"}  # a 7B on Lambda: batch work
    outdir = tmp_path_factory.mktemp("baked-7b") / "cdk.out"
    app.main(context=synth_context(context), outdir=str(outdir)).synth()
    return context, outdir


def test_the_plans_lambda_cost_is_what_tierwise_cost_bills_the_synthesized_stack(baked_7b, capsys):
    """A 5 GB GGUF baked into the image leaves /tmp at 512 MB in the deployed function, so the
    plan must not charge the /tmp room a model read from S3 would need (issue #9 follow-up: the
    plan said $551.38 where the deployed function's bill was $550.59)."""
    import json

    from tierwise.cli import main

    _, outdir = baked_7b
    assert main(["plan", "qwen2.5-7b", "--tier", "lambda-gguf", "--batch", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["tier"] == "lambda-gguf" and plan["settings"]["ephemeral_storage_mb"] > 512  # room for an S3 copy
    assert main(["cost", str(outdir), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [fn] = [r for p in data["projects"] for r in p["breakdown"]["resources"] if r["resourceType"] == "AWS::Lambda::Function"]
    assert not any("Ephemeral" in c["name"] for c in fn["costComponents"])
    assert round(float(data["projects"][0]["breakdown"]["totalMonthlyCost"]), 2) == round(plan["monthly_cost_usd"], 2)
