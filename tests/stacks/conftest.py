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
from tierwise.placement import Placement, plan  # noqa: E402

REGION = "us-east-1"
CONTEXT = {"model": "all", "region": REGION}
# tier -> (a catalogue model to force onto it when the plans place none there, stack suffix)
FORCED = {
    "bedrock-provisioned": ("nova-pro", "pt"),
    "sagemaker-serverless/gguf": ("qwen2.5-0.5b", "serverless"),
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
    app = cdk_app.main(dict(CONTEXT), str(outdir))
    placements = {s.stack_id: s.placement for s in read(dict(CONTEXT)).stacks}
    planned = {_kind(p) for p in placements.values()}
    for kind, (model, suffix) in FORCED.items():
        if kind in planned:
            continue  # the catalogue already covers it
        placement = plan(load_profile(model), tier=kind.split("/")[0], region=REGION)
        name = f"{stack_id(model)}-{suffix}"
        ModelStack(app, name, placement=placement, env=cdk.Environment(region=REGION))
        placements[name] = placement
    return app, placements


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory) -> Synthesis:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, placements = build_app(outdir)
    app.synth()  # with the cdk-nag plugin registered by app.py: an unacknowledged finding fails here
    return Synthesis(app=app, outdir=outdir, placements=placements)
