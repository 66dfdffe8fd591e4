"""What the runtime reads from its environment, validated once at start.

The contract is docs/CONTRACTS.md, "The GGUF runtime image"; tiers/gguf_runtime/README.md
says what each limit does under load. A value the runtime cannot use is a ConfigError
that names the variable (a failed init on Lambda, a refused start on SageMaker), never
a silent fallback.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .errors import ConfigError

# AWS Lambda gives CPU in proportion to memory: 1,769 MB is one vCPU, 10,240 MB
# (six vCPUs) the most (Lambda developer guide, "Configuring function memory").
# Kept here because the image cannot import the tierwise package.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6

DEFAULT_N_CTX = 4096
DEFAULT_MAX_TOKENS = 256
DEFAULT_N_BATCH = 512
DEFAULT_DOWNLOAD_DIR = "/tmp/models"
BAKED_MODEL_DIR = "/opt/model"  # where the Dockerfile puts a GGUF_URL model
SAGEMAKER_MODEL_DIR = "/opt/ml/model"
FALLBACK_MODEL_DIRS = (BAKED_MODEL_DIR, SAGEMAKER_MODEL_DIR)

# With no GENERATION_TIMEOUT_S, a request holds the model at most as long as the strictest
# host allows: SageMaker answers an invocation within 60 s (InvokeEndpoint API reference),
# less the 3 s every GGUF tier leaves to send the answer (tiers.gguf_runtime.GENERATION_MARGIN_S;
# tests/runtime/test_runtime_limits.py holds the two together). Every tier sets its own.
DEFAULT_GENERATION_TIMEOUT_S = 57.0

# Requests that may wait for the model at once. The queue's real bound is in time
# (gate.py: QUEUE_TIMEOUT_S of expected work, so a few long requests or hundreds of short
# ones); this count only caps memory and threads: each waiting request holds a connection
# thread and its prompt (at most the prompt cap, n_ctx x the longest token's bytes). Half
# of MAX_CONNECTIONS, so the other half keeps turning over (/ping, refusals).
DEFAULT_QUEUE_DEPTH = 256

# /ping turns unhealthy when one request has held the model this much past
# GENERATION_TIMEOUT_S: generation checks its deadline between tokens and between prompt
# batches, so only a stalled step (a hung tokenizer or decode, a blocked write) gets there.
HOLD_GRACE_MIN_S = 10.0
HOLD_GRACE_FRACTION = 0.25


def env_int(environ: Mapping[str, str], name: str, default: int | None, *, minimum: int = 1,
            maximum: int | None = None) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise ConfigError(f"{name}={raw[:40]!r} is not a whole number")
    value = int(raw)
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} must be at most {maximum}")
    return value


def env_seconds(environ: Mapping[str, str], name: str, default: float | None, *,
                allow_zero: bool = False, maximum: float | None = None) -> float | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw[:40]!r} is not a number of seconds") from None
    low_ok = value >= 0 if allow_zero else value > 0
    if not low_ok or math.isinf(value) or math.isnan(value) or (maximum is not None and value > maximum):
        bound = "at least 0" if allow_zero else "more than 0"
        upper = f" and at most {maximum:g}" if maximum is not None else ""
        raise ConfigError(f"{name}={raw[:40]} must be a number of seconds {bound}{upper}")
    return value


def _cgroup_cpu_limit(cgroup_root: Path) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 cpu.max, v1 cfs quota), None if unlimited."""
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
    except (OSError, ValueError):
        pass
    return None


def _nearest_whole(cpus: float) -> int:
    return max(1, math.floor(cpus + 0.5))  # halves round up, unlike round()


def available_cpus(environ: Mapping[str, str] | None = None,
                   cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """The vCPUs this process may actually use: the smallest of the CPU affinity mask,
    the cgroup quota and, on Lambda, the share its memory size buys.

    os.cpu_count() reports the host's CPUs, not the ones a container or a Lambda
    sandbox may run on. A fractional share rounds to the nearest whole vCPU (never
    below one): llama.cpp's threads meet at a barrier after every operation, so a
    thread the quota keeps parked holds up the others, while leaving most of a vCPU
    idle wastes it.
    """
    environ = os.environ if environ is None else environ
    try:
        limits = [len(os.sched_getaffinity(0))]
    except (AttributeError, OSError):
        limits = [os.cpu_count() or 1]
    quota = _cgroup_cpu_limit(Path(cgroup_root))
    if quota is not None:
        limits.append(_nearest_whole(quota))
    memory_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    if memory_mb.isdigit():
        lambda_vcpus = min(LAMBDA_MAX_VCPUS, int(memory_mb) / LAMBDA_MB_PER_VCPU)
        limits.append(_nearest_whole(lambda_vcpus))
    return max(1, min(limits))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ConfigError(f"MODEL_S3_URI={uri!r} must look like s3://bucket/key")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ConfigError(f"MODEL_S3_URI={uri!r} must name a bucket and an object key (s3://bucket/key)")
    return bucket, key


@dataclass(frozen=True)
class RuntimeConfig:
    """What the runtime reads from its environment, validated."""

    model_path: str | None = None
    model_s3_uri: str | None = None
    n_ctx: int = DEFAULT_N_CTX
    n_threads: int = 1
    n_batch: int = DEFAULT_N_BATCH
    max_tokens_default: int = DEFAULT_MAX_TOKENS
    download_dir: str = DEFAULT_DOWNLOAD_DIR
    model_sha256: str | None = None
    model_name: str | None = None
    verbose: bool = False
    # the longest one request holds the model, counted from when it gets it
    generation_timeout_s: float = DEFAULT_GENERATION_TIMEOUT_S
    # the longest a request waits for the model (None: generation_timeout_s)
    queue_timeout_s: float | None = None
    queue_depth: int = DEFAULT_QUEUE_DEPTH
    # held longer than this, the model counts as stuck (None: derived, see hold_limit)
    hold_limit_s: float | None = None
    fallback_model_dirs: tuple[str, ...] = FALLBACK_MODEL_DIRS

    @property
    def queue_wait_s(self) -> float:
        return self.generation_timeout_s if self.queue_timeout_s is None else self.queue_timeout_s

    @property
    def hold_limit(self) -> float:
        if self.hold_limit_s is not None:
            return self.hold_limit_s
        t = self.generation_timeout_s
        return t + max(HOLD_GRACE_MIN_S, HOLD_GRACE_FRACTION * t)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RuntimeConfig":
        environ = os.environ if environ is None else environ
        s3_uri = environ.get("MODEL_S3_URI", "").strip() or None
        if s3_uri is not None:
            parse_s3_uri(s3_uri)
        sha256 = environ.get("MODEL_SHA256", "").strip().lower() or None
        if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256)):
            raise ConfigError(f"MODEL_SHA256={sha256[:80]!r} is not a 64-digit hex sha256")
        return cls(
            model_path=environ.get("MODEL_PATH", "").strip() or None,
            model_s3_uri=s3_uri,
            n_ctx=env_int(environ, "N_CTX", DEFAULT_N_CTX, minimum=16),
            n_threads=env_int(environ, "N_THREADS", None) or available_cpus(environ),
            n_batch=env_int(environ, "N_BATCH", DEFAULT_N_BATCH),
            max_tokens_default=env_int(environ, "MAX_TOKENS_DEFAULT", DEFAULT_MAX_TOKENS),
            download_dir=environ.get("MODEL_DOWNLOAD_DIR", "").strip() or DEFAULT_DOWNLOAD_DIR,
            model_sha256=sha256,
            model_name=environ.get("MODEL_NAME", "").strip() or None,
            verbose=environ.get("LLAMA_VERBOSE", "").strip().lower() in {"1", "true", "yes"},
            generation_timeout_s=env_seconds(environ, "GENERATION_TIMEOUT_S", DEFAULT_GENERATION_TIMEOUT_S),
            queue_timeout_s=env_seconds(environ, "QUEUE_TIMEOUT_S", None, allow_zero=True),
            queue_depth=env_int(environ, "QUEUE_DEPTH", DEFAULT_QUEUE_DEPTH, minimum=0),
            hold_limit_s=env_seconds(environ, "HOLD_LIMIT_S", None),
            fallback_model_dirs=FALLBACK_MODEL_DIRS,
        )
