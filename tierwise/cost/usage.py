"""Usage files: what a deployment will serve, per stack or per resource, like infracost-usage.yml.

A template says what exists, not how much it will be used. Infracost reads usage from
``infracost-usage.yml``; tierwise reads the same idea, keyed the CloudFormation way::

    version: 0.1
    resource_usage:
      tierwise-llama3-8b:                      # a stack: its model-serving resources
        requests_per_month: 200000
        input_tokens: 800
        output_tokens: 300
      my-app/ChatFunction1A2B3C4D:             # stack/logical id (or stack/construct path)
        requests_per_month: 50000
        tokens_per_second: 14.5                # decode rate; or request_duration_ms

A resource named here is priced by usage even when nothing marks it as serving a model, so
stacks tierwise did not plan can be priced too. Figures given here override the global
workload (flags and cdk.json) for what they name; a resource entry overrides its stack's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from model_profiles.userinput import PATH_WIDTH, load_yaml, quoted, read_text, shown
from tierwise import facts
from tierwise.errors import TierwiseError
from tierwise.workload import Workload

USAGE_VERSION = "0.1"


class Usage(BaseModel):
    """Usage of one stack or resource; every figure optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: int | None = Field(None, ge=0)
    input_tokens: int | None = Field(None, gt=0)
    output_tokens: int | None = Field(None, gt=0)
    tokens_per_second: float | None = Field(None, gt=0, allow_inf_nan=False, description="decode rate")
    prompt_tokens_per_second: float | None = Field(None, gt=0, allow_inf_nan=False)
    request_duration_ms: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="how long one request runs, instead of tokens per second"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_true_false(cls, value: Any) -> Any:
        # YAML's true/false would otherwise be read as 1 and 0 requests, tokens or seconds
        if isinstance(value, bool):
            raise ValueError("a number is needed, not a true/false value")
        return value

    @field_validator("*")
    @classmethod
    def _within_bounds(cls, value: Any, info: ValidationInfo) -> Any:
        """The same bounds the CLI holds a workload to, and rates and durations a request can
        have: a decode rate of 1e-300 would otherwise price each request at ~1e302 seconds."""
        if value is None:
            return value
        low, high, why = _usage_bounds()[info.field_name]
        if value < low or value > high:
            span = f"from {_figure(low)} to {_figure(high)}" if high != float("inf") else f"at least {_figure(low)}"
            raise ValueError(f"must be {span} ({why})")
        return value

    def over(self, base: "Usage") -> "Usage":
        """This usage, with ``base``'s figures where this one gives none."""
        return Usage(**{**base.model_dump(exclude_none=True), **self.model_dump(exclude_none=True)})

    def workload(self, base: Workload) -> Workload:
        figures = self.model_dump(include={"requests_per_month", "input_tokens", "output_tokens"}, exclude_none=True)
        return base.model_copy(update=figures) if figures else base


def _figure(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:.6g}"


def _usage_bounds() -> dict[str, tuple[float, float, str]]:
    """(lowest, highest, why) of each usage figure, from tierwise/data's sourced bounds."""
    bounds = facts.workload_bounds()
    top, why = bounds.max, bounds.why
    lam = facts.lambda_limits()
    slowest = 1 / lam.timeout_s_max
    rate_why = (f"at least one token within Lambda's {lam.timeout_s_max} s limit, at most "
                f"{why['tokens_per_second_floor']}")
    return {
        "requests_per_month": (0, top["requests_per_month"], why["requests_per_month"]),
        "input_tokens": (0, top["input_tokens"], why["input_tokens"]),
        "output_tokens": (0, top["output_tokens"], why["output_tokens"]),
        "tokens_per_second": (slowest, top["tokens_per_second_floor"], rate_why),
        "prompt_tokens_per_second": (slowest, float("inf"),
                                     f"at least one token within Lambda's {lam.timeout_s_max} s limit"),
        "request_duration_ms": (0, lam.timeout_s_max * 1000, "the longest request priced per request is a "
                                f"Lambda invocation's {lam.timeout_s_max} s"),
    }


class UsageFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = USAGE_VERSION
    resource_usage: dict[str, Usage] = Field(default_factory=dict)
    _origin: str = PrivateAttr("usage file")

    @property
    def path(self) -> str:
        return self._origin

    def for_stack(self, stack: str) -> Usage | None:
        return self.resource_usage.get(stack)

    def for_resource(self, stack: str, logical_id: str, construct_path: str | None) -> Usage | None:
        for key in (f"{stack}/{logical_id}", construct_path):
            if key and key in self.resource_usage:
                return self.resource_usage[key]
        return None

    def unused_keys(self, seen: set[str]) -> list[str]:
        return sorted(set(self.resource_usage) - seen)


def parse_usage(data: Any, origin: str) -> UsageFile:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TierwiseError(f"usage file {origin}: must be a mapping with 'version' and 'resource_usage'")
    raw_version = data.get("version", USAGE_VERSION)
    version = str(raw_version) if isinstance(raw_version, (str, int, float)) else None
    if version != USAGE_VERSION:
        raise TierwiseError(
            f"usage file {origin}: version {quoted(version if version is not None else raw_version)} is not "
            f"supported; use {USAGE_VERSION}"
        )
    try:
        usage = UsageFile(**{**data, "version": version})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = shown(".".join(str(part) for part in err["loc"]))
        got = err.get("input")
        typed = str(got).lower() if isinstance(got, bool) else quoted(got)  # as the YAML spells it
        message = err["msg"].removeprefix("Value error, ")
        raise TierwiseError(f"usage file {origin}: {where}: {message} (got {typed})") from None
    except TypeError:
        raise TierwiseError(f"usage file {origin}: keys must be version and resource_usage") from None
    usage._origin = origin
    return usage


def load_usage(path: str | Path) -> UsageFile:
    """A usage file: a regular file within its cap, UTF-8, YAML without aliases or repeated keys."""
    max_bytes, why = facts.file_cap("usage_file")
    text = read_text(path, "usage file", max_bytes, why, TierwiseError)
    name = shown(str(path), PATH_WIDTH)
    return parse_usage(load_yaml(text, f"usage file {name}", TierwiseError), name)
