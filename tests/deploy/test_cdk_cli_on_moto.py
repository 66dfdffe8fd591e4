"""The path a user takes, offline: `cdk bootstrap`, `cdk deploy -c model=...`, an update and
`cdk destroy`, with the pinned CDK CLI against a moto server on localhost. After each step
boto3 against the same server must see what `tierwise.placement.plan` decided.
(tests/stacks/test_moto_deploy.py is the in-process counterpart, for every tier.)

moto is used as it is, with one exception: its CloudFormation cannot create a tagged
AWS::KMS::Key, which every tierwise stack has; scripts/moto_deploy.py hands moto's KMS the
shapes its own API takes, and stops doing so once moto gets it right.
Where moto plays no part, each test says so in one line and asserts the deployed template
instead (moto's `get_template` returns what the CLI uploaded). Stack-wide moto limits:
- moto computes no stack Outputs for a stack created through a change set (every `cdk deploy`).
- moto skips AWS::CloudWatch::Alarm, AWS::Lambda::Url, AWS::S3::BucketPolicy and
  AWS::CDK::Metadata with a warning; they are checked in the deployed template.
- moto ignores SageMaker name properties and generates names, so the endpoint is not checked
  against its pre-created log group /aws/sagemaker/Endpoints/<name> (tests/tiers does that).
Not deployed here: bedrock-provisioned (moto has no provisioned-throughput API and runs a
Custom:: resource only through Docker; its handler is tested with Stubber in tests/tiers),
bedrock-on-demand (moto skips every AWS::Bedrock::*), sagemaker-gpu (moto's EndpointConfig
rejects ml.g5, g6, g6e, p4d and p5, the instance types most GPU plans pick).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from model_profiles import load_profile
from scripts.moto_deploy import (
    ACCOUNT,
    REGION,
    boto3_client,
    cli_environment,
    patch_moto_kms_from_cloudformation,
    push_placeholder_image,
    start_server,
)
from tierwise.placement import Placement, plan
from tierwise.workload import Workload

pytestmark = [
    pytest.mark.deploy,
    # the types the module docstring names (".." stands for "::": a filter is split at colons);
    # a type moto newly skips still shows as a warning
    pytest.mark.filterwarnings(
        r"ignore:Tried to parse AWS..(CloudWatch..Alarm|Lambda..Url|S3..BucketPolicy|CDK..Metadata) but:UserWarning"
    ),
]

REPO = Path(__file__).resolve().parents[2]
CDK = REPO / "node_modules" / ".bin" / "cdk"
CDK_TIMEOUT_S = 240
TAGS = ("tierwise:model", "tierwise:tier", "tierwise:quant")
# The CLI update that moto 5.2.5 cannot take (FACTS.md). moto files change sets by name only,
# across stacks, and answers DescribeChangeSet for a deleted one with a ValidationError
# instead of ChangeSetNotFound; the CLI deletes the stack's previous change set, waits for it
# to be gone and stops on that error. With the default change set name, shared by every
# stack, moto deletes another stack's change set and the CLI waits forever, so every deploy
# here names its change set after its stack.
KNOWN_CLI_UPDATE_FAILURE = re.compile(r"Stack with id (cdk-deploy-\S+) does not exist")


# --- the CLI -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdk_cli() -> Path:
    """The CDK CLI package.json pins, installed with `npm ci` if node_modules lacks it."""
    if not CDK.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("the offline deploy tests need Node 20+ and npm for the pinned CDK CLI (package.json)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=REPO, check=True, timeout=300)
    return CDK


class Cli:
    def __init__(self, executable: Path, env: dict[str, str]) -> None:
        self.executable, self.env = executable, env

    def run(self, *args: str, cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.executable), *args, "--no-notices"]
        # a session of its own, so that a timeout ends the CLI and the `python app.py` it started
        process = subprocess.Popen(command, cwd=cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=CDK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"cdk {' '.join(args)} did not finish in {CDK_TIMEOUT_S} s:\n{_tail(stdout, stderr)}")
        done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if check and done.returncode != 0:
            pytest.fail(f"cdk {' '.join(args)} exited {done.returncode}:\n{_tail(done.stdout, done.stderr)}")
        return done

    def deploy(self, stack: str, context: dict[str, str], outdir: Path, check: bool = True) -> subprocess.CompletedProcess:
        """`cdk deploy -c key=value ...` from the repository root, i.e. cdk.json's `python app.py`."""
        args = [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]
        return self.run("deploy", stack, *args, "--output", str(outdir), "--require-approval", "never",
                        "--change-set-name", f"cdk-deploy-{stack}", check=check)

    def destroy(self, stack: str, assembly: Path) -> subprocess.CompletedProcess:
        """`cdk destroy --force` of the assembly deployed from (no second synth)."""
        return self.run("destroy", stack, "--app", str(assembly), "--force")


def _tail(*outputs: str | bytes | None, lines: int = 40) -> str:
    text = "\n".join(o.decode() if isinstance(o, bytes) else o for o in outputs if o)
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def moto(cdk_cli, tmp_path_factory):
    """A moto server on a free localhost port, a bootstrapped environment in it, and the CLI
    pointed at it. Ends the server and restores moto afterwards."""
    tmp = tmp_path_factory.mktemp("moto-deploy")
    with pytest.MonkeyPatch.context() as mp:
        # a Lambda function's image must exist in moto's ECR (moto's default only hashes the URI)
        mp.setenv("MOTO_LAMBDA_STUB_ECR", "false")
        undo_patch = patch_moto_kms_from_cloudformation()
        server, url = start_server()
        requests_log = logging.getLogger("werkzeug")  # one line per request: hundreds per deploy
        requests_level = requests_log.level
        requests_log.setLevel(logging.WARNING)
        try:
            env = cli_environment(url, tmp / "home")
            # `python app.py` (cdk.json) must be this interpreter: the venv that has aws-cdk-lib
            env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
            cli = Cli(cdk_cli, env)
            # from an empty folder: bootstrap needs no app, so nothing is synthesized
            empty = tmp / "bootstrap"
            empty.mkdir()
            cli.run("bootstrap", f"aws://{ACCOUNT}/{REGION}", cwd=empty)
            yield Moto(url, cli, tmp)
        finally:
            server.stop()
            undo_patch()
            requests_log.setLevel(requests_level)


class Moto:
    def __init__(self, url: str, cli: Cli, tmp: Path) -> None:
        self.url, self.cli, self.tmp = url, cli, tmp

    def client(self, service: str):
        return boto3_client(service, self.url)

    def outdir(self, name: str) -> Path:
        path = self.tmp / name
        assert not path.exists(), f"{path} reused"
        return path


# --- what moto holds -----------------------------------------------------------------------------


def stack_resources(moto: Moto, stack: str) -> dict[str, tuple[str, str]]:
    """logical id -> (type, physical id) of the resources moto created (skipped types have none)."""
    summaries = moto.client("cloudformation").list_stack_resources(StackName=stack)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: (s["ResourceType"], s["PhysicalResourceId"]) for s in summaries if s["LogicalResourceId"]}


def one(resources: dict[str, tuple[str, str]], type_: str) -> str:
    found = [physical for t, physical in resources.values() if t == type_]
    assert len(found) == 1, f"expected one {type_} in the stack, moto has {found}"
    return found[0]


def deployed_template(moto: Moto, stack: str) -> dict:
    """The template the CLI deployed, as moto's CloudFormation keeps it."""
    body = moto.client("cloudformation").get_template(StackName=stack)["TemplateBody"]
    return body if isinstance(body, dict) else json.loads(body)


def template_resources(template: dict, type_: str) -> list[dict]:
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def stack_status(moto: Moto, stack: str) -> str:
    return moto.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]


def ecr_repository_arn(image_uri: str) -> str:
    match = re.fullmatch(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)[:@].+", image_uri)
    assert match, image_uri
    account, region, repository = match.groups()
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


def role_check(moto: Moto, role_arn: str, resources: dict, service: str) -> list[dict]:
    """The role is the stack's own, only `service` may assume it; returns its inline statements."""
    iam = moto.client("iam")
    name = role_arn.rsplit("/", 1)[1]
    assert name == one(resources, "AWS::IAM::Role")
    role = iam.get_role(RoleName=name)["Role"]
    principals = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    assert principals == [{"Service": service}]
    statements = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        statements += document["Statement"]
    return statements


def statement(statements: list[dict], sid: str) -> dict:
    found = [s for s in statements if s.get("Sid") == sid]
    assert len(found) == 1, f"expected one statement {sid}, got {[s.get('Sid') for s in statements]}"
    return found[0]


def expected_tags(placement: Placement) -> dict[str, str]:
    return {"tierwise:model": placement.model, "tierwise:tier": placement.tier, "tierwise:quant": placement.quant or "none"}


def key_check(moto: Moto, resources: dict) -> str:
    """The stack's KMS key: enabled, rotating. Returns its ARN."""
    kms = moto.client("kms")
    key = kms.describe_key(KeyId=one(resources, "AWS::KMS::Key"))["KeyMetadata"]
    assert key["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    return key["Arn"]


def assert_nothing_left(moto: Moto, stack: str, resources: dict[str, tuple[str, str]]) -> None:
    """After `cdk destroy`: the stack is gone or DELETE_COMPLETE and so is each resource it had."""
    try:
        status = stack_status(moto, stack)
    except ClientError as exc:
        assert "does not exist" in str(exc)
    else:
        assert status == "DELETE_COMPLETE"
    left = []
    for logical, (type_, physical) in resources.items():
        if type_ == "AWS::KMS::Key":
            # CloudFormation schedules a key's deletion (PendingWindowInDays); moto removes it at once
            try:
                state = moto.client("kms").describe_key(KeyId=physical)["KeyMetadata"]["KeyState"]
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "NotFoundException", exc
            else:
                if state != "PendingDeletion":
                    left.append(f"{logical} key {physical} is {state}")
        elif _exists(moto, type_, physical):
            left.append(f"{logical} {type_} {physical}")
    assert not left, f"cdk destroy left: {left}"
    # nothing else carries the stack's name either
    named = [f["FunctionName"] for f in moto.client("lambda").list_functions()["Functions"]]
    named += [e["EndpointName"] for e in moto.client("sagemaker").list_endpoints()["Endpoints"]]
    named += [r["RoleName"] for r in moto.client("iam").list_roles()["Roles"]]
    assert not [n for n in named if n.startswith(stack)], f"cdk destroy left {named}"


def _exists(moto: Moto, type_: str, physical: str) -> bool:
    name = physical.rsplit("/", 1)[-1]
    calls = {
        "AWS::Lambda::Function": lambda: moto.client("lambda").get_function(FunctionName=physical),
        "AWS::IAM::Role": lambda: moto.client("iam").get_role(RoleName=physical),
        "AWS::SageMaker::Model": lambda: moto.client("sagemaker").describe_model(ModelName=name),
        "AWS::SageMaker::EndpointConfig": lambda: moto.client("sagemaker").describe_endpoint_config(EndpointConfigName=name),
        "AWS::SageMaker::Endpoint": lambda: moto.client("sagemaker").describe_endpoint(EndpointName=name),
    }
    if type_ == "AWS::Logs::LogGroup":
        groups = moto.client("logs").describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
        return any(g["logGroupName"] == physical for g in groups)
    if type_ == "AWS::IAM::Policy":
        return False  # an inline policy of the stack's role: gone with the role, checked above
    assert type_ in calls, f"no existence check for {type_}: add one"
    try:
        calls[type_]()
    except ClientError:
        return False
    return True


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_creates_the_cdk_toolkit(moto):
    assert stack_status(moto, "CDKToolkit") == "CREATE_COMPLETE"
    buckets = [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]
    assert f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}" in buckets
    version = moto.client("ssm").get_parameter(Name="/cdk-bootstrap/hnb659fds/version")["Parameter"]["Value"]
    assert int(version) >= 6  # what the stacks' CheckBootstrapVersion rule demands


# --- sagemaker-serverless ------------------------------------------------------------------------


def dlc_image(name: str) -> str:
    from tierwise.facts import containers

    spec = containers().image(name)
    return f"{containers().registry.accounts[REGION]}.dkr.ecr.{REGION}.amazonaws.com/{spec.repository}:{spec.tag}"


def assert_endpoint_as_planned(
    moto: Moto, stack: str, placement: Placement, image_uri: str | None = None, *, stale_link: str | None = None,
) -> None:
    """`stale_link`: the config an endpoint may still name after moto's UpdateStack (see the update test)."""
    s = placement.settings.model_dump()
    resources = stack_resources(moto, stack)
    sm = moto.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName=one(resources, "AWS::SageMaker::Endpoint").rsplit("/", 1)[1])
    assert endpoint["EndpointStatus"] == "InService"
    config_name = one(resources, "AWS::SageMaker::EndpointConfig").rsplit("/", 1)[1]
    assert endpoint["EndpointConfigName"] in (config_name, stale_link)
    config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    (variant,) = config["ProductionVariants"]
    serverless = {"MemorySizeInMB": s["memory_mb"], "MaxConcurrency": s["max_concurrency"]}
    if s["provisioned_concurrency"] is not None:
        serverless["ProvisionedConcurrency"] = s["provisioned_concurrency"]
    assert variant["ServerlessConfig"] == serverless
    assert "InstanceType" not in variant
    assert config["KmsKeyId"] == key_check(moto, resources)
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["ModelArn"] == one(resources, "AWS::SageMaker::Model")
    container = model["PrimaryContainer"]
    if s["container"] == "huggingface-cpu":
        assert container["Image"] == dlc_image("huggingface-cpu")
        # the Hub commit the catalogue pins reaches the container (DescribeModel shows it)
        assert container["Environment"] == {"HF_MODEL_ID": s["hf_model_id"], "HF_TASK": s["hf_task"],
                                            "HF_MODEL_REVISION": s["hf_revision"]}
    else:
        assert container["Image"] == image_uri
        env = container["Environment"]
        assert (env["N_CTX"], env["N_THREADS"], env["MODEL_NAME"]) == (str(s["n_ctx"]), str(s["threads"]), placement.model)
    statements = role_check(moto, model["ExecutionRoleArn"], resources, "sagemaker.amazonaws.com")
    # the role may pull exactly the image the model runs
    assert statement(statements, "PullModelImage")["Resource"] == ecr_repository_arn(container["Image"])
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}
    assert {k: tags.get(k) for k in TAGS} == expected_tags(placement)
    # moto skips CloudWatch alarms: the deployed template must still carry the endpoint's two
    template = deployed_template(moto, stack)
    assert len(template_resources(template, "AWS::CloudWatch::Alarm")) == 2


def test_predictive_model_deploys_to_sagemaker_serverless_and_destroys_to_nothing(moto):
    """distilbert-sst2: the Hugging Face CPU container from a public DLC image, no asset to build."""
    model, stack = "distilbert-sst2", "tierwise-distilbert-sst2"
    placement = plan(load_profile(model), region=REGION)
    assert (placement.tier, placement.settings.container) == ("sagemaker-serverless", "huggingface-cpu")
    assembly = moto.outdir("cdk.out-distilbert")

    moto.cli.deploy(stack, {"model": model}, assembly)

    assert stack_status(moto, stack) == "CREATE_COMPLETE"
    assert_endpoint_as_planned(moto, stack, placement)
    resources = stack_resources(moto, stack)

    moto.cli.destroy(stack, assembly)

    assert_nothing_left(moto, stack, resources)


# A GGUF model forced onto the serverless tier: its llama.cpp image would be a Docker asset, so
# it comes from ECR as a pipeline pushed it (-c image_uri). The update goes to a longer context.
GGUF_MODEL, GGUF_STACK, GGUF_TIER = "qwen2.5-0.5b", "tierwise-qwen2-5-0-5b", "sagemaker-serverless"
GGUF_UPDATE_CONTEXT = 32768
# serverless memory is sized for speed (the largest size costs no more per request), so the
# longer context alone leaves the ServerlessConfig as it was; more concurrency changes it
GGUF_UPDATE_CONCURRENCY = 20
# at that context a request takes ~21 s warm, and serverless publishes no idle time, so its p95
# counts a 10 s cold start: over the 30 s interactive target. The update asks for 60 s.
GGUF_UPDATE_MAX_SECONDS = 60


def gguf_plan(context: int | None = None, max_concurrency: int = 5, max_seconds: float | None = None) -> Placement:
    placement = plan(load_profile(GGUF_MODEL), tier=GGUF_TIER, context=context, region=REGION,
                     workload=Workload(max_concurrency=max_concurrency, max_seconds=max_seconds))
    assert placement.settings.container == "gguf"
    return placement


@pytest.fixture(scope="module")
def gguf_image(moto):
    return push_placeholder_image(moto.url, "tierwise-gguf-runtime", "qwen-ci-1")[0]


@pytest.fixture(scope="module")
def gguf_serverless_stack(moto, gguf_image):
    """The deployed stack's assembly; destroyed at the end if a test did not."""
    assembly = moto.outdir("cdk.out-gguf-serverless")
    moto.cli.deploy(GGUF_STACK, {"model": GGUF_MODEL, "tier": GGUF_TIER, "image_uri": gguf_image}, assembly)
    yield assembly
    _destroy_if_left(moto, GGUF_STACK, assembly)


def _destroy_if_left(moto: Moto, stack: str, assembly: Path) -> None:
    try:
        left = stack_status(moto, stack) != "DELETE_COMPLETE"
    except ClientError:
        left = False
    if left:
        moto.cli.run("destroy", stack, "--app", str(assembly), "--force", check=False)


def test_gguf_model_deploys_to_sagemaker_serverless_from_a_pushed_image(moto, gguf_serverless_stack, gguf_image):
    assert stack_status(moto, GGUF_STACK) == "CREATE_COMPLETE"
    assert_endpoint_as_planned(moto, GGUF_STACK, gguf_plan(), gguf_image)


def test_gguf_serverless_update_to_a_longer_context_through_cloudformation(moto, gguf_serverless_stack, gguf_image):
    """The CLI cannot update a stack on moto (see the Lambda tier's CLI update), so the
    re-synthesized template goes to moto's UpdateStack. The update is shown on this stack, not
    the Lambda one: after an UpdateStack moto evaluates the stack's Outputs, and the Lambda
    stack's FunctionUrl output (a GetAtt of the skipped AWS::Lambda::Url) then fails every
    DescribeStacks, the CLI's destroy included ("Template error: instance of Fn::GetAtt
    references undefined resource EndpointFunctionFunctionUrl...")."""
    before, after = gguf_plan(), gguf_plan(GGUF_UPDATE_CONTEXT, GGUF_UPDATE_CONCURRENCY, GGUF_UPDATE_MAX_SECONDS)
    assert after.settings.max_concurrency > before.settings.max_concurrency  # the update has something to show
    assembly = moto.outdir("cdk.out-gguf-serverless-update")
    moto.cli.run("synth", GGUF_STACK, "-c", f"model={GGUF_MODEL}", "-c", f"tier={GGUF_TIER}", "-c", f"image_uri={gguf_image}",
                 "-c", f"context={GGUF_UPDATE_CONTEXT}", "-c", f"max_concurrency={GGUF_UPDATE_CONCURRENCY}",
                 "-c", f"max_seconds={GGUF_UPDATE_MAX_SECONDS}", "--output", str(assembly), "--quiet")
    template = (assembly / f"{GGUF_STACK}.template.json").read_text()
    old_config = one(stack_resources(moto, GGUF_STACK), "AWS::SageMaker::EndpointConfig").rsplit("/", 1)[1]

    moto.client("cloudformation").update_stack(StackName=GGUF_STACK, TemplateBody=template, Capabilities=["CAPABILITY_IAM"])

    assert stack_status(moto, GGUF_STACK) == "UPDATE_COMPLETE"
    # a new ServerlessConfig replaces the EndpointConfig, as in CloudFormation; moto 5.2.5 leaves
    # the Endpoint (its template text unchanged) naming the deleted config, where CloudFormation
    # would move it to the new one: that link alone is not asserted while moto has this gap
    assert one(stack_resources(moto, GGUF_STACK), "AWS::SageMaker::EndpointConfig").rsplit("/", 1)[1] != old_config
    assert_endpoint_as_planned(moto, GGUF_STACK, after, gguf_image, stale_link=old_config)


def test_gguf_serverless_destroy_leaves_nothing(moto, gguf_serverless_stack):
    resources = stack_resources(moto, GGUF_STACK)
    assert "AWS::SageMaker::Endpoint" in {t for t, _ in resources.values()}

    moto.cli.destroy(GGUF_STACK, gguf_serverless_stack)

    assert_nothing_left(moto, GGUF_STACK, resources)


# --- lambda-gguf -----------------------------------------------------------------------------------

LAMBDA_MODEL, LAMBDA_STACK = "llama3-8b", "tierwise-llama3-8b"
# The CLI update asks for a longer context: more memory and threads for the same model file.
# (Not another quantization, even once the CLI can update on moto: that retags every resource
# with tierwise:quant, and moto 5.2.5's UpdateStack cannot modify an AWS::KMS::Key: it has no
# update handler, the key drops out of the stack and the next GetAtt fails with "Template
# error: instance of Fn::GetAtt references undefined resource Key...".)
LAMBDA_UPDATE_CONTEXT = 8192
LAMBDA_CONTEXT = {"model": LAMBDA_MODEL, "tier": "lambda-gguf", "batch": "true"}


def lambda_plan(context: int | None = None) -> Placement:
    # batch work forced onto Lambda: a CPU misses the interactive target for an 8B model, and
    # with --batch the asynchronous GPU endpoint (or Bedrock) would be chosen over it
    placement = plan(load_profile(LAMBDA_MODEL), context=context, region=REGION, tier="lambda-gguf",
                     workload=Workload(batch=True))
    assert placement.tier == "lambda-gguf"
    return placement


@pytest.fixture(scope="module")
def pushed_image(moto):
    """The runtime image a CI pipeline built and pushed; returns (URI, digest)."""
    return push_placeholder_image(moto.url, "tierwise-gguf-runtime", "llama3-8b-ci-1")


@pytest.fixture(scope="module")
def lambda_stack(moto, pushed_image):
    """llama3-8b deployed with `cdk deploy -c model=llama3-8b -c image_uri=...`; returns the
    assembly it was deployed from. Destroyed at the end if a test did not."""
    assembly = moto.outdir("cdk.out-lambda")
    moto.cli.deploy(LAMBDA_STACK, {**LAMBDA_CONTEXT, "image_uri": pushed_image[0]}, assembly)
    yield assembly
    _destroy_if_left(moto, LAMBDA_STACK, assembly)


def assert_function_as_planned(moto: Moto, placement: Placement, image: tuple[str, str]) -> None:
    s = placement.settings.model_dump()
    resources = stack_resources(moto, LAMBDA_STACK)
    function = moto.client("lambda").get_function(FunctionName=one(resources, "AWS::Lambda::Function"))
    config = function["Configuration"]
    assert config["MemorySize"] == s["memory_mb"]
    assert config["Timeout"] == s["timeout_s"]
    assert function.get("Concurrency", {}).get("ReservedConcurrentExecutions") == s["reserved_concurrency"]
    env = config["Environment"]["Variables"]
    assert (env["N_CTX"], env["N_THREADS"], env["MODEL_NAME"]) == (str(s["n_ctx"]), str(s["threads"]), LAMBDA_MODEL)
    # the image is the pushed one, resolved through moto's ECR (MOTO_LAMBDA_STUB_ECR=false)
    assert function["Code"]["ImageUri"] == image[0]
    assert config["CodeSha256"] == image[1].removeprefix("sha256:")
    statements = role_check(moto, config["Role"], resources, "lambda.amazonaws.com")
    assert statement(statements, "WriteOwnLogs")["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    key_check(moto, resources)
    # moto's Lambda keeps no PackageType, Architectures, EphemeralStorage, KmsKeyArn, LoggingConfig
    # or Tags from CloudFormation: they are checked in the template moto deployed
    template = deployed_template(moto, LAMBDA_STACK)
    (props,) = [r["Properties"] for r in template_resources(template, "AWS::Lambda::Function")]
    assert props["PackageType"] == "Image"
    assert props["Architectures"] == [s["architecture"]]
    assert props["EphemeralStorage"] == {"Size": s["ephemeral_storage_mb"]}
    assert {t["Key"]: t["Value"] for t in props["Tags"]} == expected_tags(placement)
    # moto skips AWS::Lambda::Url (and so computes no URL) and the alarms
    (url,) = [r["Properties"] for r in template_resources(template, "AWS::Lambda::Url")]
    assert url["AuthType"] == "AWS_IAM"
    assert len(template_resources(template, "AWS::CloudWatch::Alarm")) == 3


def test_lambda_gguf_deploys_the_pushed_image_as_planned(moto, lambda_stack, pushed_image):
    assert stack_status(moto, LAMBDA_STACK) == "CREATE_COMPLETE"
    assert_function_as_planned(moto, lambda_plan(), pushed_image)


def test_lambda_gguf_update_through_the_cli(moto, lambda_stack, pushed_image):
    """`cdk deploy -c context=...` on the deployed stack. Known to fail on moto 5.2.5 (see
    KNOWN_CLI_UPDATE_FAILURE): recorded as an expected failure with that reason. Once moto
    takes it, the test checks the updated function by itself; any other failure fails it."""
    before, after = lambda_plan(), lambda_plan(LAMBDA_UPDATE_CONTEXT)
    assert after.settings.n_ctx > before.settings.n_ctx  # the update has something to show
    done = moto.cli.deploy(
        LAMBDA_STACK, {**LAMBDA_CONTEXT, "image_uri": pushed_image[0], "context": str(LAMBDA_UPDATE_CONTEXT)},
        moto.outdir("cdk.out-lambda-update"), check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        known = KNOWN_CLI_UPDATE_FAILURE.search(output)
        assert known, f"cdk deploy (update) failed in an unknown way:\n{_tail(output)}"
        # what a failed update must not do: touch the deployed stack
        assert stack_status(moto, LAMBDA_STACK) == "CREATE_COMPLETE"
        assert_function_as_planned(moto, before, pushed_image)
        pytest.xfail(
            f"moto 5.2.5 cannot take a CDK CLI update: DescribeChangeSet of the deleted previous change set "
            f"answers '{known.group(0)}' (a ValidationError, not ChangeSetNotFound); UpdateStack covers updates"
        )
    assert stack_status(moto, LAMBDA_STACK) == "UPDATE_COMPLETE"
    assert_function_as_planned(moto, after, pushed_image)


def test_lambda_gguf_destroy_leaves_nothing(moto, lambda_stack):
    resources = stack_resources(moto, LAMBDA_STACK)
    assert "AWS::Lambda::Function" in {t for t, _ in resources.values()}

    moto.cli.destroy(LAMBDA_STACK, lambda_stack)

    assert_nothing_left(moto, LAMBDA_STACK, resources)
