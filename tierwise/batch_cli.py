"""`tierwise batch submit STACK input.jsonl` and `tierwise batch status STACK JOB`: run Bedrock
batch inference jobs with a deployed bedrock-batch stack (tiers/bedrock_batch).

`submit` checks the JSONL file first (one JSON object a line with `recordId` and `modelInput`, the
record count and file size within the model's batch quotas), uploads it under the input bucket's
`input/` prefix, calls CreateModelInvocationJob with the stack's service role and buckets, and
prints the job's ARN and where the answers land. A file that breaks a rule is one error line and
nothing is uploaded; a job Bedrock refuses leaves no uploaded file behind.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import typer

from tierwise.errors import TierwiseError
from tierwise.facts import BatchQuotas, batch_model, bedrock_batch
from tierwise.tiers.bedrock_batch import TIER as BATCH

batch_app = typer.Typer(help=f"Run Bedrock batch inference jobs with a deployed {BATCH.id} stack.",
                        no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                        rich_markup_mode=None)

# the stack outputs the construct writes (tiers/bedrock_batch/construct.py: outputs())
OUTPUTS = ("InputBucket", "OutputBucket", "ServiceRoleArn", "ModelId", "JobTimeoutHours")
INPUT_PREFIX, OUTPUT_PREFIX = "input/", "output/"
GB = 10**9  # the quota table's GB


def check_records(path: Path, quotas: BatchQuotas) -> int:
    """The number of records in `path`, a batch input file, or one error line naming the first
    thing wrong: the suffix, the size, a line that is not a record, a repeated recordId, the count."""
    job = bedrock_batch().job
    if path.suffix != job.input_file_suffix:
        raise TierwiseError(f"{path}: a batch input file must end in {job.input_file_suffix} (Bedrock reads only those)")
    if not path.is_file():
        raise TierwiseError(f"{path}: no such file")
    limit = quotas.input_file_size_gb.value * GB
    size = path.stat().st_size
    if size > limit:
        raise TierwiseError(f"{path} is {size:,} bytes; a batch input file holds at most "
                            f"{quotas.input_file_size_gb.value:g} GB")
    seen: set[str] = set()
    count = 0
    most = min(quotas.records_per_input_file.value, quotas.records_per_job.value)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path} line {number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise TierwiseError(f"{where}: not UTF-8 text") from None
            if not text.strip():
                raise TierwiseError(f"{where}: empty; each line is one record, "
                                    f'{{"{job.record_id_field}": "...", "{job.model_input_field}": {{...}}}}')
            try:
                record = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise TierwiseError(f"{where}: not JSON ({str(exc)[:60]})") from None
            if not isinstance(record, dict):
                raise TierwiseError(f"{where}: a record is a JSON object, not {type(record).__name__}")
            record_id, model_input = record.get(job.record_id_field), record.get(job.model_input_field)
            if not isinstance(record_id, str) or not record_id.strip():
                raise TierwiseError(f"{where}: {job.record_id_field} must be a non-empty string")
            if record_id in seen:
                raise TierwiseError(f"{where}: {job.record_id_field} {record_id[:40]!r} repeats an earlier record")
            if not isinstance(model_input, dict) or not model_input:
                raise TierwiseError(f"{where}: {job.model_input_field} must be the model's request body, a JSON object")
            extra = sorted(set(record) - {job.record_id_field, job.model_input_field})
            if extra:
                raise TierwiseError(f"{where}: unknown field {extra[0]!r}; a record has "
                                    f"{job.record_id_field} and {job.model_input_field}")
            seen.add(record_id)
            count += 1
            if count > most:
                raise TierwiseError(f"{path} holds more than {most:,} records, the most one batch job takes; split it")
    if count < quotas.min_records_per_job.value:
        raise TierwiseError(f"{path} holds {count:,} records; a batch job takes at least "
                            f"{quotas.min_records_per_job.value:,} (not adjustable)")
    return count


def _pattern(operation: str, member: str) -> re.Pattern[str]:
    """The pattern botocore's Bedrock model gives a request member (jobName, jobIdentifier)."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model("bedrock").operation_model(operation).input_shape
    return re.compile(shape.members[member].metadata["pattern"])


def _session(region: str | None) -> Any:
    import boto3

    return boto3.session.Session(region_name=region)


def _bedrock_client(session: Any) -> Any:
    return session.client("bedrock")


def _batch_stack(stack: str, session: Any) -> dict[str, str]:
    """The outputs of `stack`, a deployed bedrock-batch stack, or one error line."""
    from tierwise import client, tiers

    outputs = client.stack_outputs(stack, session=session)
    tier = outputs.get(client.TIER_OUTPUT)
    if tiers.get_or_none(tier) is not BATCH:
        raise TierwiseError(f"stack {stack!r} is on tier {tier or 'none'}: `tierwise batch` runs Bedrock batch jobs "
                            f"with a {BATCH.id} stack")
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise TierwiseError(f"stack {stack!r} has no {', '.join(missing)} output: deploy it again with this tierwise")
    return outputs


def _aws_error(exc: Exception) -> str:
    error = getattr(exc, "response", {}).get("Error", {})
    return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}" if error else str(exc)


def submit(
    stack: str = typer.Argument(..., help=f"the deployed {BATCH.id} stack, e.g. tierwise-nova-pro"),
    input_file: Path = typer.Argument(..., help="a JSONL file: one {\"recordId\", \"modelInput\"} object a line"),
    job_name: str = typer.Option(None, "--job-name", help="the job's name (default: tierwise-<file>-<time>)"),
    timeout_hours: int = typer.Option(None, "--timeout-hours", help="stop the job after this many hours, 24..168 "
                                                                     "(default: the stack's JobTimeoutHours)"),
    region: str = typer.Option(None, "--region", help="the stack's AWS region (default: your AWS configuration)"),
) -> None:
    """Upload a JSONL file of records and start a Bedrock batch job on it."""
    from botocore.exceptions import BotoCoreError, ClientError

    turnaround = bedrock_batch().turnaround
    if timeout_hours is not None and not turnaround.timeout_hours_min <= timeout_hours <= turnaround.timeout_hours_max:
        raise TierwiseError(f"--timeout-hours: {turnaround.timeout_hours_min}..{turnaround.timeout_hours_max} "
                            f"(got {timeout_hours})")
    if job_name is not None and not (_pattern(bedrock_batch().job.operation, "jobName").fullmatch(job_name)
                                     and len(job_name) <= bedrock_batch().job.job_name_max):
        raise TierwiseError(f"--job-name: letters, digits, then '+', '-' or '.', at most "
                            f"{bedrock_batch().job.job_name_max} characters (got {job_name[:70]!r})")
    session = _session(region)
    outputs = _batch_stack(stack, session)
    model_id = outputs["ModelId"]
    facts = batch_model(model_id)
    if facts is None or facts.quotas is None:
        raise TierwiseError(f"tierwise/data/bedrock_batch.yaml has no batch quotas for {model_id}: the file's "
                            "records cannot be checked against them")
    records = check_records(input_file, facts.quotas)
    name = job_name or _job_name(input_file)
    key = f"{INPUT_PREFIX}{name}/{input_file.name}"
    input_uri = f"s3://{outputs['InputBucket']}/{key}"
    output_uri = f"s3://{outputs['OutputBucket']}/{OUTPUT_PREFIX}{name}/"
    s3 = session.client("s3")
    try:
        s3.upload_file(str(input_file), outputs["InputBucket"], key)
    except (BotoCoreError, ClientError) as exc:
        raise TierwiseError(f"cannot upload {input_file} to {input_uri}: {_aws_error(exc)}") from None
    try:
        job = _bedrock_client(session).create_model_invocation_job(
            jobName=name,
            roleArn=outputs["ServiceRoleArn"],
            modelId=model_id,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": bedrock_batch().job.input_format}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
            timeoutDurationInHours=timeout_hours or int(outputs["JobTimeoutHours"]),
        )
    except (BotoCoreError, ClientError) as exc:
        try:  # nothing half-written: the file goes with the job that did not start
            s3.delete_object(Bucket=outputs["InputBucket"], Key=key)
        except (BotoCoreError, ClientError):
            pass
        raise TierwiseError(f"Bedrock did not start the job: {_aws_error(exc)}") from None
    arn = job["jobArn"]
    print(f"job: {arn}")
    print(f"{records:,} records of {input_file.name}, uploaded to {input_uri}, for {model_id}")
    print(f"answers: {output_uri}{arn.rsplit('/', 1)[-1]}/ ({input_file.name}.out and "
          f"{bedrock_batch().job.manifest_file}) once the job completes")
    print(f"status: tierwise batch status {stack} {arn}" + (f" --region {region}" if region else ""))


def status(
    stack: str = typer.Argument(..., help=f"the deployed {BATCH.id} stack"),
    job: str = typer.Argument(..., help="the job's ARN (or its id), as `tierwise batch submit` printed it"),
    region: str = typer.Option(None, "--region", help="the stack's AWS region (default: your AWS configuration)"),
) -> None:
    """Show a batch job's status, where its answers land and the records it has processed."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not _pattern("GetModelInvocationJob", "jobIdentifier").fullmatch(job):
        raise TierwiseError(f"JOB: a batch job's ARN or its 12-character id (got {job[:80]!r})")
    session = _session(region)
    _batch_stack(stack, session)
    try:
        found = _bedrock_client(session).get_model_invocation_job(jobIdentifier=job)
    except (BotoCoreError, ClientError) as exc:
        raise TierwiseError(f"cannot read job {job}: {_aws_error(exc)}") from None
    where = found.get("outputDataConfig", {}).get("s3OutputDataConfig", {}).get("s3Uri", "")
    job_id = found["jobArn"].rsplit("/", 1)[-1]
    print(f"job: {found['jobArn']} ({found.get('jobName', '')})")
    print(f"status: {found['status']}" + (f": {found['message']}" if found.get("message") else ""))
    print(f"answers: {where.rstrip('/')}/{job_id}/")
    counts = ", ".join(f"{name.removesuffix('RecordCount')} {found[name]:,}" for name in (
        "totalRecordCount", "processedRecordCount", "successRecordCount", "errorRecordCount") if name in found)
    if counts:
        print(f"records: {counts}")


def _job_name(path: Path) -> str:
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", path.stem).strip("-")[:30] or "input"
    return f"tierwise-{stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def register(app: typer.Typer) -> None:
    batch_app.command("submit")(submit)
    batch_app.command("status")(status)
    app.add_typer(batch_app, name="batch")
