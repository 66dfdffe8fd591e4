"""`tierwise cost diff` on real `cdk synth` outputs, and the budget guard through app.py and the
CDK CLI. Each app is synthesized once per session (in-process through app.main: ~3 s each)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.synth import synth_context
from tierwise.cli import main as cli
from tierwise.cost.infracost import diff, to_infracost
from tierwise.cost.render import diff_lines, diff_markdown
from tierwise.cost.review import review
from tierwise.workload import Workload

from .conftest import ROOT, assert_infracost_valid

SCIENTIFIC = re.compile(r"(?<![\w.])\d+(\.\d+)?[eE][+-]?\d+(?!\w)")  # 1.6e-05, not a hash like Key4E4A
W = Workload()  # what app.py plans with when the context gives no workload


def _synth(outdir: Path, **context: str) -> Path:
    import app

    app.main(context=synth_context(context), outdir=str(outdir)).synth()
    return outdir


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("aws_cdk")
    if shutil.which("node") is None:
        pytest.skip("node is needed to synthesize CDK stacks")
    root = tmp_path_factory.mktemp("apps")
    return {
        # the 7B model forced onto Lambda as batch work (interactive, it misses the CPU's target)
        "ctx4k": _synth(root / "ctx4k", model="qwen2.5-7b", context="4096", **LAMBDA_7B),
        "ctx32k": _synth(root / "ctx32k", model="qwen2.5-7b", context="32768", **LAMBDA_7B),
        "lambda": _synth(root / "lambda", model="qwen2.5-0.5b", tier="lambda-gguf"),
        "serverless": _synth(root / "serverless", model="qwen2.5-0.5b", tier="sagemaker-serverless"),
    }


LAMBDA_7B = {"tier": "lambda-gguf", "batch": "true"}


def _template(cdk_out: Path, stack: str) -> dict:
    return json.loads((cdk_out / f"{stack}.template.json").read_text())


def _lambda_by_hand(cdk_out: Path, stack: str, book) -> float:
    """The model function's monthly cost, worked out from the template and the price file alone."""
    template = _template(cdk_out, stack)
    meta = template["Metadata"]["tierwise"]
    [fn] = [r["Properties"] for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("PackageType") == "Image"]
    assert fn["MemorySize"] == meta["memoryMb"]  # the planned size was deployed: no vCPU scaling
    seconds = (W.input_tokens / float(meta["promptTokensPerSecond"])
               + W.output_tokens / float(meta["decodeTokensPerSecond"]))
    arch = fn.get("Architectures", ["x86_64"])[0]
    price = lambda *path: book.figure("us-east-1", "lambda", *path).value  # noqa: E731
    storage_mb = fn.get("EphemeralStorage", {}).get("Size", 512)
    return (W.requests_per_month / 1e6 * price("requests_per_million")
            + W.requests_per_month * seconds * fn["MemorySize"] / 1024 * price("duration_gb_second", arch)
            + W.requests_per_month * seconds * (storage_mb - 512) / 1024 * price("ephemeral_storage_gb_second"))


def test_diff_of_a_context_change_is_the_lambda_change_worked_by_hand(apps, book):
    stack = "tierwise-qwen2-5-7b"
    base, head = review(apps["ctx4k"], W, prices=book), review(apps["ctx32k"], W, prices=book)
    data = diff(to_infracost(base), to_infracost(head))
    assert_infracost_valid(data)
    expected = _lambda_by_hand(apps["ctx32k"], stack, book) - _lambda_by_hand(apps["ctx4k"], stack, book)
    assert expected > 0  # a bigger KV cache: more memory, billed per GB-second
    assert float(data["diffTotalMonthlyCost"]) == pytest.approx(expected, rel=1e-6)
    assert float(data["pastTotalMonthlyCost"]) == pytest.approx(base.monthly_usd, rel=1e-9)
    [project] = data["projects"]
    # the only resource whose cost changed is the model's function
    [changed] = project["diff"]["resources"]
    assert changed["resourceType"] == "AWS::Lambda::Function" and changed["metadata"]["change"] == "changed"
    assert float(changed["monthlyCost"]) == pytest.approx(expected, rel=1e-6)
    arch = _template(apps["ctx32k"], stack)["Metadata"]["tierwise"].get("architecture") or next(
        r["Properties"].get("Architectures", ["x86_64"])[0] for r in _template(apps["ctx32k"], stack)["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("PackageType") == "Image")
    assert {c["name"] for c in changed["costComponents"]} >= {f"Duration ({arch})"}

    text = "\n".join(diff_lines(data, width=80))
    assert f"~ {changed['name']}  (AWS::Lambda::Function)" in text
    assert f"+${expected:,.2f}" in text and not SCIENTIFIC.search(text)
    md = diff_markdown(data)
    assert md.startswith(f"### Monthly cost change: +${expected:,.2f}")
    assert f"| {stack} | ${base.monthly_usd:,.2f} | ${head.monthly_usd:,.2f} | +${expected:,.2f} |" in md


def test_the_review_of_a_tierwise_stack_prices_request_time_as_placement_did(apps, book):
    """The template review never imports placement, yet from what the stack recorded it bills
    each request for exactly the time placement's estimate did."""
    from model_profiles import load_profile
    from tierwise.cost.estimates import estimate_tier_cost
    from tierwise.placement import plan

    placed = plan(load_profile("qwen2.5-7b"), context=4096, tier="lambda-gguf", workload=W.model_copy(update={"batch": True}))
    estimate = estimate_tier_cost(placed.tier, placed.settings, placed.profile, W, "us-east-1",
                                  placed.tokens_per_second, prompt_tokens_per_second=placed.prompt_tokens_per_second,
                                  prices=book)
    report = review(apps["ctx4k"], W, prices=book)
    [fn] = [r for r in report.projects[0].resources if r.resource_type == "AWS::Lambda::Function"]
    for name in ("Requests", f"Duration ({placed.settings.architecture})"):
        line = next(c for c in fn.components if c.name == name)
        planned = next(c for c in estimate.components if c.name == name)
        assert line.monthly_cost == pytest.approx(planned.monthly_cost, rel=1e-9), name


def test_diff_of_a_tier_change_lists_what_goes_and_what_comes(apps, book_without_data_price):
    book = book_without_data_price
    base, head = review(apps["lambda"], W, prices=book), review(apps["serverless"], W, prices=book)
    data = diff(to_infracost(base), to_infracost(head))
    assert_infracost_valid(data)
    [project] = data["projects"]
    changes = {(r["resourceType"], r["metadata"]["change"]) for r in project["diff"]["resources"]}
    assert ("AWS::Lambda::Function", "removed") in changes
    assert ("AWS::SageMaker::EndpointConfig", "added") in changes
    assert Decimal(data["diffTotalMonthlyCost"]) == Decimal(data["totalMonthlyCost"]) - Decimal(data["pastTotalMonthlyCost"])
    assert float(data["diffTotalMonthlyCost"]) == pytest.approx(head.monthly_usd - base.monthly_usd, abs=1e-6)
    # head has unknown lines (serverless data processed, price unknown here): named, not dropped
    assert any(w["message"].startswith("head: ") for w in project["metadata"]["warnings"])
    md = diff_markdown(data)
    assert "| removed |" in md and "| added |" in md and "lower bounds" in md


def test_cost_diff_cli_from_a_saved_json_and_an_assembly(apps, tmp_path, capsys):
    saved = tmp_path / "base.json"
    assert cli(["cost", str(apps["ctx4k"]), "--format", "json"]) == 0
    saved.write_text(capsys.readouterr().out)
    assert cli(["cost", "diff", str(saved), str(apps["ctx32k"]), "--format", "json"]) == 0
    from_saved = json.loads(capsys.readouterr().out)
    assert cli(["cost", "diff", str(apps["ctx4k"]), str(apps["ctx32k"]), "--format", "json"]) == 0
    from_assemblies = json.loads(capsys.readouterr().out)
    assert_infracost_valid(from_saved)
    assert from_saved["diffTotalMonthlyCost"] == from_assemblies["diffTotalMonthlyCost"]
    assert float(from_saved["diffTotalMonthlyCost"]) > 0
    assert cli(["cost", "diff", str(saved), str(apps["ctx32k"]), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("### Monthly cost change: +$")
    assert cli(["cost", "diff", str(apps["ctx4k"]), str(apps["ctx4k"])]) == 0
    assert "no cost change" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["cost", "diff", "{nowhere}", "{head}"], "error: BASE {nowhere}: no such cloud assembly folder or saved JSON file"),
    (["cost", "diff", "{notjson}", "{head}"], "is not valid JSON"),
    (["cost", "diff", "{list}", "{head}"], "is not Infracost JSON: no 'projects' list"),
    (["cost", "diff", "{head}", "{head}", "--format", "xml"], "error: unknown format 'xml'"),
])
def test_cost_diff_bad_input_is_one_line(apps, tmp_path, capsys, args, message):
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "list.json").write_text("[1, 2]")
    subst = {"nowhere": tmp_path / "nowhere", "head": apps["ctx4k"], "notjson": tmp_path / "bad.json",
             "list": tmp_path / "list.json"}
    code = cli([a.format(**subst) for a in args])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and message.format(**subst) in err, err


# -- the budget guard ------------------------------------------------------------------------------

def test_budget_guard_in_process_fails_synth_naming_stack_cost_and_budget(apps, tmp_path, book):
    import app

    expected = review(apps["ctx4k"], W, prices=book).monthly_usd
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.main(context=synth_context({"model": "qwen2.5-7b", "context": "4096", "max_monthly_usd": "100", **LAMBDA_7B}),
                 outdir=str(tmp_path / "over")).synth()
    report = json.loads((tmp_path / "over" / "validation-report.json").read_text())
    [plugin] = [p for p in report["pluginReports"] if p["pluginName"] == "tierwise-budget-guard"]
    [violation] = plugin["violations"]
    assert violation["description"].startswith(
        f"tierwise-qwen2-5-7b: estimated ${expected:,.2f}/month exceeds the budget of $100.00/month")
    # within budget: the same app synthesizes
    app.main(context=synth_context({"model": "qwen2.5-7b", "context": "4096", "max_monthly_usd": str(round(expected) + 1), **LAMBDA_7B}),
             outdir=str(tmp_path / "within")).synth()
    assert (tmp_path / "within" / "tierwise-qwen2-5-7b.template.json").is_file()


def test_budget_guard_counts_unknown_prices_as_their_lower_bound(apps, tmp_path, book_without_data_price,
                                                                 monkeypatch):
    import app
    from tierwise.cost import budget

    book = book_without_data_price
    monkeypatch.setattr(budget, "load_prices", lambda *args, **kwargs: book)
    head = review(apps["serverless"], W, prices=book)
    assert head.projects[0].unknown and head.monthly_usd > 1  # data processed: price unknown in this book
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.main(context=synth_context({"model": "qwen2.5-0.5b", "tier": "sagemaker-serverless", "max_monthly_usd": "1"}),
                 outdir=str(tmp_path / "out")).synth()
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    text = json.dumps(report)
    assert f"estimated at least ${head.monthly_usd:,.2f}/month" in text and "Data processed in" in text


def test_an_over_budget_stack_can_be_acknowledged_with_a_reason_like_a_cdk_nag_finding(tmp_path):
    import aws_cdk as cdk

    import app

    over = app.main(context=synth_context({"model": "qwen2.5-0.5b", "max_monthly_usd": "1"}), outdir=str(tmp_path / "ack"))
    stack = over.node.find_child("tierwise-qwen2-5-0-5b")
    cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(
        id="tierwise-budget-guard::tierwise-budget", reason="approved by finance for the pilot"))
    over.synth()
    assert (tmp_path / "ack" / "tierwise-qwen2-5-0-5b.template.json").is_file()


@pytest.mark.parametrize("raw", ["abc", "-5", "0", "nan", "inf"])
def test_a_bad_budget_is_one_error_line_and_exit_2(raw, tmp_path, capsys):
    import app

    with pytest.raises(SystemExit) as exit_info:
        app.main(context=synth_context({"model": "qwen2.5-0.5b", "max_monthly_usd": raw}), outdir=str(tmp_path / "o"))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: -c max_monthly_usd: a monthly budget in USD greater than 0, or 'none'")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing written


def test_budget_guard_through_the_cdk_cli(tmp_path):
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        pytest.skip("the CDK CLI is not installed (npm ci)")
    venv_bin = str(Path(os.sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_DISABLE_VERSION_CHECK": "1"}
    result = subprocess.run(
        [str(cdk), "synth", "-c", "model=qwen2.5-0.5b", "-c", "max_monthly_usd=0.5", "--quiet",
         "--output", str(tmp_path / "cdk.out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    findings = [line for line in (result.stdout + result.stderr).splitlines() if "exceeds the budget" in line]
    assert len(findings) == 1, result.stdout + result.stderr
    assert findings[0].startswith("ERROR tierwise-qwen2-5-0-5b: estimated $")
    assert "/month exceeds the budget of $0.50/month (-c max_monthly_usd)" in findings[0]
