"""checkov, a second IaC scanner beside cdk-nag, over every synthesized template: the model=all
assembly with the forced tiers (conftest ``synthesis``) and the private-networking variants
(``vpc_synthesis``).

Each finding is fixed or acknowledged on its resource (``Metadata.checkov.skip``, written only by
tiers/checkov.py) with a specific reason; a finding without one fails here, and so does an
acknowledgment that answers no finding (checked by scanning the same templates with every
acknowledgment removed).

checkov runs from its own virtual environment (.venv-scan, made by `make install-test`): it pins
boto3==1.35.49, packaging<24 and networkx<2.7, which would downgrade what moto and pytest need
in the project's. TIERWISE_CHECKOV may name another checkov executable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.stacks.conftest import Synthesis
from tiers.checkov import METADATA_KEY

ROOT = Path(__file__).resolve().parents[2]
MIN_REASON_CHARS = 80


def checkov_executable() -> str:
    for candidate in (os.environ.get("TIERWISE_CHECKOV"), ROOT / ".venv-scan" / "bin" / "checkov", shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("checkov not found: `make install-test` installs it in .venv-scan (or set TIERWISE_CHECKOV)")


@dataclass(frozen=True)
class Finding:
    template: str  # the template's path
    resource: str  # logical id
    check_id: str


@dataclass
class Scan:
    passed: set[Finding]
    failed: set[Finding]
    skipped: dict[Finding, str]  # -> the suppression comment checkov read
    parsing_errors: int
    failed_text: list[str]


def run_checkov(templates: list[Path], originals: dict[Path, Path] | None = None) -> Scan:
    """checkov's findings on ``templates``, each reported against ``originals[path]`` (default: itself)."""
    originals = originals or {}
    result = subprocess.run(
        [checkov_executable(), "--framework", "cloudformation", "--skip-download", "--output", "json",
         *(arg for t in templates for arg in ("--file", str(t)))],
        capture_output=True, text=True, timeout=300, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    # exit code 1 means "failed checks", reported below; anything else is checkov itself failing
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    scan = Scan(set(), set(), {}, 0, [])
    for report in reports:
        if report.get("check_type") != "cloudformation":
            continue
        scan.parsing_errors += report["summary"]["parsing_errors"]
        results = report["results"]

        def finding(check: dict) -> Finding:
            # file_path is relative to the working directory ("/../../tmp/..." from /work/main, a
            # different string from a deeper clone); file_abs_path names the file itself
            path = Path(os.path.normpath(check["file_abs_path"]))
            return Finding(str(originals.get(path, path)), check["resource"].split(".", 1)[1], check["check_id"])

        scan.passed |= {finding(c) for c in results.get("passed_checks", [])}
        for check in results.get("failed_checks", []):
            scan.failed.add(finding(check))
            scan.failed_text.append(f"{check['check_id']} {check['resource']} in {check['file_path']}: {check['check_name']}")
        for check in results.get("skipped_checks", []):
            scan.skipped[finding(check)] = check.get("check_result", {}).get("suppress_comment", "")
    return scan


def templates_of(*syntheses: Synthesis) -> list[Path]:
    return [s.outdir / f"{name}.template.json" for s in syntheses for name in sorted(s.placements)]


def acknowledgments(templates: list[Path]) -> dict[Finding, str]:
    """What the templates acknowledge: Metadata.checkov.skip on each resource."""
    found = {}
    for path in templates:
        for logical_id, resource in json.loads(path.read_text())["Resources"].items():
            for skip in resource.get("Metadata", {}).get(METADATA_KEY, {}).get("skip", []):
                found[Finding(str(path), logical_id, skip["id"])] = skip["comment"]
    return found


@pytest.fixture(scope="module")
def templates(synthesis: Synthesis, vpc_synthesis: Synthesis) -> list[Path]:
    return templates_of(synthesis, vpc_synthesis)


@pytest.fixture(scope="module")
def scan(templates) -> Scan:
    return run_checkov(templates)


def test_checkov_reads_every_template(scan: Scan, templates):
    assert scan.parsing_errors == 0
    seen = {f.template for f in scan.passed | scan.failed | set(scan.skipped)}
    for path in templates:
        types = {r["Type"] for r in json.loads(path.read_text())["Resources"].values()}
        if str(path) not in seen:
            # Bedrock on demand holds only its inference profile, a type checkov has no check for
            assert types <= {"AWS::Bedrock::ApplicationInferenceProfile", "AWS::CDK::Metadata"}, (path.name, types)
    assert len(scan.passed) > 10 * len(seen)


def test_checkov_finds_nothing_unexplained(scan: Scan):
    assert scan.failed_text == []


def test_every_acknowledgment_is_read_by_checkov_with_a_specific_reason(scan: Scan, templates):
    acks = acknowledgments(templates)
    assert acks, "tierwise's Lambda functions and SageMaker models acknowledge findings"
    for finding, reason in acks.items():
        assert re.fullmatch(r"CKV2?_AWS_\d+", finding.check_id), finding
        assert len(reason) >= MIN_REASON_CHARS, f"{finding}: reason too short: {reason!r}"
    # checkov honours the metadata as written: every acknowledgment shows up as a skip with its reason
    assert {f: r for f, r in scan.skipped.items()} == acks


def test_no_acknowledgment_is_stale(scan: Scan, templates, tmp_path):
    """Each acknowledgment answers a finding checkov raises without it: scan copies of the
    templates with every acknowledgment removed."""
    copies = {}
    for index, path in enumerate(templates):
        template = json.loads(path.read_text())
        for resource in template["Resources"].values():
            resource.get("Metadata", {}).pop(METADATA_KEY, None)
        copy = tmp_path / f"{index}-{path.name}"
        copy.write_text(json.dumps(template))
        copies[copy] = path
    bare = run_checkov(list(copies), originals=copies)
    acks = acknowledgments(templates)
    stale = sorted(f"{f.check_id} {f.resource} in {Path(f.template).name}" for f in acks if f not in bare.failed)
    assert stale == []
    # and nothing else: removing the acknowledgments raises exactly the findings they answered
    assert bare.failed == set(acks)
