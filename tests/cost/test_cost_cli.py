"""`tierwise cost`, `tierwise compare` and the chart, as a user runs them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tierwise.cli import main

from .conftest import assert_infracost_valid, tagged, write_assembly


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def assembly(tmp_path):
    fn = tagged({"Type": "AWS::Lambda::Function", "Properties": {"PackageType": "Image", "MemorySize": 4096}},
                "llama3-8b", "lambda-gguf", "Q4_K_M")
    return write_assembly(tmp_path / "app" / "cdk.out", {
        "S": ("us-east-1", {"Fn": fn, "Key": {"Type": "AWS::KMS::Key"}})})


def test_cost_json_uses_flags_and_cdk_json_workload(assembly, capsys):
    (assembly.parent / "cdk.json").write_text(json.dumps(
        {"app": "python app.py", "context": {"requests_per_month": 1000, "output_tokens": 100}}))
    code, out, err = run(capsys, "cost", str(assembly), "--format", "json", "--tokens-per-second", "10",
                         "--input-tokens", "50")
    assert code == 0, err
    data = json.loads(out)
    assert_infracost_valid(data)
    fn = next(r for r in data["projects"][0]["breakdown"]["resources"] if r["name"] == "Fn")
    requests = next(c for c in fn["costComponents"] if c["name"] == "Requests")
    assert float(requests["monthlyQuantity"]) == pytest.approx(1000 / 1e6)  # from cdk.json
    duration = next(c for c in fn["costComponents"] if c["name"].startswith("Duration"))
    assert float(duration["monthlyQuantity"]) == pytest.approx(1000 * (100 / 10) * 4)  # 10 s, 4 GB
    # a flag beats cdk.json
    code, out, _ = run(capsys, "cost", str(assembly), "--format", "json", "--tokens-per-second", "10",
                       "--requests-per-month", "2000")
    assert_infracost_valid(json.loads(out))
    fn = next(r for r in json.loads(out)["projects"][0]["breakdown"]["resources"] if r["name"] == "Fn")
    assert float(fn["costComponents"][0]["monthlyQuantity"]) == pytest.approx(2000 / 1e6)


def test_cost_table_and_markdown(assembly, capsys):
    code, out, _ = run(capsys, "cost", str(assembly), "--tokens-per-second", "10")
    assert code == 0 and "OVERALL TOTAL" in out and " Fn  (AWS::Lambda::Function)" in out
    code, out, _ = run(capsys, "cost", str(assembly), "--format", "markdown", "--tokens-per-second", "10")
    assert code == 0 and out.startswith("# Monthly cost review") and "| `Fn` (AWS::Lambda::Function) |" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["cost", "{missing}"], "error: no cloud assembly at"),
        (["cost", "{dir}", "--format", "xml"], "error: unknown format 'xml'; allowed: table, json, markdown"),
        (["cost", "{dir}", "--requests-per-month", "-5"], "error: --requests-per-month: Input should be greater"),
        (["cost", "{broken}"], "is not valid JSON"),
        (["compare", "llama3-8b", "--format", "csv"], "error: unknown format 'csv'"),
        (["compare", "llama3-8b", "--output-tokens", "-1"], "error: --output-tokens"),
        (["compare", "llama3-8b", "--chart", "cost.pdf"], "error: --chart must end in .png or .svg"),
        (["compare", "no-such-model"], "error: unknown model 'no-such-model'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, assembly, tmp_path, capsys):
    broken = write_assembly(tmp_path / "broken", {"B": ("us-east-1", {})})
    (broken / "B.template.json").write_text("{")
    argv = [a.format(missing=tmp_path / "nope", dir=assembly, broken=broken) for a in args]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err and out == ""


def test_compare_json_has_every_tier_and_the_chosen_one(capsys):
    code, out, err = run(capsys, "compare", "llama3-8b", "--format", "json", "--requests-per-month", "100000")
    assert code == 0, err
    data = json.loads(out)
    tiers = {t["tier"]: t for t in data["tiers"]}
    from tierwise import tiers as registry

    assert set(tiers) == set(registry.ids())
    # interactive work: the batch tiers are listed, and say why they are out
    assert tiers["sagemaker-async"]["rejected_because"].startswith("an asynchronous endpoint queues each request")
    assert tiers["bedrock-batch"]["rejected_because"].startswith("a batch job answers in minutes to hours")
    assert data["chosen_tier"] in tiers and tiers[data["chosen_tier"]]["chosen"]
    for t in tiers.values():
        if t["feasible"]:
            assert {"monthly_cost_usd", "tokens_per_second", "cold_start", "cannot"} <= set(t)
        else:
            assert t["rejected_because"]
    od = tiers["bedrock-on-demand"]
    assert od["monthly_cost_usd"] == pytest.approx(od["per_request_usd"] * 100_000 + od["fixed_monthly_usd"])


def test_compare_table_and_markdown(capsys):
    code, out, _ = run(capsys, "compare", "llama3-8b")
    assert code == 0 and "Placement chose:" in out
    code, out, _ = run(capsys, "compare", "llama3-8b", "--format", "markdown")
    assert code == 0 and out.startswith("# llama3-8b in us-east-1") and "(chosen)" in out


def _png_pixels(path):
    import matplotlib.image as mpimg

    return mpimg.imread(str(path))


def test_chart_png_is_a_real_non_blank_image(tmp_path, capsys):
    chart = tmp_path / "cost.png"
    code, _, err = run(capsys, "compare", "llama3-8b", "--chart", str(chart), "--requests-per-month", "50000")
    assert code == 0, err
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = _png_pixels(chart)
    height, width = pixels.shape[:2]
    assert width >= 800 and height >= 500
    rgb = pixels[..., :3].reshape(-1, 3)
    distinct = {tuple(round(float(v), 2) for v in px) for px in rgb[:: max(1, len(rgb) // 20000)]}
    assert len(distinct) > 20  # lines, labels and grid, not a blank canvas
    white = (rgb > 0.98).all(axis=1).mean()
    assert 0.3 < white < 0.995


def test_chart_marks_crossovers_and_svg_works(tmp_path):
    from tierwise.cost.compare_cli import build_comparison, plot_comparison
    from tierwise.workload import Workload

    c = build_comparison("tinyllama-1.1b", Workload(requests_per_month=20_000), "us-east-1", hosting="self")
    assert c.break_evens and all(b.cause in ("cost", "quota", "limit") for b in c.break_evens)
    svg = plot_comparison(c, tmp_path / "cost.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert text.count("<path") > 10 and "lambda-gguf" in text and "sagemaker-gpu" in text
    crossing = f"{c.break_evens[0].requests_per_month:,.0f}/mo"
    assert crossing in text  # the crossover is annotated
