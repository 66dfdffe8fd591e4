"""The price file: every figure sourced and dated, unknown figures stay unknown, and the
optional refresh from the AWS Price List API writes the same format (botocore Stubber)."""

from __future__ import annotations

import datetime as dt
import json
import re

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber

from tierwise.errors import TierwiseError
from tierwise.facts import load
from tierwise.cost.prices import (
    _walk,
    default_price_file,
    dump_prices,
    gpu_instance_hourly,
    load_prices,
    parse_prices,
)
from tierwise.cost.refresh import refresh_prices


def test_three_regions_or_more_including_us_east_1(book):
    assert "us-east-1" in book.regions
    assert len(book.regions) >= 3


def test_every_known_figure_has_a_source_url_and_a_date(book):
    raw = yaml.safe_load(default_price_file().read_text())
    known = 0
    for region, block in raw["regions"].items():
        for path, fig in _walk(block):
            if fig["value"] is None:
                continue
            known += 1
            assert re.match(r"^https://", fig["source"]), (region, path)
            dt.date.fromisoformat(fig["taken"])
    assert known > 40


def test_every_gpu_instance_placement_can_choose_is_listed_in_every_region(book):
    instances = set(load("gpu_instances")["instances"])
    for region, prices in book.regions.items():
        assert instances <= set(prices.sagemaker.instance_hour), region


def test_lookups_return_none_for_unknown_and_absent_figures(book, tmp_path):
    # Listed with value null (no source found): a price book of its own, so the test does not
    # depend on which figures the shipped file has found yet.
    raw = yaml.safe_load(default_price_file().read_text())
    raw["regions"]["us-west-2"]["sagemaker"]["instance_hour"]["ml.g5.2xlarge"] = {
        "value": None, "unit": "USD per instance-hour", "source": None, "taken": None}
    raw["regions"]["us-east-1"]["sagemaker"]["instance_hour"]["ml.g6e.xlarge"] = {
        "value": None, "unit": "USD per instance-hour", "source": None, "taken": None}
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(raw))
    unpriced = load_prices(path)
    assert unpriced.figure("us-west-2", "sagemaker", "instance_hour", "ml.g5.2xlarge").value is None
    assert unpriced.instance_hour("us-west-2", "ml.g5.2xlarge") is None
    assert gpu_instance_hourly("ml.g6e.xlarge", path=path) is None
    # ... and not listed at all.
    assert book.instance_hour("us-east-1", "ml.x99.huge") is None
    assert book.lambda_requests("mars-north-1") is None


def test_known_lookups_match_the_file(book):
    raw = yaml.safe_load(default_price_file().read_text())["regions"]["us-east-1"]
    q = book.lambda_duration("us-east-1", "arm64")
    assert q.value == raw["lambda"]["duration_gb_second"]["arm64"]["value"]
    assert q.source == raw["lambda"]["duration_gb_second"]["arm64"]["source"]
    assert gpu_instance_hourly("ml.g5.2xlarge") == raw["sagemaker"]["instance_hour"]["ml.g5.2xlarge"]["value"]
    # A cross-region inference profile bills as its model.
    assert book.bedrock_input("us-east-1", "us.meta.llama3-2-1b-instruct-v1:0") == book.bedrock_input(
        "us-east-1", "meta.llama3-2-1b-instruct-v1:0")


def test_the_embedded_file_is_in_canonical_form(book):
    assert default_price_file().read_text() == dump_prices(book)


def test_a_price_without_a_source_is_rejected(tmp_path):
    raw = yaml.safe_load(default_price_file().read_text())
    raw["regions"]["us-east-1"]["kms"]["key_month"]["source"] = None
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(TierwiseError, match="needs its source"):
        load_prices(path)


def test_a_negative_price_and_a_missing_file_are_clear_errors(tmp_path):
    raw = yaml.safe_load(default_price_file().read_text())
    raw["regions"]["us-east-1"]["kms"]["key_month"]["value"] = -1
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(TierwiseError, match="kms.key_month.value"):
        load_prices(path)
    with pytest.raises(TierwiseError, match="cannot read price file"):
        load_prices(tmp_path / "missing.yaml")
    with pytest.raises(TierwiseError, match="mapping"):
        parse_prices(["not", "a", "mapping"])


# -- refresh through the Price List API, stubbed --------------------------------------------

def _product(service: str, sku: str, usd: str, unit: str, *, family: str = "", **attributes: str) -> str:
    return json.dumps({
        "product": {"sku": sku, "productFamily": family, "attributes": {"servicecode": service, **attributes}},
        "terms": {"OnDemand": {f"{sku}.T": {"priceDimensions": {
            f"{sku}.T.1": {"unit": unit, "beginRange": "0", "endRange": "Inf", "description": "",
                           "pricePerUnit": {"USD": usd}},
        }}}},
        "serviceCode": service,
    })


def _tiered(service: str, sku: str, tiers: list[tuple[str, str]], unit: str, **attributes: str) -> str:
    dims = {f"{sku}.T.{i}": {"unit": unit, "beginRange": begin, "endRange": "Inf", "description": "",
                            "pricePerUnit": {"USD": usd}} for i, (begin, usd) in enumerate(tiers)}
    return json.dumps({
        "product": {"sku": sku, "productFamily": "", "attributes": attributes},
        "terms": {"OnDemand": {f"{sku}.T": {"priceDimensions": dims}}},
    })


PAGES = {
    "AWSLambda": [
        _tiered("AWSLambda", "L1", [("15000000000", "0.0000133334"), ("0", "0.0000166667")], "Lambda-GB-Second",
                usagetype="USW2-Lambda-GB-Second"),
        _product("AWSLambda", "L2", "0.0000002000", "Requests", usagetype="USW2-Request"),
        _product("AWSLambda", "L3", "0.0000133334", "Lambda-GB-Second", usagetype="USW2-Lambda-GB-Second-ARM"),
        _product("AWSLambda", "L4", "0.0000000309", "GB-Seconds", usagetype="USW2-Lambda-Provisioned-GB-Second"),
    ],
    "AmazonSageMaker": [
        _product("AmazonSageMaker", "S1", "1.5150000000", "Hrs", family="ML Instance", component="Hosting",
                 instanceName="ml.g5.2xlarge", usagetype="USW2-Host:ml.g5.2xlarge"),
        _product("AmazonSageMaker", "S2", "1.1000000000", "Hrs", family="ML Instance", component="Training",
                 instanceName="ml.g5.xlarge", usagetype="USW2-Train:ml.g5.xlarge"),
        _product("AmazonSageMaker", "S3", "0.0000800000", "Second", usagetype="USW2-ServerlessInf:Mem-4GB"),
        _product("AmazonSageMaker", "S4", "0.0160000000", "GB", usagetype="USW2-Hst:Data-Bytes-In"),
    ],
    "AmazonBedrock": [
        _product("AmazonBedrock", "B1", "0.0003000000", "1K tokens", model="Llama 3 8B Instruct",
                 usagetype="USW2-MetaLlama3-8B-input-tokens"),
    ],
    "AmazonS3": [],
    "awskms": [_product("awskms", "K1", "1.0000000000", "Keys", usagetype="USW2-KMS-Keys")],
    "AmazonCloudWatch": [_product("AmazonCloudWatch", "C1", "0.1000000000", "Alarms",
                                  usagetype="USW2-CW:AlarmMonitorUsage")],
}


def test_refresh_writes_the_same_format_from_stubbed_price_list_answers(tmp_path, book):
    target = tmp_path / "prices.yaml"
    target.write_text(dump_prices(book))
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    for service, items in PAGES.items():
        stub.add_response(
            "get_products",
            {"PriceList": items, "FormatVersion": "aws_v1"},
            {"ServiceCode": service, "Filters": ANY, "FormatVersion": "aws_v1"},
        )
    with stub:
        refreshed = refresh_prices(["us-west-2"], client=client, path=target, today=dt.date(2026, 11, 27))
    stub.assert_no_pending_responses()

    again = load_prices(target)  # what was written reads back, validated
    assert again == refreshed
    lam = again.lambda_duration("us-west-2", "x86_64")
    assert lam.value == pytest.approx(0.0000166667)  # the first tier, not the cheaper later one
    assert lam.taken == "2026-11-27" and lam.source.startswith("https://api.pricing")
    assert again.figure("us-west-2", "lambda", "duration_gb_second", "x86_64").note.endswith("SKU L1")
    assert again.lambda_requests("us-west-2").value == pytest.approx(0.20)
    assert again.instance_hour("us-west-2", "ml.g5.2xlarge").value == pytest.approx(1.515)
    assert again.instance_hour("us-west-2", "ml.g5.xlarge") is None  # a training price is not hosting
    assert again.serverless_gb_second("us-west-2", 4096).value == pytest.approx(0.00002)
    assert again.sagemaker_data_in("us-west-2").value == pytest.approx(0.016)
    assert again.bedrock_input("us-west-2", "meta.llama3-8b-instruct-v1:0").value == pytest.approx(0.0003)
    assert again.quote("us-west-2", "kms", "key_month").value == 1.0
    assert again.quote("us-west-2", "cloudwatch", "alarm_standard_month").value == pytest.approx(0.1)
    # Not returned by the API: the entry the file had is kept, source and all.
    assert again.figure("us-west-2", "lambda", "ephemeral_storage_gb_second") == book.figure(
        "us-west-2", "lambda", "ephemeral_storage_gb_second")
    assert again.regions["us-east-1"] == book.regions["us-east-1"]


def test_refresh_of_a_new_region_starts_unknown_and_an_api_error_is_one_line(tmp_path, book):
    target = tmp_path / "prices.yaml"
    target.write_text(dump_prices(book))
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_client_error("get_products", service_error_code="AccessDeniedException",
                          service_message="not allowed")
    with stub, pytest.raises(TierwiseError, match="price list request for AWSLambda in ap-south-1 failed"):
        refresh_prices(["ap-south-1"], client=client, path=target)
    assert target.read_text() == dump_prices(book)  # nothing half-written
    with pytest.raises(TierwiseError, match="not an AWS region"):
        refresh_prices(["Frankfurt"], client=client, path=target)
