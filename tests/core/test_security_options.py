"""The checks behind the security options, below the CDK app: the reference rules of
tierwise/uris.py against the naming facts (tierwise/data/aws_names.yaml) and botocore's regions,
the tiers that must read the options, and the Bedrock context facts."""

from __future__ import annotations

import pytest

from model_profiles import load_catalogue
from tierwise import tiers, uris
from tierwise.facts import aws_names, bedrock_model
from tierwise.validate import aws_regions, region_partition


@pytest.mark.parametrize("name,problem", [
    ("my-models", None),
    ("my.models.2026", None),
    ("a1b", None),
    ("ab", "3 to 63 characters (got 2)"),
    ("a" * 64, "3 to 63 characters (got 64)"),
    ("My-Models", "lower-case letters"),
    ("my_models", "lower-case letters"),
    ("-models", "starts and ends with a letter or digit"),
    ("models.", "starts and ends with a letter or digit"),
    ("a..b", "no two adjacent periods"),
    ("192.168.5.4", "IP address"),
    ("xn--models", "starting with xn--"),
    ("sthree-models", "starting with sthree-"),
    ("amzn-s3-demo-models", "starting with amzn-s3-demo-"),
    ("models-s3alias", "ending with -s3alias"),
    ("models--ol-s3", "ending with --ol-s3"),
    ("models.mrap", "ending with .mrap"),
    ("models--x-s3", "ending with --x-s3"),
    ("models--table-s3", "ending with --table-s3"),
])
def test_bucket_names_follow_s3s_documented_rules(name, problem):
    found = uris.bucket_name_problem(name)
    assert (found is None) if problem is None else (problem in found), found


def test_every_reserved_affix_of_the_facts_is_refused():
    rule = aws_names().s3_bucket
    for prefix in rule.reserved_prefixes:
        assert uris.bucket_name_problem(f"{prefix}models1") is not None, prefix
    for suffix in rule.reserved_suffixes:
        assert uris.bucket_name_problem(f"models1{suffix}") is not None, suffix


@pytest.mark.parametrize("uri,problem", [
    ("s3://my-models/m.gguf", None),
    ("s3://my-models/a/b/c.GGUF", None),
    ("s3://my-models/", "is a prefix"),
    ("s3://my-models", "is not s3://BUCKET/KEY"),
    ("s3://my-models/dir/", "is a prefix"),
    ("s3://my-models/m.bin", "does not name a .gguf file"),
    ("https://my-models/m.gguf", "is not s3://BUCKET/KEY"),
])
def test_s3_objects(uri, problem):
    if problem is None:
        assert uris.s3_object(uri, suffix=".gguf")[0] == "my-models"
    else:
        with pytest.raises(uris.UriProblem, match=problem):
            uris.s3_object(uri, suffix=".gguf")


def test_every_partition_botocore_knows_names_its_own_image_domain():
    # the rule is botocore's data, not a list of ours: each region's image lives under its partition's suffix
    for region in ("us-east-1", "cn-northwest-1", "us-gov-east-1"):
        partition, domain = region_partition(region)
        uri = f"123456789012.dkr.ecr.{region}.{domain}/repo:1"
        assert uris.ecr_image(uri, stack_region=region, rule="lambda_image")["region"] == region
        wrong = "amazonaws.com.cn" if domain == "amazonaws.com" else "amazonaws.com"
        with pytest.raises(uris.UriProblem, match=f"partition {partition}"):
            uris.ecr_image(f"123456789012.dkr.ecr.{region}.{wrong}/repo:1", stack_region=region, rule="lambda_image")
    assert "us-east-1" in aws_regions()


@pytest.mark.parametrize("value,expected", [
    ("hf-token", uris.SecretRef(name="hf-token")),
    ("a" * 512, uris.SecretRef(name="a" * 512)),
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b-XyZ123",
     uris.SecretRef(arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b-XyZ123")),
])
def test_secret_references_are_kept_in_their_form(value, expected):
    assert uris.secret(value, stack_region="us-east-1") == expected


@pytest.mark.parametrize("value,problem", [
    ("*", "a secret's name"),
    ("a" * 513, "1 to 512 characters"),  # botocore's NameType bound
    ("hf token", "a secret's name"),
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b", "not a complete secret ARN"),
    ("arn:aws:secretsmanager:us-west-2:123456789012:secret:a-XyZ123", "the secret is in us-west-2"),
    ("arn:aws:secretsmanager:moon-1:123456789012:secret:a-XyZ123", "not an AWS region"),
])
def test_bad_secret_references(value, problem):
    with pytest.raises(uris.UriProblem, match=problem):
        uris.secret(value, stack_region="us-east-1")


@pytest.mark.parametrize("value,problem", [
    ("arn:aws:sns:us-east-1:123456789012:alarms.fifo", None),
    ("arn:aws:sns:us-east-1:123456789012:" + "a" * 257, "1 to 256 characters"),
    ("arn:aws-us-gov:sns:us-east-1:123456789012:alarms", "partition aws-us-gov"),
    ("arn:aws:sns:us-east-1:12345:alarms", "an SNS topic ARN"),
])
def test_topic_arns(value, problem):
    if problem is None:
        assert uris.sns_topic_arn(value, stack_region="us-east-1") == value
    else:
        with pytest.raises(uris.UriProblem, match=problem):
            uris.sns_topic_arn(value, stack_region="us-east-1")


def test_tiers_with_alarms_take_the_alarm_topic_and_image_readers_name_their_puller():
    # a tier added later (another branch) joins these rules by what it declares
    for module in tiers.modules():
        if module.alarms:
            assert "alarm_topic_arn" in module.options, module.id
        if "image_uri" in module.options:
            assert module.image_region_rule in aws_names().same_region, module.id


def test_every_bedrock_model_of_the_catalogue_knows_its_context():
    for profile in load_catalogue().values():
        if profile.bedrock is None or profile.bedrock.custom_model:
            continue
        facts = bedrock_model(profile.bedrock.model_ids[0])
        assert facts is not None and facts.context_tokens, profile.name
        assert facts.context_source and facts.context_source.startswith("https://"), profile.name
