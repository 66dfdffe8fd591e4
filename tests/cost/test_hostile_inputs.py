"""The cost review and every file it reads, against bad and hostile input (issue 20).

Each case is a named test through the real CLI (`tierwise cost ...`): exactly one `error:` line on
stderr naming the file and what is allowed, exit status 2, nothing on stdout, no traceback, and a
line of readable length. Files that are not regular files must not hang (a watchdog turns a
blocked read into a failure), quantities no AWS API accepts are refused with the bound and its
source, and no number (a 5,000-digit integer, 1e400, 10**400) reaches Python's own limits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tierwise import facts
from tierwise.cli import main
from tierwise.errors import LINE_MAX
from tierwise.workload import Workload

from .conftest import _recorded_by_model_stack, tagged, write_assembly

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def watchdog():
    """A read that blocks (a FIFO opened without O_NONBLOCK) fails the test instead of hanging
    the suite: SIGALRM interrupts the blocked system call and raises here."""
    def expired(*_: Any) -> None:
        raise TimeoutError("the command blocked: it must refuse what is not a regular file")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def one_error(capsys: pytest.CaptureFixture, argv: list[str], *expected: str) -> str:
    """Run the CLI; it must end in one readable `error:` line holding every ``expected`` text."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err[-2000:])
    assert out == "" and "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err[-2000:]
    assert len(err) <= LINE_MAX + len("error: \n"), len(err)
    for text in expected:
        assert text in err, (text, err)
    return err


def assembly(tmp_path: Path, resources: dict | str, *, metadata: dict | None = None, name: str = "S") -> Path:
    """A one-stack cloud assembly; ``resources`` may be raw template text."""
    out = write_assembly(tmp_path / "cdk.out", {name: ("us-east-1", {})})
    if isinstance(resources, str):
        text = resources
    else:
        template: dict = {"Resources": resources}
        # what ModelStack records for tagged resources: which types serve requests
        recorded = {**_recorded_by_model_stack(resources), **(metadata or {})}
        if recorded:
            template["Metadata"] = {"tierwise": recorded}
        text = json.dumps(template)
    (out / f"{name}.template.json").write_text(text, encoding="utf-8")
    return out


def point_manifest_at(out: Path, template_file: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["artifacts"]["S"]["properties"]["templateFile"] = template_file
    (out / "manifest.json").write_text(json.dumps(manifest))


def endpoint(variant: dict) -> dict:
    return {
        "C": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [variant]}},
        "E": {"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointConfigName": {"Fn::GetAtt": ["C", "N"]}}},
    }


def gguf_function(memory_mb: int = 10240) -> dict:
    return {"F": tagged({"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": memory_mb,
                                                                         "PackageType": "Image"}},
                        "llama3-8b", "lambda-gguf", "Q4_K_M")}


def sparse(path: Path, size: int) -> Path:
    """A file that says it holds ``size`` bytes without taking the disk space."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


# --- only regular files are read, each with a cap -------------------------------------------------


def test_a_template_that_is_a_fifo_does_not_hang(tmp_path, capsys):
    out = assembly(tmp_path, {})
    (out / "S.template.json").unlink()
    os.mkfifo(out / "S.template.json")
    one_error(capsys, ["cost", str(out)], "S.template.json is a FIFO (named pipe), not a regular file")


def test_a_manifest_naming_dev_zero_is_refused_before_reading(tmp_path, capsys):
    out = assembly(tmp_path, {})
    point_manifest_at(out, "/dev/zero")
    one_error(capsys, ["cost", str(out)], "template /dev/zero is a character device, not a regular file")


def test_a_template_that_is_a_folder_or_a_symlink_loop(tmp_path, capsys):
    out = assembly(tmp_path, {})
    (out / "S.template.json").unlink()
    (out / "S.template.json").mkdir()
    one_error(capsys, ["cost", str(out)], "S.template.json is a folder, not a regular file")
    (out / "S.template.json").rmdir()
    os.symlink("S.template.json", out / "S.template.json")
    one_error(capsys, ["cost", str(out)], "cannot read template", "Too many levels of symbolic links")


def test_a_manifest_that_is_a_fifo_or_too_large(tmp_path, capsys):
    out = assembly(tmp_path, {})
    (out / "manifest.json").unlink()
    os.mkfifo(out / "manifest.json")
    one_error(capsys, ["cost", str(out)], "manifest.json is a FIFO")
    (out / "manifest.json").unlink()
    cap, _ = facts.file_cap("manifest")
    sparse(out / "manifest.json", cap + 1)
    one_error(capsys, ["cost", str(out)], f"manifest.json is {cap + 1:,} bytes; at most {cap:,} are read",
              "stacks")


def test_a_template_larger_than_cloudformation_deploys(tmp_path, capsys):
    out = assembly(tmp_path, {})
    cap = facts.cloudformation_limits().template_bytes_max
    assert cap == 1_048_576  # CreateStack's TemplateURL: "max size: 1 MB"
    sparse(out / "S.template.json", cap + 1)
    one_error(capsys, ["cost", str(out)], f"is {cap + 1:,} bytes; at most {cap:,} are read",
              "CloudFormation deploys templates of at most 1 MB")


def test_a_nested_assembly_that_names_itself(tmp_path, capsys):
    out = assembly(tmp_path, {})
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["artifacts"]["Nested"] = {"type": "cdk:cloud-assembly", "properties": {"directoryName": "."}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    one_error(capsys, ["cost", str(out)], "nests an assembly already read")


def test_a_manifest_naming_one_template_for_many_stacks(tmp_path, capsys):
    """Each stack named is read and priced: 100,000 stacks on one 1 MB template would take hours."""
    out = assembly(tmp_path, gguf_function())
    manifest = json.loads((out / "manifest.json").read_text())
    for i in range(100_000):
        manifest["artifacts"][f"S{i}"] = manifest["artifacts"]["S"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    one_error(capsys, ["cost", str(out)], "stack 'S0' names template 'S.template.json', which another stack "
              "already names")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder", "symlink-loop", "too-large"])
def test_a_usage_file_that_is_not_a_readable_regular_file(kind, tmp_path, capsys):
    out = assembly(tmp_path, gguf_function())
    path = tmp_path / "usage.yml"
    expected = {
        "fifo": "is a FIFO (named pipe), not a regular file",
        "dev-zero": "usage file /dev/zero is a character device",
        "folder": "is a folder, not a regular file",
        "symlink-loop": "Too many levels of symbolic links",
        "too-large": f"is {facts.file_cap('usage_file')[0] + 1:,} bytes; at most",
    }[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    elif kind == "symlink-loop":
        os.symlink(path.name, path)
    else:
        sparse(path, facts.file_cap("usage_file")[0] + 1)
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], expected)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_cdk_json_that_is_not_a_regular_file(kind, tmp_path, capsys):
    out = assembly(tmp_path / "app", {})
    cdk_json = out.parent / "cdk.json"
    os.mkfifo(cdk_json) if kind == "fifo" else cdk_json.mkdir()
    one_error(capsys, ["cost", str(out)], "cdk.json", "not a regular file")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "too-large"])
def test_a_price_file_that_is_not_a_readable_regular_file(kind, tmp_path, capsys):
    out = assembly(tmp_path, {})
    path = tmp_path / "prices.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    else:
        sparse(path, facts.file_cap("price_file")[0] + 1)
    one_error(capsys, ["cost", str(out), "--prices", str(path)], "price file",
              "not a regular file" if kind != "too-large" else "bytes; at most")


def test_a_saved_cost_json_that_is_too_large(tmp_path, capsys):
    head = assembly(tmp_path, {})
    base = sparse(tmp_path / "base.json", facts.file_cap("saved_breakdown")[0] + 1)
    one_error(capsys, ["cost", "diff", str(base), str(head)], "saved cost JSON", "bytes; at most")


def test_paths_the_operating_system_refuses_are_one_line(tmp_path, capsys):
    too_long = str(tmp_path / ("x" * 5000))
    one_error(capsys, ["cost", too_long], "File name too long", "(", "characters)")
    one_error(capsys, ["cost", "diff", too_long, str(tmp_path)], "cannot use BASE", "File name too long")
    one_error(capsys, ["cost", str(tmp_path), "--usage-file", too_long], "cannot read usage file",
              "File name too long")


# --- quantities no AWS API accepts, and bills no deployment could run up --------------------------


@pytest.mark.parametrize("variant, expected", [
    ({"InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": -50},
     "ProductionVariants[0].InitialInstanceCount -50; SageMaker takes a whole number of instances from 1"),
    ({"InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 2.5}, "InitialInstanceCount 2.5"),
    ({"InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": "lots"}, "InitialInstanceCount 'lots'"),
    ({"ServerlessConfig": {"MemorySizeInMB": -4096, "MaxConcurrency": 5}},
     "MemorySizeInMB -4096; SageMaker Serverless Inference allows 1024, 2048, 3072, 4096, 5120, 6144 MB"),
    ({"ServerlessConfig": {"MemorySizeInMB": 10**400, "MaxConcurrency": 5}}, "(401 characters)"),
    ({"ServerlessConfig": {"MemorySizeInMB": 1500, "MaxConcurrency": 5}}, "MemorySizeInMB 1500"),
    ({"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 0}},
     "ProvisionedConcurrency 0; SageMaker allows a whole number from 1 to 200"),
    ({"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 201}}, "MaxConcurrency 201"),
], ids=["instances-minus-50", "instances-fraction", "instances-text", "serverless-memory-negative",
        "serverless-memory-10e400", "serverless-memory-not-a-size", "provisioned-concurrency-0",
        "max-concurrency-201"])
def test_an_endpoint_config_with_a_quantity_sagemaker_refuses(variant, expected, tmp_path, capsys):
    out = assembly(tmp_path, endpoint(variant))
    one_error(capsys, ["cost", str(out)], "resource 'C' has", expected)


@pytest.mark.parametrize("resources, expected", [
    ({"T": {"Type": "Custom::BedrockProvisionedThroughput",
            "Properties": {"ModelId": "amazon.nova-pro-v1:0:24k", "ModelUnits": -1}}},
     "ModelUnits -1; Bedrock provisions a whole number of model units from 1"),
    ({"T": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {"ServiceNamespace": "sagemaker", "MinCapacity": -3, "MaxCapacity": 2}}},
     "MinCapacity -3; Application Auto Scaling takes a whole number from 0"),
    ({"F": {"Type": "AWS::Lambda::Function", "Properties": {"EphemeralStorage": {"Size": -1}}}},
     "EphemeralStorage.Size -1; Lambda allows /tmp of 512 to 10240 MB"),
    ({"F": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 1e400}}},
     "MemorySize inf; Lambda allows 128 to 10240 MB"),
    ({"A": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": -60}}},
     "Period -60; CloudWatch takes periods from 10 s"),
], ids=["model-units-negative", "min-capacity-negative", "lambda-tmp-negative", "lambda-memory-1e400",
        "alarm-period-negative"])
def test_a_resource_with_a_quantity_its_api_refuses(resources, expected, tmp_path, capsys):
    out = assembly(tmp_path, resources)
    one_error(capsys, ["cost", str(out)], expected)


ON_DEMAND = {"P": tagged({"Type": "AWS::Bedrock::ApplicationInferenceProfile", "Properties": {
    "ModelSource": {"CopyFrom": "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0"}}},
    "llama3-8b", "bedrock-on-demand")}


@pytest.mark.parametrize("resources, flags", [
    (endpoint({"InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 10**15}), []),
    (ON_DEMAND, ["--requests-per-month", str(10**12), "--output-tokens", str(10**7)]),
], ids=["instances-10e15", "tokens-at-the-workload-bounds"])
def test_a_bill_beyond_what_aws_bills_in_a_month_is_refused(resources, flags, tmp_path, capsys):
    out = assembly(tmp_path, resources)
    ceiling = facts.bill_ceiling()
    assert 8.9e9 < ceiling.monthly_usd_max < 9.0e9  # AWS's 2024 net sales, $107.6 billion, / 12
    one_error(capsys, ["cost", str(out), *flags], "more than AWS bills all its customers in a month",
              "$8,966,666,667")


@pytest.mark.parametrize("metadata, expected", [
    ({"decodeTokensPerSecond": "1e-300"}, "Metadata.tierwise.decodeTokensPerSecond is '1e-300'; a rate is at least"),
    ({"decodeTokensPerSecond": "0"}, "decodeTokensPerSecond is '0'"),
    ({"decodeTokensPerSecond": "1e9"}, "at most 10,000"),
    ({"decodeTokensPerSecond": "fast"}, "decodeTokensPerSecond is 'fast'"),
    ({"decodeTokensPerSecond": "6.0", "promptTokensPerSecond": "-5"}, "promptTokensPerSecond is '-5'"),
    ({"decodeTokensPerSecond": "6.0", "memoryMb": -10240}, "memoryMb is -10240; a planned memory is 128 to 10240 MB"),
    ({"secondsPerRequest": "0", "plannedInputTokens": 500}, "secondsPerRequest is '0'"),
    ({"secondsPerRequest": "0.5", "plannedInputTokens": 10**400}, "plannedInputTokens is 1000000"),
], ids=["decode-1e-300", "decode-zero", "decode-1e9", "decode-text", "prompt-negative", "memory-negative",
        "forward-pass-zero", "planned-tokens-10e400"])
def test_metadata_a_tierwise_stack_could_never_record(metadata, expected, tmp_path, capsys):
    out = assembly(tmp_path, gguf_function(), metadata=metadata)
    one_error(capsys, ["cost", str(out)], expected)


def test_a_slow_recorded_rate_that_no_request_could_finish_within_lambdas_limit(tmp_path, capsys):
    out = assembly(tmp_path, gguf_function(), metadata={"decodeTokensPerSecond": "0.01"})
    one_error(capsys, ["cost", str(out)], "one request would run 20,000 s", "Lambda ends a request at 900 s")


@pytest.mark.parametrize("usage, expected", [
    ("tokens_per_second: 1e-300", "tokens_per_second: must be from 0.00111111 to 10,000"),
    ("tokens_per_second: 1.0e+400", "tokens_per_second: Input should be a finite number"),
    ("requests_per_month: -5", "requests_per_month: Input should be greater than or equal to 0 (got -5)"),
    ("requests_per_month: " + "9" * 400, "must be from 0 to 1,000,000,000,000"),
    ("request_duration_ms: 1.0e+12", "request_duration_ms: must be from 0 to 900,000"),
    ("prompt_tokens_per_second: 1.0e-300", "prompt_tokens_per_second: must be at least 0.00111111"),
], ids=["decode-1e-300", "decode-1e400", "requests-negative", "requests-400-digits", "duration-1e12",
        "prompt-1e-300"])
def test_a_usage_figure_beyond_any_request(usage, expected, tmp_path, capsys):
    out = assembly(tmp_path, gguf_function())
    path = tmp_path / "usage.yml"
    path.write_text(f"version: 0.1\nresource_usage:\n  S/F:\n    {usage}\n")
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], f"usage file {path}", expected)


def test_a_usage_rate_too_slow_for_serverless_sixty_seconds(tmp_path, capsys):
    out = assembly(tmp_path, endpoint({"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}))
    path = tmp_path / "usage.yml"
    path.write_text("version: 0.1\nresource_usage:\n  S/C:\n    tokens_per_second: 2\n")
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], "one request would run 100 s",
              "SageMaker Serverless Inference ends a request at 60 s")


@pytest.mark.parametrize("rate, expected", [("1e-300", "beyond any real decode"), ("1e9", "to 10,000")])
def test_a_tokens_per_second_flag_beyond_any_decode(rate, expected, tmp_path, capsys):
    out = assembly(tmp_path, gguf_function())
    one_error(capsys, ["cost", str(out), "--tokens-per-second", rate], "--tokens-per-second", expected)


def test_a_negative_request_count_in_cdk_json_or_a_flag(tmp_path, capsys):
    out = assembly(tmp_path / "app", gguf_function())
    (out.parent / "cdk.json").write_text(json.dumps({"context": {"requests_per_month": -5}}))
    one_error(capsys, ["cost", str(out)], "cdk.json context requests_per_month", "greater than or equal to 0")
    (out.parent / "cdk.json").unlink()
    one_error(capsys, ["cost", str(out), "--requests-per-month", "-5"], "--requests-per-month", "(got -5)")


def test_a_real_stack_is_still_priced_and_never_below_zero(synthesized):
    from tierwise.cost.review import review

    report = review(synthesized, Workload(), tokens_per_second=6.0)
    assert {p.name for p in report.projects} >= {"LambdaStack", "ServerlessStack", "GpuStack"}
    for project in report.projects:
        for cost in project.resources:
            for c in cost.components:
                assert c.monthly_cost is None or 0 <= c.monthly_cost < facts.bill_ceiling().monthly_usd_max


# --- numbers past Python's own limits --------------------------------------------------------------


def test_a_template_integer_longer_than_python_converts(tmp_path, capsys):
    out = assembly(tmp_path, '{"Resources": {"K": {"Type": "AWS::KMS::Key", "Properties": {"X": ' + "9" * 5000 + "}}}}")
    one_error(capsys, ["cost", str(out)], "holds an integer of 5,000 digits; at most 4,300 are read")


@pytest.mark.parametrize("value, expected", [
    ("9" * 5000, "holds an integer of 5,000 digits"),
    ("1" + "0" * 400, "requests_per_month: 10000000"),
    ("1e400", "requests_per_month: inf is beyond any real deployment"),
], ids=["5000-digits", "10e400", "1e400"])
def test_cdk_json_numbers_past_python_limits(value, expected, tmp_path, capsys):
    out = assembly(tmp_path / "app", {})
    (out.parent / "cdk.json").write_text('{"context": {"requests_per_month": ' + value + "}}")
    one_error(capsys, ["cost", str(out)], expected)


@pytest.mark.parametrize("value, expected", [
    ("9" * 5000, "line 4: an integer of 5,000 digits"),
    ("0x" + "f" * 5000, "line 4: an integer of 5,000 digits"),
], ids=["decimal-5000-digits", "hex-5000-digits"])
def test_usage_file_integers_past_python_limits(value, expected, tmp_path, capsys):
    out = assembly(tmp_path, gguf_function())
    path = tmp_path / "usage.yml"
    path.write_text(f"version: 0.1\nresource_usage:\n  S/F:\n    requests_per_month: {value}\n")
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], expected)


# --- encodings -------------------------------------------------------------------------------------


def test_latin_1_files_are_named_not_tracebacks(tmp_path, capsys):
    latin = "café".encode("latin-1")
    out = assembly(tmp_path / "t", {})
    (out / "S.template.json").write_bytes(b'{"Description": "' + latin + b'", "Resources": {}}')
    one_error(capsys, ["cost", str(out)], "S.template.json is not UTF-8 text (byte 0xe9 on line 1)")
    out = assembly(tmp_path / "u", gguf_function())
    usage = tmp_path / "usage.yml"
    usage.write_bytes(b"version: 0.1\n# " + latin + b"\n")
    one_error(capsys, ["cost", str(out), "--usage-file", str(usage)], "usage file", "is not UTF-8 text (byte 0xe9 on line 2)")
    (out.parent / "cdk.json").write_bytes(b'{"context": {"model": "' + latin + b'"}}')
    one_error(capsys, ["cost", str(out)], "cdk.json", "is not UTF-8 text")
    (out.parent / "cdk.json").unlink()
    prices = tmp_path / "prices.yaml"
    prices.write_bytes(b"# " + latin + b"\nregions: {}\n")
    one_error(capsys, ["cost", str(out), "--prices", str(prices)], "price file", "is not UTF-8 text")


# --- YAML: one loader, no aliases, no repeated keys ------------------------------------------------

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi")
) + "version: *i\n"


def test_a_yaml_alias_bomb_is_refused_at_once_and_small(tmp_path):
    """The bomb (nine levels of nine-fold aliases, 9**9 = 387 million strings once expanded) ran
    60-100 s, grew past 5.6 GB and ended in a 2 GB error line before."""
    path = tmp_path / "bomb.yml"
    path.write_text(BOMB)
    # VmHWM, not ru_maxrss: the latter survives exec and would report the forking test runner's peak
    code = ("import time\nfrom tierwise.cost.usage import load_usage\n"
            "from tierwise.errors import TierwiseError\nstart = time.monotonic()\n"
            f"try:\n    load_usage({str(path)!r})\nexcept TierwiseError as exc:\n    print(exc)\n"
            "print(time.monotonic() - start)\n"
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    line, seconds, peak_kib = result.stdout.splitlines()
    assert line == f"usage file {path}: line 1: YAML anchors and aliases (&name, *name) are not allowed; write the value out"
    assert float(seconds) < 1.0 and int(peak_kib) < 200 * 1024, (seconds, peak_kib)


@pytest.mark.parametrize("text, expected", [
    ("version: 0.1\nresource_usage:\n  S/F:\n    requests_per_month: 5\n    requests_per_month: 7\n",
     "line 5: duplicate key 'requests_per_month' (first at line 4); each key may appear once"),
    ("version: 0.1\nresource_usage:\n  S/F: {requests_per_month: 5}\n  S/F: {requests_per_month: 7}\n",
     "line 4: duplicate key 'S/F' (first at line 3)"),
    ("base: &base {requests_per_month: 5}\nversion: 0.1\n", "line 1: YAML anchors and aliases"),
    ("version: 0.1\nresource_usage:\n  S/F:\n    <<: {requests_per_month: 5}\n", "line 4: merge keys (<<) are not allowed"),
    ("version: 0.1\n---\nversion: 0.1\n", "is not valid YAML (line 2, column 1"),
], ids=["duplicate-figure", "duplicate-resource", "anchor-alone", "merge-key", "two-documents"])
def test_usage_file_yaml_that_would_be_read_silently_wrong(text, expected, tmp_path, capsys):
    out = assembly(tmp_path, gguf_function())
    path = tmp_path / "usage.yml"
    path.write_text(text)
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], f"usage file {path}", expected)


def test_a_price_file_with_a_repeated_key(tmp_path, capsys):
    out = assembly(tmp_path, {})
    shipped = (ROOT / "tierwise" / "data" / "prices.yaml").read_text()
    path = tmp_path / "prices.yaml"
    path.write_text(shipped + "regions: {}\n")
    one_error(capsys, ["cost", str(out), "--prices", str(path)], "duplicate key 'regions'")


# --- error lines of readable length ----------------------------------------------------------------


def test_a_long_usage_key_and_value_are_cut_in_the_error(tmp_path, capsys):
    out = assembly(tmp_path, gguf_function())
    path = tmp_path / "usage.yml"
    path.write_text("version: 0.1\nresource_usage:\n  ? " + "k" * 100_000 + "\n  : {requests_per_month: 5}\n")
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], "'kkkk", "(100,000 characters) names no stack")
    path.write_text("version: 0.1\nresource_usage:\n  S/F:\n    requests_per_month: '" + "9" * 500_000 + "'\n")
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], "(500,000 characters)")
    path.write_text("version: [" + ", ".join(["x" * 1000] * 500) + "]\n")
    one_error(capsys, ["cost", str(out), "--usage-file", str(path)], "version [", "is not supported")


def test_a_long_region_is_cut_in_the_error(tmp_path, capsys):
    out = assembly(tmp_path, {})
    one_error(capsys, ["cost", str(out), "--region", "r" * 100_000], "'rrrr", "(100,000 characters) is not an AWS region")


def test_the_limits_are_those_botocore_ships():
    """aws_limits.yaml's API ranges, against the service models botocore carries offline."""
    from botocore.loaders import create_loader

    loader = create_loader()
    sagemaker = loader.load_service_model("sagemaker", "service-2")["shapes"]
    bedrock = loader.load_service_model("bedrock", "service-2")["shapes"]

    def shape(shapes: dict, structure: str, member: str) -> dict:
        return shapes[shapes[structure]["members"][member]["shape"]]

    serverless, realtime = facts.serverless_limits(), facts.realtime_limits()
    memory = shape(sagemaker, "ProductionVariantServerlessConfig", "MemorySizeInMB")
    assert (memory["min"], memory["max"]) == (min(serverless.memory_mb_allowed), max(serverless.memory_mb_allowed))
    provisioned = shape(sagemaker, "ProductionVariantServerlessConfig", "ProvisionedConcurrency")
    assert (provisioned["min"], provisioned["max"]) == (serverless.provisioned_concurrency_min,
                                                         serverless.provisioned_concurrency_max)
    concurrency = shape(sagemaker, "ProductionVariantServerlessConfig", "MaxConcurrency")
    assert (concurrency["min"], concurrency["max"]) == (serverless.max_concurrency_min, serverless.max_concurrency_max)
    assert shape(sagemaker, "ProductionVariant", "InitialInstanceCount")["min"] == realtime.initial_instance_count_min
    units = shape(bedrock, "CreateProvisionedModelThroughputRequest", "modelUnits")
    assert units["min"] == facts.bedrock_provisioned_limits().model_units_min


def test_each_file_cap_says_why_and_holds_what_tierwise_writes(synthesized, tmp_path):
    """Every cap is above what tierwise itself produces, with room: a cap that refused a real
    assembly, the shipped cdk.json or the embedded price file would be a bug."""
    for kind in ("manifest", "usage_file", "cdk_json", "price_file", "saved_breakdown"):
        cap, why = facts.file_cap(kind)
        assert cap >= 1 << 20 and len(why) > 40, kind
    assert (ROOT / "cdk.json").stat().st_size * 100 < facts.file_cap("cdk_json")[0]
    assert (ROOT / "tierwise" / "data" / "prices.yaml").stat().st_size * 20 < facts.file_cap("price_file")[0]
    assert (synthesized / "manifest.json").stat().st_size * 100 < facts.file_cap("manifest")[0]
    for template in synthesized.glob("*.template.json"):
        assert template.stat().st_size * 10 < facts.cloudformation_limits().template_bytes_max
    with pytest.raises(Exception, match="has no cap for 'nothing'"):
        facts.file_cap("nothing")
