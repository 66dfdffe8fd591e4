"""One synthesis for the whole stacks suite: `model=all` (every catalogue model on its planned
tier) plus the tiers no catalogue model is placed on today, forced with `tier=`, so that every
tier and container kind is synthesized, linted, nag-checked and created in moto.

Synthesizing costs seconds (jsii start-up, the first synth in a process), so it happens once
per session; tests read the templates from the one cloud assembly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
import pytest  # noqa: E402

import app as cdk_app  # noqa: E402
from model_profiles import load_profile  # noqa: E402
from stacks.app_context import read, stack_id  # noqa: E402
from stacks.model_stack import ModelStack  # noqa: E402
from tests.synth import synth_context  # noqa: E402
from tierwise.placement import Placement, plan  # noqa: E402
from tierwise.workload import Workload  # noqa: E402

REGION = "us-east-1"
CONTEXT = {"model": "all", "region": REGION}
# batch work (issue 17's example): the batch tiers are only in the race with --batch
BATCH = Workload(requests_per_month=30_000, input_tokens=1000, output_tokens=300, batch=True)
WEIGHTS_URI = "s3://tierwise-models-example/qwen2.5-7b-instruct/"
# tier -> (a catalogue model to force onto it when the plans place none there, stack suffix,
# workload, the stack's options)
FORCED = {
    "bedrock-provisioned": ("nova-pro", "pt", None, {}),
    "sagemaker-serverless/gguf": ("qwen2.5-0.5b", "serverless", None, {}),
    "bedrock-batch": ("nova-pro", "batch", BATCH, {}),
    "sagemaker-async": ("llama3-8b", "async", BATCH, {}),
    "bedrock-custom": ("qwen2.5-7b", "cmi", None, {"weights_uri": WEIGHTS_URI}),
}


@dataclass
class Synthesis:
    app: cdk.App
    outdir: Path
    placements: dict[str, Placement]  # stack name -> its placement

    def template(self, stack_name: str) -> dict:
        return json.loads((self.outdir / f"{stack_name}.template.json").read_text())

    def assets(self, stack_name: str) -> dict:
        return json.loads((self.outdir / f"{stack_name}.assets.json").read_text())

    def stacks_on(self, tier: str) -> list[str]:
        return [name for name, p in self.placements.items() if p.tier == tier]


def _kind(placement: Placement) -> str:
    if placement.tier == "sagemaker-serverless":
        return f"sagemaker-serverless/{placement.settings.container}"
    return placement.tier


def build_app(outdir: Path) -> tuple[cdk.App, dict[str, Placement]]:
    """The `model=all` app plus forced-tier stacks, built but not synthesized."""
    app = cdk_app.main(synth_context(CONTEXT), str(outdir))
    placements = {s.stack_id: s.placement for s in read(synth_context(CONTEXT)).stacks}
    planned = {_kind(p) for p in placements.values()}
    for kind, (model, suffix, workload, options) in FORCED.items():
        if kind in planned:
            continue  # the catalogue already covers it
        placement = plan(load_profile(model), tier=kind.split("/")[0], region=REGION, workload=workload)
        name = f"{stack_id(model)}-{suffix}"
        ModelStack(app, name, placement=placement, env=cdk.Environment(region=REGION), **options)
        placements[name] = placement
    return app, placements


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory) -> Synthesis:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, placements = build_app(outdir)
    app.synth()  # with the cdk-nag plugin registered by app.py: an unacknowledged finding fails here
    return Synthesis(app=app, outdir=outdir, placements=placements)


# --- private networking: the same app with -c vpc_id, against a VPC given as lookup context ---

ACCOUNT = "123456789012"
VPC_ID = "vpc-0a1b2c3d4e5f60718"


def vpc_lookup_context(vpc_id: str, subnet_groups: dict[str, list[dict]], *, account: str = ACCOUNT,
                       region: str = REGION, cidr: str = "10.0.0.0/16") -> dict:
    """The context entry `cdk synth` writes to cdk.context.json after looking `vpc_id` up
    (Vpc.from_lookup; the CDK CLI's VPC provider): with it in the context the app synthesizes
    offline. ``subnet_groups`` maps Public/Private/Isolated to subnets, each
    {subnetId, cidr, availabilityZone, routeTableId}."""
    key = f"vpc-provider:account={account}:filter.vpc-id={vpc_id}:region={region}:returnAsymmetricSubnets=true"
    return {key: {
        "vpcId": vpc_id, "vpcCidrBlock": cidr, "ownerAccountId": account, "availabilityZones": [],
        "subnetGroups": [{"name": kind, "type": kind, "subnets": subnets} for kind, subnets in subnet_groups.items()],
    }}


def _subnets(kind: int, count: int = 2) -> list[dict]:
    return [
        {"subnetId": f"subnet-0{kind}{az}{'0' * 14}", "cidr": f"10.0.{kind * 10 + az}.0/24",
         "availabilityZone": f"{REGION}{'abc'[az]}", "routeTableId": f"rtb-0{kind}{az}{'0' * 14}"}
        for az in range(count)
    ]


SUBNETS = {"Public": _subnets(1), "Private": _subnets(2), "Isolated": _subnets(3)}
S3_MODEL = "s3://tierwise-models-example/llama3/Meta-Llama-3-8B-Instruct-Q4_K_M.gguf"
# stack name -> (model, options): every way a VPC can be asked for, on both tiers that take one
# (tiers forced: the test is about the network, whatever the prices decide)
VPC_STACKS = {
    # batch: an 8B model on Lambda CPU misses the interactive target; the test is about the network
    "tierwise-llama3-8b": ("llama3-8b", {"tier": "lambda-gguf", "batch": True, "subnet_type": "isolated",
                                         "model_uri": S3_MODEL}),
    "tierwise-llama3-70b-vpc": ("llama3-70b", {"tier": "sagemaker-gpu"}),
    "tierwise-llama3-2-1b-shared-vpc": (
        "llama3.2-1b",
        {"tier": "lambda-gguf", "subnet_ids": [s["subnetId"] for s in SUBNETS["Private"]], "vpc_endpoints": False},
    ),
}


def build_vpc_app(outdir: Path) -> tuple[cdk.App, dict[str, Placement]]:
    """The first VPC stack through app.py and its context keys (as `cdk synth -c vpc_id=...`),
    the others added to the same app (one synthesis)."""
    (first, (model, options)), *others = VPC_STACKS.items()
    context = {**CONTEXT, "model": model, "vpc_id": VPC_ID, **options, **vpc_lookup_context(VPC_ID, SUBNETS)}
    previous = os.environ.get("CDK_DEFAULT_ACCOUNT")
    os.environ["CDK_DEFAULT_ACCOUNT"] = ACCOUNT  # what the CDK CLI sets from the credentials
    try:
        app = cdk_app.main(synth_context(context), str(outdir))
    finally:
        if previous is None:
            del os.environ["CDK_DEFAULT_ACCOUNT"]
        else:
            os.environ["CDK_DEFAULT_ACCOUNT"] = previous
    placements = {first: read(synth_context(context), {"CDK_DEFAULT_ACCOUNT": ACCOUNT}).stacks[0].placement}
    for name, (model, options) in others:
        options = dict(options)
        placement = plan(load_profile(model), tier=options.pop("tier"), region=REGION)
        ModelStack(app, name, placement=placement, env=cdk.Environment(account=ACCOUNT, region=REGION),
                   vpc_id=VPC_ID, **options)
        placements[name] = placement
    return app, placements


@pytest.fixture(scope="session")
def vpc_synthesis(tmp_path_factory) -> Synthesis:
    outdir = tmp_path_factory.mktemp("cdk.out.vpc")
    app, placements = build_vpc_app(outdir)
    app.synth()  # cdk-nag is registered here too: an unacknowledged finding fails the synthesis
    return Synthesis(app=app, outdir=outdir, placements=placements)


# --- the security options: a Hub token by secret, every alarm wired to a topic (issue 20) ---------

TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:tierwise-alarms"
# stack name -> (model, tier, options): the first through app.py and its context keys, with the
# repo's own cdk.json context (partition literals on), the others added to the same app
SECURITY_STACKS = {
    "tierwise-llama3-8b": ("llama3-8b", "sagemaker-gpu", {"hf_token_secret": "hf-token", "alarm_topic_arn": TOPIC_ARN}),
    "tierwise-tinyllama-1-1b-alarmed": ("tinyllama-1.1b", "lambda-gguf", {"alarm_topic_arn": TOPIC_ARN}),
    "tierwise-distilbert-sst2-alarmed": ("distilbert-sst2", "sagemaker-serverless", {"alarm_topic_arn": TOPIC_ARN}),
    "tierwise-gemma2-2b-arn-token": (
        "gemma2-2b", "sagemaker-gpu",
        {"hf_token_secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:hf/token-AbC123"}),
    "tierwise-nova-pro-pt": ("nova-pro", "bedrock-provisioned", {}),
}


def build_security_app(outdir: Path) -> tuple[cdk.App, dict[str, Placement]]:
    repo_context = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]
    (first, (model, tier, options)), *others = SECURITY_STACKS.items()
    context = {**repo_context, "model": model, "tier": tier, "region": REGION, **options}
    app = cdk_app.main(context, str(outdir))
    placements = {first: read(dict(context), {}).stacks[0].placement}
    for name, (model, tier, options) in others:
        placement = plan(load_profile(model), tier=tier, region=REGION)
        ModelStack(app, name, placement=placement, env=cdk.Environment(region=REGION), **options)
        placements[name] = placement
    return app, placements


@pytest.fixture(scope="session")
def security_synthesis(tmp_path_factory) -> Synthesis:
    outdir = tmp_path_factory.mktemp("cdk.out.security")
    app, placements = build_security_app(outdir)
    app.synth()  # cdk-nag is registered by app.py: an unacknowledged finding fails the synthesis
    return Synthesis(app=app, outdir=outdir, placements=placements)
