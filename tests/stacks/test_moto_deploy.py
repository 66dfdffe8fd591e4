"""Each tier's synthesized template, created in moto's in-process CloudFormation: boto3 then sees
exactly what the plan says, and deleting the stack leaves nothing behind.

What the tests change in a template before moto reads it, each for a stated moto limitation
(docs/FACTS.md, "moto 5.2.x"), never to make a wrong template pass:
- file assets are uploaded to the bootstrap bucket and the bootstrap version parameter is put
  in SSM, as `cdk bootstrap` + `cdk deploy` would (Docker images are not pulled by moto);
- outputs that reference a resource moto skips (AWS::Lambda::Url, AWS::Bedrock::*, ...) are
  dropped: moto crashes resolving them; template assertions cover those outputs;
- AWS::KMS::Key tags are handed over as TagKey/TagValue: moto's KMS model reads them in the
  API's shape, not CloudFormation's;
- custom resources (Custom::BedrockProvisionedThroughput, Custom::BedrockImportedModel) are
  dropped: moto invokes them through Docker; their handlers are covered with botocore's Stubber
  (tests/tiers/test_provisioned_handler.py, tests/tiers/test_import_handler.py).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.parsing import get_model_map
from moto.sagemaker.models import FakeEndpointConfig

from tests.stacks.conftest import REGION, Synthesis
from tierwise.facts import load as load_facts

# moto warns for each resource type it skips (listed above)
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

ACCOUNT = "123456789012"  # moto's default account
BOOTSTRAP_VERSION = "/cdk-bootstrap/hnb659fds/version"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    # moto's endpoint-config instance list predates ml.g5/g6/g6e/p4d/p5: accept the GPU types tierwise knows
    gpu_types = set(load_facts("gpu_instances")["instances"])
    original = FakeEndpointConfig.validate_instance_type

    def validate_instance_type(self, instance_type):
        if instance_type not in gpu_types:
            original(self, instance_type)

    monkeypatch.setattr(FakeEndpointConfig, "validate_instance_type", validate_instance_type)
    with mock_aws():
        boto3.client("ssm", region_name=REGION).put_parameter(Name=BOOTSTRAP_VERSION, Value="30", Type="String")
        yield


def _fill_assets(synthesis: Synthesis, stack: str) -> None:
    """Upload the stack's file assets where the template expects them (cdk-assets' job)."""
    s3 = boto3.client("s3", region_name=REGION)
    for asset in synthesis.assets(stack).get("files", {}).values():
        source = synthesis.outdir / asset["source"]["path"]
        for dest in asset["destinations"].values():
            bucket = dest["bucketName"].replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)
            if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                s3.create_bucket(Bucket=bucket)
            if asset["source"].get("packaging") == "zip":
                body = io.BytesIO()
                with zipfile.ZipFile(body, "w") as archive:
                    for path in sorted(Path(source).rglob("*")):
                        archive.write(path, path.relative_to(source))
                data = body.getvalue()
            else:
                data = Path(source).read_bytes()
            s3.put_object(Bucket=bucket, Key=dest["objectKey"], Body=data)


def _for_moto(template: dict) -> dict:
    template = json.loads(json.dumps(template))
    resources = template["Resources"]
    dropped = {name for name, r in resources.items() if r["Type"].startswith("Custom::")}
    for name in dropped:
        del resources[name]  # moto runs custom resources in Docker (see module docstring)
    skipped = dropped | {name for name, r in resources.items() if r["Type"] not in get_model_map()}
    for key, output in list(template.get("Outputs", {}).items()):
        if any(f'"{name}"' in json.dumps(output) for name in skipped):
            del template["Outputs"][key]
    for resource in resources.values():
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in resource["Properties"]:
            resource["Properties"]["Tags"] = [
                {"TagKey": t["Key"], "TagValue": t["Value"]} for t in resource["Properties"]["Tags"]
            ]
    return template


def _create(synthesis: Synthesis, stack: str) -> dict:
    _fill_assets(synthesis, stack)
    cfn = boto3.client("cloudformation", region_name=REGION)
    template = _for_moto(synthesis.template(stack))
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    description = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert description["StackStatus"] == "CREATE_COMPLETE", description.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}


def _physical(stack: str, logical_type: str) -> list[str]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    return [
        r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r["ResourceType"] == logical_type
    ]


def _role_actions(role_arn: str) -> set[str]:
    iam = boto3.client("iam")
    name = role_arn.rsplit("/", 1)[1]
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []  # no managed policy
    actions: set[str] = set()
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        for statement in document["Statement"]:
            acts = statement["Action"]
            actions.update([acts] if isinstance(acts, str) else acts)
    return actions


def _delete_and_expect_nothing_left(stack: str) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.delete_stack(StackName=stack)
    assert [s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == stack] == ["DELETE_COMPLETE"]
    sm = boto3.client("sagemaker", region_name=REGION)
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []
    assert boto3.client("iam").list_roles()["Roles"] == []
    assert boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"] == []
    assert boto3.client("stepfunctions", region_name=REGION).list_state_machines()["stateMachines"] == []
    kms = boto3.client("kms", region_name=REGION)
    states = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"]]
    assert all(state == "PendingDeletion" for state in states), states


def _first(synthesis: Synthesis, tier: str, container: str | None = None) -> str:
    names = [
        n for n in synthesis.stacks_on(tier)
        if container is None or getattr(synthesis.placements[n].settings, "container", None) == container
    ]
    assert names, f"no synthesized stack on {tier} {container or ''}"
    return sorted(names)[0]


def test_lambda_gguf_stack(synthesis, aws):
    stack = _first(synthesis, "lambda-gguf")
    settings = synthesis.placements[stack].settings
    outputs = _create(synthesis, stack)
    lam = boto3.client("lambda", region_name=REGION)
    (name,) = _physical(stack, "AWS::Lambda::Function")
    fn = lam.get_function(FunctionName=name)
    config = fn["Configuration"]
    assert config["MemorySize"] == settings.memory_mb
    assert config["Timeout"] == settings.timeout_s
    assert config["Environment"]["Variables"]["N_CTX"] == str(settings.n_ctx)
    assert config["Environment"]["Variables"]["N_THREADS"] == str(settings.threads)
    assert lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") == settings.reserved_concurrency
    (image,) = synthesis.assets(stack)["dockerImages"]
    assert fn["Code"]["ImageUri"].endswith(f"cdk-hnb659fds-container-assets-{ACCOUNT}-{REGION}:{image}")
    assert _role_actions(config["Role"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert outputs["FunctionName"] == name
    assert f"--function-name {name}" in outputs["InvokeCommand"]
    _delete_and_expect_nothing_left(stack)


@pytest.mark.parametrize("container", ["huggingface-cpu", "gguf"])
def test_sagemaker_serverless_stack(synthesis, aws, container):
    stack = _first(synthesis, "sagemaker-serverless", container)
    settings = synthesis.placements[stack].settings
    outputs = _create(synthesis, stack)
    sm = boto3.client("sagemaker", region_name=REGION)
    endpoint = sm.describe_endpoint(EndpointName=outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    expected = {"MemorySizeInMB": settings.memory_mb, "MaxConcurrency": settings.max_concurrency}
    assert variant["ServerlessConfig"] == expected
    assert config["KmsKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    model = sm.describe_model(ModelName=variant["ModelName"])
    container_def = model["PrimaryContainer"]
    if container == "huggingface-cpu":
        assert container_def["Image"].startswith(f"763104351884.dkr.ecr.{REGION}.amazonaws.com/huggingface-pytorch-inference:")
        # the Hub revision the catalogue pins travels to the container, as DescribeModel shows it
        assert container_def["Environment"] == {"HF_MODEL_ID": settings.hf_model_id, "HF_TASK": settings.hf_task,
                                                "HF_MODEL_REVISION": settings.hf_revision}
        assert settings.hf_revision is not None
    else:
        assert f"cdk-hnb659fds-container-assets-{ACCOUNT}-{REGION}:" in container_def["Image"]
        assert container_def["Environment"]["N_CTX"] == str(settings.n_ctx)
    actions = _role_actions(model["ExecutionRoleArn"])
    assert {"ecr:BatchGetImage", "logs:PutLogEvents", "kms:Decrypt"} <= actions
    assert not [a for a in actions if a.endswith("*")]
    _delete_and_expect_nothing_left(stack)


def test_sagemaker_gpu_stack(synthesis, aws):
    stack = _first(synthesis, "sagemaker-gpu")
    settings = synthesis.placements[stack].settings
    outputs = _create(synthesis, stack)
    sm = boto3.client("sagemaker", region_name=REGION)
    endpoint = sm.describe_endpoint(EndpointName=outputs["EndpointName"])
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == settings.instance_type
    assert variant["InitialInstanceCount"] == settings.min_instances
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == settings.startup_health_check_timeout_s
    assert ("KmsKeyId" in config) is (not settings.local_nvme)
    env = sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]["Environment"]
    assert env["OPTION_TENSOR_PARALLEL_DEGREE"] == str(settings.tensor_parallel_degree)
    assert env["HF_MODEL_ID"] == settings.hf_model_id
    assert env["OPTION_MAX_MODEL_LEN"] == str(settings.max_model_len)
    _delete_and_expect_nothing_left(stack)


def test_bedrock_on_demand_stack(synthesis, aws):
    # moto has no Bedrock: the stack is accepted and deleted; the profile itself is covered by
    # template assertions (tests/tiers/test_bedrock.py)
    stack = _first(synthesis, "bedrock-on-demand")
    outputs = _create(synthesis, stack)
    assert outputs["Tier"] == "bedrock-on-demand"
    _delete_and_expect_nothing_left(stack)


def test_bedrock_provisioned_stack_without_its_custom_resource(synthesis, aws):
    stack = _first(synthesis, "bedrock-provisioned")
    _create(synthesis, stack)
    lam = boto3.client("lambda", region_name=REGION)
    handlers = {
        f["Handler"]: f for f in lam.list_functions()["Functions"] if f["Handler"].startswith("provisioned_throughput.")
    }
    assert set(handlers) == {"provisioned_throughput.on_event", "provisioned_throughput.is_complete"}
    on_event = _role_actions(handlers["provisioned_throughput.on_event"]["Role"])
    assert "bedrock:CreateProvisionedModelThroughput" in on_event
    is_complete = _role_actions(handlers["provisioned_throughput.is_complete"]["Role"])
    assert is_complete == {"bedrock:GetProvisionedModelThroughput", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert len(boto3.client("stepfunctions", region_name=REGION).list_state_machines()["stateMachines"]) == 1
    _delete_and_expect_nothing_left(stack)


def test_sagemaker_async_stack(synthesis, aws):
    """moto 5.2.5 keeps an endpoint config's AsyncInferenceConfig from CloudFormation and answers
    InvokeEndpointAsync; it skips the scaling target, policies and alarms (template assertions in
    tests/tiers/test_batch_tiers.py cover them) and, without the fixture's patch, would refuse the
    ml.g6 instance type (tierwise/data/sagemaker_async.yaml moto)."""
    stack = _first(synthesis, "sagemaker-async")
    settings = synthesis.placements[stack].settings
    outputs = _create(synthesis, stack)
    sm = boto3.client("sagemaker", region_name=REGION)
    endpoint = sm.describe_endpoint(EndpointName=outputs["EndpointName"])
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == settings.instance_type and variant["InitialInstanceCount"] == 1
    bucket = outputs["Bucket"]
    assert config["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == f"s3://{bucket}/output"
    assert config["AsyncInferenceConfig"]["OutputConfig"]["S3FailurePath"] == f"s3://{bucket}/failures"
    assert config["AsyncInferenceConfig"]["OutputConfig"]["KmsKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert config["AsyncInferenceConfig"]["ClientConfig"] == {
        "MaxConcurrentInvocationsPerInstance": settings.max_concurrent_invocations_per_instance}
    env = sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]["Environment"]
    assert env["HF_MODEL_ID"] == settings.hf_model_id and env["OPTION_PREDICT_TIMEOUT"] == "900"
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    actions = _role_actions(sm.describe_model(ModelName=variant["ModelName"])["ExecutionRoleArn"])
    assert {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket"} <= actions
    assert not [a for a in actions if a.endswith("*")]
    # a request queued the way the stack's InvokeCommand output says
    s3.put_object(Bucket=bucket, Key="input/request.json", Body=b'{"inputs": "Hi"}')
    queued = boto3.client("sagemaker-runtime", region_name=REGION).invoke_endpoint_async(
        EndpointName=outputs["EndpointName"], InputLocation=f"s3://{bucket}/input/request.json",
        ContentType="application/json")
    assert queued["InferenceId"] and queued["OutputLocation"].startswith("s3://")
    s3.delete_object(Bucket=bucket, Key="input/request.json")
    _delete_and_expect_nothing_left(stack)


def test_bedrock_batch_stack(synthesis, aws):
    """moto has no Bedrock batch API (bedrock_batch.yaml moto): the stack's buckets, key and the
    service role are created and read back; `tierwise batch submit` is tested against this stack
    in tests/stacks/test_batch_cli.py. moto's CloudFormation drops a bucket's lifecycle rule, its
    public access block and BucketKeyEnabled: tests/tiers/test_batch_tiers.py holds the template to them."""
    stack = _first(synthesis, "bedrock-batch")
    settings = synthesis.placements[stack].settings
    outputs = _create(synthesis, stack)
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (outputs["InputBucket"], outputs["OutputBucket"]):
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    iam = boto3.client("iam")
    role = iam.get_role(RoleName=outputs["ServiceRoleArn"].rsplit("/", 1)[1])["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert trust["Condition"]["ArnEquals"] == {"aws:SourceArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/*"}
    assert _role_actions(outputs["ServiceRoleArn"]) == {
        "s3:GetObject", "s3:ListBucket", "s3:PutObject", "bedrock:InvokeModel", "kms:Decrypt", "kms:GenerateDataKey"}
    assert outputs["ModelId"] == settings.model_id
def test_bedrock_custom_stack_without_its_custom_resource(synthesis, aws):
    """The import itself runs in the handler (tests/tiers/test_import_handler.py); moto creates
    everything around it: the service role Bedrock assumes, the handlers and their roles."""
    stack = _first(synthesis, "bedrock-custom")
    _create(synthesis, stack)
    lam = boto3.client("lambda", region_name=REGION)
    handlers = {f["Handler"]: f for f in lam.list_functions()["Functions"] if f["Handler"].startswith("model_import.")}
    assert set(handlers) == {"model_import.on_event", "model_import.is_complete"}
    assert "bedrock:CreateModelImportJob" in _role_actions(handlers["model_import.on_event"]["Role"])
    assert _role_actions(handlers["model_import.is_complete"]["Role"]) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "bedrock:GetModelImportJob", "bedrock:GetImportedModel",
        "bedrock:DeleteImportedModel"}
    iam = boto3.client("iam")
    (service,) = [r for r in iam.list_roles()["Roles"]
                  if r["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "bedrock.amazonaws.com"}]
    (trust,) = service["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/*"}
    assert _role_actions(service["Arn"]) == {"s3:GetObject", "s3:ListBucket"}
    _delete_and_expect_nothing_left(stack)
