"""Read what ``cdk synth`` wrote: the stacks of a cloud assembly and their CloudFormation templates.

This module knows the cloud-assembly layout (manifest.json, nested assemblies, stray
``*.template.json``) and what a well-formed template looks like; it knows nothing of prices.
A template a user hands us that CloudFormation itself would refuse (a JSON list, ``Resources``
that is not a mapping, a resource whose ``Type`` is not a string, more resources than a stack
may hold) ends as one ``TierwiseError`` naming the file and what is allowed, before any pricing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierwise import facts
from tierwise.errors import TierwiseError


@dataclass
class StackTemplate:
    """One stack: its display name, region (None when environment-agnostic), template and tags."""

    name: str
    region: str | None
    path: Path
    template: dict
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict]:
        return self.template.get("Resources") or {}

    @property
    def tierwise_metadata(self) -> dict[str, Any]:
        """What a tierwise stack records about itself in the template's ``Metadata.tierwise``."""
        meta = (self.template.get("Metadata") or {}).get("tierwise")
        return meta if isinstance(meta, dict) else {}


def max_resources_per_template() -> int:
    """CloudFormation's limit on resources declared in one template (tierwise/data/aws_limits.yaml)."""
    return facts.cloudformation_limits().resources_per_template_max


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TierwiseError(f"cannot read {what} {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TierwiseError(f"{what} {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise TierwiseError(f"{what} {path} nests too deeply to be a CloudFormation document") from None


def check_template(template: Any, origin: str) -> dict:
    """``template`` if CloudFormation could accept its shape, else one clear error."""
    if not isinstance(template, dict):
        kind = type(template).__name__ if template is not None else "null"
        raise TierwiseError(f"template {origin} is a JSON {kind}: a CloudFormation template is a JSON object")
    resources = template.get("Resources", {})
    if not isinstance(resources, dict):
        kind = "null" if resources is None else type(resources).__name__
        raise TierwiseError(
            f"template {origin}: Resources is {kind}; it must be an object mapping logical ids to resources"
        )
    limit = max_resources_per_template()
    if len(resources) > limit:
        raise TierwiseError(
            f"template {origin} declares {len(resources):,} resources; CloudFormation allows at most {limit} per template"
        )
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            raise TierwiseError(f"template {origin}: resource {logical_id!r} must be an object with a Type")
        rtype = resource.get("Type")
        if not isinstance(rtype, str) or not rtype:
            raise TierwiseError(
                f"template {origin}: resource {logical_id!r} has Type {rtype!r}; Type must be a string like AWS::S3::Bucket"
            )
        props = resource.get("Properties")
        if props is not None and not isinstance(props, dict):
            raise TierwiseError(f"template {origin}: resource {logical_id!r} has Properties that is not an object")
    metadata = template.get("Metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise TierwiseError(f"template {origin}: Metadata must be an object")
    return template


def read_template(path: Path) -> dict:
    return check_template(_read_json(path, "template"), str(path))


def _region_of(environment: str | None) -> str | None:
    # "aws://123456789012/eu-west-1"; environment-agnostic stacks say unknown-region.
    if not isinstance(environment, str) or not environment:
        return None
    region = environment.rsplit("/", 1)[-1]
    return None if region in ("", "unknown-region") else region


def read_assembly(cdk_out_dir: str | Path, notes: list[str] | None = None) -> list[StackTemplate]:
    """Every stack the cloud assembly's manifest lists (nested assemblies included), with its
    region. A `*.template.json` the manifest does not list (left by an earlier synth of another
    app or model) is not priced; `notes` gets a line naming it. A folder with no manifest is read
    as a folder of templates."""
    root = Path(cdk_out_dir)
    if not root.is_dir():
        raise TierwiseError(f"no cloud assembly at {root}: run `cdk synth` first or pass its output folder")
    stacks: list[StackTemplate] = []
    seen: set[Path] = set()

    def walk(directory: Path) -> None:
        manifest_path = directory / "manifest.json"
        if manifest_path.exists():
            manifest = _read_json(manifest_path, "manifest")
            artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
            if not isinstance(manifest, dict) or not isinstance(artifacts or {}, dict):
                raise TierwiseError(f"manifest {manifest_path} is not a cloud assembly manifest")
            for art_id, art in (artifacts or {}).items():
                if not isinstance(art, dict):
                    continue
                props = art.get("properties") if isinstance(art.get("properties"), dict) else {}
                template_file = props.get("templateFile")
                if art.get("type") == "aws:cloudformation:stack" and isinstance(template_file, str):
                    path = (directory / template_file).resolve()
                    seen.add(path)
                    tags = props.get("tags") if isinstance(props.get("tags"), dict) else {}
                    name = art.get("displayName") or props.get("stackName") or art_id
                    stacks.append(StackTemplate(
                        name=str(name), region=_region_of(art.get("environment")), path=path,
                        template=read_template(path), tags={str(k): str(v) for k, v in tags.items()},
                    ))
                elif art.get("type") == "cdk:cloud-assembly" and isinstance(props.get("directoryName"), str):
                    walk(directory / props["directoryName"])
        for extra in sorted(directory.glob("*.template.json")):
            path = extra.resolve()
            if path in seen:
                continue
            seen.add(path)
            if manifest_path.exists():
                if notes is not None:
                    notes.append(f"{extra.name} is not in {manifest_path}'s stacks (left by an earlier synth?): "
                                 "not priced")
                continue
            stacks.append(StackTemplate(name=extra.name.removesuffix(".template.json"), region=None, path=path,
                                        template=read_template(path)))
        if not manifest_path.exists():
            for nested in sorted(directory.glob("assembly-*")):
                if nested.is_dir():
                    walk(nested)

    walk(root)
    if not stacks:
        raise TierwiseError(f"{root} holds no stack templates (*.template.json): is it a cdk.out folder?")
    return stacks


# -- reading CloudFormation values ------------------------------------------------------------

def resource_tags(resource: Mapping[str, Any]) -> dict[str, str]:
    tags = (resource.get("Properties") or {}).get("Tags")
    out: dict[str, str] = {}
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and isinstance(tag.get("Key"), str) and isinstance(tag.get("Value"), str):
                out[tag["Key"]] = tag["Value"]
    elif isinstance(tags, dict):
        out = {str(k): str(v) for k, v in tags.items() if isinstance(v, (str, int, float))}
    return out


def refs(node: Any) -> set[str]:
    """Logical ids a template value points at through Ref or Fn::GetAtt."""
    found: set[str] = set()
    stack = [node]
    while stack:  # iterative: a hostile template may nest deeper than Python's recursion limit
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "Ref" and isinstance(value, str):
                    found.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) and value else str(value).split(".")[0]
                    if isinstance(target, str):
                        found.add(target)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def strings(node: Any) -> Iterable[str]:
    """Every string literal inside a template value, in document order."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def number(value: Any, default: float | None = None) -> float | None:
    """A literal number from a template value (CloudFormation accepts numbers as strings)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            return default
    else:
        return default
    return result if result == result and abs(result) != float("inf") else default
