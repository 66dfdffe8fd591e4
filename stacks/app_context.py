"""Read `cdk -c key=value` context into plans: everything app.py does before it builds a construct.

Every mistake a user can make here ends as a TierwiseError with one line (what was wrong, what
is allowed); app.py prints it and exits 2 before any construct exists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from model_profiles import load_catalogue
from tierwise import tiers
from tierwise.errors import TierwiseError
from tierwise.inputs import PLAN_FIELDS, WORKLOAD_FIELDS, Origin, read_plan_inputs, whole_number
from tierwise.naming import context_keys
from tierwise.placement import Placement, plan
from tierwise import uris
from tierwise.uris import KMS_KEY_ARN, S3_PREFIX_URI
from tierwise.validate import (
    check_applicable, check_context_keys, check_gguf_path, check_model_file_matches, check_request_fits, shown,
)

# what the stack options are (the deployment's, beyond the plan); which tier reads each is the
# tier modules' (tierwise/tiers: `options`)
STACK_OPTIONS = (
    "model_uri", "image_uri", "min_instances", "max_instances", "architecture", "hf_token_secret",
    "vpc_id", "subnet_type", "subnet_ids", "vpc_endpoints", "alarm_topic_arn", "weights_uri", "weights_key",
)
KNOWN = (
    *PLAN_FIELDS, *STACK_OPTIONS,
    "max_monthly_usd",  # read by app.py for the budget guard (tierwise.cost.budget)
    *WORKLOAD_FIELDS,
)
ARCHITECTURES = ("x86_64", "arm64")
NETWORK_OPTIONS = ("vpc_id", "subnet_type", "subnet_ids", "vpc_endpoints")
SUBNET_TYPE_NAMES = ("private", "isolated")  # the keys of tiers.network.SUBNET_TYPES
VPC_ID = re.compile(r"vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?")
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?")
BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
ALL = "all"


@dataclass
class StackPlan:
    stack_id: str
    placement: Placement
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AppPlan:
    region: str | None
    stacks: list[StackPlan]
    # set when a stack looks something up at synth (a VPC): lookups need the account
    account: str | None = None


def _int(name: str, raw: Any) -> int:
    return whole_number(f"-c {name}", raw)


def stack_id(model: str) -> str:
    """A CloudFormation stack name for `model`: letters, digits and hyphens."""
    return "tierwise-" + re.sub(r"[^A-Za-z0-9-]+", "-", model).strip("-")


def read(context: dict[str, Any], environ: dict[str, str] | None = None) -> AppPlan:
    """Plans for the stacks the context asks for. `context` maps context keys to values
    (strings from the command line, or whatever cdk.json holds). Every message made while
    planning names context keys (`-c max_seconds=…`), not the CLI's flags."""
    with context_keys():
        return _read(context, environ)


def _read(context: dict[str, Any], environ: dict[str, str] | None) -> AppPlan:
    environ = dict(os.environ) if environ is None else environ
    check_context_keys(context, KNOWN)
    given = {k: v for k, v in context.items() if k in KNOWN and v not in (None, "")}
    model = str(given.get("model") or "").strip()
    for key in ("hf_dir", "base_hf_dir"):
        if key in given and not isinstance(given[key], str):
            raise TierwiseError(f"-c {key}: a folder path (got {shown(repr(given[key]))})")
    if not model and "hf_dir" not in given:
        raise TierwiseError("-c model: name a catalogue model or 'all' (tierwise models lists them), or give -c hf_dir=DIR")
    if "hf_dir" in given:
        model = ""  # -c hf_dir names the model's folder: it replaces -c model (cdk.json always has one)

    inputs = read_plan_inputs(Origin(context=given, context_prefix="-c "), environ)
    region = inputs.region

    options: dict[str, Any] = {}
    for name in ("min_instances", "max_instances"):
        if name in given:
            options[name] = _int(name, given[name])
    if options.get("min_instances", 1) > options.get("max_instances", options.get("min_instances", 1)):
        raise TierwiseError(
            f"-c min_instances ({options['min_instances']}) must not exceed -c max_instances ({options['max_instances']})"
        )
    if "architecture" in given:
        if given["architecture"] not in ARCHITECTURES:
            raise TierwiseError(f"-c architecture: one of {', '.join(ARCHITECTURES)} (got {given['architecture']!r})")
        options["architecture"] = given["architecture"]
    if "model_uri" in given:
        options["model_uri"] = _model_uri(given["model_uri"])
    if "image_uri" in given:
        # which service pulls it (Lambda or SageMaker) is the placed tier's: checked in _check_options
        options["image_uri"] = _reference("image_uri", given["image_uri"], lambda text: uris.ecr_image(
            text, stack_region=region, rule=None)).string
    if "hf_token_secret" in given:
        ref = _reference("hf_token_secret", given["hf_token_secret"], lambda text: uris.secret(text, stack_region=region))
        options["hf_token_secret"] = ref.arn or ref.name
    if "alarm_topic_arn" in given:
        options["alarm_topic_arn"] = _reference("alarm_topic_arn", given["alarm_topic_arn"],
                                                lambda text: uris.sns_topic_arn(text, stack_region=region))
    if "weights_uri" in given:
        uri = str(given["weights_uri"]).strip()
        match = S3_PREFIX_URI.fullmatch(uri)
        problem = uris.bucket_name_problem(match["bucket"]) if match else None
        if not match or problem:
            raise TierwiseError(
                "-c weights_uri: s3://BUCKET/PREFIX/, the folder holding the model's safetensors, config.json and "
                "tokenizer files, ending in '/'" + (f": {problem}" if problem else "")
                + f" (got {shown(repr(given['weights_uri']))})"
            )
        options["weights_uri"] = uri
    if "weights_key" in given:
        key = str(given["weights_key"]).strip()
        if not KMS_KEY_ARN.fullmatch(key):
            raise TierwiseError(f"-c weights_key: the ARN of the KMS key the weights' bucket uses, "
                                f"arn:aws:kms:REGION:ACCOUNT:key/ID (got {shown(repr(given['weights_key']))})")
        options["weights_key"] = key
    options.update(_network_options(given))
    account = None
    if "vpc_id" in options:
        account = environ.get("CDK_DEFAULT_ACCOUNT") or None
        if account is None or region is None:
            raise TierwiseError(
                "-c vpc_id: the VPC is looked up at synth, which needs the account and region: run `cdk synth` "
                "with AWS credentials (the CLI sets CDK_DEFAULT_ACCOUNT) and a region (-c region=...)"
            )

    plan_args = inputs.plan_args()

    if model == ALL:
        for name in ("model_uri", "image_uri", "weights_uri", "weights_key"):
            if name in options:
                raise TierwiseError(f"-c {name} names one model's file; it cannot be used with model=all")
        if inputs.instance_type is not None:
            raise TierwiseError(f"-c instance_type {inputs.instance_type} pins one model's GPU instance; it cannot be "
                                "used with model=all: give it with -c model=NAME")
        if inputs.quant is not None:
            raise TierwiseError(
                f"-c quant {inputs.quant} is one GGUF recipe; with model=all most models are served at their "
                "own precision (GPU, Bedrock, classifier): give it with -c model=NAME"
            )
        stacks = []
        for profile in load_catalogue().values():
            placement = plan(profile, **plan_args)
            check_request_fits(placement, prefix="-c ")
            stacks.append(StackPlan(stack_id(profile.name), placement, _applicable(placement, options)))
        ids = [s.stack_id for s in stacks]
        if len(set(ids)) != len(ids):
            raise TierwiseError(f"two catalogue models map to the same stack name: {sorted(ids)}")
        if "vpc_id" in options:
            for s in stacks:
                refusal = tiers.get(s.placement.tier).refusal("vpc_id")
                if refusal is not None:
                    raise TierwiseError(
                        f"-c vpc_id: {s.placement.model} is placed on {s.placement.tier}: {refusal} "
                        "(synthesize the models one by one, forcing another tier with -c tier=...)"
                    )
        for s in stacks:
            _check_options(s.placement, s.options, "tier" in given, region)
        return AppPlan(region, stacks, account)

    placement = plan(inputs.profile(), **plan_args)
    model = placement.model
    _check_options(placement, options, "tier" in given, region)
    check_applicable(placement, quant=inputs.quant, commitment=inputs.commitment, prefix="-c ",
                     instance_type=inputs.instance_type)
    check_request_fits(placement, prefix="-c ")
    missing = tiers.get(placement.tier).missing(placement, options)
    if missing is not None:
        raise TierwiseError(missing)
    if "model_uri" in options and not options["model_uri"].startswith("s3://"):
        check_model_file_matches(placement.profile, options["model_uri"])
    return AppPlan(region, [StackPlan(stack_id(model), placement, options)], account)


def _reference(name: str, raw: Any, check):
    """A -c value naming an AWS resource, checked by `check` (tierwise/uris.py); one line naming the key."""
    if not isinstance(raw, str) or not raw.strip():
        raise TierwiseError(f"-c {name}: text naming the resource (got {shown(repr(raw))})")
    try:
        return check(raw.strip())
    except uris.UriProblem as exc:
        raise TierwiseError(f"-c {name}: {exc}") from None


def _model_uri(raw: Any) -> str:
    """s3://BUCKET/KEY.gguf (one object, a bucket name S3 accepts) or a local .gguf file."""
    uri = str(raw).strip()
    if uri.startswith("s3://"):
        _reference("model_uri", uri, lambda text: uris.s3_object(text, suffix=".gguf"))
        return uri
    check_gguf_path(uri, "-c model_uri", "s3://bucket/key.gguf or a local .gguf file")
    return uri


def _applicable(placement: Placement, options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in tiers.get(placement.tier).options}


def _network_options(given: dict[str, Any]) -> dict[str, Any]:
    """vpc_id, subnet_type / subnet_ids and vpc_endpoints, checked for shape (the VPC itself is
    looked up at synth)."""
    options: dict[str, Any] = {}
    if "vpc_id" not in given:
        for name in NETWORK_OPTIONS:
            if name in given:
                raise TierwiseError(f"-c {name} places the model in a VPC: give the VPC too (-c vpc_id=vpc-...)")
        return options
    vpc_id = str(given["vpc_id"]).strip()
    if not VPC_ID.fullmatch(vpc_id):
        raise TierwiseError(f"-c vpc_id: a VPC id, vpc- and 8 or 17 hex digits (got {vpc_id!r})")
    options["vpc_id"] = vpc_id
    if "subnet_type" in given and "subnet_ids" in given:
        raise TierwiseError("-c subnet_type and -c subnet_ids both choose the subnets: give one of them")
    if "subnet_type" in given:
        subnet_type = str(given["subnet_type"]).strip().lower()
        if subnet_type not in SUBNET_TYPE_NAMES:
            raise TierwiseError(
                f"-c subnet_type: one of {', '.join(SUBNET_TYPE_NAMES)} (got {given['subnet_type']!r}); "
                "public subnets are not offered: the point is to keep the model off the internet"
            )
        options["subnet_type"] = subnet_type
    if "subnet_ids" in given:
        raw = given["subnet_ids"]
        ids = [str(i).strip() for i in (raw if isinstance(raw, list) else str(raw).split(",")) if str(i).strip()]
        bad = [i for i in ids if not SUBNET_ID.fullmatch(i)]
        if not ids or bad:
            raise TierwiseError(
                f"-c subnet_ids: comma-separated subnet ids, subnet- and 8 or 17 hex digits (got {raw!r})"
            )
        options["subnet_ids"] = sorted(set(ids))
    if "vpc_endpoints" in given:
        raw = given["vpc_endpoints"]
        value = raw if isinstance(raw, bool) else BOOLEANS.get(str(raw).strip().lower())
        if value is None:
            raise TierwiseError(f"-c vpc_endpoints: true or false (got {raw!r})")
        options["vpc_endpoints"] = value
    return options


def _check_options(placement: Placement, options: dict[str, Any], tier_forced: bool, region: str | None) -> None:
    """Every option given is one the chosen tier reads (a tier's own refusal says why it cannot),
    an image where the tier's service can pull it, then the tier's own checks of the values
    (tierwise/tiers: `check_options`)."""
    module = tiers.get(placement.tier)
    force = "" if tier_forced else " (force a tier with -c tier=...)"
    for name in options:
        if name in module.options:
            continue
        readers = tiers.reading(name)
        refusal = module.refusal(name)
        if refusal is not None:
            raise TierwiseError(f"-c {name}: {placement.model} is placed on {placement.tier}: {refusal}; "
                                f"{' and '.join(readers)} can{force}")
        raise TierwiseError(f"-c {name} applies to {' and '.join(readers)}; {placement.model} is placed on "
                            f"{placement.tier}{force}")
    if "image_uri" in options:
        _reference("image_uri", options["image_uri"], lambda text: uris.ecr_image(
            text, stack_region=region, rule=module.image_region_rule))
    if "hf_token_secret" in options and region is None:
        raise TierwiseError(
            "-c hf_token_secret: the image that reads the token at start is built on the LMI container of the "
            "stack's region: give -c region=..."
        )
    module.check_options(placement, options, forced=tier_forced)
