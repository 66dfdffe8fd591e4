"""BedrockImportedModel: the Custom Model Import custom resource, its service role, its handlers'
least privilege, the weights as stack parameters, cdk-nag and cfn-lint clean (synthesized once)."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from tiers import BedrockImportedModel, TierOptions
from tiers.bedrock_custom.construct import CONSTRUCT_TAG, HANDLER_DIRECTORY, RESOURCE_TYPE
from tiers.props import PropError
from tiers.provider import HANDLER_RUNTIME
from tiers.security import acknowledge

URI = "s3://tierwise-models-example/qwen-ft/v1/"
WEIGHTS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One app: a folder given as a URI (with its bucket's key), the folder as stack parameters,
    and a bucket of the same app; synthesized once."""
    outdir = tmp_path_factory.mktemp("cmi")
    app = cdk.App(outdir=str(outdir))
    env = cdk.Environment(region=REGION)
    uri = cdk.Stack(app, "Uri", env=env)
    model = BedrockImportedModel(uri, "Model", weights_uri=URI, weights_key=WEIGHTS_KEY, custom_model_units=2,
                                 copies=3, tags={"team": "search"}, weights_revision="2026-12-03")
    model.grant_invoke(iam.Role(uri, "Caller", assumed_by=iam.AccountRootPrincipal()))
    for name, (value, description) in model.outputs().items():
        cdk.CfnOutput(uri, name, value=value, description=description)
    params = cdk.Stack(app, "Params", env=env)
    BedrockImportedModel(params, "Model", custom_model_units=1)
    same_app = cdk.Stack(app, "Bucket", env=env)
    bucket = s3.Bucket(same_app, "Weights", encryption=s3.BucketEncryption.KMS, enforce_ssl=True,
                       encryption_key=kms.Key(same_app, "BucketKey", enable_key_rotation=True))
    acknowledge(bucket, "AwsSolutions-S1",
                "a fixture bucket that only stands for one holding model files: access logs are not the point")
    BedrockImportedModel(same_app, "Model", weights_bucket=bucket, weights_prefix="models/ft/")
    app.synth()
    templates = {name: json.loads((outdir / f"{name}.template.json").read_text()) for name in ("Uri", "Params", "Bucket")}
    return app, templates, outdir


def typed(t: dict, type_: str) -> dict:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == type_}


def role_statements(t: dict, role_prefix: str) -> dict[str, dict]:
    """Statements (by Sid, or by action when unnamed) of the policy attached to the role whose
    logical id starts with `role_prefix`."""
    (role_id,) = [k for k in typed(t, "AWS::IAM::Role") if k.startswith(role_prefix)]
    out = {}
    for policy in typed(t, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            for s in policy["Properties"]["PolicyDocument"]["Statement"]:
                out[s.get("Sid") or json.dumps(s["Action"])] = s
    return out


def test_the_import_is_a_custom_resource_its_handlers_drive(built):
    _, templates, _ = built
    t = templates["Uri"]
    ((logical, resource),) = typed(t, RESOURCE_TYPE).items()
    props = resource["Properties"]
    assert props["WeightsUri"] == URI and props["WeightsRevision"] == "2026-12-03"
    assert props["RoleArn"] == {"Fn::GetAtt": [next(k for k in t["Resources"] if k.startswith("ModelServiceRole")
                                                    and t["Resources"][k]["Type"] == "AWS::IAM::Role"), "Arn"]}
    assert props["KmsKeyArn"]["Fn::GetAtt"][0].startswith("ModelKey")  # the imported model is encrypted at rest
    assert 1 <= len(props["ImportedModelName"]) <= 63
    assert {"Key": CONSTRUCT_TAG, "Value": "Uri/Model"} in props["Tags"] and {"Key": "team", "Value": "search"} in props["Tags"]
    assert resource["DeletionPolicy"] == "Delete"  # cdk destroy deletes the imported model (storage bills)
    assert resource["Metadata"]["tierwise"] == {"customModelUnits": 2, "copies": 3}
    handlers = {f["Properties"]["Handler"]: f["Properties"] for f in typed(t, "AWS::Lambda::Function").values()
                if f["Properties"].get("Handler", "").startswith("model_import.")}
    assert set(handlers) == {"model_import.on_event", "model_import.is_complete"}
    assert {h["Runtime"] for h in handlers.values()} == {HANDLER_RUNTIME.name}
    assert (HANDLER_DIRECTORY / "model_import.py").is_file()
    assert set(t["Outputs"]) >= {"ImportedModelArn", "CustomModelUnits", "InvokeCommand", "ChatCommand"}
    invoke = json.dumps(t["Outputs"]["InvokeCommand"]["Value"])
    assert "invoke-model" in invoke and "ModelArn" in invoke and "converse" not in invoke


def test_the_service_role_reads_only_the_folder_for_this_accounts_import_jobs(built):
    _, templates, _ = built
    t = templates["Uri"]
    (role,) = [r for k, r in typed(t, "AWS::IAM::Role").items() if k.startswith("ModelServiceRole")]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert json.dumps(trust["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(':model-import-job/*"]]}')
    s = role_statements(t, "ModelServiceRole")
    assert set(s) == {"ReadTheWeights", "ListTheWeights", "DecryptTheWeights"}
    assert s["ReadTheWeights"]["Action"] == "s3:GetObject"
    assert s["ReadTheWeights"]["Resource"]["Fn::Join"][1][-1] == ":s3:::tierwise-models-example/qwen-ft/v1/*"
    assert s["ListTheWeights"]["Condition"]["StringLike"] == {"s3:prefix": ["qwen-ft/v1/*"]}
    for sid in ("ReadTheWeights", "ListTheWeights"):
        assert s[sid]["Condition"]["StringEquals"] == {"aws:ResourceAccount": {"Ref": "AWS::AccountId"}}
    assert s["DecryptTheWeights"]["Resource"] == WEIGHTS_KEY
    assert s["DecryptTheWeights"]["Action"] == "kms:Decrypt"
    assert "s3." in json.dumps(s["DecryptTheWeights"]["Condition"]["StringEquals"]["kms:ViaService"])


def test_the_handlers_touch_only_this_constructs_imports(built):
    _, templates, _ = built
    t = templates["Uri"]
    own = {"StringEquals": {f"aws:ResourceTag/{CONSTRUCT_TAG}": "Uri/Model"}}
    on_event = role_statements(t, "ModelOnEventRole")
    start = on_event["StartImportsOfThisConstruct"]
    assert start["Action"] == "bedrock:CreateModelImportJob" and start["Resource"] == "*"
    assert start["Condition"] == {"StringEquals": {f"aws:RequestTag/{CONSTRUCT_TAG}": "Uri/Model"}}
    for sid in ("RetagOwnImportedModels", "ReadOwnImportJobs", "ManageOwnImportedModels"):
        assert on_event[sid]["Condition"] == own, sid
    assert on_event["PassTheServiceRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    # Bedrock may use the key for the imported model: it creates the grant itself, so CreateGrant
    # only for an AWS service's use of the key
    assert on_event["GrantKeyToBedrockOnly"]["Action"] == "kms:CreateGrant"
    assert on_event["GrantKeyToBedrockOnly"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    use = next(s for s in on_event.values() if "kms:Decrypt" in s["Action"])
    assert set(use["Action"]) == {"kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"}
    is_complete = role_statements(t, "ModelIsCompleteRole")
    actions = {a for s in is_complete.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "bedrock:GetModelImportJob",
                       "bedrock:GetImportedModel", "bedrock:DeleteImportedModel"}


def test_without_weights_the_stack_takes_the_folder_as_parameters(built):
    _, templates, _ = built
    t = templates["Params"]
    assert set(t["Parameters"]) >= {"WeightsBucket", "WeightsPrefix"}
    assert t["Parameters"]["WeightsPrefix"]["AllowedPattern"] == "^([A-Za-z0-9!_.'()=+-]+/)+$"
    (resource,) = typed(t, RESOURCE_TYPE).values()
    assert resource["Properties"]["WeightsUri"] == {"Fn::Join": ["", ["s3://", {"Ref": "WeightsBucket"}, "/",
                                                                       {"Ref": "WeightsPrefix"}]]}
    read = role_statements(t, "ModelServiceRole")["ReadTheWeights"]
    assert {"Ref": "WeightsPrefix"} in read["Resource"]["Fn::Join"][1]


def test_a_bucket_of_the_app_brings_its_key(built):
    _, templates, _ = built
    s = role_statements(templates["Bucket"], "ModelServiceRole")
    assert s["DecryptTheWeights"]["Resource"]["Fn::GetAtt"][0].startswith("BucketKey")
    assert s["ListTheWeights"]["Condition"]["StringLike"] == {"s3:prefix": ["models/ft/*"]}


def test_grant_invoke_allows_invoke_model_on_the_import_and_its_key(built):
    _, templates, _ = built
    caller = role_statements(templates["Uri"], "Caller")
    invoke = caller[json.dumps(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"])]
    assert invoke["Resource"]["Fn::GetAtt"][1] == "ModelArn"
    decrypt = caller[json.dumps(["kms:Decrypt", "kms:GenerateDataKey"])]
    assert decrypt["Resource"]["Fn::GetAtt"][0].startswith("ModelKey")


def test_cdk_nag_and_cfn_lint_find_nothing(built):
    app, _, outdir = built
    report = AwsSolutionsChecks().validate_scope(app)
    assert [v.rule_name for v in report.violations] == [] and report.success
    for name in ("Uri", "Params", "Bucket"):
        found = [m for m in lint((outdir / f"{name}.template.json").read_text(), config=ManualArgs(regions=[REGION]))
                 if m.rule.id != "W3005"]
        assert found == [], name


@pytest.mark.parametrize(("props", "message"), [
    ({"weights_uri": "s3://tierwise-models/qwen-ft"}, "weights_uri must be s3://bucket/prefix/, a folder ending in '/'"),
    ({"weights_uri": URI, "weights_prefix": "x/"}, "give weights_uri or weights_bucket with weights_prefix, not both"),
    ({"weights_prefix": "x/"}, "weights_bucket and weights_prefix go together"),
    ({"weights_uri": URI, "imported_model_name": "with space"}, "imported_model_name must be 1-63"),
    ({"weights_uri": URI, "weights_key": "alias/models"}, "weights_key must be a kms.IKey or a KMS key ARN"),
    ({"weights_uri": URI, "copies": 0}, "copies must be an integer >= 1"),
    ({"weights_uri": URI, "custom_model_units": 0}, "custom_model_units must be an integer >= 1"),
    ({"weights_uri": URI, "weights_revision": "new files!"}, "weights_revision must be 1-128"),
    ({"weights_uri": URI, "options": TierOptions(role=None, alarm_actions=("x",))}, "alarm_actions"),
])
def test_a_bad_prop_is_one_line_naming_it(make_stack, props, message):
    stack = make_stack()
    with pytest.raises(PropError) as caught:
        BedrockImportedModel(stack, "Model", **props)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("BedrockImportedModel: ")


def test_a_stack_takes_one_folder_as_parameters(make_stack):
    stack = make_stack()
    BedrockImportedModel(stack, "First")
    with pytest.raises(PropError, match="already takes WeightsBucket/WeightsPrefix"):
        BedrockImportedModel(stack, "Second")
