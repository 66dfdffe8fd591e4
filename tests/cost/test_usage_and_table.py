"""Usage files (like infracost-usage.yml) and the breakdown table as a terminal shows it."""

from __future__ import annotations

import re

import pytest

from tierwise.cli import main
from tierwise.cost.review import review
from tierwise.workload import Workload

from .conftest import assert_infracost_valid, tagged, write_assembly

SCIENTIFIC = re.compile(r"(?<![\w.])\d+(\.\d+)?[eE][+-]?\d+(?!\w)")  # 1.6e-05, not a hash like Key4E4A


def p(book, *path):
    return book.figure("us-east-1", *path).value


@pytest.fixture()
def untagged_app(tmp_path):
    """A CDK app tierwise did not plan: no tierwise tags, no Metadata.tierwise."""
    fn = {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 2048, "Architectures": ["arm64"]},
          "Metadata": {"aws:cdk:path": "ChatApp/Chat/Handler/Resource"}}
    helper = {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128}}
    return write_assembly(tmp_path / "cdk.out", {"ChatApp": ("us-east-1", {
        "ChatHandler1A2B3C4D": fn, "Helper": helper, "Key": {"Type": "AWS::KMS::Key"}})})


def test_a_usage_file_prices_a_stack_tierwise_did_not_plan(untagged_app, tmp_path, book, capsys):
    usage = tmp_path / "tierwise-usage.yml"
    usage.write_text(
        "version: 0.1\n"
        "resource_usage:\n"
        "  ChatApp:\n"
        "    requests_per_month: 100000\n"
        "  ChatApp/Chat/Handler/Resource:\n"      # by construct path
        "    request_duration_ms: 1500\n"
    )
    code = main(["cost", str(untagged_app), "--format", "json", "--usage-file", str(usage)])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json
    data = json.loads(out)
    assert_infracost_valid(data)
    fn = next(r for r in data["projects"][0]["breakdown"]["resources"] if r["name"] == "ChatHandler1A2B3C4D")
    expected = (100_000 / 1e6 * p(book, "lambda", "requests_per_million")
                + 100_000 * 1.5 * 2 * p(book, "lambda", "duration_gb_second", "arm64"))
    assert float(fn["monthlyCost"]) == pytest.approx(expected)
    assert fn["metadata"]["tierwise"]["constructPath"] == "ChatApp/Chat/Handler/Resource"
    helper = next(r for r in data["projects"][0]["breakdown"]["resources"] if r["name"] == "Helper")
    assert helper["monthlyCost"] is None  # not named: usage not modelled, as without a usage file


def test_usage_by_logical_id_with_tokens_overrides_the_workload(tmp_path, book):
    from tierwise.cost.usage import parse_usage

    fn = tagged({"Type": "AWS::Lambda::Function", "Properties": {"PackageType": "Image", "MemorySize": 4096}},
                "llama3-8b", "lambda-gguf", "Q4_K_M")
    out = write_assembly(tmp_path / "cdk.out", {"S": ("us-east-1", {"Fn": fn})})
    usage = parse_usage({"resource_usage": {"S/Fn": {"requests_per_month": 1000, "output_tokens": 100,
                                                      "tokens_per_second": 10, "prompt_tokens_per_second": 500}}},
                        "u.yml")
    report = review(out, Workload(requests_per_month=5, input_tokens=500), usage=usage, prices=book)
    [fn_cost] = report.projects[0].resources
    seconds = 500 / 500 + 100 / 10
    duration = next(c for c in fn_cost.components if c.name.startswith("Duration"))
    assert duration.monthly_quantity == pytest.approx(1000 * seconds * 4)
    # the project says the usage file, not the workload note above it, priced this resource
    assert "usage file u.yml overrides that, field by field, for S/Fn" in report.projects[0].notes


@pytest.mark.parametrize("text, message", [
    ("version: 0.1\nresource_usage:\n  S: {requests_per_month: -3}\n",
     "resource_usage.S.requests_per_month: Input should be greater than or equal to 0"),
    ("version: 0.1\nresource_usage:\n  S: {monthly_requests: 3}\n", "resource_usage.S.monthly_requests: Extra inputs"),
    ("version: 9\n", "version '9' is not supported; use 0.1"),
    ("version: 0.1\nresource_usage:\n  S: {requests_per_month: true}\n",
     "resource_usage.S.requests_per_month: a number is needed, not a true/false value (got true)"),
    ("version: 0.1\nresource_usage:\n  S: {tokens_per_second: .inf}\n",
     "resource_usage.S.tokens_per_second: Input should be a finite number"),
    ("- a\n- b\n", "must be a mapping with 'version' and 'resource_usage'"),
    ("version: [\n", "is not valid YAML"),
    ("version: 0.1\nresource_usage:\n  Nope/Fn: {requests_per_month: 3}\n", "'Nope/Fn' names no stack or resource"),
])
def test_a_bad_usage_file_is_one_line(text, message, untagged_app, tmp_path, capsys):
    usage = tmp_path / "u.yml"
    usage.write_text(text)
    code = main(["cost", str(untagged_app), "--usage-file", str(usage)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: ") and message in err, err


@pytest.mark.parametrize("columns", [80, 160])
def test_table_reads_at_80_and_160_columns(columns, synthesized, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(columns))
    extra = write_assembly(synthesized.parent / f"extra{columns}", {"Other": ("us-east-1", {
        "Db": {"Type": "AWS::RDS::DBInstance"}, "Queue": {"Type": "AWS::SQS::Queue"},
        "Role": {"Type": "AWS::IAM::Role"}, "Cr": {"Type": "Custom::Thing"}})})
    assert main(["cost", str(synthesized), "--tokens-per-second", "8"]) == 0
    text = capsys.readouterr().out
    assert main(["cost", str(extra)]) == 0
    text2 = capsys.readouterr().out
    report = review(synthesized, Workload(), tokens_per_second=8.0)
    for project in report.projects:
        assert f"Project: {project.name} ({project.region})" in text
        for r in project.resources:
            assert f" {r.logical_id}  ({r.resource_type})" in text  # full logical ids, never cut
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns, [line for line in lines if len(line) > columns]
    assert not SCIENTIFIC.search(text)
    # components sit under their resource, right-aligned: cost at the line's end
    kms = [line for line in lines if "Customer managed key" in line]
    assert kms and all(line.rstrip().endswith("$1.00") for line in kms)
    # unsupported and free resources are counted and named at the end, never silently $0
    assert "4 cloud resources were detected:" in text2 and "∙ 0 were estimated" in text2
    assert "∙ 2 were free:" in text2 and "1 x AWS::IAM::Role" in text2 and "1 x Custom::Thing" in text2
    assert "∙ 2 are not supported" in text2 and "Other/Db (AWS::RDS::DBInstance)" in text2
    assert "Other/Queue (AWS::SQS::Queue)" in text2
