"""A careless user's inputs, one case each: the `tierwise` CLI and the CDK app (`cdk synth -c`)
answer with exactly one `error:` line that names the bad value and what is allowed, exit 2,
print nothing else and change nothing on disk.

The cases are issue #13's list (minus the template reader's, tested with the cost review) and
the neighbouring mistakes found by trying the CLI the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.app_context import KNOWN, read
from tests.core.raw_gguf import llama_header, write_gguf
from tests.gguf_factory import write_tiny_llama
from tests.synth import synth_context
from tierwise.cli import main
from tierwise.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
GOOD_PROFILE = (ROOT / "model_profiles" / "catalogue" / "llama3-8b.yaml").read_text()


def _workspace(folder: Path) -> None:
    """The files a user has lying around: notes, a profile, folders, good and damaged GGUFs."""
    (folder / "notes.txt").write_text("not a model\n")
    (folder / "llama3-8b.yaml").write_text(GOOD_PROFILE)
    (folder / "models").mkdir()
    (folder / "empty-catalogue").mkdir()
    bad_quant = folder / "bad-quant-catalogue"
    bad_quant.mkdir()
    (bad_quant / "mine.yaml").write_text(
        GOOD_PROFILE.replace("name: llama3-8b", "name: mine").replace("default_quant: Q4_K_M", "default_quant: Q4_K_Z")
    )
    bad_recipe = folder / "bad-recipe-catalogue"
    bad_recipe.mkdir()
    (bad_recipe / "mine.yaml").write_text(
        GOOD_PROFILE.replace("name: llama3-8b", "name: mine").replace("    Q5_K_M:", "    Q5_K_Q:")
    )
    write_tiny_llama(folder / "tiny.gguf", n_ctx_train=1024)
    write_gguf(folder / "zero-heads.gguf", llama_header(**{"llama.attention.head_count": 0}))
    write_gguf(folder / "zero-context.gguf", llama_header(**{"llama.context_length": 0}))
    write_gguf(folder / "text-layers.gguf", llama_header(**{"llama.block_count": "thirty-two"}))
    write_gguf(folder / "list-kv-heads.gguf", llama_header(**{"llama.attention.head_count_kv": [2, 2]}))
    write_gguf(folder / "odd-kv-heads.gguf", llama_header(**{"llama.attention.head_count_kv": 3}))
    write_gguf(folder / "mamba.gguf", llama_header(**{"general.architecture": "mamba"}))
    write_gguf(folder / "vocab-only.gguf", llama_header(), tensors=[])
    data = (folder / "tiny.gguf").read_bytes()
    (folder / "half.gguf").write_bytes(data[: len(data) // 2])
    (folder / "v1.gguf").write_bytes(b"GGUF" + (1).to_bytes(4, "little") + bytes(16))
    # apps whose cdk.json gives a workload figure as true/false or nan (`tierwise cost` reads it)
    for app_name, context in (("bool-app", {"requests_per_month": True}), ("nan-app", {"peak_factor": "nan"})):
        (folder / app_name / "cdk.out").mkdir(parents=True)
        (folder / app_name / "cdk.json").write_text(json.dumps({"app": "python app.py", "context": context}))
    (folder / "huge-counts.gguf").write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (2**60).to_bytes(8, "little") * 2)


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("careless")
    _workspace(folder)
    return folder


# (argv, environment, what the line must contain: the bad value and what is allowed)
CLI_CASES = {
    # --- issue #13's list ---
    "gguf-zero-heads": (["size", "--gguf", "zero-heads.gguf"], {}, ["llama.attention.head_count is 0", "from 1 to"]),
    "gguf-zero-context": (["size", "--gguf", "zero-context.gguf"], {}, ["llama.context_length is 0", "from 1 to"]),
    "gguf-text-for-number": (["size", "--gguf", "text-layers.gguf"], {}, ["'thirty-two'", "whole number"]),
    "gguf-unknown-architecture": (["size", "--gguf", "mamba.gguf"], {}, ["'mamba'", "allowed: command-r"]),
    "compare-chart-unwritable": (["compare", "llama3-8b", "--chart", "notes.txt/cost.png"], {},
                                 ["'notes.txt/cost.png'", "is a file, not a folder"]),
    # a path every check before the work lets through, which the system refuses when written
    "compare-chart-refused-by-the-system": (["compare", "llama3-8b", "--chart", "/proc/cost.png"], {},
                                            ["--chart: cannot write '/proc/cost.png'"]),
    "compare-chart-svg-refused": (["compare", "llama3-8b", "--chart", "/proc/cost.svg", "--format", "json"], {},
                                  ["--chart: cannot write '/proc/cost.svg'"]),
    "forced-tier-misses-the-target": (["plan", "llama3-8b", "--tier", "lambda-gguf"], {},
                                      ["--max-seconds or --batch change it"]),
    "plan-commitment-forever": (["plan", "llama3-8b", "--commitment", "forever"], {},
                                ["'forever'", "allowed: none, OneMonth, SixMonths"]),
    "plan-quant-on-classifier": (["plan", "distilbert-sst2", "--quant", "Q4_K_M"], {},
                                 ["--quant Q4_K_M", "is served by lambda-gguf and sagemaker-serverless", "Hugging Face CPU container"]),
    "plan-region-mars": (["plan", "llama3-8b", "--region", "mars-1"], {}, ["'mars-1'", "us-east-1"]),
    "cost-region-mars": (["cost", "models", "--region", "mars-1"], {}, ["'mars-1'", "us-east-1"]),
    "compare-region-mars": (["compare", "llama3-8b", "--region", "mars-1"], {}, ["'mars-1'", "us-east-1"]),
    "plan-absurd-volume": (["plan", "llama3-8b", "--requests-per-month", str(10**26)], {},
                           [str(10**26), "at most 1,000,000,000,000"]),
    "plan-volume-as-float": (["plan", "llama3-8b", "--requests-per-month", "1e26"], {}, ["'1e26'", "valid integer"]),
    "empty-catalogue": (["models"], {"TIERWISE_CATALOGUE": "empty-catalogue"},
                        ["empty-catalogue holds no model profiles", "<name>.yaml"]),
    "profile-bad-default-quant": (["models"], {"TIERWISE_CATALOGUE": "bad-quant-catalogue"},
                                  ["mine.yaml: field 'default_quant'", "'Q4_K_Z'", "allowed: "]),
    "parse-error-repeats-value": (["plan", "llama3-8b", "--context", "4k"], {}, ["--context", "(got '4k')"]),
    "size-gguf-folder": (["size", "--gguf", "models"], {}, ["'models' is a folder", ".gguf file"]),
    # --- around them ---
    "region-typo": (["plan", "llama3-8b", "--region", "us-est-1"], {}, ["'us-est-1'", "did you mean us-"]),
    "region-upper-case": (["plan", "llama3-8b", "--region", "US-EAST-1"], {}, ["'US-EAST-1'", "did you mean"]),
    "cost-diff-region-mars": (["cost", "diff", "models", "models", "--region", "mars-1"], {}, ["'mars-1'", "us-east-1"]),
    "refresh-prices-region": (["refresh-prices", "--region", "mars-1"], {}, ["'mars-1'", "us-east-1"]),
    "plan-commitment-on-lambda": (["plan", "tinyllama-1.1b", "--commitment", "SixMonths"], {},
                                  ["--commitment SixMonths", "bedrock-provisioned only", "lambda-gguf"]),
    "plan-quant-on-gpu": (["plan", "llama3-70b", "--hosting", "self", "--quant", "Q4_K_M"], {},
                          ["--quant Q4_K_M", "sagemaker-gpu", "BF16"]),
    "plan-absurd-prompt": (["plan", "llama3-8b", "--input-tokens", "20000000"], {}, ["20000000", "at most 10,000,000"]),
    "cost-absurd-volume": (["cost", "models", "--requests-per-month", str(10**13)], {},
                           [str(10**13), "at most 1,000,000,000,000"]),
    "compare-chart-is-folder": (["compare", "llama3-8b", "--chart", "models"], {}, ["'models'", ".png or .svg"]),
    "profile-bad-recipe-key": (["models"], {"TIERWISE_CATALOGUE": "bad-recipe-catalogue"},
                               ["mine.yaml: field 'gguf.files.Q5_K_Q'", "allowed: "]),
    "size-gguf-text-file": (["size", "--gguf", "notes.txt"], {}, ["'notes.txt' is not a GGUF file", ".gguf"]),
    "size-gguf-yaml": (["size", "--gguf", "llama3-8b.yaml"], {}, ["'llama3-8b.yaml' is not a GGUF file"]),
    "size-gguf-missing": (["size", "--gguf", "llama.gguf"], {}, ["no such file 'llama.gguf'"]),
    "size-gguf-truncated": (["size", "--gguf", "half.gguf"], {}, ["half.gguf is truncated"]),
    "size-gguf-version-1": (["size", "--gguf", "v1.gguf"], {}, ["GGUF version 1", "allowed: 2, 3"]),
    "size-gguf-huge-counts": (["size", "--gguf", "huge-counts.gguf"], {}, ["announces", "more than"]),
    "size-gguf-list-for-number": (["size", "--gguf", "list-kv-heads.gguf"], {}, ["a list of 2", "whole number"]),
    "size-gguf-kv-heads": (["size", "--gguf", "odd-kv-heads.gguf"], {}, ["head_count_kv is 3", "must divide"]),
    "size-gguf-vocab-only": (["size", "--gguf", "vocab-only.gguf"], {}, ["holds no tensors", "model file"]),
    "size-gguf-context-above": (["size", "--gguf", "tiny.gguf", "--context", "4096"], {}, ["4096", "maximum of 1024"]),
    "size-gguf-context-zero": (["size", "--gguf", "tiny.gguf", "--context", "0"], {}, ["(got 0)", "positive"]),
    "plan-request-beyond-context": (["plan", "llama3-8b", "--hosting", "self", "--input-tokens", "5000", "--context", "2048"], {},
                                    ["5,200 tokens do not fit the 2,048-token context", "--context (up to llama3-8b's 8,192)"]),
    "plan-floor-infinite": (["plan", "llama3-8b", "--tokens-per-second-floor", "inf"], {}, ["inf", "at most 10,000"]),
    "plan-floor-nan": (["plan", "llama3-8b", "--tokens-per-second-floor", "nan"], {},
                       ["--tokens-per-second-floor", "(got nan)", "finite number"]),
    "plan-peak-factor-inf": (["plan", "llama3-8b", "--peak-factor", "inf"], {},
                             ["--peak-factor", "(got inf)", "finite number"]),
    # a rate the cost review divides by: checked before the assembly is read ('models' is none)
    **{f"cost-tokens-per-second-{name}": (["cost", "models", "--tokens-per-second", value], {},
                                          ["--tokens-per-second", f"(got {shown})", "finite number greater than 0"])
       for name, value, shown in (("inf", "inf", "inf"), ("nan", "nan", "nan"), ("minus-inf", "-inf", "-inf"),
                                  ("negative", "-5", "-5.0"), ("zero", "0", "0.0"))},
    "cost-diff-tokens-per-second-nan": (["cost", "diff", "models", "models", "--tokens-per-second", "nan"], {},
                                        ["--tokens-per-second", "(got nan)"]),
    "cost-cdk-json-true-for-a-number": (["cost", "bool-app/cdk.out"], {},
                                        ["cdk.json context requests_per_month", "true/false", "(got true)"]),
    "cost-cdk-json-nan": (["cost", "nan-app/cdk.out"], {}, ["cdk.json context peak_factor", "finite", "(got nan)"]),
    "compare-quant-on-bedrock-model": (["compare", "nova-pro", "--quant", "Q4_0"], {},
                                       ["--quant Q4_0", "served by Bedrock only"]),
    "compare-quant-on-classifier": (["compare", "distilbert-sst2", "--quant", "Q4_0"], {},
                                    ["--quant Q4_0", "classification model", "no GGUF recipe"]),
    "refresh-prices-out-unwritable": (["refresh-prices", "--region", "us-east-1", "--out", "notes.txt/prices.yaml"], {},
                                      ["--out", "'notes.txt/prices.yaml'", "is a file, not a folder"]),
    "plan-volume-beyond-float": (["plan", "llama3-8b", "--requests-per-month", str(10**400)], {},
                                 ["--requests-per-month: 1000000000", "(401 characters)", "at most"]),
    "missing-model-argument": (["plan"], {}, ["give a model name", "tierwise models"]),
    "unknown-command": (["deploy", "llama3-8b"], {}, ["'deploy'", "allowed: models, size, plan"]),
    "unknown-option": (["plan", "llama3-8b", "--quantization", "Q4_0"], {}, ["--quantization", "--quant"]),
    "short-option-value": (["plan", "llama3-8b", "-cfour"], {}, ["(got 'four')"]),
}


@pytest.mark.parametrize("argv,env,needles", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_cli_bad_input_is_one_line_exit_2_and_nothing_written(workspace, monkeypatch, capsys, argv, env, needles):
    from model_profiles.loader import _catalogue

    monkeypatch.chdir(workspace)
    for key, value in env.items():
        monkeypatch.setenv(key, str(workspace / value))
    _catalogue.cache_clear()
    before = _snapshot(workspace)
    try:
        code = main(argv)
    finally:
        _catalogue.cache_clear()
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    assert out == ""  # nothing half-printed before the error (e.g. compare's table before --chart)
    assert _snapshot(workspace) == before


# (context as `cdk synth -c` gives it, what the line must contain)
APP_CASES = {
    # --- issue #13's list ---
    "misspelt-key": ({"model": "llama3-8b", "modle": "llama3-70b"}, ["-c modle", "did you mean model?"]),
    "model-uri-text-file": ({"model": "llama3-8b", "model_uri": "notes.txt"}, ["'notes.txt' is not a GGUF file", "s3://"]),
    "model-uri-yaml": ({"model": "llama3-8b", "model_uri": "llama3-8b.yaml"}, ["'llama3-8b.yaml' is not a GGUF file"]),
    "region-mars": ({"model": "llama3-8b", "region": "mars-1"}, ["-c region", "'mars-1'", "us-east-1"]),
    "commitment-forever": ({"model": "nova-pro", "commitment": "forever"}, ["'forever'", "allowed: none, OneMonth"]),
    "quant-on-classifier": ({"model": "distilbert-sst2", "quant": "Q4_K_M"}, ["-c quant Q4_K_M", "served by lambda-gguf"]),
    "absurd-volume": ({"model": "llama3-8b", "requests_per_month": str(10**26)}, ["-c requests_per_month", "at most"]),
    # --- around them ---
    "key-wrong-case": ({"Model": "llama3-8b"}, ["-c Model", "did you mean model?"]),
    "key-typo-workload": ({"model": "llama3-8b", "request_per_month": "5"}, ["did you mean requests_per_month?"]),
    "key-dash-for-underscore": ({"model": "llama3-8b", "model-uri": "s3://b/m.gguf"}, ["did you mean model_uri?"]),
    "key-unrelated": ({"model": "llama3-8b", "colour": "blue"}, ["-c colour", "tierwise reads: "]),
    "model-uri-folder": ({"model": "llama3-8b", "model_uri": "models"}, ["'models' is a folder", "s3://"]),
    "model-uri-https": ({"model": "llama3-8b", "model_uri": "https://example.com/m.gguf"}, ["no such file", "s3://"]),
    "region-typo": ({"model": "llama3-8b", "region": "eu-west-9"}, ["'eu-west-9'", "did you mean eu-west-"]),
    "commitment-on-lambda": ({"model": "tinyllama-1.1b", "commitment": "OneMonth"},
                             ["-c commitment OneMonth", "lambda-gguf", "-c tier=bedrock-provisioned"]),
    "quant-on-gpu": ({"model": "llama3-70b", "hosting": "self", "quant": "Q8_0"}, ["-c quant Q8_0", "sagemaker-gpu"]),
    "absurd-output": ({"model": "llama3-8b", "output_tokens": "99999999"}, ["-c output_tokens", "at most 10,000,000"]),
    "request-beyond-context": ({"model": "llama3.2-1b", "input_tokens": "3000", "context": "2048"},
                               ["-c input_tokens 3,000 + -c output_tokens 200", "-c context"]),
    "quant-with-all": ({"model": "all", "quant": "Q8_0"}, ["-c quant Q8_0", "model=all", "-c model=NAME"]),
    "model-uri-bad-bucket": ({"model": "llama3-8b", "model_uri": "s3://My_Bucket/m.gguf"},
                             ["'s3://My_Bucket/m.gguf'", "lower-case letters, digits"]),
    "instances-beyond-int32": ({"model": "llama3-70b", "max_instances": str(10**400)},
                               ["-c max_instances", "at most 2,147,483,647", "(401 characters)"]),
    "model-uri-another-model": ({"model": "llama3-8b", "tier": "lambda-gguf", "batch": "true", "model_uri": "tiny.gguf"},
                                ["'tiny.gguf' holds a llama model with 2 layers, 64 wide",
                                 "llama3-8b is llama with 32 layers, 4096 wide"]),
    "volume-as-float": ({"model": "llama3-8b", "requests_per_month": "1e6"}, ["-c requests_per_month", "'1e6'"]),
    # true/false where a number belongs: cdk.json's JSON booleans and -c's strings, never read as 1 or 0
    "volume-json-true": ({"model": "llama3-8b", "requests_per_month": True},
                         ["-c requests_per_month", "not a true/false value", "(got true)"]),
    "volume-string-true": ({"model": "llama3-8b", "requests_per_month": "true"},
                           ["-c requests_per_month", "not a true/false value", "(got 'true')"]),
    "tokens-json-false": ({"model": "llama3-8b", "input_tokens": False}, ["-c input_tokens", "(got false)"]),
    "concurrency-json-true": ({"model": "llama3-8b", "max_concurrency": True}, ["-c max_concurrency", "(got true)"]),
    "context-json-true": ({"model": "llama3-8b", "context": True}, ["-c context", "whole number", "(got true)"]),
    "instances-json-false": ({"model": "llama3-70b", "min_instances": False}, ["-c min_instances", "(got false)"]),
    "peak-factor-nan": ({"model": "llama3-8b", "peak_factor": "nan"}, ["-c peak_factor", "finite number", "(got nan)"]),
    "max-seconds-inf": ({"model": "llama3-8b", "max_seconds": "inf"}, ["-c max_seconds", "finite number", "(got inf)"]),
    "floor-nan": ({"model": "llama3-8b", "tokens_per_second_floor": "nan"}, ["-c tokens_per_second_floor", "(got nan)"]),
    # the planner's own words, as the app says them: context keys, never the CLI's flags
    "forced-tier-misses-the-target": ({"model": "llama3-8b", "tier": "lambda-gguf"},
                                      ["tier lambda-gguf cannot serve llama3-8b", "-c max_seconds=… or -c batch=true"]),
    "context-beyond-the-model": ({"model": "llama3-8b", "context": "100000"}, ["-c context=100000 is above"]),
    # found by the hypothesis test below: os.stat raises ValueError, not OSError, on a NUL byte
    "model-uri-nul-byte": ({"model": "llama3-8b", "model_uri": "\x00"}, ["-c model_uri", "NUL byte"]),
}
# keys CDK itself puts in the context: they must never be mistaken for typos
CDK_OWN_KEYS = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver": True,
    "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a"],
    "cdk-migrate": True,
    "acknowledged-issue-numbers": [34892],  # written by `cdk acknowledge 34892`
    "cli-telemetry": False,  # written by `cdk cli-telemetry --disable`
}


def _app_error(context: dict, outdir: Path, capsys) -> str:
    import app

    with pytest.raises(SystemExit) as exit_:
        app.main(context=synth_context(context), outdir=str(outdir))
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    return err


@pytest.mark.parametrize("context,needles", list(APP_CASES.values()), ids=list(APP_CASES))
def test_cdk_app_bad_context_is_one_line_exit_2_and_nothing_written(workspace, monkeypatch, capsys, context, needles):
    monkeypatch.chdir(workspace)
    outdir = workspace / "cdk.out"
    before = _snapshot(workspace)
    err = _app_error({**CDK_OWN_KEYS, **context}, outdir, capsys)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not re.search(r"(?<![\w-])--[a-z]", err), f"the app names a CLI flag: {err}"
    for needle in needles:
        assert needle in err, err
    after = _snapshot(workspace)
    # cdk.App makes its output folder when it is constructed, before the context can be read;
    # the CDK CLI makes it too. It stays empty: no template, no manifest.
    if "cdk.out" in after:
        assert not any(outdir.iterdir())
        outdir.rmdir()
        del after["cdk.out"]
    assert after == before


def test_cdk_own_context_keys_and_every_tierwise_key_are_accepted(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    recommended = json.loads((ROOT / "cdk.json").read_text())["context"]
    plans = read({**recommended, **CDK_OWN_KEYS, "model": "llama3-8b", "tier": "lambda-gguf", "batch": "true",
                  "model_uri": "s3://models-1/l.gguf"}, environ={})
    assert [s.placement.model for s in plans.stacks] == ["llama3-8b"]
    assert plans.stacks[0].options["model_uri"] == "s3://models-1/l.gguf"


def test_a_local_model_file_of_the_right_shape_is_accepted(workspace, monkeypatch):
    # the mismatch case's counterpart: a GGUF whose header matches the profile passes
    from model_profiles import load_profile

    arch = load_profile("llama3.2-1b").architecture
    monkeypatch.chdir(workspace)
    write_gguf(workspace / "shaped.gguf", llama_header(**{
        "llama.block_count": arch.layers, "llama.embedding_length": arch.embedding_width,
        "llama.attention.head_count": arch.attention_heads, "llama.attention.head_count_kv": arch.kv_heads,
        "llama.context_length": arch.max_context,
    }))
    try:
        (plan_,) = read({"model": "llama3.2-1b", "model_uri": "shaped.gguf"}, environ={}).stacks
    finally:
        (workspace / "shaped.gguf").unlink()
    assert plan_.options["model_uri"] == "shaped.gguf"


def _cdk_env() -> dict:
    env = dict(os.environ)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="the pinned CDK CLI is not installed")
def test_cdk_synth_first_run_is_quiet_and_a_bad_key_leaves_cdk_out_alone(tmp_path):
    """What a user sees from the CDK CLI itself (the README quotes it): a first synth of the
    default model that prints nothing at all, then for a bad key our line, the CLI's own 'Subprocess exited with error 2', exit 1, and
    the previous cdk.out untouched."""
    cdk_cli = str(ROOT / "node_modules" / ".bin" / "cdk")
    outdir = tmp_path / "cdk.out"
    model = ["-c", "region=us-east-1"]  # cdk.json's default model, as `make run` synthesizes it
    good = subprocess.run([cdk_cli, "synth", "--quiet", "--output", str(outdir), *model], cwd=ROOT,
                          env=_cdk_env(), capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr[-2000:]
    # no feature-flag notice, no deprecation, and no unverified-GGUF warning: the catalogue pins
    # the default model's file by its sha256
    assert good.stderr.strip() == "", good.stderr

    # the CLI deletes its own timing file (performance-counters.json) before it runs the app;
    # everything the app wrote must stay
    before = {k: v for k, v in _snapshot(outdir).items() if k != "performance-counters.json"}
    bad = subprocess.run([cdk_cli, "synth", "--quiet", "--output", str(outdir), *model, "-c", "modle=llama3-70b"],
                         cwd=ROOT, env=_cdk_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert lines[0].startswith("error: -c modle: unknown context key; did you mean model?"), bad.stderr
    assert lines[1:] == ["python app.py: Subprocess exited with error 2"], bad.stderr
    assert {k: v for k, v in _snapshot(outdir).items() if k != "performance-counters.json"} == before


def test_every_volume_bound_says_why_and_where_from():
    from tierwise.facts import load
    from tierwise.workload import Workload

    data = load("input_bounds")
    bounds = data["workload"]
    assert set(bounds["max"]) <= set(Workload.model_fields)
    assert data["checked"] and len(data["checked"]) == 10
    for name, limit in bounds["max"].items():
        default = Workload.model_fields[name].default
        assert default is None or limit > default  # the defaults are far inside (None: set by the target)
        assert bounds["why"][name].strip() and bounds["source"][name].startswith("https://")


_values = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "-", "0", "1", "1e3", "0x10", "Q4_K_M", "q8_0", "F16", "lambda-gguf",
                     "sagemaker-gpu", "bedrock-provisioned", "OneMonth", "none", "us-east-1", "chat"]),
    st.text(max_size=8),
)
_options = ["--quant", "--context", "--tier", "--requests-per-month", "--input-tokens", "--output-tokens",
            "--tokens-per-second-floor", "--max-concurrency", "--commitment", "--task", "--region"]
_size_options = ("--quant", "--context")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["plan", "size", "compare"]),
       st.sampled_from(["llama3-8b", "llama3-70b", "nova-pro", "distilbert-sst2", "qwen2.5-0.5b", "gemma2-2b", "llama3.1-405b", "nope"]),
       st.lists(st.tuples(st.sampled_from(_options), _values), max_size=3))
def test_any_option_values_give_a_result_or_one_line(capsys, command, model, pairs):
    """Beyond the named cases: whatever values a user types into plan/size/compare, the answer
    is a result (exit 0) or one error line (exit 2), never a traceback."""
    argv = [command, model]
    for option, value in pairs:
        if command != "size" or option in _size_options:
            argv += [option, value]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 0 or (code == 2 and err.startswith("error: ") and err.count("\n") == 1), (argv, err)


_context_values = st.one_of(
    st.integers(-(10**30), 10**30), st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["", "all", "llama3-8b", "nova-pro", "distilbert-sst2", "Q4_K_M", "lambda-gguf", "sagemaker-gpu",
                     "bedrock-provisioned", "OneMonth", "us-east-1", "arm64", "s3://bucket-1/m.gguf", "1", "0", "4096"]),
    st.text(max_size=8),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["llama3-8b", "llama3-70b", "nova-pro", "distilbert-sst2", "qwen2.5-0.5b"]),
       st.dictionaries(st.sampled_from(sorted(KNOWN)), _context_values, max_size=4))
def test_any_context_values_plan_or_give_one_line(model, context):
    """cdk.json can hold any JSON (numbers, lists, null), `-c` any text: read() plans or raises
    one TierwiseError line, which app.py prints before any construct exists."""
    context.setdefault("model", model)
    try:
        plans = read(context, environ={})
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert plans.stacks
