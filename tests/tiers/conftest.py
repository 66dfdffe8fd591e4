"""Helpers for construct tests: a stack in a known region, synthesized to a Template."""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
import pytest  # noqa: E402
from aws_cdk import aws_iam as iam  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402


@pytest.fixture
def make_stack(tmp_path):
    """make_stack(region="us-east-1") -> a Stack in a fresh App writing to a temp folder;
    region=None makes an environment-agnostic stack."""

    def make(region: str | None = "us-east-1") -> cdk.Stack:
        app = cdk.App(outdir=str(tmp_path / "cdk.out"))
        env = cdk.Environment(region=region) if region else None
        return cdk.Stack(app, "Test", env=env)

    return make


def template(stack: cdk.Stack) -> Template:
    return Template.from_stack(stack)


def resources(stack_or_template, type_: str) -> dict:
    t = stack_or_template if isinstance(stack_or_template, Template) else template(stack_or_template)
    return t.find_resources(type_)


def only(stack_or_template, type_: str) -> dict:
    found = resources(stack_or_template, type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    return next(iter(found.values()))


def statements(t: Template) -> list[dict]:
    """Every statement of every inline policy in the template."""
    out = []
    for policy in t.find_resources("AWS::IAM::Policy").values():
        out.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def grantee(stack: cdk.Stack) -> iam.Role:
    return iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())


def stubbed_bedrock(monkeypatch, handler_module):
    """A Stubber on the Bedrock control-plane client a custom-resource handler module creates once
    (its `_client`); every queued response must be used."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(handler_module, "_client", client)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()
