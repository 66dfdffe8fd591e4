"""README.md and the docs pages (scripts/doc_figures.py PAGES) quote figures the code produces (the script writes them):
a change that moves one fails here until the page is regenerated."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("doc_figures", ROOT / "scripts" / "doc_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_parts_are_current(capsys):
    script = _script()
    for name in script.PAGES:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert any(script.BEGIN.format(name=part) in text for part in script.PARTS), f"{name} lost its generated parts"
    pages = "".join((ROOT / name).read_text(encoding="utf-8") for name in script.PAGES)
    assert all(script.BEGIN.format(name=part) in pages for part in script.PARTS), "a generated part is on no page"
    assert script.main(["--check"]) == 0, "run `python scripts/doc_figures.py`:\n" + capsys.readouterr().out


def test_a_moved_figure_is_caught():
    script = _script()
    text = (ROOT / "docs" / "HOW_IT_DECIDES.md").read_text(encoding="utf-8")
    begin = script.BEGIN.format(name="worked-examples")
    stale = text.replace(begin, begin + "\n| `plan x` | a typed figure: $1.00 | |", 1)
    assert script.regenerate(stale) == text
