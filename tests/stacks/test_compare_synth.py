"""scripts/compare_synth.py: two cloud assemblies, template by template, asset hashes aside."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.stacks.conftest import Synthesis

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_synth.py"
LAMBDA_STACK = "tierwise-tinyllama-1-1b"  # a model=all stack on lambda-gguf (its image is an asset)


def run(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


def docker_hash(assembly: Path, stack: str) -> str:
    (digest,) = json.loads((assembly / f"{stack}.assets.json").read_text())["dockerImages"]
    return digest


def test_a_new_asset_hash_alone_is_no_difference_a_changed_property_is(synthesis: Synthesis, tmp_path):
    before = synthesis.outdir
    after = tmp_path / "after"
    shutil.copytree(before, after, ignore=shutil.ignore_patterns("asset.*"))
    # the runtime image changed: a new hash in the template and in the assets manifest
    old = docker_hash(before, LAMBDA_STACK)
    new = "f" * 64
    for name in (f"{LAMBDA_STACK}.template.json", f"{LAMBDA_STACK}.assets.json"):
        path = after / name
        path.write_text(path.read_text().replace(old, new))
    result = run(before, after)
    assert result.returncode == 0, result.stdout
    assert f"identical:   {LAMBDA_STACK}" in result.stdout
    assert result.stdout.strip().endswith("templates identical (asset hashes aside)")

    # a real change: the function's memory
    path = after / f"{LAMBDA_STACK}.template.json"
    template = json.loads(path.read_text())
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    memory = function["Properties"]["MemorySize"]
    function["Properties"]["MemorySize"] = memory + 1
    path.write_text(json.dumps(template, indent=1))
    result = run(before, after)
    assert result.returncode == 1
    assert f"changed:     {LAMBDA_STACK}" in result.stdout
    assert re.search(rf'^-\s+"MemorySize": {memory},$', result.stdout, re.MULTILINE)
    assert re.search(rf'^\+\s+"MemorySize": {memory + 1},$', result.stdout, re.MULTILINE)
    # every other stack is still identical
    total = len(synthesis.placements)
    assert f"{total - 1} of {total} templates identical" in result.stdout


def test_a_folder_that_is_no_assembly_is_one_error_line(synthesis: Synthesis, tmp_path):
    result = run(synthesis.outdir, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path} is not a cloud assembly (no manifest.json)"
