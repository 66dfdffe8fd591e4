"""Checks of what a user types, shared by the CLI and the CDK app so both say the same thing.

Each check returns what it accepted (if anything) or raises a TierwiseError whose one line
names the bad value and what is allowed. They run before any heavy work (planning, synthesis, writing).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, get_args

# shown is re-exported: the CLI and the CDK app import it from here
from model_profiles.userinput import check_path_usable, quoted, shown  # noqa: F401
from tierwise.errors import TierwiseError
from tierwise.facts import lambda_limits, workload_bounds

GGUF_MAGIC = b"GGUF"


def flag(prefix: str, name: str) -> str:
    """How the user typed an option: `--input-tokens` on the CLI, `-c input_tokens` for CDK."""
    return f"--{name.replace('_', '-')}" if prefix == "--" else f"{prefix}{name}"




def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """'; did you mean X?' when one of `choices` is close to `value` (ignoring letter case and
    '-' for '_', the commonest slips), else ''."""
    def norm(text: str) -> str:
        return str(text).lower().replace("-", "_")

    by_norm = {norm(c): c for c in choices}
    close = difflib.get_close_matches(norm(value), list(by_norm), n=1, cutoff=0.6)
    return f"; did you mean {by_norm[close[0]]}?" if close else ""


# --- regions -----------------------------------------------------------------------------------


@cache
def aws_regions() -> tuple[str, ...]:
    """Every region botocore knows, across partitions, from the endpoint data it ships: offline,
    and as current as the installed botocore (the same list boto3 itself resolves against)."""
    from botocore.loaders import create_loader

    endpoints = create_loader().load_data("endpoints")
    return tuple(sorted(r for part in endpoints["partitions"] for r in part["regions"]))


@cache
def _partitions() -> tuple[tuple[str, str, frozenset[str]], ...]:
    from botocore.loaders import create_loader

    endpoints = create_loader().load_data("endpoints")
    return tuple((p["partition"], p["dnsSuffix"], frozenset(p["regions"])) for p in endpoints["partitions"])


def region_partition(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of a region botocore knows: ('aws', 'amazonaws.com'),
    ('aws-cn', 'amazonaws.com.cn'), ... A region botocore does not know is a KeyError."""
    for partition, suffix, regions in _partitions():
        if region in regions:
            return partition, suffix
    raise KeyError(region)


def check_region(region: Any, option: str = "--region") -> str:
    """`region` if it is a region botocore knows; the same rule for `plan`, `cost`, `compare`
    and `cdk synth -c region=`."""
    name = str(region).strip()
    known = aws_regions()
    if name not in known:
        hint = did_you_mean(name, known)
        raise TierwiseError(
            f"{option}: {quoted(name)} is not an AWS region{hint}"
            + ("" if hint else f" (allowed: {', '.join(known)})")
        )
    return name


# --- workload volume ---------------------------------------------------------------------------


def volume_bounds() -> dict[str, Any]:
    bounds = workload_bounds()
    return {"max": {k: int(v) if float(v).is_integer() else v for k, v in bounds.max.items()}, "why": bounds.why}


def _number_fields() -> dict[str, bool]:
    """Workload's number fields, each with whether it has a bound in input_bounds.yaml."""
    from tierwise.workload import Workload  # the workload model imports nothing of ours

    bounded = volume_bounds()["max"]
    out = {}
    for name, field in Workload.model_fields.items():
        kinds = get_args(field.annotation) or (field.annotation,)
        if bool not in kinds and any(k in (int, float) for k in kinds):
            out[name] = name in bounded
    return out


def check_workload_numbers(values: Mapping[str, Any], prefix: str = "--") -> None:
    """A number the workload needs, given as true/false or as nan/inf, is an error: pydantic
    would read `true` in cdk.json as 1 request a month, and nan passes no bound but says
    nothing useful. Infinity on a bounded figure is left to check_volume, which names the bound."""
    for name, bounded in _number_fields().items():
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in ("true", "false")):
            typed = str(value).lower() if isinstance(value, bool) else repr(shown(value))  # as cdk.json spells it
            raise TierwiseError(f"{flag(prefix, name)}: a number is needed, not a true/false value (got {typed})")
        if isinstance(value, (int, str)) and not isinstance(value, float):
            try:
                number = float(value)
            except (OverflowError, TypeError, ValueError):
                continue  # too large for a float, or not a number: check_volume / the model say so
        elif isinstance(value, float):
            number = value
        else:
            continue
        if number != number or (math.isinf(number) and not bounded):
            raise TierwiseError(f"{flag(prefix, name)}: must be a finite number (got {shown(value)})")


def check_rate(value: Any, option: str = "--tokens-per-second") -> float:
    """A decode rate in tokens per second: a finite number above zero (inf would price every
    request at zero seconds, nan at nothing at all), and within what a request can see: at least
    one token within Lambda's time limit (1e-300 would price a request at ~1e302 seconds), at
    most the fastest decode input_bounds.yaml allows."""
    try:
        rate = float(value)
    except (OverflowError, TypeError, ValueError):
        raise TierwiseError(f"{option}: must be a finite number greater than 0 (got {quoted(value)})") from None
    if isinstance(value, bool) or not (rate > 0 and math.isfinite(rate)):
        raise TierwiseError(f"{option}: must be a finite number greater than 0 (got {shown(value)})")
    limit_s = lambda_limits().timeout_s_max
    fastest = volume_bounds()["max"]["tokens_per_second_floor"]
    if not 1 / limit_s <= rate <= fastest:
        raise TierwiseError(
            f"{option}: {shown(value)} tokens/s is beyond any real decode (from {1 / limit_s:.6f}, one token "
            f"within Lambda's {limit_s} s limit, to {fastest:,}: {volume_bounds()['why']['tokens_per_second_floor']})"
        )
    return rate


def check_volume(values: Mapping[str, Any], prefix: str = "--") -> None:
    """Reject workload figures no real deployment could see, before they are planned or priced
    (1e26 requests a month would otherwise be planned and priced in good faith); true/false and
    nan where a number belongs are refused first (check_workload_numbers)."""
    check_workload_numbers(values, prefix)
    for name, limit in volume_bounds()["max"].items():
        value = values.get(name)
        if value is None:
            continue
        try:
            number = float(value)
        except OverflowError:
            number = math.inf  # an integer beyond any float, e.g. 10**400
        except (TypeError, ValueError):
            continue  # not a number: the workload model itself reports it
        if number != number:
            continue  # nan: the workload model says what is allowed
        if number > limit:  # inf included
            raise TierwiseError(
                f"{flag(prefix, name)}: {shown(value)} is beyond any real deployment (at most {limit:,}: "
                f"{volume_bounds()['why'][name]})"
            )


# --- files -------------------------------------------------------------------------------------


def check_gguf_path(path: str | os.PathLike, option: str, allowed: str = "a local .gguf file") -> Path:
    """A local file that starts with the GGUF magic: a directory, a text file or a YAML profile
    given by mistake is named as such instead of being staged or parsed."""
    check_path_usable(path, option, TierwiseError)
    p = Path(path)
    if p.is_dir():
        raise TierwiseError(f"{option}: {str(p)!r} is a folder; give {allowed}")
    if not p.is_file():
        raise TierwiseError(f"{option}: no such file {str(p)!r} (give {allowed})")
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise TierwiseError(f"{option}: cannot read {str(p)!r} ({exc.strerror})") from None
    if head != GGUF_MAGIC:
        raise TierwiseError(
            f"{option}: {str(p)!r} is not a GGUF file (it does not start with the GGUF magic bytes; "
            f"give {allowed})"
        )
    return p


def check_writable_file(path: str | os.PathLike, option: str) -> Path:
    """Fail before the work whose result would be written, not after it was printed. Missing
    folders may be created; the nearest one that exists must be a writable folder."""
    check_path_usable(path, option, TierwiseError)
    p = Path(path)
    if p.is_dir():
        raise TierwiseError(f"{option}: {str(p)!r} is a folder; give a file name")
    ancestor = p.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise TierwiseError(f"{option}: cannot write {str(p)!r}: {str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise TierwiseError(f"{option}: cannot write {str(p)!r}: permission denied")
    return p



def write_file(path: str | os.PathLike, data: bytes, option: str) -> Path:
    """Write `data` to `path` whole or not at all: into a temporary file beside it, then renamed
    over it; a path the system refuses (a read-only or virtual file system, a full disk) is one
    error line naming `option`, with no partial file left behind."""
    p = Path(path)
    partial = p.with_name(f".{p.name}.partial")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, p)
    except OSError as exc:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        raise TierwiseError(f"{option}: cannot write {str(p)!r}: {exc.strerror or exc}") from None
    return p

# --- context keys of the CDK app ---------------------------------------------------------------


# The CDK CLI (2.1148) saves two plain keys into cdk.context.json, which every later synth
# passes to the app: `cdk acknowledge N` and `cdk cli-telemetry --enable/--disable`.
CDK_CLI_PLAIN_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry"})


def is_cdk_context_key(key: str) -> bool:
    """Keys the CDK CLI, aws-cdk-lib and construct libraries put in the context themselves:
    feature flags (`@aws-cdk/aws-lambda:recognizeLayerVersion`, `@aws-cdk-containers/...`),
    the CLI's switches (`aws:cdk:enable-path-metadata`, `aws:cdk:version-reporting`,
    `aws:cdk:bundling-stacks`, ...), cached lookups in cdk.context.json
    (`availability-zones:account=...:region=...`), `cdk migrate`'s `cdk-migrate`, and the two
    plain keys the CLI saves. All but those two are namespaced with a colon or an `@`/`cdk-`
    prefix; tierwise's own keys are plain snake_case words, so a misspelt tierwise key never
    passes as a CDK key."""
    return ":" in key or key.startswith("@") or key.startswith("cdk-") or key in CDK_CLI_PLAIN_KEYS


def check_context_keys(context: Mapping[str, Any], known: Iterable[str]) -> None:
    known = tuple(known)
    for key in context:
        if key in known or is_cdk_context_key(key):
            continue
        raise TierwiseError(
            f"-c {shown(key)}: unknown context key{did_you_mean(key, known)} "
            f"(tierwise reads: {', '.join(sorted(known))}; CDK's own keys contain ':' or start with '@')"
        )


# --- options that only some tiers or models take -----------------------------------------------

COMMITMENTS = {"none": None, "onemonth": "OneMonth", "sixmonths": "SixMonths"}


def check_commitment(raw: Any, option: str = "--commitment") -> str | None:
    """None (no commitment), OneMonth or SixMonths, in any letter case."""
    if raw is None:
        return None
    text = str(raw).strip()
    if text.lower() not in COMMITMENTS:
        raise TierwiseError(f"{option}: unknown commitment {quoted(text)}; allowed: none, OneMonth, SixMonths")
    return COMMITMENTS[text.lower()]


def check_applicable(placement: Any, *, quant: str | None, commitment: str | None, prefix: str = "--",
                     instance_type: str | None = None) -> None:
    """An option the chosen tier does not read is an error, not silently dropped: a user who
    asked for Q4_K_M or a six-month commitment must not get a deployment without it."""
    from tierwise import tiers

    module = tiers.get(placement.tier)
    if commitment is not None and not module.reads("commitment", placement):
        force = "-c tier=" if prefix.startswith("-c") else "--tier "
        readers = tiers.reading("commitment")
        raise TierwiseError(
            f"{prefix}commitment {commitment} applies to {' and '.join(readers)} only; {placement.model} is "
            f"placed on {placement.tier} (to commit, force it with {force}{readers[0]})"
        )
    if instance_type is not None and not module.reads("instance_type", placement):
        readers = tiers.reading("instance_type")
        raise TierwiseError(
            f"{flag(prefix, 'instance_type')} {instance_type} pins an instance of {' and '.join(readers)}; "
            f"{placement.model} is placed on {placement.tier}"
        )
    if quant is not None and not module.reads("quant", placement):
        # the tiers that serve this very value: a GGUF recipe the llama.cpp tiers, a GPU precision
        # the GPU tier (F16 and BF16 both)
        serving = [t for t in tiers.reading("quant")
                   if quant.upper() in (q.upper() for q in tiers.get(t).quants())] or list(tiers.reading("quant"))
        names = ", ".join(serving[:-1]) + (" and " if len(serving) > 1 else "") + serving[-1]
        raise TierwiseError(
            f"{prefix}quant {quant} is served by {names}; "
            f"{placement.model} is placed on {placement.tier}, {module.weights(placement)}"
        )


def check_quant_for_model(profile: Any, quant: str | None, prefix: str = "--") -> None:
    """For commands that look at every tier of a model (compare): a recipe is only an error
    when no tier of this model could run a GGUF at all."""
    if quant is None:
        return
    if profile.architecture is None:
        raise TierwiseError(f"{prefix}quant {quant}: {profile.name} is served by Bedrock only; no GGUF recipe applies")
    if not profile.generative:
        raise TierwiseError(
            f"{prefix}quant {quant}: {profile.name} is a {profile.task} model served in F32 by a CPU framework; "
            "no GGUF recipe applies"
        )


def check_model_file_matches(profile: Any, path: str | os.PathLike, option: str = "-c model_uri") -> None:
    """A local GGUF given for a catalogue model must hold that model: the deployment is sized,
    timed and priced from the profile, so another model's file (a qwen GGUF for llama3-8b, a
    1B file for the 8B) would run on a plan made for something else."""
    from tierwise.gguf_header import shape_from_header
    from tierwise.sizing import read_gguf

    arch = profile.architecture
    if arch is None:
        return
    info = read_gguf(path)
    shape = shape_from_header(info["fields"], info["tensors"], str(path))
    found = (shape.architecture, shape.layers, shape.embedding_width)
    expected = (arch.gguf_architecture, arch.layers, arch.embedding_width)
    if found != expected:
        raise TierwiseError(
            f"{option}: {str(path)!r} holds a {found[0]} model with {found[1]} layers, {found[2]} wide; "
            f"{profile.name} is {expected[0]} with {expected[1]} layers, {expected[2]} wide "
            f"(give {profile.name}'s GGUF, or the catalogue model this file is)"
        )


def check_request_fits(placement: Any, prefix: str = "--") -> None:
    """A request longer than the context the deployment is sized for would be cut or refused by
    llama.cpp or vLLM at run time; say so now, with the flags that fix it."""
    from tierwise import tiers

    if tiers.get(placement.tier).hosting != "self":
        return  # Bedrock serves the model at AWS's own context
    w = placement.workload
    generative = placement.profile.generative
    tokens = w.input_tokens + (w.output_tokens if generative else 0)
    if tokens <= placement.context:
        return
    asked = f"{flag(prefix, 'input_tokens')} {w.input_tokens:,}" + (
        f" + {flag(prefix, 'output_tokens')} {w.output_tokens:,}" if generative else "")
    arch = placement.profile.architecture
    room = f"up to {placement.model}'s {arch.max_context:,}" if arch else "higher"
    raise TierwiseError(
        f"{asked} = {tokens:,} tokens do not fit the {placement.context:,}-token context {placement.model} is "
        f"sized for on {placement.tier}; shorten the request or raise {flag(prefix, 'context')} ({room})"
    )
