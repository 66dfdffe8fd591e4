"""The Node.js lines tierwise names (README: Node 22 or 24; CI: Node 20, silenced) are the ones
the installed jsii says, and the app and the CLI silence jsii's banner for those only."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
from pathlib import Path

from tierwise.facts import node_support
from tierwise.node import JSII_SILENCE, silence_tested_end_of_life_node


def _jsii_node_releases() -> dict[int, str]:
    """{major: end-of-life date} from the NodeRelease table of the installed jsii runtime."""
    spec = importlib.util.find_spec("jsii")
    runtime = Path(spec.origin).parent / "_embedded" / "jsii" / "bin__jsii-runtime.js"
    text = runtime.read_text(encoding="utf-8")
    found = re.findall(r'new NodeRelease\((\d+),\{endOfLife:new Date\("([\d-]+)"\)', text)
    assert found, f"no NodeRelease table in {runtime}"
    return {int(major): date for major, date in found}


def test_the_node_lines_match_the_installed_jsii():
    facts = node_support()
    releases = _jsii_node_releases()
    for major, end in facts.end_of_life.items():
        assert releases.get(major) == end, f"Node {major}: jsii says {releases.get(major)}, toolchain.yaml {end}"
    taken = dt.date.fromisoformat(facts.taken)
    for major in facts.supported:
        assert dt.date.fromisoformat(releases[major]) > taken, f"Node {major} is past its end of life"
    for major in facts.silenced:
        assert dt.date.fromisoformat(releases[major]) <= taken, f"Node {major} needs no silencing"
        assert major not in facts.supported


def test_silencing_adds_the_tested_lines_and_keeps_the_users(monkeypatch):
    monkeypatch.setenv(JSII_SILENCE, "18")
    silence_tested_end_of_life_node()
    assert os.environ[JSII_SILENCE].split(",") == ["18", *map(str, node_support().silenced)]
    silence_tested_end_of_life_node()  # twice: nothing added twice
    assert os.environ[JSII_SILENCE].split(",") == ["18", *map(str, node_support().silenced)]


def test_the_readme_asks_for_the_supported_lines():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    lines = " or ".join(str(v) for v in node_support().supported)
    assert f"Node {lines}" in readme
