"""Compare two cloud assemblies (cdk.out folders) template by template, asset hashes aside.

    python scripts/compare_synth.py BEFORE/cdk.out AFTER/cdk.out [--quiet]

Asset hashes change whenever an asset's content changes (a line of the runtime image, the
provisioned-throughput handler) without the template changing in any other way; they are
read from each assembly's own ``*.assets.json`` manifests and replaced by ``<asset-hash>``,
so only real template changes remain. Any other 64-hex string (a GGUF's sha256, say) is
left alone. Templates are compared as text after that normalisation: byte-identical means
the same keys in the same order with the same values.

Prints one line per stack (identical, changed, only in one assembly), then a unified diff
of every changed template; exits 0 when every template is identical, 1 otherwise, 2 when
an argument is not a cloud assembly.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

ASSET_PLACEHOLDER = "<asset-hash>"


class NotAnAssembly(Exception):
    pass


def asset_hashes(assembly: Path) -> set[str]:
    """Every file and Docker image asset hash the assembly's asset manifests list."""
    hashes: set[str] = set()
    for manifest in assembly.glob("*.assets.json"):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        for section in ("files", "dockerImages"):
            hashes.update(data.get(section, {}))
            for entry in data.get(section, {}).values():
                for destination in entry.get("destinations", {}).values():
                    # the object key / image tag is usually the hash itself, sometimes with a suffix
                    for field in ("objectKey", "imageTag"):
                        value = destination.get(field, "")
                        stem = value.split(".", 1)[0]
                        if len(stem) == 64:
                            hashes.add(stem)
    return hashes


def templates(assembly: Path) -> dict[str, Path]:
    """Stack name -> template file, read from manifest.json (nested assemblies included)."""
    manifest_file = assembly / "manifest.json"
    if not manifest_file.is_file():
        raise NotAnAssembly(f"{assembly} is not a cloud assembly (no manifest.json)")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    found: dict[str, Path] = {}
    for name, artifact in manifest.get("artifacts", {}).items():
        kind = artifact.get("type")
        if kind == "aws:cloudformation:stack":
            found[name] = assembly / artifact["properties"]["templateFile"]
        elif kind == "cdk:cloud-assembly":
            nested = assembly / artifact["properties"]["directoryName"]
            found.update({f"{name}/{stack}": path for stack, path in templates(nested).items()})
    return found


def normalised(template: Path, hashes: set[str], ignored: frozenset[str] = frozenset()) -> str:
    text = template.read_text(encoding="utf-8")
    for digest in sorted(hashes, key=len, reverse=True):
        text = text.replace(digest, ASSET_PLACEHOLDER)
    if ignored:
        data = json.loads(text)
        meta = (data.get("Metadata") or {}).get("tierwise")
        if isinstance(meta, dict):
            for key in ignored:
                meta.pop(key, None)
        text = json.dumps(data)
    return text


def compare(before: Path, after: Path, ignored: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(one status line per stack, the unified diffs of the changed ones); `ignored` names
    Metadata.tierwise keys left out of the comparison (keys a change adds on purpose)."""
    old, new = templates(before), templates(after)
    old_hashes, new_hashes = asset_hashes(before), asset_hashes(after)
    lines: list[str] = []
    diffs: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        if name not in new:
            lines.append(f"only before: {name}")
            continue
        if name not in old:
            lines.append(f"only after:  {name}")
            continue
        a, b = normalised(old[name], old_hashes, ignored), normalised(new[name], new_hashes, ignored)
        if a == b:
            lines.append(f"identical:   {name}")
            continue
        lines.append(f"changed:     {name}")
        pretty_a = json.dumps(json.loads(a), indent=1).splitlines()
        pretty_b = json.dumps(json.loads(b), indent=1).splitlines()
        diff = list(difflib.unified_diff(pretty_a, pretty_b, f"before/{name}", f"after/{name}", lineterm="", n=2))
        # same content, other key order: say so instead of an empty diff
        diffs.append("\n".join(diff) if diff else f"{name}: the same values in another key order")
    return lines, diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="the cloud assembly before the change (a cdk.out folder)")
    parser.add_argument("after", type=Path, help="the cloud assembly after the change")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    parser.add_argument("--ignore-metadata", default="", metavar="KEY,KEY",
                        help="Metadata.tierwise keys to leave out of the comparison (ones a change adds on purpose)")
    args = parser.parse_args(argv)
    ignored = frozenset(k for k in args.ignore_metadata.split(",") if k)
    try:
        lines, diffs = compare(args.before, args.after, ignored)
    except (NotAnAssembly, json.JSONDecodeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    same = sum(line.startswith("identical") for line in lines)
    if not args.quiet:
        print("\n".join(lines))
        for diff in diffs:
            print(diff)
    print(f"{same} of {len(lines)} templates identical (asset hashes aside)")
    return 0 if same == len(lines) else 1


if __name__ == "__main__":
    sys.exit(main())
