"""The one reader of what a plan is made for, used by `plan`, `compare`, `cost` and `cdk synth`.

Each input (the model, tier, quant, context, commitment, region, hosting policy and the workload:
requests_per_month, input_tokens, ...) is taken from, in this order:

1. the command's flag (`--requests-per-month`), for the CLI;
2. the CDK context: `-c requests_per_month=...` or cdk.json's "context" (the keys `cdk synth`
   reads; the CLI reads the cdk.json of the folder it runs in);
3. the default (tierwise.workload.Workload's, region us-east-1, hosting auto).

A bad value is one error line naming where it came from: the flag, `-c key` or the cdk.json
context key. `tierwise cost` reads the workload a stack was planned for from its template first
(tierwise/stack_metadata.py); flags still win over it, field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tierwise.errors import TierwiseError
from tierwise.validate import check_commitment, check_region, check_volume, flag, shown
from tierwise.workload import Workload

DEFAULT_REGION = "us-east-1"
HOSTING = ("auto", "self", "managed")
WORKLOAD_FIELDS: tuple[str, ...] = tuple(Workload.model_fields)
PLAN_FIELDS = ("model", "hf_dir", "base_hf_dir", "tier", "quant", "context", "commitment", "region", "hosting")
# CloudFormation and the SageMaker API carry counts as 32-bit integers
INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Origin:
    """How inputs were given: CLI flags (`--name`) and which context (`-c ` in the app, `cdk.json
    context ` in the CLI), for error lines that name what the user typed."""

    flags: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    context_prefix: str = "-c "

    def given(self, name: str) -> tuple[Any, str] | None:
        """(value, how it is named) from the flag, else the context, else None."""
        value = self.flags.get(name)
        if value is not None and value is not False:
            return value, flag("--", name)
        value = self.context.get(name)
        if value is not None and value != "":
            return value, flag(self.context_prefix, name)
        return None


@dataclass(frozen=True)
class PlanInputs:
    model: str | None  # a catalogue name; None when hf_dir names the model's folder
    hf_dir: str | None
    tier: str | None
    quant: str | None
    context: int | None
    commitment: str | None
    region: str | None  # None: not given (the app's stacks stay environment-agnostic)
    hosting: str
    workload: Workload
    base_hf_dir: str | None = None
    context_prefix: str = "--"

    def profile(self):
        """The profile planned: the catalogue model, or the local Hugging Face folder."""
        from model_profiles import resolve
        from model_profiles.hf_folder import CLI_FLAGS, CONTEXT_FLAGS

        flags = CONTEXT_FLAGS if self.context_prefix == "-c " else CLI_FLAGS
        if self.model is None and self.hf_dir is None:
            raise TierwiseError("give a model name (see `tierwise models`), or run where a cdk.json names one")
        return resolve(self.model, self.hf_dir, self.base_hf_dir, flags)

    def plan_args(self) -> dict[str, Any]:
        """Keyword arguments for tierwise.placement.plan / candidates."""
        return {"quant": self.quant, "context": self.context, "workload": self.workload, "tier": self.tier,
                "commitment": self.commitment, "region": self.region or DEFAULT_REGION, "hosting": self.hosting}


def whole_number(name: str, raw: Any, *, minimum: int = 1, maximum: int = INT32_MAX) -> int:
    """`raw` as a whole number in range; `name` is how the user typed the option."""
    if isinstance(raw, bool):  # cdk.json's true/false: int() would read it as 1 or 0
        raise TierwiseError(f"{name}: must be a whole number, not a true/false value (got {str(raw).lower()})")
    text = str(raw).strip()
    if len(text) > 40 and text.lstrip("+-").isdigit():
        # no count tierwise takes has so many digits; int() of 5,000 digits is refused by Python
        bound = f"at least {minimum:,}" if text.startswith("-") else f"at most {maximum:,}, a 32-bit integer"
        raise TierwiseError(f"{name}: must be {bound} (got {shown(text)})")
    try:
        value = int(text)
    except ValueError:
        raise TierwiseError(f"{name}: must be a whole number (got {shown(raw)!r})") from None
    if value < minimum:
        raise TierwiseError(f"{name}: must be at least {minimum:,} (got {shown(value)})")
    if value > maximum:
        raise TierwiseError(f"{name}: must be at most {maximum:,}, a 32-bit integer (got {shown(value)})")
    return value


def read_workload(origin: Origin) -> Workload:
    """The workload: each field from its flag, else the context, else Workload's default."""
    from_context = {k: origin.context[k] for k in WORKLOAD_FIELDS
                    if k in origin.context and origin.context[k] not in (None, "")}
    check_volume(from_context, prefix=origin.context_prefix)
    from_flags = workload_flags(origin.flags)
    check_volume(from_flags)
    values = {**from_context, **from_flags}
    try:
        return Workload(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "workload"
        where = flag("--", name) if name in from_flags else flag(origin.context_prefix, name)
        raise TierwiseError(f"{where}: {err['msg']} (got {shown(repr(err.get('input')))})") from None


def workload_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The workload fields a command's flags give (a flag not given is None; --batch off is False)."""
    return {k: v for k, v in flags.items() if k in WORKLOAD_FIELDS and v is not None and v is not False}


def read_plan_inputs(origin: Origin, environ: Mapping[str, str] | None = None) -> PlanInputs:
    """Every planning input, checked; `environ` supplies CDK_DEFAULT_REGION for the app."""
    def text(name: str) -> str | None:
        found = origin.given(name)
        return None if found is None else str(found[0]).strip()

    region = None
    found = origin.given("region")
    if found is not None:
        region = check_region(found[0], found[1])
    elif environ and environ.get("CDK_DEFAULT_REGION"):
        region = check_region(environ["CDK_DEFAULT_REGION"], "CDK_DEFAULT_REGION")
    hosting = "auto"
    found = origin.given("hosting")
    if found is not None:
        hosting = str(found[0]).strip()
        if hosting not in HOSTING:
            raise TierwiseError(f"{found[1]}: one of {', '.join(HOSTING)} (got {shown(found[0])!r})")
    commitment = None
    found = origin.given("commitment")
    if found is not None:
        commitment = check_commitment(found[0], found[1])
    context = None
    found = origin.given("context")
    if found is not None:
        context = whole_number(found[1], found[0])
    tier = text("tier")
    if tier is not None:
        from tierwise import tiers

        module = tiers.get_or_none(tier)
        if module is None:
            raise TierwiseError(f"{origin.given('tier')[1]}: unknown tier {shown(tier)!r}; allowed: "
                                f"{', '.join(tiers.ids())}")
    model, hf_dir = text("model"), text("hf_dir")
    if model is not None and hf_dir is not None:
        # cdk.json always names a default model: a folder given at a higher precedence replaces it
        # (the app sees one merged context, so there -c hf_dir replaces the model)
        model_level, dir_level = origin.given("model")[1].startswith("--"), origin.given("hf_dir")[1].startswith("--")
        if dir_level >= model_level:
            model = None if (dir_level > model_level or not dir_level) else model
        else:
            hf_dir = None
    return PlanInputs(model=model, hf_dir=hf_dir, base_hf_dir=text("base_hf_dir"), tier=tier, quant=text("quant"),
                      context=context, commitment=commitment, region=region, hosting=hosting,
                      workload=read_workload(origin), context_prefix="--" if origin.flags else origin.context_prefix)


def cdk_json_context(*directories: Path) -> dict[str, Any]:
    """The "context" of the first cdk.json found in `directories` ({} when there is none): a
    regular file within its cap, JSON without integers too long to convert (a FIFO or a folder
    named cdk.json is an error, not skipped: the CDK CLI would fail on it too)."""
    from model_profiles.userinput import PATH_WIDTH, load_json, read_text
    from tierwise.facts import file_cap

    for directory in directories:
        path = directory / "cdk.json"
        if path.exists() or path.is_symlink():
            max_bytes, why = file_cap("cdk_json")
            text = read_text(path, "cdk.json", max_bytes, why, TierwiseError)
            data = load_json(text, f"cdk.json {shown(str(path), PATH_WIDTH)}", TierwiseError)
            context = data.get("context") if isinstance(data, dict) else None
            return context if isinstance(context, dict) else {}
    return {}


def cli_origin(flags: Mapping[str, Any], directory: Path | None = None) -> Origin:
    """Flags over the cdk.json context of `directory` (default: the working directory)."""
    return Origin(flags=flags, context=cdk_json_context(directory or Path.cwd()), context_prefix="cdk.json context ")
