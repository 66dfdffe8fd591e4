"""The facts behind the batch, asynchronous and imported-model tiers, their quotas and cold starts.

Every file is loaded through its typed accessor (tierwise.facts.tier_data, the price book), then held
to what must be true across files and against the real clients the tiers will use: batch prices
are the published discount of the on-demand prices and exist only where AWS offers batch, a quota
has a code exactly when it is adjustable, the API fields and statuses are botocore's, the
CloudFormation property names are aws-cdk-lib's, and what the data says moto emulates is what
moto 5.2.x does. A broken copy of a file must fail with one error naming the file and the field.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path

import boto3
import botocore.session
from botocore.exceptions import ClientError
import pytest
import yaml
from moto import mock_aws
from pydantic import BaseModel

import tierwise.facts as facts
from tierwise.facts import tier_data as tier_facts
from tierwise.cost.prices import load_prices
from tierwise.errors import TierwiseError
from tierwise.facts.tier_data import (
    Cited,
    QuotaValue,
    ServiceQuota,
    async_limits,
    batch_model,
    bedrock_batch,
    bedrock_quotas,
    cold_starts,
    custom_model_import,
    model_quotas,
    s3_weights,
    sagemaker_async,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "model_profiles" / "catalogue"
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
ACCESSORS = {
    "sagemaker_async": sagemaker_async,
    "bedrock_batch": bedrock_batch,
    "bedrock_custom_import": custom_model_import,
    "bedrock_quotas": bedrock_quotas,
    "cold_starts": cold_starts,
    "sagemaker_s3_weights": s3_weights,
}


def _walk(node, path=()):
    """Every pydantic model inside ``node`` with its path."""
    if isinstance(node, BaseModel):
        yield path, node
        for name in type(node).model_fields:
            yield from _walk(getattr(node, name), (*path, name))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))


def _catalogue_bedrock_ids() -> set[str]:
    ids = set()
    for path in CATALOGUE.glob("*.yaml"):
        for model_id in (yaml.safe_load(path.read_text(encoding="utf-8")).get("bedrock") or {}).get("model_ids") or []:
            ids.add(re.sub(r":\d+k$", "", model_id))  # a PT context variant is the same model
    return ids


def _all_quotas():
    """Every (where, quota) in the quota-bearing files."""
    for model_id, q in bedrock_quotas().models.items():
        for where, node in _walk(q):
            if isinstance(node, ServiceQuota):
                yield f"bedrock_quotas/{model_id}/{'/'.join(map(str, where))}", node
    for where, node in _walk(bedrock_quotas().account):
        if isinstance(node, ServiceQuota):
            yield f"bedrock_quotas/account/{'/'.join(map(str, where))}", node
    for where, node in _walk(bedrock_batch().models):
        if isinstance(node, QuotaValue):
            yield f"bedrock_batch/{'/'.join(map(str, where))}", node
    for where, node in _walk(custom_model_import().quotas):
        if isinstance(node, QuotaValue):
            yield f"bedrock_custom_import/quotas/{'/'.join(map(str, where))}", node


# --- every file loads and every fact is sourced ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACCESSORS))
def test_each_file_loads_and_every_cited_block_is_dated_no_later_than_the_file(name):
    doc = ACCESSORS[name]()
    checked = dt.date.fromisoformat(doc.checked)
    cited = [(p, n) for p, n in _walk(doc) if isinstance(n, Cited)]
    assert cited, f"{name}: no sourced block"
    for path, block in cited:
        assert dt.date.fromisoformat(block.taken) <= checked, (name, path)
        assert block.note, f"{name}/{path}: a sourced block must quote what it was read from"


def test_async_limits_are_sourced_and_their_defaults_lie_in_their_ranges():
    lim = async_limits()
    assert lim.source.startswith("https://") and lim.note
    assert lim.invocation_timeout_s_min <= lim.invocation_timeout_s_default <= lim.invocation_timeout_s_max
    assert lim.request_ttl_s_min <= lim.request_ttl_s_default <= lim.request_ttl_s_max
    assert lim.max_concurrent_invocations_per_instance_min <= lim.max_concurrent_invocations_per_instance_max
    # "up to one hour" of processing is the longest invocation timeout a request may ask for
    assert lim.processing_time_s_max == lim.invocation_timeout_s_max
    # the inline body is for small requests: far below the S3-carried payload ceiling
    assert lim.inline_body_bytes_max < lim.payload_gb_max * 10**9


# --- Bedrock batch --------------------------------------------------------------------------------


def test_every_bedrock_model_the_planner_knows_has_batch_and_quota_facts():
    known = set(facts.load("bedrock_models")["models"]) | _catalogue_bedrock_ids()
    for model_id in known:
        assert batch_model(model_id) is not None, model_id
        assert model_quotas(model_id) is not None, model_id
    # an inference-profile id resolves to its model
    assert batch_model("us.meta.llama3-2-1b-instruct-v1:0") is batch_model("meta.llama3-2-1b-instruct-v1:0")


def test_batch_support_regions_and_quotas_are_consistent():
    for model_id, m in bedrock_batch().models.items():
        regions = [*m.single_region, *m.inference_profile_regions]
        assert all(REGION.match(r) for r in regions), model_id
        if not m.supported:
            assert not regions and m.quotas is None and m.batch_name is None, model_id
            continue
        assert regions and m.quotas is not None and m.batch_name, model_id
        q = m.quotas
        assert q.min_records_per_job.value <= q.records_per_input_file.value <= q.records_per_job.value, model_id
        assert q.input_file_size_gb.value <= q.job_size_gb.value, model_id


def test_the_catalogue_models_batch_support_is_what_aws_lists():
    supported = {m for m, f in bedrock_batch().models.items() if f.supported}
    # Llama 3 (v1) and Mistral 7B are not rows of AWS's batch table; Llama 3.1 405B and Nova Pro are
    assert "meta.llama3-8b-instruct-v1:0" not in supported
    assert "mistral.mistral-7b-instruct-v0:2" not in supported
    assert batch_model("meta.llama3-1-405b-instruct-v1:0").offered_in("us-west-2")
    assert not batch_model("meta.llama3-1-405b-instruct-v1:0").offered_in("us-east-1")
    assert batch_model("amazon.nova-pro-v1:0").offered_in("us-east-1")


def test_batch_prices_are_the_published_discount_of_on_demand_and_only_where_batch_runs():
    book = load_prices()
    discount = bedrock_batch().pricing.discount_vs_on_demand
    checked = 0
    for region, prices in book.regions.items():
        for model_id, pair in prices.bedrock.batch.items():
            m = batch_model(model_id)
            assert m is not None and m.supported, (region, model_id)
            for side, batch_fig in (("input", pair.input_per_1k_tokens), ("output", pair.output_per_1k_tokens)):
                if batch_fig.value is None:
                    assert batch_fig.note, (region, model_id, side)
                    continue
                assert m.offered_in(region), f"{region}: a batch price for {model_id}, which AWS does not batch there"
                on_demand = book.quote(region, "bedrock", "on_demand", model_id, f"{side}_per_1k_tokens")
                assert on_demand is not None, (region, model_id, side)
                assert batch_fig.value == pytest.approx(on_demand.value * discount, rel=1e-9), (region, model_id, side)
                checked += 1
    assert checked >= 12  # six us-east-1 models, input and output, at least


def test_batch_lookups_answer_known_unknown_and_absent():
    book = load_prices()
    assert book.bedrock_batch_output("us-east-1", "us.meta.llama3-3-70b-instruct-v1:0").value == pytest.approx(0.00036)
    assert book.bedrock_batch_input("us-east-1", "meta.llama3-1-405b-instruct-v1:0") is None  # not batched there
    assert book.bedrock_batch_input("us-east-1", "meta.llama3-8b-instruct-v1:0") is None  # no batch offer at all
    unknown = book.unknown_figures("us-west-2")
    assert "us-west-2/bedrock/batch/amazon.nova-pro-v1:0/input_per_1k_tokens" in unknown


def test_batch_job_api_and_statuses_are_botocores():
    model = botocore.session.get_session().get_service_model("bedrock")
    job = bedrock_batch().job
    create = model.operation_model(job.operation).input_shape
    assert set(job.required_fields) == set(create.required_members)
    assert set(job.required_fields) | set(job.optional_fields) == set(create.members)
    assert set(job.statuses) == set(model.shape_for("ModelInvocationJobStatus").enum)
    assert set(job.terminal_statuses) < set(job.statuses)
    assert set(job.invocation_types) == set(model.shape_for("ModelInvocationType").enum)
    assert job.input_format in model.shape_for("S3InputFormat").enum
    timeout = create.members["timeoutDurationInHours"].metadata
    assert (timeout["min"], timeout["max"]) == (bedrock_batch().turnaround.timeout_hours_min,
                                                bedrock_batch().turnaround.timeout_hours_max)


# --- quotas -------------------------------------------------------------------------------------


def test_a_quota_has_a_code_exactly_when_it_is_adjustable_and_codes_are_unique():
    seen: dict[str, str] = {}
    for where, q in _all_quotas():
        assert (q.code is not None) == q.adjustable, where
        if q.code:
            assert q.code not in seen, f"{where} and {seen.get(q.code)} share {q.code}"
            seen[q.code] = where
    assert len(seen) >= 30


def test_model_quota_names_and_regions_are_well_formed():
    for model_id, q in bedrock_quotas().models.items():
        assert q.on_demand_tpm.name.startswith("On-demand model inference tokens per minute for"), model_id
        assert q.on_demand_rpm.name.startswith("On-demand model inference requests per minute for"), model_id
        for where, node in _walk(q):
            if isinstance(node, ServiceQuota):
                assert all(REGION.match(r) for r in node.region_overrides), (model_id, where)
        if q.cross_region_tpm is not None:  # the profile quota is the raisable one
            assert q.cross_region_tpm.adjustable and not q.on_demand_tpm.adjustable, model_id
    nova = model_quotas("amazon.nova-lite-v1:0").on_demand_tpm
    assert nova.in_region("us-east-1") > nova.in_region("eu-west-1")


# --- Custom Model Import ------------------------------------------------------------------------


def test_custom_import_architectures_regions_and_prices_agree():
    cmi = custom_model_import()
    model_types = [t for a in cmi.architectures for t in a.model_types]
    assert len(model_types) == len(set(model_types))
    for arch in cmi.architectures:
        assert arch.regions is None or set(arch.regions) <= set(cmi.regions), arch.name
    # catalogue families it imports, and ones it refuses
    for supported in ("llama", "mistral", "mixtral", "qwen2"):
        assert cmi.architecture(supported) is not None, supported
    for refused in ("gemma2", "phi3", "bert"):
        assert cmi.architecture(refused) is None, refused
    assert not cmi.offered_in(cmi.architecture("gpt_oss"), "us-west-2")
    book = load_prices()
    for region in book.regions:
        minute, storage = book.custom_model_unit_minute(region), book.custom_model_unit_storage_month(region)
        if region in cmi.regions:
            assert minute is not None and storage is not None, region
        else:
            assert minute is None and storage is None, f"{region}: a CMU price where import is not offered"


def test_custom_import_api_is_botocores_and_its_units_are_what_it_bills():
    cmi = custom_model_import()
    model = botocore.session.get_session().get_service_model("bedrock")
    create = model.operation_model(cmi.api.create).input_shape
    assert set(cmi.api.required_fields) == set(create.required_members)
    assert set(cmi.api.required_fields) | set(cmi.api.optional_fields) == set(create.members)
    assert set(cmi.api.job_statuses) == set(model.shape_for("ModelImportJobStatus").enum)
    assert set(cmi.api.get_model_fields) == set(model.operation_model(cmi.api.get_model).output_shape.members)
    for op in (cmi.api.get_job, cmi.api.delete):
        assert op in model.operation_names
    runtime = botocore.session.get_session().get_service_model("bedrock-runtime")
    assert cmi.scaling.not_ready_error in [e.name for e in runtime.operation_model("InvokeModel").error_shapes]
    # a bigger model of the same family never needs fewer units
    llama = sorted((e for e in cmi.pricing.cmu_examples if e.model.startswith("Llama 3.1")), key=lambda e: e.model)
    assert [e.cmus for e in llama] == [8, 2] and "70B" in llama[0].model


# --- SageMaker async and S3 weights against aws-cdk-lib -----------------------------------------


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def test_field_names_are_the_cloudformation_properties_aws_cdk_lib_generates():
    import inspect

    import aws_cdk.aws_sagemaker as sm

    def props(cls) -> set[str]:
        return {_pascal(p) for p in list(inspect.signature(cls.__init__).parameters)[1:]}

    cfg = sagemaker_async().endpoint_config
    assert props(sm.CfnEndpointConfig.AsyncInferenceOutputConfigProperty) == set(cfg.output_config_fields)
    assert props(sm.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty) == set(cfg.notification_config_fields)
    assert props(sm.CfnEndpointConfig.AsyncInferenceClientConfigProperty) == set(cfg.client_config_fields)
    src = s3_weights().model_data_source
    assert props(sm.CfnModel.S3DataSourceProperty) == set(src.cloudformation_fields)
    assert set(src.cloudformation_fields) <= set(src.api_fields)
    assert props(sm.CfnModel.ModelAccessConfigProperty) == set(src.model_access_config_fields)


def test_the_async_scaling_pattern_uses_metrics_an_async_endpoint_publishes():
    sa = sagemaker_async()
    assert sa.scaling.min_capacity == 0
    assert sa.scaling.target_tracking.metric in sa.metrics.endpoint
    assert sa.scaling.scale_from_zero.alarm_metric in sa.metrics.endpoint
    assert not set(sa.metrics.endpoint) & set(sa.metrics.not_published)
    assert s3_weights().lmi.model_id_value == s3_weights().model_data_source.mount_path


# --- what the data says moto does is what moto does ---------------------------------------------


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def test_moto_claims_hold_for_the_installed_moto(aws):
    import moto

    assert moto.__version__.startswith("5.2."), moto.__version__
    sm = boto3.client("sagemaker", region_name="us-east-1")
    container = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/lmi:latest",
                 "ModelDataSource": {"S3DataSource": {"S3Uri": "s3://weights/model/", "S3DataType": "S3Prefix",
                                                      "CompressionType": "None"}}}
    sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer=container,
                    VpcConfig={"Subnets": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]},
                    EnableNetworkIsolation=True)
    described = sm.describe_model(ModelName="m")
    moto_s3 = s3_weights().moto.supported
    assert (described["PrimaryContainer"]["ModelDataSource"] == container["ModelDataSource"]) \
        == moto_s3["create_model_keeps_primary_container"]
    assert ("VpcConfig" in described) == moto_s3["create_model_keeps_vpc_config"]
    assert described.get("EnableNetworkIsolation", False) == moto_s3["create_model_keeps_network_isolation"]

    async_config = {"OutputConfig": {"S3OutputPath": "s3://out/", "S3FailurePath": "s3://out/failed/"},
                    "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4}}
    sm.create_endpoint_config(EndpointConfigName="c", AsyncInferenceConfig=async_config, ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1}])
    kept = sm.describe_endpoint_config(EndpointConfigName="c").get("AsyncInferenceConfig") == async_config
    assert kept == sagemaker_async().moto.supported["create_endpoint_config_keeps_async_config"]
    try:
        sm.create_endpoint_config(EndpointConfigName="g5", ProductionVariants=[
            {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}])
        g5_accepted = True
    except ClientError:
        g5_accepted = False
    assert g5_accepted == sagemaker_async().moto.supported["instance_types_g5_g6"]
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    answer = runtime.invoke_endpoint_async(EndpointName="e", InputLocation="s3://in/request.json")
    assert answer["OutputLocation"].startswith("s3://") == sagemaker_async().moto.supported["invoke_endpoint_async"]

    bedrock = boto3.client("bedrock", region_name="us-east-1")
    for op, call in (("create_model_invocation_job", bedrock_batch().moto.supported),
                     ("create_model_import_job", custom_model_import().moto.supported)):
        try:
            if op == "create_model_invocation_job":
                bedrock.create_model_invocation_job(
                    jobName="j", roleArn="arn:aws:iam::123456789012:role/r", modelId="amazon.nova-pro-v1:0",
                    inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://in/"}},
                    outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://out/"}})
            else:
                bedrock.create_model_import_job(
                    jobName="j", importedModelName="m", roleArn="arn:aws:iam::123456789012:role/r",
                    modelDataSource={"s3DataSource": {"s3Uri": "s3://weights/model/"}})
            implemented = True
        except NotImplementedError:
            implemented = False
        assert implemented == call[op], op


# --- cold starts --------------------------------------------------------------------------------


def test_cold_start_studies_are_ranges_and_agree_with_the_tier_files():
    cs = cold_starts()
    ids = [s.id for s in cs.studies]
    assert len(ids) == len(set(ids))
    for s in cs.studies:
        assert (s.idle_s_min is None) == (s.idle_s_max is None), s.id
        if s.idle_s_min is not None:
            assert 0 < s.idle_s_min <= s.idle_s_max, s.id
        assert s.tier in cs.tiers, s.id
    # the imported-model unload window is one fact, stated in two files
    unload = custom_model_import().scaling.idle_minutes_before_unload
    assert cs.tiers["bedrock_custom_import"].aws_idle_s == unload * 60
    # AWS publishes no Lambda idle time; the measured ones disagree across years, hence a list
    assert cs.tiers["lambda"].aws_idle_s is None
    lam = cs.studies_of("lambda")
    assert len(lam) >= 3 and min(s.idle_s_min for s in lam) < max(s.idle_s_max for s in lam)


# --- a broken file is one clear error -----------------------------------------------------------


def _broken(monkeypatch, name: str, edit) -> None:
    original = facts.load

    def load(file_name: str):
        data = copy.deepcopy(original(file_name))
        if file_name == name:
            edit(data)
        return data

    monkeypatch.setattr(facts.base, "load", load)


@pytest.mark.parametrize("name,accessor,edit,field", [
    ("bedrock_batch", "bedrock_batch", lambda d: d["job"].pop("required_fields"), "job.required_fields"),
    ("bedrock_batch", "bedrock_batch",
     lambda d: d["models"]["amazon.nova-pro-v1:0"]["quotas"]["records_per_job"].update(code="L-nope"),
     "records_per_job.code"),
    ("bedrock_custom_import", "custom_model_import", lambda d: d["limits"].update(taken="last week"), "limits.taken"),
    ("bedrock_quotas", "bedrock_quotas",
     lambda d: d["models"]["meta.llama3-8b-instruct-v1:0"]["on_demand_tpm"].update(default=-1), "on_demand_tpm.default"),
    ("cold_starts", "cold_starts", lambda d: d["studies"][0].update(tier="ec2"), "studies.0.tier"),
    ("sagemaker_async", "sagemaker_async", lambda d: d["scaling"]["scale_from_zero"].update(policy_type="Simple"),
     "scaling.scale_from_zero.policy_type"),
    ("aws_limits", "async_limits", lambda d: d["sagemaker_async"].pop("request_ttl_s_max"), "request_ttl_s_max"),
])
def test_a_broken_file_fails_with_one_error_naming_file_and_field(monkeypatch, name, accessor, edit, field):
    _broken(monkeypatch, name, edit)
    with pytest.raises(TierwiseError) as err:
        getattr(tier_facts, accessor).__wrapped__()
    message = str(err.value)
    assert f"tierwise/data/{name}.yaml" in message and field in message and "\n" not in message


def test_the_async_rate_is_the_hosting_rate_the_price_list_shows_for_both():
    """sagemaker_async.yaml prices busy asynchronous hours at prices.yaml's hosting rate on the
    strength of the Price List rows it quotes: the quoted rate must be the one prices.yaml holds,
    and the types it leaves out must be types tierwise could otherwise pick."""
    pricing = sagemaker_async().pricing
    assert pricing.instance_hour_same_as_realtime is True
    assert "USE1-AsyncInf:ml.g6e.2xlarge = $2.8026/h" in " ".join(pricing.note.split())
    assert load_prices().instance_hour("us-east-1", "ml.g6e.2xlarge").value == 2.8026
    known = {i.instance_type for i in facts.gpu_instances()}
    assert set(pricing.not_offered.instance_types) <= known
    scale_in = sagemaker_async().scaling.scale_in
    assert scale_in.idle_s == 15 * 60 and "15 datapoints within 15 minutes" in " ".join(scale_in.note.split())
