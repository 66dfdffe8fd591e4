"""Finding the GGUF file to load: local path, baked-in directory or S3 download, then checked
(magic bytes, and the sha256 when MODEL_SHA256 pins one) before llama.cpp sees it."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .config import RuntimeConfig, parse_s3_uri
from .errors import ModelUnavailable

log = logging.getLogger("gguf_serving")

GGUF_MAGIC = b"GGUF"


def download_from_s3(uri: str, dest_dir: str | Path, *, s3_client: Any = None) -> Path:
    """Fetch s3://bucket/key into dest_dir and return the local path.

    A file already there with the object's size is reused (a restarted runtime in the
    same sandbox keeps /tmp). The download goes to a .part file renamed at the end, so
    an interrupted one is never mistaken for the model.
    """
    bucket, key = parse_s3_uri(uri)
    if s3_client is None:
        import boto3  # in the image; imported here so the core loads without it

        s3_client = boto3.client("s3")
    from botocore.exceptions import BotoCoreError, ClientError

    dest_dir = Path(dest_dir)
    target = dest_dir / Path(key).name
    try:
        size = int(s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ModelUnavailable(f"cannot read model object {uri}: {code} ({exc})") from exc
    except BotoCoreError as exc:
        raise ModelUnavailable(f"cannot reach S3 for model object {uri}: {exc}") from exc
    if target.is_file() and target.stat().st_size == size:
        log.info("model %s already in %s (%d bytes), not downloading again", uri, target, size)
        return target
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelUnavailable(f"cannot create download directory {dest_dir}: {exc}") from exc
    free = shutil.disk_usage(dest_dir).free
    if free < size:
        raise ModelUnavailable(
            f"model object {uri} is {size / 2**20:.0f} MiB but {dest_dir} has only "
            f"{free / 2**20:.0f} MiB free; raise the function's ephemeral storage"
        )
    partial = target.with_name(target.name + ".part")
    started = time.monotonic()
    try:
        s3_client.download_file(bucket, key, str(partial))
        os.replace(partial, target)
    except (ClientError, BotoCoreError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"downloading model object {uri} failed: {exc}") from exc
    log.info("downloaded %s (%d bytes) to %s in %.1f s", uri, size, target, time.monotonic() - started)
    return target


def _single_gguf_in(directory: Path) -> Path:
    found = sorted(p for p in directory.iterdir() if p.suffix == ".gguf" and p.is_file())
    if len(found) != 1:
        listing = ", ".join(p.name for p in found) or "none"
        raise ModelUnavailable(
            f"{directory} must hold exactly one .gguf file to load (found: {listing}); "
            f"set MODEL_PATH to the file"
        )
    return found[0]


def locate_model(config: RuntimeConfig, *, s3_client: Any = None) -> Path:
    """The local GGUF file to load, downloading it from S3 when that is how it comes."""
    if config.model_path:
        path = Path(config.model_path)
        if path.is_dir():
            return _single_gguf_in(path)
        if path.exists():
            return path
        if not config.model_s3_uri:
            raise ModelUnavailable(f"MODEL_PATH={config.model_path} does not exist in this image")
    if config.model_s3_uri:
        return download_from_s3(config.model_s3_uri, config.download_dir, s3_client=s3_client)
    for directory in map(Path, config.fallback_model_dirs):
        if directory.is_dir() and any(directory.glob("*.gguf")):
            return _single_gguf_in(directory)
    raise ModelUnavailable(
        "no model configured: set MODEL_PATH (a local .gguf file) or MODEL_S3_URI (s3://bucket/key), "
        f"or bake one into the image (GGUF_URL build argument); nothing in {', '.join(config.fallback_model_dirs)}"
    )


def check_gguf_file(path: Path, *, sha256: str | None = None) -> int:
    """Fail early, and say why, when the file cannot be a GGUF model. Returns its size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelUnavailable(f"cannot read model file {path}: {exc}") from exc
    if size == 0:
        raise ModelUnavailable(f"model file {path} is empty")
    if magic != GGUF_MAGIC:
        raise ModelUnavailable(
            f"model file {path} is not a GGUF file (it starts with {magic!r}, a GGUF file with b'GGUF')"
        )
    if sha256:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(8 * 2**20), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise ModelUnavailable(
                f"model file {path} has sha256 {digest.hexdigest()}, expected {sha256} (MODEL_SHA256)"
            )
    return size
