"""The CLI as a person reads it in an 80-column terminal: no line over 80 columns (but a word
longer than the line, a URL or a price key, alone on its line: cutting it would break it), no
name cut short, values in words."""

from __future__ import annotations

import re

import pytest

from model_profiles import load_catalogue
from tierwise import tiers
from tierwise.cli import main

WIDTH = 80
CATALOGUE = sorted(load_catalogue())
PYTHON_VALUES = re.compile(r"\b(None|True|False)\b")


def run(capsys, monkeypatch, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def assert_reads_at_80(text: str) -> None:
    long = [line for line in text.splitlines()
            if len(line) > WIDTH and not re.fullmatch(r"\s*(\[\d+\]\s+)?\S+", line)]
    assert not long, "over 80 columns:\n" + "\n".join(long)
    assert "…" not in text, "a cell was cut short"


def test_models_names_every_model_whole(capsys, monkeypatch):
    out = run(capsys, monkeypatch, "models")
    assert_reads_at_80(out)
    names = {line.split()[0] for line in out.splitlines() if line and line.split()[0] in CATALOGUE}
    assert names == set(CATALOGUE)


@pytest.mark.parametrize("model", CATALOGUE)
def test_plan_reads_at_80_columns_in_words(capsys, monkeypatch, model):
    out = run(capsys, monkeypatch, "plan", model)
    assert_reads_at_80(out)
    assert not PYTHON_VALUES.search(out), PYTHON_VALUES.search(out).group(0)
    capacity = re.search(r"^capacity: (.*?)\nstreaming:", out, re.DOTALL | re.MULTILINE)
    assert capacity and "_" not in capacity.group(1), f"a field name in the capacity line: {capacity}"
    assert "://" not in out.partition("\nwhy:\n")[2], "source URLs are for --verbose"
    verbose = run(capsys, monkeypatch, "plan", model, "--verbose")
    assert_reads_at_80(verbose)
    if "://" in verbose:
        assert "\nsources:\n" in verbose and "[1]" in verbose


def test_wrapped_bullets_hang_under_their_text(capsys, monkeypatch):
    out = run(capsys, monkeypatch, "plan", "llama3.1-405b")
    lines = out.splitlines()
    start = lines.index("why:")
    for line in lines[start + 1:]:
        if not line.startswith(" "):
            break
        assert line.startswith("  - ") or line.startswith("    "), line


def test_on_demand_settings_say_on_demand(capsys, monkeypatch):
    out = run(capsys, monkeypatch, "plan", "llama3-8b", "--hosting", "managed")
    assert re.search(r"^  model_units +none: on demand, billed per token$", out, re.MULTILINE)


@pytest.mark.parametrize("model", ["llama3-8b", "tinyllama-1.1b", "distilbert-sst2", "nova-pro"])
def test_compare_fits_and_names_every_tier(capsys, monkeypatch, model):
    out = run(capsys, monkeypatch, "compare", model)
    assert_reads_at_80(out)
    for tier in tiers.ids():
        assert re.search(rf"(?<![\w-]){re.escape(tier)}(?![\w-])", out), f"{tier} missing or cut"


@pytest.mark.parametrize("command", [[], ["cost"], ["cost", "diff"], ["plan"], ["compare"], ["size"], ["models"],
                                     ["chat"], ["profile"], ["refresh-prices"]])
def test_help_fits_and_cuts_no_name(capsys, monkeypatch, command):
    out = run(capsys, monkeypatch, *command, "--help")
    assert_reads_at_80(out)
    assert "..." not in out.partition("Commands:")[2], "a command's summary was cut"
    assert not re.search(r"[a-z]-\n", out), "a word split at its hyphen"


def test_cost_help_shows_the_breakdowns_options(capsys, monkeypatch):
    out = run(capsys, monkeypatch, "cost", "--help")
    for option in ("--format", "--usage-file", "--region", "--prices", "--requests-per-month"):
        assert option in out
    assert "diff" in out.split("Commands:")[1]


def test_size_steps_hang_under_their_number(capsys, monkeypatch):
    out = run(capsys, monkeypatch, "size", "llama3.1-405b")
    assert_reads_at_80(out)
    lines = out.splitlines()
    steps = lines[next(i for i, line in enumerate(lines) if re.match(r" +1\. ", line)):]
    width = len(steps[0]) - len(steps[0].lstrip()) + len("1. ")
    assert len(steps) > 10 and all(re.match(rf" *\d+\. \S| {{{width}}}\S", line) for line in steps), steps
