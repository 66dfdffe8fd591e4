"""Every -c value checked for what it must be to work (issue 20, "Synth"): each bad value ends
`cdk synth` (app.py) in one `error:` line naming the key, exit 2, nothing written; each
contradiction the same, from the CLI too. The accepted forms reach the template unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.app_context import read
from tierwise.cli import main

ROOT = Path(__file__).resolve().parents[2]
GPU = {"model": "llama3-8b", "tier": "sagemaker-gpu", "region": "us-east-1"}
LAMBDA = {"model": "tinyllama-1.1b", "tier": "lambda-gguf", "region": "us-east-1"}
IMAGE = "123456789012.dkr.ecr.{region}.{domain}/tierwise-runtime:1"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf/token-AbC123"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:tierwise-alarms"

# name -> (context, what the one line must contain: the key, the bad value or the rule, the way out)
APP_CASES = {
    # --- images: Lambda and SageMaker pull only from their own region, in its partition ---
    "image-in-another-region": (
        {**LAMBDA, "image_uri": IMAGE.format(region="eu-west-1", domain="amazonaws.com")},
        ["-c image_uri:", "eu-west-1", "the stack in us-east-1", "Lambda pulls a container image only from",
         "lambda-images.html"]),
    "image-in-another-region-sagemaker": (
        {**GPU, "hf_token_secret": "hf-token", "image_uri": IMAGE.format(region="us-west-2", domain="amazonaws.com")},
        ["-c image_uri:", "us-west-2", "SageMaker runs a model container only from"]),
    "image-region-that-does-not-exist": (
        {**LAMBDA, "image_uri": IMAGE.format(region="us-moon-1", domain="amazonaws.com")},
        ["-c image_uri:", "'us-moon-1'", "not an AWS region"]),
    "image-in-another-partition": (
        {**LAMBDA, "image_uri": IMAGE.format(region="cn-north-1", domain="amazonaws.com")},
        ["-c image_uri:", "amazonaws.com is not amazonaws.com.cn", "partition aws-cn"]),
    "image-without-a-region": (
        {"model": "tinyllama-1.1b", "tier": "lambda-gguf", "image_uri": IMAGE.format(region="eu-west-1", domain="amazonaws.com")},
        ["-c image_uri:", "is in eu-west-1", "-c region=eu-west-1"]),
    "image-not-ecr": ({**LAMBDA, "image_uri": "docker.io/library/python:3"}, ["-c image_uri:", "an ECR image"]),
    # --- the model file in S3: one .gguf object in a bucket S3 accepts ---
    "model-uri-prefix": ({**LAMBDA, "model_uri": "s3://my-models/tinyllama/"},
                         ["-c model_uri:", "is a prefix, not an object", "s3://my-models/path/file.gguf"]),
    "model-uri-not-gguf": ({**LAMBDA, "model_uri": "s3://my-models/tinyllama/model.bin"},
                           ["-c model_uri:", "does not name a .gguf file"]),
    "bucket-adjacent-periods": ({**LAMBDA, "model_uri": "s3://a..b/m.gguf"},
                                ["-c model_uri:", "'a..b'", "no two adjacent periods", "bucketnamingrules"]),
    "bucket-ip-address": ({**LAMBDA, "model_uri": "s3://192.168.5.4/m.gguf"},
                          ["-c model_uri:", "'192.168.5.4'", "not formatted as an IP address"]),
    "bucket-reserved-prefix": ({**LAMBDA, "model_uri": "s3://xn--models/m.gguf"}, ["starting with xn-- are reserved"]),
    "bucket-reserved-suffix": ({**LAMBDA, "model_uri": "s3://models-s3alias/m.gguf"},
                               ["ending with -s3alias are reserved"]),
    "bucket-too-short": ({**LAMBDA, "model_uri": "s3://ab/m.gguf"}, ["3 to 63 characters (got 2)"]),
    # --- the Hub token's secret: a name or a full ARN of the stack's region and partition ---
    "secret-star": ({**GPU, "hf_token_secret": "*"}, ["-c hf_token_secret:", "a secret's name", "(got '*'"]),
    "secret-arn-of-another-region": (
        {**GPU, "hf_token_secret": SECRET_ARN.replace("us-east-1", "eu-west-1")},
        ["-c hf_token_secret:", "the secret is in eu-west-1, the stack in us-east-1"]),
    "secret-arn-of-another-partition": (
        {**GPU, "hf_token_secret": SECRET_ARN.replace("arn:aws:", "arn:aws-cn:")},
        ["-c hf_token_secret:", "partition aws-cn", "us-east-1 is in aws"]),
    "secret-arn-incomplete": (
        {**GPU, "hf_token_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf"},
        ["-c hf_token_secret:", "not a complete secret ARN", "6 characters"]),
    "secret-arn-of-another-service": (
        {**GPU, "hf_token_secret": "arn:aws:ssm:us-east-1:123456789012:parameter/hf"},
        ["-c hf_token_secret:", "not a Secrets Manager secret ARN"]),
    "secret-without-a-region": (
        {"model": "llama3-8b", "tier": "sagemaker-gpu", "hf_token_secret": "hf-token"},
        ["-c hf_token_secret:", "-c region="]),
    "gated-model-without-a-token": (
        {"model": "llama3-8b", "hosting": "self", "region": "us-east-1"},
        ["-c hf_token_secret is needed", "meta-llama/Meta-Llama-3-8B-Instruct", "gated",
         "-c hf_token_secret=NAME"]),
    # --- the alarms' topic ---
    "topic-not-an-arn": ({**LAMBDA, "alarm_topic_arn": "tierwise-alarms"},
                         ["-c alarm_topic_arn:", "an SNS topic ARN"]),
    "topic-of-another-service": ({**LAMBDA, "alarm_topic_arn": SECRET_ARN},
                                 ["-c alarm_topic_arn:", "an SNS topic ARN"]),
    "topic-in-another-region": ({**LAMBDA, "alarm_topic_arn": TOPIC_ARN.replace("us-east-1", "eu-west-1")},
                                ["-c alarm_topic_arn:", "the topic is in eu-west-1, the stack in us-east-1",
                                 "notifies only an SNS topic in its own region"]),
    "topic-bad-name": ({**LAMBDA, "alarm_topic_arn": TOPIC_ARN + "!"},
                       ["-c alarm_topic_arn:", "'tierwise-alarms!' is not a topic name"]),
    "topic-on-a-tier-without-alarms": ({"model": "nova-pro", "region": "us-east-1", "alarm_topic_arn": TOPIC_ARN},
                                       ["-c alarm_topic_arn applies to", "bedrock-on-demand"]),
    # --- contradictions ---
    "batch-with-max-seconds": ({"model": "llama3-8b", "batch": "true", "max_seconds": "5"},
                               ["-c batch and -c max_seconds contradict each other", "give one of them"]),
    "batch-with-a-floor": ({"model": "llama3-8b", "batch": "true", "tokens_per_second_floor": "20"},
                           ["-c batch and -c tokens_per_second_floor contradict each other"]),
    "forced-tier-outside-hosting": ({"model": "llama3-8b", "tier": "bedrock-on-demand", "hosting": "self"},
                                    ["-c tier bedrock-on-demand contradicts -c hosting self", "lambda-gguf"]),
    "bedrock-request-beyond-context": (
        {"model": "nova-pro", "input_tokens": "9000000", "batch": "true"},
        ["9,000,000 input + 200 output = 9,000,200 tokens does not fit", "300,000-token context"]),
}


def _snapshot(folder: Path) -> dict[str, bool]:
    return {str(p.relative_to(folder)): p.is_file() for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("context,needles", list(APP_CASES.values()), ids=list(APP_CASES))
def test_bad_context_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys, context, needles):
    import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    outdir = tmp_path / "cdk.out"
    with pytest.raises(SystemExit) as exit_:
        app.main(context=dict(context), outdir=str(outdir))
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    # cdk.App makes its (empty) output folder before the context is read; nothing is written in it
    assert not outdir.exists() or not any(outdir.iterdir())
    assert set(_snapshot(tmp_path)) <= {"cdk.out"}


CLI_CASES = {
    "batch-with-max-seconds": (["plan", "llama3-8b", "--batch", "--max-seconds", "5"],
                               ["--batch and --max-seconds contradict each other"]),
    "forced-tier-outside-hosting": (["plan", "llama3-8b", "--tier", "bedrock-on-demand", "--hosting", "self"],
                                    ["--tier bedrock-on-demand contradicts --hosting self"]),
    "forced-self-tier-under-managed": (["plan", "llama3-8b", "--tier", "sagemaker-gpu", "--hosting", "managed"],
                                       ["--tier sagemaker-gpu contradicts --hosting managed", "bedrock-on-demand"]),
    "bedrock-request-beyond-context": (["plan", "nova-pro", "--input-tokens", "9000000", "--batch"],
                                       ["does not fit amazon.nova-pro-v1:0's 300,000-token context"]),
}


@pytest.mark.parametrize("argv,needles", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_contradictions_from_the_cli_are_one_line(tmp_path, monkeypatch, capsys, argv, needles):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_cli_names_the_flag_and_cdk_json_the_key(tmp_path, monkeypatch, capsys):
    # cdk.json says batch; the flag adds a target: the line names each where it came from
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python app.py", "context": {"batch": True}}))
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "llama3-8b", "--max-seconds", "20"]) == 2
    err = capsys.readouterr().err
    assert "cdk.json context batch and --max-seconds contradict each other" in err, err


def test_a_request_that_fits_picks_the_variant_that_holds_it():
    # 30,000 tokens do not fit nova-pro's 24k provisioned variant: the 300k one is bought
    (stack,) = read({"model": "nova-pro", "tier": "bedrock-provisioned", "input_tokens": "30000"}, environ={}).stacks
    assert stack.placement.settings.model_id == "amazon.nova-pro-v1:0:300k"
    (small,) = read({"model": "nova-pro", "tier": "bedrock-provisioned"}, environ={}).stacks
    assert small.placement.settings.model_id == "amazon.nova-pro-v1:0:24k"


@pytest.mark.parametrize("given,kind", [
    ("hf-token", "name"),
    ("team/ml/hf_token+v2=@x.y", "name"),
    (SECRET_ARN, "arn"),
])
def test_secret_names_and_full_arns_are_kept_as_given(given, kind):
    (stack,) = read({**GPU, "hf_token_secret": given}, environ={}).stacks
    assert stack.options["hf_token_secret"] == given  # never turned from one form into the other


@pytest.mark.parametrize("uri", [
    "s3://my-models/tinyllama/TinyLlama-1.1B-Chat-v1.0.Q4_K_M.gguf",
    "s3://my.models.v2/deep/path/m.GGUF",
    "s3://123-models/m.gguf",
])
def test_good_model_uris_are_accepted(uri):
    (stack,) = read({**LAMBDA, "model_uri": uri}, environ={}).stacks
    assert stack.options["model_uri"] == uri


@pytest.mark.parametrize("region,domain", [("us-east-1", "amazonaws.com"), ("cn-north-1", "amazonaws.com.cn"),
                                           ("us-gov-west-1", "amazonaws.com")])
def test_images_of_the_stacks_own_region_and_partition_are_accepted(region, domain):
    uri = IMAGE.format(region=region, domain=domain)
    (stack,) = read({**LAMBDA, "region": region, "image_uri": uri}, environ={}).stacks
    assert stack.options["image_uri"] == uri


def test_cdk_default_region_pins_the_stack_like_the_key():
    # the CDK CLI sets CDK_DEFAULT_REGION from the profile: an image there is in the stack's region
    context = {"model": "tinyllama-1.1b", "tier": "lambda-gguf",
               "image_uri": IMAGE.format(region="eu-west-1", domain="amazonaws.com")}
    plans = read(context, environ={"CDK_DEFAULT_REGION": "eu-west-1"})
    assert plans.region == "eu-west-1"
