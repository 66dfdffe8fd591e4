"""AWS prices as data: load and validate tierwise/data/prices.yaml and look figures up.

Every figure in the price file carries its source and the date it was taken. A figure nobody
could source is ``value: null``; every lookup here returns ``None`` for it, so callers report
it as unknown instead of pricing it at zero.

tierwise.cost.refresh rewrites the file from the AWS Price List API (boto3 ``pricing``). It is
optional: the embedded file is what tierwise uses by default, and it needs no AWS account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from model_profiles.userinput import PATH_WIDTH, load_yaml, quoted, read_text, shown
from tierwise import facts
# a cross-region inference profile id (us.meta...) bills as its model in the source region
from tierwise.contract import base_model_id
from tierwise.errors import TierwiseError

Architecture = Literal["x86_64", "arm64"]
Commitment = Literal["none", "OneMonth", "SixMonths"]
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
PRICE_LIST_ENDPOINT = "https://api.pricing.us-east-1.amazonaws.com"
_DATE = r"^\d{4}-\d{2}-\d{2}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceFigure(_Strict):
    """One price: the value in USD per ``unit``, where it was read and when."""

    value: float | None = Field(ge=0)
    unit: str = Field(min_length=1)
    source: str | None = None
    taken: str | None = Field(None, pattern=_DATE)
    note: str | None = None

    @model_validator(mode="after")
    def _known_means_sourced(self) -> PriceFigure:
        if self.value is not None and (not self.source or not self.taken):
            raise ValueError("a price with a value needs its source and the date it was taken")
        return self


def _unknown(unit: str, note: str = "no source found for this region") -> PriceFigure:
    return PriceFigure(value=None, unit=unit, note=note)


class LambdaPrices(_Strict):
    duration_gb_second: dict[Architecture, PriceFigure]
    requests_per_million: PriceFigure
    ephemeral_storage_gb_second: PriceFigure


class SageMakerPrices(_Strict):
    serverless_gb_second: dict[int, PriceFigure]
    data_processed_in_gb: PriceFigure
    data_processed_out_gb: PriceFigure
    instance_hour: dict[str, PriceFigure]


class BedrockTokenPrices(_Strict):
    input_per_1k_tokens: PriceFigure
    output_per_1k_tokens: PriceFigure


class CustomModelImportPrices(_Strict):
    """Bedrock Custom Model Import: each running model copy bills its Custom Model Units per
    minute (in 5-minute windows, bedrock_custom_import.yaml) and every imported model bills its
    units per month of storage."""

    custom_model_unit_minute: PriceFigure
    custom_model_unit_storage_month: PriceFigure


class BedrockPrices(_Strict):
    on_demand: dict[str, BedrockTokenPrices]
    # batch inference (CreateModelInvocationJob): only models AWS offers it for have an entry
    batch: dict[str, BedrockTokenPrices]
    provisioned_model_unit_hour: dict[str, dict[Commitment, PriceFigure]]
    custom_model_import: CustomModelImportPrices


class S3Prices(_Strict):
    standard_gb_month: PriceFigure
    put_per_1k: PriceFigure
    get_per_1k: PriceFigure


class KmsPrices(_Strict):
    key_month: PriceFigure
    requests_per_10k: PriceFigure


class CloudWatchPrices(_Strict):
    alarm_standard_month: PriceFigure
    alarm_high_resolution_month: PriceFigure
    logs_ingested_gb: PriceFigure
    logs_stored_gb_month: PriceFigure


class VpcPrices(_Strict):
    """AWS PrivateLink interface endpoints: billed per endpoint per Availability Zone-hour, plus
    per GB processed (the first tier, up to 1 PB a month in the region). Gateway endpoints (S3,
    DynamoDB) cost nothing and have no figure here."""

    interface_endpoint_az_hour: PriceFigure
    interface_endpoint_data_gb: PriceFigure


class RegionPrices(_Strict):
    lambda_: LambdaPrices = Field(alias="lambda")
    sagemaker: SageMakerPrices
    bedrock: BedrockPrices
    s3: S3Prices
    kms: KmsPrices
    cloudwatch: CloudWatchPrices
    vpc: VpcPrices

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass(frozen=True)
class Quote:
    """A known price, ready to multiply: value in USD per ``unit``."""

    key: str
    value: float
    unit: str
    source: str
    taken: str


class PriceBook(_Strict):
    schema_version: Literal[1]
    currency: Literal["USD"]
    regions: dict[str, RegionPrices]

    # -- lookups: each returns None when the figure is unknown or absent -----------------

    def figure(self, region: str, *path: str | int) -> PriceFigure | None:
        """The figure at ``region/path...`` (e.g. ``"lambda", "requests_per_million"``)."""
        node: Any = self.regions.get(region)
        for part in path:
            if node is None:
                return None
            if isinstance(node, Mapping):
                node = node.get(part)
            else:
                node = getattr(node, "lambda_" if part == "lambda" else str(part), None)
        return node if isinstance(node, PriceFigure) else None

    def quote(self, region: str, *path: str | int) -> Quote | None:
        fig = self.figure(region, *path)
        if fig is None or fig.value is None:
            return None
        return Quote(
            key=price_key(region, *path),
            value=fig.value,
            unit=fig.unit,
            source=fig.source or "",
            taken=fig.taken or "",
        )

    def lambda_duration(self, region: str, architecture: str) -> Quote | None:
        return self.quote(region, "lambda", "duration_gb_second", architecture)

    def lambda_requests(self, region: str) -> Quote | None:
        return self.quote(region, "lambda", "requests_per_million")

    def lambda_ephemeral_storage(self, region: str) -> Quote | None:
        return self.quote(region, "lambda", "ephemeral_storage_gb_second")

    def serverless_gb_second(self, region: str, memory_mb: int) -> Quote | None:
        return self.quote(region, "sagemaker", "serverless_gb_second", int(memory_mb))

    def sagemaker_data_in(self, region: str) -> Quote | None:
        return self.quote(region, "sagemaker", "data_processed_in_gb")

    def sagemaker_data_out(self, region: str) -> Quote | None:
        return self.quote(region, "sagemaker", "data_processed_out_gb")

    def instance_hour(self, region: str, instance_type: str) -> Quote | None:
        return self.quote(region, "sagemaker", "instance_hour", instance_type)

    def bedrock_input(self, region: str, model_id: str) -> Quote | None:
        return self.quote(region, "bedrock", "on_demand", base_model_id(model_id), "input_per_1k_tokens")

    def bedrock_output(self, region: str, model_id: str) -> Quote | None:
        return self.quote(region, "bedrock", "on_demand", base_model_id(model_id), "output_per_1k_tokens")

    def bedrock_batch_input(self, region: str, model_id: str) -> Quote | None:
        return self.quote(region, "bedrock", "batch", base_model_id(model_id), "input_per_1k_tokens")

    def bedrock_batch_output(self, region: str, model_id: str) -> Quote | None:
        return self.quote(region, "bedrock", "batch", base_model_id(model_id), "output_per_1k_tokens")

    def custom_model_unit_minute(self, region: str) -> Quote | None:
        return self.quote(region, "bedrock", "custom_model_import", "custom_model_unit_minute")

    def custom_model_unit_storage_month(self, region: str) -> Quote | None:
        return self.quote(region, "bedrock", "custom_model_import", "custom_model_unit_storage_month")

    def bedrock_model_unit_hour(self, region: str, model_id: str, commitment: str | None) -> Quote | None:
        return self.quote(
            region, "bedrock", "provisioned_model_unit_hour", model_id, commitment_key(commitment)
        )

    def interface_endpoint_az_hour(self, region: str) -> Quote | None:
        return self.quote(region, "vpc", "interface_endpoint_az_hour")

    def interface_endpoint_data_gb(self, region: str) -> Quote | None:
        return self.quote(region, "vpc", "interface_endpoint_data_gb")

    def unknown_figures(self, region: str | None = None) -> list[str]:
        """Keys of every figure whose value is unknown (for reports and the final summary)."""
        out: list[str] = []
        for reg, prices in self.regions.items():
            if region is not None and reg != region:
                continue
            for path, fig in _walk(prices.model_dump(by_alias=True)):
                if fig.get("value") is None:
                    out.append(price_key(reg, *path))
        return out


def commitment_key(commitment: str | None) -> str:
    """The price-file key for a CommitmentDuration (None / absent means no commitment)."""
    return "none" if commitment in (None, "", "none", "None") else str(commitment)


def price_key(region: str, *path: str | int) -> str:
    return "/".join([region, *(str(p) for p in path)])


def _walk(node: Any, path: tuple = ()) -> Iterable[tuple[tuple, dict]]:
    if isinstance(node, dict) and "unit" in node and "value" in node:
        yield path, node
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from _walk(child, (*path, key))


# -- loading ------------------------------------------------------------------------------

def default_price_file() -> Path:
    return Path(str(resources.files("tierwise.data").joinpath("prices.yaml")))


def parse_prices(data: Any, origin: str = "prices.yaml") -> PriceBook:
    if not isinstance(data, dict):
        raise TierwiseError(f"{origin}: a price file must be a YAML mapping")
    try:
        return PriceBook.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        raise TierwiseError(f"{origin}: field {quoted(field)}: {err['msg']}") from None


def load_prices(path: str | Path | None = None) -> PriceBook:
    """The price book from ``path`` (default: the embedded tierwise/data/prices.yaml)."""
    if path is None:
        return _default_book()
    return _read_book(Path(path))


@cache
def _default_book() -> PriceBook:
    return _read_book(default_price_file())


def _read_book(path: Path) -> PriceBook:
    """A price file: a regular file within its cap, UTF-8, YAML without aliases or repeated keys."""
    max_bytes, why = facts.file_cap("price_file")
    text = read_text(path, "price file", max_bytes, why, TierwiseError)
    return parse_prices(load_yaml(text, f"price file {shown(str(path), PATH_WIDTH)}", TierwiseError), path.name)


_HEADER = """\
# AWS prices tierwise uses to cost a deployment: one figure per line item, per region.
#
# Every figure carries `source` (where it was read), `taken` (the date the source gives for it,
# or the day it was read when the source gives none) and, where the source needs explaining,
# `note`. A figure that could not be sourced is `value: null` and tierwise reports it as
# unknown; it is never filled with a guess or copied from another region.
#
# `tierwise.cost.prices.refresh_prices` rewrites this file from the AWS Price List API (boto3
# `pricing`); figures the API does not return keep their entry below.
"""


def dump_prices(book: PriceBook) -> str:
    data = book.model_dump(by_alias=True, exclude_none=False)
    for _path, fig in _walk(data):
        if fig.get("note") is None:
            fig.pop("note", None)
    return _HEADER + yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True)


def write_prices(book: PriceBook, path: str | Path) -> None:
    path = Path(path)
    text = dump_prices(book)
    parse_prices(load_yaml(text, path.name, TierwiseError), path.name)  # never write a file we could not read back
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    if path == default_price_file():
        _default_book.cache_clear()


def gpu_instance_hourly(instance_type: str, region: str = "us-east-1", path: str | Path | None = None) -> float | None:
    """USD per hour of a SageMaker instance in ``region``, or None when the price is unknown."""
    quote = load_prices(path).instance_hour(region, instance_type)
    return None if quote is None else quote.value
