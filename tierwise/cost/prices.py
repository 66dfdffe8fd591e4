"""AWS prices as data: load and validate tierwise/data/prices.yaml, look figures up, refresh it.

Every figure in the price file carries its source and the date it was taken. A figure nobody
could source is ``value: null``; every lookup here returns ``None`` for it, so callers report
it as unknown instead of pricing it at zero.

``refresh_prices`` rewrites the file from the AWS Price List API (boto3 ``pricing``). It is
optional: the embedded file is what tierwise uses by default, and it needs no AWS account.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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


class BedrockPrices(_Strict):
    on_demand: dict[str, BedrockTokenPrices]
    provisioned_model_unit_hour: dict[str, dict[Commitment, PriceFigure]]


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


class RegionPrices(_Strict):
    lambda_: LambdaPrices = Field(alias="lambda")
    sagemaker: SageMakerPrices
    bedrock: BedrockPrices
    s3: S3Prices
    kms: KmsPrices
    cloudwatch: CloudWatchPrices

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

    def bedrock_model_unit_hour(self, region: str, model_id: str, commitment: str | None) -> Quote | None:
        return self.quote(
            region, "bedrock", "provisioned_model_unit_hour", model_id, commitment_key(commitment)
        )

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
        raise TierwiseError(f"{origin}: field {field!r}: {err['msg']}") from None


def load_prices(path: str | Path | None = None) -> PriceBook:
    """The price book from ``path`` (default: the embedded tierwise/data/prices.yaml)."""
    if path is None:
        return _default_book()
    return _read_book(Path(path))


@cache
def _default_book() -> PriceBook:
    return _read_book(default_price_file())


def _read_book(path: Path) -> PriceBook:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TierwiseError(f"cannot read price file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TierwiseError(f"{path.name}: malformed YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_prices(data, path.name)


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
    parse_prices(yaml.safe_load(text), path.name)  # never write a file we could not read back
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    if path == default_price_file():
        _default_book.cache_clear()


# -- refresh from the AWS Price List API ----------------------------------------------------

# Price List `usagetype` values carry a region prefix (USE1-, USW2-, EU-, EUC1-...) except in
# us-east-1; matching works on the part after it.
_USAGE_PREFIX = re.compile(r"^[A-Z]{2,4}\d?-(?=.)")


def _usage(product: dict) -> str:
    return _USAGE_PREFIX.sub("", product.get("attributes", {}).get("usagetype", ""), count=1)


@dataclass(frozen=True)
class _Dimension:
    sku: str
    usd: float
    unit: str
    begin: float
    description: str


def _first_tier(item: dict) -> _Dimension | None:
    """The on-demand price dimension that starts at zero usage (tiered prices fall later)."""
    product = item.get("product", {})
    for term in item.get("terms", {}).get("OnDemand", {}).values():
        dims = list(term.get("priceDimensions", {}).values())
        dims.sort(key=lambda d: float(d.get("beginRange", "0") or 0))
        for dim in dims:
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is None:
                continue
            return _Dimension(
                sku=product.get("sku", ""),
                usd=float(usd),
                unit=dim.get("unit", ""),
                begin=float(dim.get("beginRange", "0") or 0),
                description=dim.get("description", ""),
            )
    return None


# Bedrock's Price List names models by display name, not model id. These are the display
# names the Bedrock pricing page uses; they could not be checked against the live API here
# (no AWS account), so a Bedrock figure is refreshed only when a product names one exactly.
BEDROCK_DISPLAY_NAMES: dict[str, str] = {
    "meta.llama3-8b-instruct-v1:0": "Llama 3 8B Instruct",
    "meta.llama3-70b-instruct-v1:0": "Llama 3 70B Instruct",
    "meta.llama3-1-8b-instruct-v1:0": "Llama 3.1 8B Instruct",
    "meta.llama3-1-70b-instruct-v1:0": "Llama 3.1 70B Instruct",
    "mistral.mistral-7b-instruct-v0:2": "Mistral 7B Instruct",
    "mistral.mixtral-8x7b-instruct-v0:1": "Mixtral 8x7B Instruct",
    "amazon.titan-text-express-v1": "Titan Text G1 - Express",
    "amazon.titan-text-lite-v1": "Titan Text G1 - Lite",
    "amazon.nova-micro-v1:0": "Nova Micro",
    "amazon.nova-lite-v1:0": "Nova Lite",
    "anthropic.claude-3-haiku-20240307-v1:0": "Claude 3 Haiku",
}


def _classify_lambda(product: dict, dim: _Dimension) -> tuple[tuple, float] | None:
    usage = _usage(product)
    if usage == "Lambda-GB-Second":
        return ("lambda", "duration_gb_second", "x86_64"), dim.usd
    if usage == "Lambda-GB-Second-ARM":
        return ("lambda", "duration_gb_second", "arm64"), dim.usd
    if usage == "Request":
        return ("lambda", "requests_per_million"), dim.usd * 1_000_000
    if "ephemeral storage" in dim.description.lower() and "ARM" not in usage:
        return ("lambda", "ephemeral_storage_gb_second"), dim.usd
    return None


def _classify_sagemaker(product: dict, dim: _Dimension) -> tuple[tuple, float] | None:
    attrs = product.get("attributes", {})
    usage = _usage(product)
    if attrs.get("component") == "Hosting" and attrs.get("instanceName", "").startswith("ml."):
        if "Hrs" in dim.unit or "hour" in dim.unit.lower():
            return ("sagemaker", "instance_hour", attrs["instanceName"]), dim.usd
        return None
    mem = re.search(r"ServerlessInf(?:erence)?:Mem-(\d+)GB$", usage)
    if mem:
        gb = int(mem.group(1))
        # Per-second prices for one memory size become per GB-second; a per-GB-second
        # dimension is taken as it is.
        per_gb_second = dim.usd if "GB" in dim.unit else dim.usd / gb
        return ("sagemaker", "serverless_gb_second", gb * 1024), per_gb_second
    if usage == "Hst:Data-Bytes-In":
        return ("sagemaker", "data_processed_in_gb"), dim.usd
    if usage == "Hst:Data-Bytes-Out":
        return ("sagemaker", "data_processed_out_gb"), dim.usd
    return None


def _classify_bedrock(product: dict, dim: _Dimension) -> tuple[tuple, float] | None:
    attrs = product.get("attributes", {})
    by_name = {name: model_id for model_id, name in BEDROCK_DISPLAY_NAMES.items()}
    model_id = by_name.get(attrs.get("model", ""))
    if model_id is None:
        return None
    usage = _usage(product).lower()
    per_1k = dim.usd * 1000 if "1k" not in dim.unit.lower() else dim.usd
    if usage.endswith("input-tokens"):
        return ("bedrock", "on_demand", model_id, "input_per_1k_tokens"), per_1k
    if usage.endswith("output-tokens"):
        return ("bedrock", "on_demand", model_id, "output_per_1k_tokens"), per_1k
    if "provisionedthroughput" in usage.replace("-", ""):
        if "6month" in usage.replace("-", ""):
            return ("bedrock", "provisioned_model_unit_hour", model_id, "SixMonths"), dim.usd
        if "1month" in usage.replace("-", ""):
            return ("bedrock", "provisioned_model_unit_hour", model_id, "OneMonth"), dim.usd
        if "nocommit" in usage.replace("-", ""):
            return ("bedrock", "provisioned_model_unit_hour", model_id, "none"), dim.usd
    return None


def _classify_s3(product: dict, dim: _Dimension) -> tuple[tuple, float] | None:
    attrs = product.get("attributes", {})
    if (
        product.get("productFamily") == "Storage"
        and attrs.get("volumeType") == "Standard"
        and attrs.get("storageClass") == "General Purpose"
    ):
        return ("s3", "standard_gb_month"), dim.usd
    if attrs.get("group") == "S3-API-Tier1":
        return ("s3", "put_per_1k"), dim.usd * 1000
    if attrs.get("group") == "S3-API-Tier2":
        return ("s3", "get_per_1k"), dim.usd * 1000
    return None


def _classify_kms(product: dict, dim: _Dimension) -> tuple[tuple, float] | None:
    usage = _usage(product)
    if usage == "KMS-Keys":
        return ("kms", "key_month"), dim.usd
    if usage == "KMS-Requests":
        return ("kms", "requests_per_10k"), dim.usd * 10_000
    return None


def _classify_cloudwatch(product: dict, dim: _Dimension) -> tuple[tuple, float] | None:
    usage = _usage(product)
    if usage == "CW:AlarmMonitorUsage":
        return ("cloudwatch", "alarm_standard_month"), dim.usd
    if usage == "CW:HighResAlarmMonitorUsage":
        return ("cloudwatch", "alarm_high_resolution_month"), dim.usd
    if usage == "DataProcessing-Bytes":
        return ("cloudwatch", "logs_ingested_gb"), dim.usd
    if usage == "TimedStorage-ByteHrs":
        return ("cloudwatch", "logs_stored_gb_month"), dim.usd
    return None


_SERVICES = (
    ("AWSLambda", _classify_lambda),
    ("AmazonSageMaker", _classify_sagemaker),
    ("AmazonBedrock", _classify_bedrock),
    ("AmazonS3", _classify_s3),
    ("awskms", _classify_kms),
    ("AmazonCloudWatch", _classify_cloudwatch),
)


def _set_figure(data: dict, path: tuple, fig: dict) -> None:
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = fig


def _get_figure(data: dict, path: tuple) -> dict | None:
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def _empty_region(template: RegionPrices | None) -> dict:
    """A region block with every figure unknown, shaped like ``template`` when there is one."""
    if template is not None:
        data = template.model_dump(by_alias=True)
        for _path, fig in _walk(data):
            fig.update(value=None, source=None, taken=None, note="not returned by the Price List API")
        return data
    unit = "USD"
    return {
        "lambda": {
            "duration_gb_second": {a: _unknown(unit).model_dump() for a in ("x86_64", "arm64")},
            "requests_per_million": _unknown(unit).model_dump(),
            "ephemeral_storage_gb_second": _unknown(unit).model_dump(),
        },
        "sagemaker": {
            "serverless_gb_second": {m: _unknown(unit).model_dump() for m in SERVERLESS_MEMORY_MB},
            "data_processed_in_gb": _unknown(unit).model_dump(),
            "data_processed_out_gb": _unknown(unit).model_dump(),
            "instance_hour": {},
        },
        "bedrock": {"on_demand": {}, "provisioned_model_unit_hour": {}},
        "s3": {k: _unknown(unit).model_dump() for k in ("standard_gb_month", "put_per_1k", "get_per_1k")},
        "kms": {k: _unknown(unit).model_dump() for k in ("key_month", "requests_per_10k")},
        "cloudwatch": {
            k: _unknown(unit).model_dump()
            for k in (
                "alarm_standard_month",
                "alarm_high_resolution_month",
                "logs_ingested_gb",
                "logs_stored_gb_month",
            )
        },
    }


_UNITS = {
    "duration_gb_second": "USD per GB-second",
    "requests_per_million": "USD per 1M requests",
    "ephemeral_storage_gb_second": "USD per GB-second above 512 MB",
    "serverless_gb_second": "USD per GB-second",
    "data_processed_in_gb": "USD per GB",
    "data_processed_out_gb": "USD per GB",
    "instance_hour": "USD per instance-hour",
    "input_per_1k_tokens": "USD per 1,000 input tokens",
    "output_per_1k_tokens": "USD per 1,000 output tokens",
    "provisioned_model_unit_hour": "USD per model-unit-hour",
    "standard_gb_month": "USD per GB-month",
    "put_per_1k": "USD per 1,000 PUT requests",
    "get_per_1k": "USD per 1,000 GET requests",
    "key_month": "USD per key-month",
    "requests_per_10k": "USD per 10,000 requests",
    "alarm_standard_month": "USD per alarm metric-month",
    "alarm_high_resolution_month": "USD per alarm metric-month",
    "logs_ingested_gb": "USD per GB ingested",
    "logs_stored_gb_month": "USD per GB-month",
}


def _unit_for(path: tuple) -> str:
    for part in reversed(path):
        if part in _UNITS:
            return _UNITS[part]
    return "USD"


def _products(client: Any, service_code: str, region: str) -> Iterable[dict]:
    paginator = client.get_paginator("get_products")
    pages = paginator.paginate(
        ServiceCode=service_code,
        Filters=[{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
        FormatVersion="aws_v1",
    )
    for page in pages:
        for raw in page.get("PriceList", []):
            yield json.loads(raw) if isinstance(raw, str) else raw


def refresh_prices(
    regions: Iterable[str],
    client: Any = None,
    path: str | Path | None = None,
    today: _dt.date | None = None,
) -> PriceBook:
    """Re-read ``regions`` from the AWS Price List API and write the price file.

    Figures the API returns replace the file's entries (source: the Price List API with the
    product's SKU, taken: today); figures it does not return keep what the file had. The file
    written has the same format and is validated before it replaces the old one.
    """
    regions = [r for r in regions]
    if not regions:
        raise TierwiseError("refresh needs at least one region, e.g. --region us-east-1")
    for region in regions:
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
            raise TierwiseError(f"{region!r} is not an AWS region name (like us-east-1)")
    if client is None:
        try:
            import boto3
        except ImportError:  # pragma: no cover - boto3 is a dependency
            raise TierwiseError("refreshing prices needs boto3 (pip install boto3)") from None
        # The Price List API answers only in us-east-1 (and ap-south-1).
        client = boto3.client("pricing", region_name="us-east-1")
    target = Path(path) if path is not None else default_price_file()
    book = load_prices(target) if target.exists() else load_prices()
    data = book.model_dump(by_alias=True)
    stamp = (today or _dt.date.today()).isoformat()
    template = next(iter(book.regions.values()), None)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover
        BotoCoreError = ClientError = Exception  # type: ignore[misc,assignment]
    for region in regions:
        block = data["regions"].setdefault(region, _empty_region(template))
        for service_code, classify in _SERVICES:
            try:
                for item in _products(client, service_code, region):
                    dim = _first_tier(item)
                    if dim is None:
                        continue
                    found = classify(item.get("product", {}), dim)
                    if found is None:
                        continue
                    where, value = found
                    old = _get_figure(block, where)
                    _set_figure(
                        block,
                        where,
                        {
                            "value": value,
                            "unit": (old or {}).get("unit") or _unit_for(where),
                            "source": PRICE_LIST_ENDPOINT,
                            "taken": stamp,
                            "note": f"AWS Price List API GetProducts {service_code}, SKU {dim.sku}",
                        },
                    )
            except (BotoCoreError, ClientError) as exc:
                raise TierwiseError(f"price list request for {service_code} in {region} failed: {exc}") from None
    refreshed = parse_prices(data, target.name)
    write_prices(refreshed, target)
    return refreshed


def gpu_instance_hourly(instance_type: str, region: str = "us-east-1", path: str | Path | None = None) -> float | None:
    """USD per hour of a SageMaker instance in ``region``, or None when the price is unknown."""
    quote = load_prices(path).instance_hour(region, instance_type)
    return None if quote is None else quote.value
