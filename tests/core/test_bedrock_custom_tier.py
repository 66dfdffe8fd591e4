"""bedrock-custom, the decision: which models Custom Model Import takes, the CMU estimate against
AWS's published points, the bill against the pricing formula worked by hand, the race with the
other tiers for your own weights and the plan's explanation in the article's terms, and the
context keys of its stack."""

from __future__ import annotations

import json
import math

import pytest

from model_profiles import load_profile, resolve
from stacks.app_context import read
from tests.core.hf_folders import write_config
from tests.core.hf_published import PUBLISHED
from tests.core.test_hf_adapter import adapter
from tierwise.cli import main
from tierwise.cost.prices import load_prices
from tierwise.errors import TierwiseError
from tierwise.facts import custom_model_import
from tierwise.placement import candidates, plan
from tierwise.tiers.bedrock_custom import ID, cmu_memory_bytes, copy_bytes, estimate_cmus
from tierwise.workload import Workload

GIB = 2**30
# Llama 3.1 8B Instruct's config.json: Llama 3 8B's shape with a 128K context
LLAMA31_8B = {**PUBLISHED["llama-3.2-3b-instruct"]["config"], "hidden_size": 4096, "intermediate_size": 14336,
              "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "head_dim": 128,
              "tie_word_embeddings": False, "vocab_size": 128256, "max_position_embeddings": 131072}
RATE, STORAGE = 0.05718, 1.95  # us-east-1, tierwise/data/prices.yaml (checked below)


def folder(tmp_path, name: str, config: dict):
    return resolve(hf_dir=write_config(tmp_path / name, config))


# --- what Custom Model Import takes ---------------------------------------------------------------


def test_the_cmu_estimate_reproduces_every_published_point():
    examples = custom_model_import().pricing.cmu_examples
    assert [e.cmus for e in examples] == [2, 8, 2]
    per_cmu = cmu_memory_bytes()
    for e in examples:
        s = e.shape
        need = copy_bytes(parameters=s.parameters, layers=s.layers, kv_heads=s.kv_heads, head_dim=s.head_dim,
                          context=s.context_tokens)
        assert math.ceil(need / per_cmu) == e.cmus, e.model
    # the lowest memory per CMU both points allow: 70B at 128K = 184.0 GB over 8 CMUs
    assert per_cmu / GIB == pytest.approx(21.43, abs=0.01)


def test_a_llama_31_8b_folder_needs_the_two_cmus_aws_publishes(tmp_path):
    profile = folder(tmp_path, "llama31", LLAMA31_8B)
    assert profile.parameters == 8_030_261_248
    cmus, need, context = estimate_cmus(profile)
    assert (cmus, context) == (2, 131072)
    assert need == pytest.approx(8_030_261_248 * 2 + 2 * 32 * 8 * 128 * 131072 * 2)
    # the same weights with an 8K context (Llama 3 8B) fit one CMU
    assert estimate_cmus(load_profile("llama3-8b"))[0] == 1
    assert estimate_cmus(load_profile("llama3-70b"))[0] == 7


@pytest.mark.parametrize(("name", "region", "expected"), [
    ("gemma2-9b", "us-east-1", "does not take gemma2 models; it takes gpt_bigcode, gpt_oss, llama, mistral"),
    ("distilbert-sst2", "us-east-1", "does not take distilbert models"),
    ("llama3.1-405b", "us-east-1", "the weights are 812 GB; Custom Model Import takes less than 200 GB"),
    ("nova-pro", "us-east-1", "a closed model: there are no weights to import"),
    ("qwen2.5-7b", "eu-west-1", "offered in eu-central-1, us-east-1, us-east-2, us-west-2, not eu-west-1"),
])
def test_what_custom_model_import_refuses_is_said_with_the_limit(name, region, expected):
    reason = candidates(load_profile(name), region=region)[ID]
    assert isinstance(reason, str) and expected in reason, reason


def test_a_context_over_128k_is_refused(tmp_path):
    profile = folder(tmp_path, "long", {**LLAMA31_8B, "max_position_embeddings": 1_048_576})
    reason = candidates(profile)[ID]
    assert "maximum context below 128K (131,072 tokens)" in reason and "1,048,576" in reason


def test_a_lora_adapter_is_imported_merged_and_sized_as_its_base(tmp_path):
    profile = resolve(hf_dir=adapter(tmp_path, base_model_name_or_path="meta-llama/Meta-Llama-3-8B-Instruct", r=16,
                                     target_modules=["q_proj", "v_proj"]))
    p = plan(profile, tier=ID)
    assert p.settings.merge_adapter and p.settings.weights_gb == pytest.approx(8_030_261_248 * 2 / 1e9, abs=0.01)
    assert p.settings.model_type == "llama"
    (merge,) = [w for w in p.warnings if "merged weights, not a LoRA adapter" in w]
    assert "merge the adapter into llama3-8b (PEFT merge_and_unload)" in merge


# --- the bill ---------------------------------------------------------------------------------------


def test_the_prices_are_the_published_us_east_1_rates():
    book = load_prices()
    assert book.custom_model_unit_minute("us-east-1").value == RATE
    assert book.custom_model_unit_storage_month("us-east-1").value == STORAGE
    assert book.custom_model_unit_minute("eu-west-1") is None


@pytest.mark.parametrize("requests", [1_000, 100_000, 10_000_000])
def test_the_bill_is_cmus_copies_rate_and_the_windows_with_traffic(requests):
    """AWS: copies x CMUs per copy x $/CMU-minute over the 5-minute windows billed; a window bills
    when a request falls in it (random arrivals at the month's rate), plus storage per CMU."""
    p = plan(load_profile("qwen2.5-7b"), tier=ID, workload=Workload(requests_per_month=requests))
    cmus, copies = p.settings.custom_model_units, p.settings.copies
    windows = 730 * 60 / 5
    active = windows * (1 - math.exp(-requests / windows))
    by_name = {c.name: c for c in p.bill}
    compute = by_name[f"Model copies active ({cmus} CMU x {copies})"]
    assert compute.monthly_quantity == pytest.approx(active * 5 * cmus * copies)
    assert compute.monthly_cost == pytest.approx(active * 5 * cmus * copies * RATE)
    assert by_name[f"Model storage ({cmus} CMU)"].monthly_cost == pytest.approx(cmus * STORAGE)
    key = sum(c.monthly_cost for c in p.bill if c.name == "Customer managed key")
    assert p.monthly_cost_usd == pytest.approx(compute.monthly_cost + cmus * STORAGE + key)


def test_the_figures_at_1k_100k_and_10m_requests():
    costs = {r: plan(load_profile("qwen2.5-7b"), tier=ID, workload=Workload(requests_per_month=r))
             for r in (1_000, 100_000, 10_000_000)}
    assert costs[1_000].monthly_cost_usd < costs[100_000].monthly_cost_usd < costs[10_000_000].monthly_cost_usd
    # 100k requests a month already touch every window: a copy is billed around the clock
    assert costs[100_000].capacity["active_windows"] == pytest.approx(8760, abs=1)
    assert costs[10_000_000].settings.copies > 1 == costs[100_000].settings.copies
    assert costs[1_000].cold_start_s == 96.0


# --- the race and the article's terms --------------------------------------------------------------


@pytest.fixture(scope="module")
def qwen_folder(tmp_path_factory):
    return folder(tmp_path_factory.mktemp("qwen"), "qwen-support-ft", PUBLISHED["qwen2.5-7b-instruct"]["config"])


def test_your_own_weights_import_on_demand_at_low_volume_and_self_host_at_high(qwen_folder):
    low = plan(qwen_folder, workload=Workload(requests_per_month=1_000))
    high = plan(qwen_folder, workload=Workload(requests_per_month=100_000))
    assert low.tier == ID and high.tier == "sagemaker-gpu"
    assert high.monthly_cost_usd < plan(qwen_folder, tier=ID, workload=Workload(requests_per_month=100_000)).monthly_cost_usd
    # --hosting managed keeps to Bedrock: the import, whatever it costs, and says what self-hosting would
    managed = plan(qwen_folder, hosting="managed", workload=Workload(requests_per_month=100_000))
    assert managed.tier == ID
    assert any(w.startswith("sagemaker-gpu would cost") for w in managed.warnings)


def test_the_plan_explains_a_fine_tune_in_the_articles_three_ways(qwen_folder):
    p = plan(qwen_folder, workload=Workload(requests_per_month=1_000))
    (line,) = [r for r in p.reasons if "is your own weights" in r]
    gpu = plan(qwen_folder, tier="sagemaker-gpu", workload=Workload(requests_per_month=1_000))
    assert f"import on demand: bedrock-custom ${p.monthly_cost_usd:,.2f}/month" in line
    assert f"self-hosted: sagemaker-gpu ${gpu.monthly_cost_usd:,.2f}/month" in line
    assert "provisioned throughput: not for imported weights" in line
    assert line.endswith("This plan takes import on demand (bedrock-custom)")
    # a model others publish gets no such line
    assert not [r for r in plan(load_profile("qwen2.5-7b")).reasons if "your own weights" in r]


def test_bedrock_on_demand_still_wins_for_a_model_bedrock_serves():
    p = plan(load_profile("llama3-8b"), hosting="managed", workload=Workload(requests_per_month=1_000))
    assert p.tier == "bedrock-on-demand"
    assert p.rejected[ID].startswith("feasible, $")


def test_plan_json_through_the_cli(capsys, qwen_folder):
    folder_path = qwen_folder.hf_folder.path
    assert main(["plan", "--hf-dir", folder_path, "--hosting", "managed", "--requests-per-month", "1000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tier"] == ID and out["settings"]["custom_model_units"] == 1
    assert [line["unit"] for line in out["bill"][:2]] == ["CMU-minutes", "CMU-months"]
    assert out["streaming"] is True and "InvokeModelWithResponseStream" in out["streaming_via"]


# --- the stack's context keys -----------------------------------------------------------------------


@pytest.mark.parametrize(("context", "expected"), [
    ({"weights_uri": "s3://tierwise-models/qwen/model.safetensors"}, "-c weights_uri: s3://BUCKET/PREFIX/"),
    ({"weights_key": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
     "-c weights_key names the KMS key of the weights' bucket: give the weights too"),
    ({"weights_uri": "s3://tierwise-models/qwen/", "weights_key": "alias/models"}, "-c weights_key: the ARN"),
])
def test_a_bad_weights_key_is_one_line(context, expected):
    with pytest.raises(TierwiseError) as caught:
        read({"model": "qwen2.5-7b", "tier": ID, **context})
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_weights_apply_where_a_tier_reads_them():
    with pytest.raises(TierwiseError, match="-c weights_uri applies to sagemaker-gpu and bedrock-custom"):
        read({"model": "tinyllama-1.1b", "tier": "lambda-gguf", "weights_uri": "s3://tierwise-models/tiny/"})
    with pytest.raises(TierwiseError, match="names one model's file"):
        read({"model": "all", "weights_uri": "s3://tierwise-models/tiny/"})
    stack = read({"model": "qwen2.5-7b", "tier": ID, "weights_uri": "s3://tierwise-models/qwen/"}).stacks[0]
    assert stack.options == {"weights_uri": "s3://tierwise-models/qwen/"}


def test_the_app_refuses_a_bad_weights_uri_in_one_line(capsys):
    import app as cdk_app

    with pytest.raises(SystemExit) as stop:
        cdk_app.main({"model": "qwen2.5-7b", "tier": ID, "weights_uri": "s3://x/"})
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: -c weights_uri: s3://BUCKET/PREFIX/") and "\n" not in err
