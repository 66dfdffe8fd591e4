"""bedrock-batch: which models and regions it takes, its jobs, its bill at the batch price, and the
BedrockBatchInference construct (buckets, the service role Bedrock assumes, outputs)."""

from __future__ import annotations

import json

import pytest

from model_profiles import load_profile
from tests.tiers.conftest import grantee, only, resources, statements, template
from tiers.bedrock_batch import BedrockBatchInference
from tiers.props import PropError
from tierwise.cost.prices import load_prices
from tierwise.errors import TierwiseError
from tierwise.facts import batch_model, bedrock_batch
from tierwise.placement import candidates, plan
from tierwise.workload import Workload

BATCH = Workload(requests_per_month=30_000, input_tokens=1000, output_tokens=300, batch=True)
NOVA = "amazon.nova-pro-v1:0"


def test_nova_pro_runs_as_daily_jobs_at_half_the_on_demand_token_price():
    p = plan(load_profile("nova-pro"), workload=BATCH, tier="bedrock-batch")
    s = p.settings
    assert (s.model_id, s.jobs_per_month, s.min_records_per_job, s.max_records_per_job) == (NOVA, 30, 100, 100_000)
    assert p.capacity["records_per_job"] == 1000 and p.streaming() == (False, p.module().streaming[1])
    lines = {c.name: c for c in p.bill}
    book, discount = load_prices(), bedrock_batch().pricing.discount_vs_on_demand
    assert lines["Batch input tokens"].monthly_quantity == 30_000  # 1K tokens
    assert lines["Batch input tokens"].price == pytest.approx(book.bedrock_input("us-east-1", NOVA).value * discount)
    assert lines["Batch output tokens"].monthly_cost == pytest.approx(9_000 * book.bedrock_output("us-east-1", NOVA).value
                                                                       * discount)
    on_demand = plan(load_profile("nova-pro"), workload=BATCH, tier="bedrock-on-demand")
    tokens = lambda q: sum(c.monthly_cost for c in q.bill if "tokens" in c.name)  # noqa: E731
    assert tokens(p) == pytest.approx(tokens(on_demand) * discount)
    # the buckets: prompts kept a month (one file a job), answers with their prompts, two objects a job
    storage = [c for c in p.bill if c.name == "Standard storage"]
    assert [round(c.monthly_quantity, 4) for c in storage] == [0.1102, 0.1433]
    assert [c.monthly_quantity for c in p.bill if c.name.startswith("PUT")] == [0.03, 0.06]
    # the whole stack: tokens, objects, the stack's key; nothing unknown
    assert p.monthly_cost_usd == pytest.approx(sum(c.monthly_cost for c in p.bill if not c.not_estimated))
    assert 27 < p.monthly_cost_usd < 28


@pytest.mark.parametrize("requests,jobs", [(1_000, 10), (200, 2), (30_000, 30), (6_000_000, 60)])
def test_jobs_a_month_follow_the_records_a_job_takes(requests, jobs):
    p = plan(load_profile("nova-pro"), workload=BATCH.model_copy(update={"requests_per_month": requests}),
             tier="bedrock-batch")
    assert p.settings.jobs_per_month == jobs


def test_what_bedrock_batch_cannot_take_is_one_reason_with_the_figures():
    def why(model, workload=BATCH, region="us-east-1"):
        return candidates(load_profile(model), workload=workload, region=region)["bedrock-batch"]

    assert why("nova-pro", Workload()).startswith("a batch job answers in minutes to hours")
    assert "meta.llama3-8b-instruct-v1:0 is not a model Bedrock batch inference takes" in why("llama3-8b")
    assert "runs in us-west-2, not us-east-1" in why("llama3.1-405b")
    assert "is EOL on Bedrock" in why("llama3.1-405b", region="us-west-2")
    assert "is EOL on Bedrock" in why("llama3.2-1b")  # batched through the us. profile, but retired
    assert "Bedrock does not serve" in why("qwen2.5-7b")
    few = BATCH.model_copy(update={"requests_per_month": 50})
    assert why("nova-pro", few) == "a batch job takes at least 100 records (Nova Pro V1, not adjustable); 50 requests " \
                                   "a month make none"
    timed = BATCH.model_copy(update={"max_seconds": 120})
    assert why("nova-pro", timed).startswith("a batch job's turnaround is not published")
    huge = BATCH.model_copy(update={"requests_per_month": 400_000_000})
    assert "quota on batch jobs in progress for Nova Pro V1 is 100 (Service Quotas L-FE130012" in why("nova-pro", huge)
    # a long prompt makes fewer records fit a 1 GB input file
    long = BATCH.model_copy(update={"input_tokens": 20_000})
    assert plan(load_profile("nova-pro"), workload=long, tier="bedrock-batch").settings.max_records_per_job == 12_500


def test_with_batch_it_is_in_the_race_and_wins_where_it_is_cheaper():
    p = plan(load_profile("nova-pro"), workload=BATCH)
    assert p.tier == "bedrock-batch"
    assert p.rejected["bedrock-on-demand"].startswith("feasible, $")


def test_the_construct_builds_two_private_buckets_and_a_role_bedrock_assumes_for_batch_jobs(make_stack):
    stack = make_stack()
    batch = BedrockBatchInference(stack, "Batch", model_id=NOVA, retention_days=14)
    t = template(stack)
    buckets = resources(t, "AWS::S3::Bucket")
    assert len(buckets) == 2 and len(resources(t, "AWS::KMS::Key")) == 1
    for bucket in buckets.values():
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and rule["BucketKeyEnabled"]
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
        (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
        assert lifecycle["ExpirationInDays"] == 14 and lifecycle["AbortIncompleteMultipartUpload"]
        assert bucket["Metadata"]["tierwise"]["recordsPerJob"] == [100, 100_000]
    for policy in resources(t, "AWS::S3::BucketPolicy").values():  # TLS only
        (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    role = only(t, "AWS::IAM::Role")["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert set(trust["Condition"]) == {"StringEquals", "ArnEquals"}
    assert "model-invocation-job/*" in json.dumps(trust["Condition"]["ArnEquals"]["aws:SourceArn"])
    by_sid = {s.get("Sid"): s for s in statements(t)}
    assert by_sid["ReadInput"]["Action"] == "s3:GetObject" and json.dumps(by_sid["ReadInput"]["Resource"]).endswith('/input/*"]]}')
    assert by_sid["WriteOutput"]["Action"] == "s3:PutObject"
    assert json.dumps(by_sid["WriteOutput"]["Resource"]).endswith('/output/*"]]}')
    assert by_sid["ListInput"]["Condition"]["StringLike"] == {"s3:prefix": "input/*"}
    assert by_sid["InvokeTheModel"]["Action"] == "bedrock:InvokeModel"
    assert json.dumps(by_sid["InvokeTheModel"]["Resource"]).endswith(f'::foundation-model/{NOVA}"]]}}')
    actions = {a for s in statements(t) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "bedrock:InvokeModel", "kms:Decrypt",
                       "kms:GenerateDataKey"}
    assert set(batch.outputs()) == {"InputBucket", "OutputBucket", "ServiceRoleArn", "ModelId", "JobTimeoutHours",
                                    "SubmitCommand"}


def test_a_cross_region_profile_may_invoke_its_model_in_every_region_of_the_geography(make_stack):
    stack = make_stack()
    BedrockBatchInference(stack, "Batch", model_id="us.meta.llama3-1-8b-instruct-v1:0")
    (invoke,) = [s for s in statements(template(stack)) if s.get("Sid") == "InvokeTheModel"]
    text = json.dumps(invoke["Resource"])
    assert ":inference-profile/us.meta.llama3-1-8b-instruct-v1:0" in text
    assert ":bedrock:*::foundation-model/meta.llama3-1-8b-instruct-v1:0" in text


def test_grant_invoke_lets_a_caller_submit_jobs_with_this_role_only(make_stack):
    stack = make_stack()
    batch = BedrockBatchInference(stack, "Batch", model_id=NOVA)
    batch.grant_invoke(grantee(stack))
    caller = [s for s in statements(template(stack)) if "iam:PassRole" in json.dumps(s["Action"])]
    (pass_role,) = caller
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    text = json.dumps(statements(template(stack)))
    assert "bedrock:CreateModelInvocationJob" in text and "bedrock:GetModelInvocationJob" in text


@pytest.mark.parametrize("props,message", [
    ({"model_id": "not a model"}, "BedrockBatchInference: model_id must be a Bedrock model id"),
    ({"model_id": NOVA, "job_timeout_hours": 12}, "job_timeout_hours must be an integer 24..168 (got 12)"),
    ({"model_id": NOVA, "retention_days": 0}, "retention_days must be an integer >= 1 (got 0)"),
    ({"model_id": "acme.unknown-v1"}, "min_records_per_job and max_records_per_job are needed for acme.unknown-v1"),
    ({"model_id": NOVA, "min_records_per_job": 500, "max_records_per_job": 100},
     "max_records_per_job must be an integer >= 500 (got 100)"),
])
def test_bad_props_are_one_line(make_stack, props, message):
    with pytest.raises(PropError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        BedrockBatchInference(make_stack(), "Batch", **props)


def test_the_quotas_it_plans_with_are_the_models_batch_quotas():
    q = batch_model(NOVA).quotas
    p = plan(load_profile("nova-pro"), workload=BATCH, tier="bedrock-batch")
    assert (p.settings.min_records_per_job, p.settings.max_records_per_job) == (q.min_records_per_job.value,
                                                                                  q.records_per_job.value)
    with pytest.raises(TierwiseError, match="tier bedrock-batch cannot serve nova-pro: a batch job answers"):
        plan(load_profile("nova-pro"), tier="bedrock-batch")
