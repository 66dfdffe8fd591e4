"""Refresh the price file from the AWS Price List API (boto3 ``pricing``; needs AWS credentials).

Optional: tierwise prices from the embedded tierwise/data/prices.yaml by default. A refresh
replaces the figures the API returns (source: the API and the product's SKU, taken: today),
keeps the rest, and validates the new file before it replaces the old one.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierwise.cost.prices import (
    PRICE_LIST_ENDPOINT,
    PriceBook,
    SERVERLESS_MEMORY_MB,
    RegionPrices,
    _unknown,
    _walk,
    default_price_file,
    load_prices,
    parse_prices,
    write_prices,
)
from tierwise.errors import TierwiseError

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
        "bedrock": {
            "on_demand": {},
            "batch": {},
            "provisioned_model_unit_hour": {},
            "custom_model_import": {
                k: _unknown(unit).model_dump()
                for k in ("custom_model_unit_minute", "custom_model_unit_storage_month")
            },
        },
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
        "vpc": {k: _unknown(unit).model_dump() for k in ("interface_endpoint_az_hour", "interface_endpoint_data_gb")},
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
    "custom_model_unit_minute": "USD per Custom Model Unit-minute",
    "custom_model_unit_storage_month": "USD per Custom Model Unit-month",
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
