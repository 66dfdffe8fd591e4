"""`tierwise batch submit` and `tierwise batch status` against the synthesized bedrock-batch stack
created in moto: the stack's real buckets and role (moto CloudFormation, moto S3), and Bedrock
through botocore's Stubber (moto 5.2.5 has no CreateModelInvocationJob: bedrock_batch.yaml moto).
The Stubber checks every parameter the command sends against botocore's own model."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from tests.stacks.conftest import REGION
from tests.stacks.test_moto_deploy import ACCOUNT, _create, _first, aws  # noqa: F401 (aws is a fixture)
from tierwise import batch_cli
from tierwise.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

JOB_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/abcd1234efgh"


def write_records(path, count: int) -> None:
    """`count` records of the Converse-shaped body Nova takes, one JSON object a line."""
    lines = [json.dumps({"recordId": f"r{i:05d}",
                         "modelInput": {"messages": [{"role": "user", "content": [{"text": f"Summarize item {i}."}]}],
                                        "inferenceConfig": {"maxTokens": 300}}}) for i in range(count)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def batch_stack(synthesis, aws):  # noqa: F811 (the fixture imported above)
    name = _first(synthesis, "bedrock-batch")
    return name, _create(synthesis, name)


@pytest.fixture
def bedrock(monkeypatch):
    client = boto3.client("bedrock", region_name=REGION)
    monkeypatch.setattr(batch_cli, "_bedrock_client", lambda session: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _objects(bucket: str) -> list[str]:
    return [o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_submit_uploads_the_file_and_starts_the_job_with_the_stacks_role_and_buckets(batch_stack, bedrock, tmp_path,
                                                                                     capsys):
    stack, outputs = batch_stack
    path = tmp_path / "nightly.jsonl"
    write_records(path, 120)
    key = "input/nightly-1/nightly.jsonl"
    bedrock.add_response("create_model_invocation_job", {"jobArn": JOB_ARN}, expected_params={
        "jobName": "nightly-1",
        "roleArn": outputs["ServiceRoleArn"],
        "modelId": "amazon.nova-pro-v1:0",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{outputs['InputBucket']}/{key}",
                                                  "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{outputs['OutputBucket']}/output/nightly-1/"}},
        "timeoutDurationInHours": 24,
    })
    assert main(["batch", "submit", stack, str(path), "--job-name", "nightly-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"job: {JOB_ARN}"
    assert out[1].startswith("120 records of nightly.jsonl, uploaded to s3://")
    assert out[2].startswith(f"answers: s3://{outputs['OutputBucket']}/output/nightly-1/abcd1234efgh/ (nightly.jsonl.out")
    assert out[3] == f"status: tierwise batch status {stack} {JOB_ARN}"
    s3 = boto3.client("s3", region_name=REGION)
    uploaded = s3.get_object(Bucket=outputs["InputBucket"], Key=key)
    assert uploaded["Body"].read() == path.read_bytes()
    assert uploaded["ServerSideEncryption"] == "aws:kms"  # the bucket's default: the stack's key


def test_status_reads_the_job(batch_stack, bedrock, capsys):
    stack, outputs = batch_stack
    bedrock.add_response("get_model_invocation_job", {
        "jobArn": JOB_ARN, "jobName": "nightly-1", "modelId": "amazon.nova-pro-v1:0",
        "roleArn": outputs["ServiceRoleArn"], "status": "Completed", "submitTime": "2026-12-03T01:00:00Z",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{outputs['InputBucket']}/input/nightly-1/x.jsonl"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{outputs['OutputBucket']}/output/nightly-1/"}},
        "totalRecordCount": 120, "processedRecordCount": 120, "successRecordCount": 119, "errorRecordCount": 1,
    }, expected_params={"jobIdentifier": JOB_ARN})
    assert main(["batch", "status", stack, JOB_ARN]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"job: {JOB_ARN} (nightly-1)",
        "status: Completed",
        f"answers: s3://{outputs['OutputBucket']}/output/nightly-1/abcd1234efgh/",
        "records: total 120, processed 120, success 119, error 1",
    ]


BAD_FILES = {
    "too-few": (99, {}, "nightly.jsonl", "holds 99 records; a batch job takes at least 100 (not adjustable)"),
    "no-model-input": (120, {7: {"modelInput": None}}, "nightly.jsonl", "line 8: modelInput must be the model's request body"),
    "repeated-id": (120, {9: {"recordId": "r00002"}}, "nightly.jsonl", "line 10: recordId 'r00002' repeats an earlier record"),
    "extra-field": (120, {0: {"note": "x"}}, "nightly.jsonl", "line 1: unknown field 'note'"),
    "wrong-suffix": (120, {}, "nightly.json", "must end in .jsonl"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_one_line_and_nothing_is_uploaded(batch_stack, bedrock, tmp_path, capsys, case):
    stack, outputs = batch_stack
    count, replace, name, message = BAD_FILES[case]
    path = tmp_path / name
    write_records(path, count)
    if replace:
        lines = path.read_text().splitlines()
        for index, change in replace.items():
            record = json.loads(lines[index])
            record.update(change)
            lines[index] = json.dumps(record)
        path.write_text("\n".join(lines) + "\n")
    assert main(["batch", "submit", stack, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert _objects(outputs["InputBucket"]) == []


def test_not_json_and_blank_lines_are_named(batch_stack, bedrock, tmp_path, capsys):
    stack, outputs = batch_stack
    path = tmp_path / "nightly.jsonl"
    write_records(path, 120)
    path.write_text(path.read_text().replace('{"recordId": "r00003"', '{"recordId": r00003', 1))
    assert main(["batch", "submit", stack, str(path)]) == 2
    assert "nightly.jsonl line 4: not JSON" in capsys.readouterr().err
    write_records(path, 120)
    path.write_text(path.read_text() + "\n")
    assert main(["batch", "submit", stack, str(path)]) == 2
    assert "line 121: empty" in capsys.readouterr().err
    assert _objects(outputs["InputBucket"]) == []


def test_a_job_bedrock_refuses_leaves_nothing_uploaded(batch_stack, bedrock, tmp_path, capsys):
    stack, outputs = batch_stack
    path = tmp_path / "nightly.jsonl"
    write_records(path, 120)
    bedrock.add_client_error("create_model_invocation_job", service_error_code="ServiceQuotaExceededException",
                             service_message="Too many jobs in progress", http_status_code=400)
    assert main(["batch", "submit", stack, str(path), "--timeout-hours", "48"]) == 2
    assert capsys.readouterr().err == ("error: Bedrock did not start the job: ServiceQuotaExceededException: "
                                       "Too many jobs in progress\n")
    assert _objects(outputs["InputBucket"]) == []


def test_options_and_stacks_it_cannot_use_are_one_line(batch_stack, bedrock, tmp_path, capsys):
    stack, _ = batch_stack
    path = tmp_path / "nightly.jsonl"
    write_records(path, 120)
    for argv, message in (
        (["--timeout-hours", "12"], "error: --timeout-hours: 24..168 (got 12)"),
        (["--job-name", "-bad name"], "error: --job-name: letters, digits"),
    ):
        assert main(["batch", "submit", stack, str(path), *argv]) == 2
        assert capsys.readouterr().err.startswith(message)
    assert main(["batch", "status", stack, "not-a-job"]) == 2
    assert capsys.readouterr().err.startswith("error: JOB: a batch job's ARN or its 12-character id")
    other = {"AWSTemplateFormatVersion": "2010-09-09",
             "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
             "Outputs": {"Tier": {"Value": "lambda-gguf"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName="tw-lambda", TemplateBody=json.dumps(other))
    assert main(["batch", "submit", "tw-lambda", str(path)]) == 2
    assert capsys.readouterr().err == ("error: stack 'tw-lambda' is on tier lambda-gguf: `tierwise batch` runs Bedrock "
                                       "batch jobs with a bedrock-batch stack\n")
