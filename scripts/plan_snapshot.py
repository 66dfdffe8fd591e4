"""Write what `tierwise models/size/plan --json` print for every catalogue model, every tier and
a grid of workloads into one JSON file, so a refactoring can show the CLI's answers unchanged.

    python scripts/plan_snapshot.py OUT.json           # run from a source tree's root
    python scripts/plan_snapshot.py --diff BEFORE.json AFTER.json [--ignore KEY ...]

Each entry is keyed by the command line that produced it; an error is kept as its `error:` line.
`--diff` prints the keys whose answers differ (and, for the first few, the fields that differ),
counts identical ones, and exits 1 when anything differs outside the ignored top-level keys.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

WORKLOADS = {
    "default": [],
    "1M": ["--requests-per-month", "1000000"],
    "long": ["--requests-per-month", "200000", "--input-tokens", "1500", "--output-tokens", "400", "--batch"],
    "2M-short": ["--requests-per-month", "2000000", "--input-tokens", "200", "--output-tokens", "50"],
}
TIERS = ("lambda-gguf", "sagemaker-serverless", "sagemaker-gpu", "bedrock-provisioned", "bedrock-on-demand")


def run(argv: list[str]) -> object:
    from tierwise.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code != 0:
        return {"exit": code, "error": err.getvalue().strip()}
    return json.loads(out.getvalue())


def snapshot() -> dict[str, object]:
    from model_profiles import load_catalogue

    answers: dict[str, object] = {"models --json": run(["models", "--json"])}
    for name, profile in load_catalogue().items():
        answers[f"size {name} --json"] = run(["size", name, "--json"])
        for label, flags in WORKLOADS.items():
            answers[f"plan {name} [{label}]"] = run(["plan", name, "--json", *flags])
            for hosting in ("self", "managed"):
                answers[f"plan {name} [{label}] --hosting {hosting}"] = run(
                    ["plan", name, "--json", "--hosting", hosting, *flags])
            for tier in TIERS:
                answers[f"plan {name} [{label}] --tier {tier}"] = run(["plan", name, "--json", "--tier", tier, *flags])
    return answers


def differences(a: object, b: object, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in {'after' if key in b else 'before'}")
            else:
                out += differences(a[key], b[key], f"{path}/{key}")
        return out
    if a != b:
        return [f"{path}: {json.dumps(a)[:120]} -> {json.dumps(b)[:120]}"]
    return []


def diff(before: dict, after: dict, ignore: set[str]) -> int:
    def strip(value: object) -> object:
        return {k: v for k, v in value.items() if k not in ignore} if isinstance(value, dict) else value

    same, changed = 0, []
    for key in sorted(set(before) | set(after)):
        if key not in before or key not in after:
            changed.append((key, [f"only in {'after' if key in after else 'before'}"]))
            continue
        found = differences(strip(before[key]), strip(after[key]))
        if found:
            changed.append((key, found))
        else:
            same += 1
    for key, found in changed[:40]:
        print(f"changed: {key}")
        for line in found[:6]:
            print(f"    {line}")
    print(f"{same} identical, {len(changed)} changed (ignoring {', '.join(sorted(ignore)) or 'nothing'})")
    return 1 if changed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--diff"] and len(argv) >= 3:
        ignore = set(argv[argv.index("--ignore") + 1:]) if "--ignore" in argv else set()
        before = json.loads(Path(argv[1]).read_text())
        after = json.loads(Path(argv[2]).read_text())
        return diff(before, after, ignore)
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    sys.path.insert(0, os.getcwd())  # the source tree being snapshotted, not this script's
    Path(argv[0]).write_text(json.dumps(snapshot(), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
