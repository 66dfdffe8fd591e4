"""What every tier construct offers alike, in CDK's idiom: TierOptions, for_placement, the
registry, IGrantable (grant_principal / add_to_role_policy), the L1 resources as cfn_*."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns

import tiers
from model_profiles import load_profile
from tests.tiers.conftest import resources, statements, template
from tiers import GgufModel, PropError, TierOptions
from tierwise.placement import plan

URL = "https://huggingface.co/org/repo/resolve/main/model-Q4_K_M.gguf"
SHA = "ab" * 32
HF = {"container": "huggingface-cpu", "hf_model_id": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
      "hf_task": "text-classification"}

# tier -> a minimal construct of that tier (props beyond options)
MINIMAL = {
    "lambda-gguf": {"model": GgufModel.baked(URL, sha256=SHA)},
    "sagemaker-serverless": HF,
    "sagemaker-gpu": {"hf_model_id": "meta-llama/Meta-Llama-3-8B-Instruct", "instance_type": "ml.g4dn.xlarge"},
    "bedrock-provisioned": {"model_id": "amazon.nova-pro-v1:0"},
    "bedrock-on-demand": {"model_id": "amazon.nova-pro-v1:0"},
}
OWN_ROLE = ("lambda-gguf", "sagemaker-serverless", "sagemaker-gpu")


def build(stack: cdk.Stack, tier: str, **props):
    return tiers.construct_for(tier)(stack, "Ep", **{**MINIMAL[tier], **props})


def test_the_registry_names_one_construct_per_planned_tier():
    from tierwise import tiers as core

    for tier in core.ids():
        assert tiers.construct_for(tier).TIER == tier
    with pytest.raises(PropError, match=r"no tier construct for tier 'gpu-lambda'; tiers: lambda-gguf, "):
        tiers.construct_for("gpu-lambda")


@pytest.mark.parametrize(
    ("model", "tier", "kwargs"),
    [
        ("tinyllama-1.1b", "lambda-gguf", {}),  # an 8B model misses the interactive target on CPU
        ("distilbert-sst2", "sagemaker-serverless", {}),
        ("llama3-70b", "sagemaker-gpu", {}),
        ("nova-pro", "bedrock-provisioned", {}),
        ("llama3-8b", "bedrock-on-demand", {}),  # Bedrock's 405B is EOL: not planned for a new deployment
    ],
)
def test_for_placement_builds_each_tier_from_its_plan(make_stack, model, tier, kwargs):
    placement = plan(load_profile(model), tier=tier, region="us-east-1")
    stack = make_stack()
    construct = tiers.construct_for(tier).for_placement(stack, "Ep", placement, **kwargs)
    assert construct.TIER == tier
    assert not hasattr(construct, "from_placement")  # CDK's from_* means "import an existing one"
    assert construct.node.default_child is not None


@pytest.mark.parametrize(
    ("tier", "attributes"),
    [
        ("lambda-gguf", {"cfn_function": lambda_.CfnFunction}),
        ("sagemaker-serverless", {"cfn_model": sagemaker.CfnModel, "cfn_endpoint_config": sagemaker.CfnEndpointConfig,
                                  "cfn_endpoint": sagemaker.CfnEndpoint}),
        ("sagemaker-gpu", {"cfn_model": sagemaker.CfnModel, "cfn_endpoint_config": sagemaker.CfnEndpointConfig,
                           "cfn_endpoint": sagemaker.CfnEndpoint}),
        ("bedrock-provisioned", {"cfn_resource": cdk.CfnResource}),
        ("bedrock-on-demand", {"cfn_inference_profile": bedrock.CfnApplicationInferenceProfile}),
    ],
)
def test_l1_resources_are_cfn_attributes_and_the_main_one_is_the_default_child(make_stack, tier, attributes):
    stack = make_stack()
    ep = build(stack, tier)
    for name, kind in attributes.items():
        assert isinstance(getattr(ep, name), kind), name
    main = list(attributes)[-1] if tier.startswith("sagemaker") else list(attributes)[0]
    assert ep.node.default_child.node.path == getattr(ep, main).node.path
    # an escape hatch on the attribute reaches the template
    getattr(ep, main).add_metadata("tierwise:test", "escape-hatch")
    logical_id = stack.get_logical_id(getattr(ep, main))
    assert template(stack).to_json()["Resources"][logical_id]["Metadata"]["tierwise:test"] == "escape-hatch"


@pytest.mark.parametrize("tier", OWN_ROLE)
def test_a_construct_with_a_role_is_grantable(make_stack, tier):
    stack = make_stack()
    ep = build(stack, tier)
    bucket = s3.Bucket(stack, "Data", enforce_ssl=True)
    bucket.grant_read(ep)  # IGrantable: the grant lands on the role the endpoint runs as
    ep.add_to_role_policy(iam.PolicyStatement(sid="ReadParam", actions=["ssm:GetParameter"], resources=["arn:aws:ssm:us-east-1:123456789012:parameter/x"]))
    assert ep.grant_principal is ep.role
    t = template(stack)
    found = statements(t)
    reads = [s for s in found if "s3:GetObject*" in s["Action"]]
    assert reads, "bucket.grant_read(endpoint) adds a statement"
    assert [s["Action"] for s in found if s.get("Sid") == "ReadParam"] == ["ssm:GetParameter"]
    role_id = stack.get_logical_id(ep.role.node.default_child)
    for policy in resources(t, "AWS::IAM::Policy").values():
        if any(s.get("Sid") == "ReadParam" for s in policy["Properties"]["PolicyDocument"]["Statement"]):
            assert policy["Properties"]["Roles"] == [{"Ref": role_id}]


@pytest.mark.parametrize("tier", OWN_ROLE)
def test_options_key_role_retention_and_alarm_actions_are_used(make_stack, tier):
    stack = make_stack()
    key = kms.Key(stack, "Shared", enable_key_rotation=True)
    role = iam.Role(stack, "Runner", assumed_by=iam.ServicePrincipal(
        "lambda.amazonaws.com" if tier == "lambda-gguf" else "sagemaker.amazonaws.com"))
    topic = sns.Topic(stack, "Pager", master_key=key)
    ep = build(stack, tier, options=TierOptions(
        encryption_key=key, role=role, log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=cdk.RemovalPolicy.RETAIN, alarm_actions=[cloudwatch_actions.SnsAction(topic)],
    ))
    t = template(stack)
    assert len(resources(t, "AWS::KMS::Key")) == 1  # the one passed in, no key of its own
    assert len(resources(t, "AWS::IAM::Role")) == 1  # the one passed in
    assert ep.role is role and ep.encryption_key is key
    (group,) = resources(t, "AWS::Logs::LogGroup").values()
    assert group["Properties"]["RetentionInDays"] == 7
    assert group["DeletionPolicy"] == "Retain"
    key_id = stack.get_logical_id(key.node.default_child)
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    alarms = resources(t, "AWS::CloudWatch::Alarm").values()
    assert alarms and all(a["Properties"]["AlarmActions"] == [{"Ref": stack.get_logical_id(topic.node.default_child)}]
                          for a in alarms)
    # the role passed in got exactly the statements the construct needs
    role_id = stack.get_logical_id(role.node.default_child)
    policies = [p for p in resources(t, "AWS::IAM::Policy").values() if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    assert policies and any(s.get("Sid") == "WriteOwnLogs" for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"])


def test_provisioned_throughput_takes_key_and_log_options(make_stack):
    stack = make_stack()
    key = kms.Key(stack, "Shared", enable_key_rotation=True)
    build(stack, "bedrock-provisioned", options=TierOptions(encryption_key=key, log_retention=logs.RetentionDays.ONE_WEEK))
    t = template(stack)
    assert len(resources(t, "AWS::KMS::Key")) == 1
    assert {g["Properties"]["RetentionInDays"] for g in resources(t, "AWS::Logs::LogGroup").values()} == {7}


@pytest.mark.parametrize(
    ("tier", "options", "message"),
    [
        ("bedrock-on-demand", lambda s: TierOptions(encryption_key=kms.Key(s, "K")),
         "BedrockOnDemand: options.encryption_key does not apply"),
        ("bedrock-on-demand", lambda s: TierOptions(alarm_actions=[cloudwatch_actions.SnsAction(sns.Topic(s, "T"))]),
         "BedrockOnDemand: options.alarm_actions does not apply"),
        ("bedrock-provisioned", lambda s: TierOptions(role=iam.Role(s, "R", assumed_by=iam.AccountRootPrincipal())),
         "BedrockProvisionedThroughput: options.role does not apply"),
        ("lambda-gguf", lambda s: TierOptions(encryption_key="alias/mine"),
         "LambdaGgufEndpoint: options.encryption_key must be a kms.IKey"),
        ("sagemaker-gpu", lambda s: TierOptions(log_retention=30),
         "SageMakerGpuEndpoint: options.log_retention must be a logs.RetentionDays"),
        ("sagemaker-serverless", lambda s: TierOptions(alarm_actions=["arn:aws:sns:us-east-1:1:t"]),
         "SageMakerServerlessEndpoint: options.alarm_actions must hold cloudwatch.IAlarmAction"),
        ("lambda-gguf", lambda s: {"encryption_key": None}, "LambdaGgufEndpoint: options must be a tiers.TierOptions"),
    ],
)
def test_bad_options_name_the_option_and_what_is_allowed(make_stack, tier, options, message):
    stack = make_stack()
    with pytest.raises(PropError) as err:
        build(stack, tier, options=options(stack))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_every_construct_documents_every_prop_with_its_default():
    """Each keyword prop of each construct is named in its class docstring, with a default
    unless it is required."""
    import inspect

    from tierwise import tiers as core

    for tier in core.ids():
        cls = tiers.construct_for(tier)
        doc = inspect.getdoc(cls) or ""
        for name, param in inspect.signature(cls.__init__).parameters.items():
            if name in ("self", "scope", "id"):
                continue
            # the bullet whose head (before its first ": ") names the prop
            items = [part for part in doc.split("\n- ")[1:] if f"``{name}``" in part.split(": ")[0]]
            assert items, f"{cls.__name__}: prop {name} has no bullet of its own in the docstring"
            assert "Default" in items[0] or "Required" in items[0], f"{cls.__name__}.{name}: no default documented"


def test_alarm_actions_type_is_cloudwatch(make_stack):
    # a guard against the options' alarm_actions silently accepting alarm objects themselves
    stack = make_stack()
    alarm = cloudwatch.Alarm(stack, "A", metric=cloudwatch.Metric(namespace="x", metric_name="y"), threshold=1,
                             evaluation_periods=1)
    with pytest.raises(PropError, match="options.alarm_actions must hold cloudwatch.IAlarmAction"):
        build(stack, "lambda-gguf", options=TierOptions(alarm_actions=[alarm]))


@pytest.mark.parametrize(
    ("tier", "props", "message"),
    [
        ("lambda-gguf", {"model_name": 42}, "LambdaGgufEndpoint: model_name must be 1-128 letters"),
        ("lambda-gguf", {"runtime_directory": "/nowhere"}, "LambdaGgufEndpoint: runtime_directory must be a folder holding a Dockerfile"),
        ("sagemaker-serverless", {**{k: v for k, v in MINIMAL["lambda-gguf"].items()}, "container": "gguf",
                                  "hf_model_id": None, "hf_task": None, "model_name": "bad\nname"},
         "SageMakerServerlessEndpoint: model_name must be"),
        ("sagemaker-gpu", {"hf_token_secret": 7}, "SageMakerGpuEndpoint: hf_token_secret must be a secretsmanager.ISecret"),
        ("bedrock-provisioned", {"total_timeout": 7200}, "BedrockProvisionedThroughput: total_timeout must be a cdk.Duration"),
        ("bedrock-provisioned", {"tags": ["a"]}, "BedrockProvisionedThroughput: tags must be a dict of str to str"),
        ("bedrock-on-demand", {"description": 3}, "BedrockOnDemand: description must be one line of text"),
    ],
)
def test_a_prop_of_the_wrong_type_is_one_line_not_a_jsii_traceback(make_stack, tier, props, message):
    with pytest.raises(PropError) as err:
        build(make_stack(), tier, **props)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
