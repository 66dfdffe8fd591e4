"""Prop checks every tier construct shares: each bad prop ends as one PropError line naming the
construct, the prop and what is allowed, before any resource is made."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tierwise.errors import TierwiseError
from tierwise.uris import ECR_IMAGE_URI, S3_PREFIX_URI, UriProblem, bucket_name_problem, ecr_image, s3_object


class PropError(TierwiseError):
    """A construct prop is out of range: the message names the construct, the prop and what is allowed."""



def check_int(owner: str, prop: str, value: Any, low: int, high: int | None = None, *, step: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if ok and step:
        ok = value % step == 0
    if not ok:
        allowed = f"an integer {low:,}..{high:,}" if high is not None else f"an integer >= {low:,}"
        if step:
            allowed += f" in steps of {step:,}"
        raise PropError(f"{owner}: {prop} must be {allowed} (got {value!r})")
    return value


def check_choice(owner: str, prop: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join("none" if a is None else str(a) for a in allowed)
        raise PropError(f"{owner}: {prop} must be one of {shown} (got {value!r})")
    return value


def check_text(owner: str, prop: str, value: Any, pattern: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise PropError(f"{owner}: {prop} must be {what} (got {value!r})")
    return value


def check_model_name(owner: str, value: Any) -> None:
    """The "model" field of responses, also part of a description: printable text."""
    if value is not None:
        check_text(owner, "model_name", value, r"[\w.:/ -]{1,128}", "1-128 letters, digits, '.', ':', '/', ' ', '-' or '_'")


def check_runtime_directory(owner: str, value: Any) -> None:
    """A Docker build context given in place of tiers/gguf_runtime/image: a folder with a Dockerfile."""
    from pathlib import Path

    if value is not None and not (isinstance(value, (str, Path)) and (Path(value) / "Dockerfile").is_file()):
        raise PropError(f"{owner}: runtime_directory must be a folder holding a Dockerfile (got {str(value)!r})")


def parse_s3_uri(owner: str, prop: str, uri: str, *, suffix: str | None = ".gguf") -> tuple[str, str]:
    """(bucket, key) of one S3 object (a .gguf file unless `suffix` says otherwise)."""
    try:
        return s3_object(uri, suffix=suffix)
    except UriProblem as exc:
        raise PropError(f"{owner}: {prop} must be s3://bucket/key of one object: {exc}") from None


def check_bucket_name(owner: str, prop: str, name: str) -> str:
    problem = bucket_name_problem(name) if isinstance(name, str) else "a bucket name is text"
    if problem:
        raise PropError(f"{owner}: {prop} must be s3://bucket/key or an S3 bucket name: {problem} (got {name!r})")
    return name


def parse_s3_prefix_uri(owner: str, prop: str, uri: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix/ (a folder of model files)."""
    match = S3_PREFIX_URI.fullmatch(uri) if isinstance(uri, str) else None
    if not match:
        raise PropError(f"{owner}: {prop} must be s3://bucket/prefix/, a folder ending in '/' whose key uses letters, "
                        f"digits and !_.'()=+- (got {uri!r})")
    return match["bucket"], match["prefix"]


def parse_ecr_image_uri(owner: str, prop: str, uri: str, *, stack_region: str | None = None,
                        rule: str | None = None) -> re.Match[str]:
    """A private ECR image in a real region of its partition; with `rule` (a same_region rule of
    tierwise/data/aws_names.yaml) also in `stack_region`."""
    if not isinstance(uri, str) or not ECR_IMAGE_URI.fullmatch(uri):
        raise PropError(
            f"{owner}: {prop} must be a private ECR image, ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG "
            f"or @sha256:DIGEST (got {uri!r})"
        )
    try:
        return ecr_image(uri, stack_region=stack_region, rule=rule)
    except UriProblem as exc:
        raise PropError(f"{owner}: {prop}: {exc}") from None
