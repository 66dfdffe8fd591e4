"""The templates as synthesized, read as a security reviewer would (issue 20): the model=all
assembly (conftest ``synthesis``) and the one with the security options (``security_synthesis``:
a Hub token by secret name and by ARN, every alarm wired to a topic, provisioned throughput),
which cdk-nag (at synth), cfn-lint and checkov also pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from tests.stacks.conftest import REGION, TOPIC_ARN, Synthesis
from tests.stacks.test_checkov import acknowledgments, run_checkov, templates_of
from tests.stacks.test_template_checks import IGNORED_LINT_RULES
from tierwise import tiers


def all_templates(*syntheses: Synthesis) -> dict[str, dict]:
    return {f"{s.outdir.name}/{name}": s.template(name) for s in syntheses for name in sorted(s.placements)}


def statements(t: dict) -> list[dict]:
    return [s for r in t["Resources"].values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


@pytest.fixture(scope="module")
def every_template(synthesis, security_synthesis) -> dict[str, dict]:
    return all_templates(synthesis, security_synthesis)


def test_no_hub_token_in_any_model_environment(every_template):
    for name, t in every_template.items():
        text = json.dumps(t)
        assert "resolve:secretsmanager" not in text, name
        for r in t["Resources"].values():
            if r["Type"] == "AWS::SageMaker::Model":
                env = r["Properties"]["PrimaryContainer"].get("Environment", {})
                assert "HF_TOKEN" not in env and "HF_API_TOKEN" not in env, name


def test_gated_models_read_their_token_by_secret_id(security_synthesis):
    for name, expected in (("tierwise-llama3-8b", "hf-token"),
                           ("tierwise-gemma2-2b-arn-token", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:hf/token-AbC123")):
        t = security_synthesis.template(name)
        (model,) = [r for r in t["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
        assert model["Properties"]["PrimaryContainer"]["Environment"]["HF_TOKEN_SECRET_ID"] == expected
        assert model["Properties"]["PrimaryContainer"]["Environment"]["HF_REVISION"] == \
            security_synthesis.placements[name].profile.hub.revision
        reads = [s for s in statements(t) if "secretsmanager:GetSecretValue" in actions(s)]
        assert len(reads) == 1 and "*" not in json.dumps(reads[0]["Resource"]).replace("-??????", "")


def test_kms_grants_only_for_aws_resources(every_template):
    seen = 0
    for name, t in every_template.items():
        for s in statements(t):
            if any(a in ("kms:CreateGrant", "kms:*") for a in actions(s)):
                assert s.get("Condition") == {"Bool": {"kms:GrantIsForAWSResource": "true"}}, (name, s)
                seen += 1
    assert seen >= 3  # every SageMaker execution role has one


def test_no_logs_permission_on_star_and_no_resource_policy_rights(every_template):
    for name, t in every_template.items():
        for s in statements(t):
            logs = [a for a in actions(s) if a.startswith("logs:")]
            assert "logs:PutResourcePolicy" not in logs, name
            if logs:
                assert s["Resource"] != "*", (name, s)


def test_provisioned_model_rights_are_conditioned_on_the_owner_tag(every_template):
    seen = 0
    for name, t in every_template.items():
        for s in statements(t):
            if "provisioned-model/" in json.dumps(s["Resource"]):
                assert "aws:ResourceTag/tierwise:owner" in json.dumps(s["Condition"]), (name, s)
                seen += 1
            if "bedrock:CreateProvisionedModelThroughput" in actions(s):
                assert "aws:RequestTag/tierwise:owner" in json.dumps(s["Condition"]), (name, s)
    assert seen >= 4


def test_every_alarm_notifies_the_topic_when_one_is_given(security_synthesis):
    counted = 0
    for name in ("tierwise-llama3-8b", "tierwise-tinyllama-1-1b-alarmed", "tierwise-distilbert-sst2-alarmed"):
        t = security_synthesis.template(name)
        alarms = [r for r in t["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
        assert len(alarms) == len(tiers.get(security_synthesis.placements[name].tier).alarms) >= 2
        for alarm in alarms:
            assert alarm["Properties"]["AlarmActions"] == [TOPIC_ARN], name
        assert t["Outputs"]["AlarmsNotify"]["Value"] == TOPIC_ARN, name
        counted += len(alarms)
    assert counted >= 6


def test_without_a_topic_alarms_are_silent_and_the_stack_says_so(synthesis):
    """No alarm notifies anyone without -c alarm_topic_arn, and the stack's AlarmsNotify output
    (printed by `cdk deploy`) says so and how to fix it; synth stays quiet about it."""
    from stacks.model_stack import ALARMS_NOTIFY_NOBODY

    assembly = synthesis.app.synth()
    for name, placement in synthesis.placements.items():
        t = synthesis.template(name)
        alarms = [r for r in t["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
        # no alarm notifies anyone; the asynchronous endpoint's scale-from-zero alarm drives its scaling policy
        actions = [action for a in alarms for action in a["Properties"].get("AlarmActions", [])]
        assert all(t["Resources"][action["Ref"]]["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
                   for action in actions), name
        output = t.get("Outputs", {}).get("AlarmsNotify")
        if alarms:
            assert output["Value"] == ALARMS_NOTIFY_NOBODY and "-c alarm_topic_arn=" in output["Value"], name
            assert f"{len(placement.module().alarms)} alarms" in output["Description"], name
        else:
            assert output is None, name
        assert not [m for m in assembly.get_stack_artifact(name).messages if "alarm" in str(m.entry.data)], name


def test_gated_models_in_model_all_are_a_warning_each(synthesis):
    """model=all synthesizes the catalogue without a token (`npx cdk synth -c model=all` works out
    of the box); each gated model on the GPU tier says at synth that its endpoint cannot start."""
    assembly = synthesis.app.synth()
    for name, placement in synthesis.placements.items():
        hub = placement.profile.hub
        # both tiers run the LMI container, which downloads the model from the Hub at start
        gated = placement.tier in ("sagemaker-gpu", "sagemaker-async") and hub is not None and hub.gated
        warned = any("tierwise:gated-model-without-token" in str(m.entry.data)
                     for m in assembly.get_stack_artifact(name).messages)
        assert warned == gated, name


def test_cfn_lint_passes_the_security_options(security_synthesis):
    problems = []
    for name in sorted(security_synthesis.placements):
        text = (security_synthesis.outdir / f"{name}.template.json").read_text()
        for match in lint(text, config=ManualArgs(regions=[REGION])):
            if match.rule.id not in IGNORED_LINT_RULES:
                problems.append(f"{name}: {match.rule.id} {match.message}")
    assert problems == []


def test_checkov_passes_the_security_options(security_synthesis):
    templates = templates_of(security_synthesis)
    scan = run_checkov(templates)
    assert scan.parsing_errors == 0
    assert scan.failed_text == []
    assert scan.skipped == acknowledgments(templates)
    assert all(Path(t).is_file() for t in templates)
