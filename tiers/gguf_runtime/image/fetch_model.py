"""Download the GGUF to bake into the image, and refuse it unless it is the expected file.

Run by the Dockerfile's model stage with the build arguments in the environment:
  GGUF_URL     where to download from (https://..., or file:// for a local copy)
  GGUF_SHA256  the file's sha256; a mismatch fails the build. Left empty, the build
               goes on but prints the digest it got, so it can be pinned next time.
  GGUF_FILE    the file name under the target directory (default: the URL's last part)
With no GGUF_URL it does nothing: the image then carries no model and the function
needs MODEL_S3_URI or MODEL_PATH at run time.

Usage: python fetch_model.py [target_dir]   (default /opt/model)
Only the standard library: this runs in a bare python image.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

CHUNK_BYTES = 8 * 2**20


class FetchError(Exception):
    pass


def file_name_for(url: str, requested: str) -> str:
    name = requested.strip() or Path(urllib.parse.urlparse(url).path).name
    if not name or "/" in name or name in {".", ".."}:
        raise FetchError(f"GGUF_FILE must be a plain file name, got {requested or name!r}")
    return name


def fetch(url: str, target_dir: Path, *, sha256: str = "", file_name: str = "") -> Path:
    sha256 = sha256.strip().lower()
    if sha256 and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256)):
        raise FetchError(f"GGUF_SHA256 must be 64 hex digits, got {sha256!r}")
    target = target_dir / file_name_for(url, file_name)
    partial = target.with_name(target.name + ".part")
    target_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    started = time.monotonic()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "tierwise-image-build"})
        with urllib.request.urlopen(request, timeout=60) as response, partial.open("wb") as out:
            first = response.read(CHUNK_BYTES)
            if first[:4] != b"GGUF":
                raise FetchError(f"{url} is not a GGUF file (it starts with {first[:16]!r})")
            chunk = first
            while chunk:
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                chunk = response.read(CHUNK_BYTES)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        partial.unlink(missing_ok=True)
        raise FetchError(f"downloading {url} failed: {exc}") from exc
    except FetchError:
        partial.unlink(missing_ok=True)
        raise
    got = digest.hexdigest()
    if sha256 and got != sha256:
        partial.unlink(missing_ok=True)
        raise FetchError(f"{url} has sha256 {got}, expected {sha256} (GGUF_SHA256): refusing to bake it in")
    os.replace(partial, target)
    target.chmod(0o444)  # Lambda runs the image as a non-root user on a read-only file system
    seconds = time.monotonic() - started
    print(f"fetched {url} -> {target}: {size} bytes in {seconds:.0f} s, sha256 {got}")
    if not sha256:
        print(f"WARNING: GGUF_SHA256 not given; pin GGUF_SHA256={got} to make this build reproducible")
    return target


def main(argv: list[str]) -> int:
    url = os.environ.get("GGUF_URL", "").strip()
    target_dir = Path(argv[1] if len(argv) > 1 else "/opt/model")
    if not url:
        if os.environ.get("GGUF_SHA256", "").strip() or os.environ.get("GGUF_FILE", "").strip():
            print("GGUF_SHA256/GGUF_FILE given without GGUF_URL: nothing to download", file=sys.stderr)
            return 1
        target_dir.mkdir(parents=True, exist_ok=True)
        print("no GGUF_URL: the image carries no model (set MODEL_S3_URI or MODEL_PATH at run time)")
        return 0
    try:
        fetch(url, target_dir, sha256=os.environ.get("GGUF_SHA256", ""),
              file_name=os.environ.get("GGUF_FILE", ""))
    except FetchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
