"""The data path runs one way: model_profiles <- tierwise <- tiers <- stacks <- app.

Each package is imported alone in a fresh interpreter and must not pull in a package above
it; the source is read as well, so a function-local import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> packages it must never import (those above it in the data path)
ABOVE = {
    "model_profiles": ("tierwise", "tiers", "stacks", "aws_cdk", "app"),
    "tierwise": ("tiers", "stacks", "aws_cdk", "app"),
    "tiers": ("stacks", "app"),
}


def _imported_modules(package: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        if "image" in path.parts:  # the runtime image's code runs in its container, not here
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(ABOVE))
def test_no_package_imports_one_above_it_in_its_source(package):
    offending = sorted(m for m in _imported_modules(package) if m.split(".")[0] in ABOVE[package])
    assert offending == [], f"{package} imports {offending}"


@pytest.mark.parametrize("package,module", [
    ("model_profiles", "model_profiles"),
    ("tierwise", "tierwise.cli"),
    ("tierwise", "tierwise.cost.review"),
])
def test_importing_a_package_alone_loads_nothing_above_it(package, module):
    code = (
        f"import sys, {module}; "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {ABOVE[package]!r}); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_an_unknown_model_is_one_line_from_every_entry_point(capsys):
    from tierwise.cli import main

    assert main(["plan", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown model 'no-such-model'")
