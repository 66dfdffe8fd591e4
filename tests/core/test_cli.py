"""The tierwise command as a user runs it: output, JSON contracts, and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gguf_factory import write_tiny_llama
from tierwise.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_json_lists_the_catalogue(capsys):
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    rows = json.loads(out)
    names = {r["name"] for r in rows}
    assert {"llama3-8b", "llama3-70b", "phi3-mini", "phi3-medium", "distilbert-sst2"} <= names
    for r in rows:
        assert {"name", "parameters", "task", "open_weights"} <= set(r)


def test_models_table(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "llama3-8b" in out and "closed" in out


def test_size_json_contract(capsys):
    code, out, _ = run(capsys, "size", "llama3-8b", "--quant", "Q4_0", "--context", "2048", "--json")
    assert code == 0
    data = json.loads(out)
    keys = {"model", "quant", "context", "weights_bytes", "file_bytes", "kv_cache_bytes", "runtime_bytes",
            "total_bytes", "naive_bytes", "steps"}
    assert keys <= set(data)
    assert data["quant"] == "Q4_0" and data["context"] == 2048
    assert data["total_bytes"] == data["weights_bytes"] + data["kv_cache_bytes"] + data["runtime_bytes"]
    assert data["naive_bytes"] == 8_030_261_248 // 2


def test_size_table_shows_naive_figure_and_steps(capsys):
    code, out, _ = run(capsys, "size", "phi3-mini")
    assert code == 0 and "naive" in out and "KV cache" in out and "%" in out


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_llama(path, n_layers=3, n_embd=64, n_head=4, n_head_kv=2, n_ff=256, n_ctx_train=1024,
                     weight_type="Q8_0", embedding_type="F16", output_type="Q4_0")
    return path


def test_size_gguf_reads_exact_tensor_bytes_from_the_header(capsys, tiny_gguf):
    from gguf import GGUFReader

    code, out, _ = run(capsys, "size", "--gguf", str(tiny_gguf), "--context", "512", "--json")
    assert code == 0
    data = json.loads(out)
    reader = GGUFReader(str(tiny_gguf))
    assert data["weights_bytes"] == sum(int(t.n_bytes) for t in reader.tensors)
    assert data["file_bytes"] == tiny_gguf.stat().st_size
    assert set(data["tensor_bytes_by_type"]) == {"Q8_0", "F16", "Q4_0", "F32"}
    # 2 x 3 layers x 512 x 2 KV heads x 16 head dim x 2 bytes
    assert data["kv_cache_bytes"] == 2 * 3 * 512 * 2 * 16 * 2


def test_size_gguf_default_context_is_capped_by_the_file(capsys, tiny_gguf):
    code, out, _ = run(capsys, "size", "--gguf", str(tiny_gguf), "--json")
    assert json.loads(out)["context"] == 1024


@pytest.mark.parametrize(
    "args,message",
    [
        (["size", "llama3-8bb"], "unknown model 'llama3-8bb'; did you mean llama3-8b"),
        (["plan", "lama3-70b"], "did you mean llama3-70b"),
        (["size", "llama3-8b", "--quant", "Q9_Z"], "unknown quantization 'Q9_Z'; allowed: "),
        (["size", "llama3-8b", "--context", "100000"], "above llama3-8b's maximum of 8192"),
        (["size", "llama3-8b", "--context", "-5"], "context must be a positive number"),
        (["plan", "llama3-8b", "--requests-per-month", "-1"], "--requests-per-month: Input should be greater than or equal to 0"),
        (["plan", "llama3-8b", "--output-tokens", "0"], "--output-tokens: Input should be greater than 0"),
        (["plan", "llama3-8b", "--tier", "ec2"], "unknown tier 'ec2'; allowed: lambda-gguf"),
        (["plan", "llama3-70b", "--tier", "lambda-gguf"], "Lambda allows at most 10,240 MB"),
        (["plan", "llama3-8b", "--context", "abc"], "Invalid value for '--context'"),
        (["size"], "give a model name"),
        (["size", "llama3-8b", "--gguf", "x.gguf"], "give one of a model name, --gguf FILE or --hf-dir DIR"),
        (["size", "--gguf", "x.gguf", "--quant", "Q4_0"], "--quant does not apply to --gguf"),
        (["size", "nova-pro"], "nova-pro is a closed model served by Bedrock"),
        (["size", "distilbert-sst2", "--quant", "Q4_0"], "served in F32 by a CPU framework; --quant does not apply"),
        (["size", "llama3-8b", "--cache-type", "q3"], "unknown KV cache type 'q3'; allowed: f16, q8_0, q4_0"),
        (["plan", "nova-pro", "--quant", "Q4_0"], "served by Bedrock only; --quant does not apply"),
        (["plan", "llama3-8b", "--task", "mowing"], "unknown task 'mowing'; allowed: "),
        (["plan", "nova-pro", "--commitment", "TwoYears"], "unknown commitment 'TwoYears'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_bad_gguf_files(capsys, tmp_path, tiny_gguf):
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"hello world, not a model")
    truncated = tmp_path / "t.gguf"
    truncated.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size // 2])
    for path, message in ((not_gguf, "is not a GGUF file"), (truncated, "truncated"), (tmp_path / "missing.gguf", "no such file")):
        code, _, err = run(capsys, "size", "--gguf", str(path))
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_malformed_and_mistyped_profiles(capsys, tmp_path, monkeypatch):
    from model_profiles.loader import _catalogue

    good = (Path(__file__).parents[2] / "model_profiles" / "catalogue" / "llama3-8b.yaml").read_text()
    cases = {
        "broken.yaml": ("name: broken\n  bad: [indent\n", "broken.yaml is not valid YAML (line 2, column 6: mapping values are not allowed"),
        "typo.yaml": (good.replace("name: llama3-8b", "name: typo").replace("layers:", "layer:"), "typo.yaml: unknown field 'architecture.layer'"),
        "neg.yaml": (good.replace("name: llama3-8b", "name: neg").replace("parameters: 8030261248", "parameters: -3"), "neg.yaml: field 'parameters': Input should be greater than 0"),
    }
    for filename, (text, message) in cases.items():
        folder = tmp_path / filename.split(".")[0]
        folder.mkdir()
        (folder / filename).write_text(text)
        monkeypatch.setenv("TIERWISE_CATALOGUE", str(folder))
        _catalogue.cache_clear()
        code, _, err = run(capsys, "models")
        assert code == 2 and message in err and err.count("\n") == 1, err
    _catalogue.cache_clear()


def test_plan_json_contract(capsys):
    code, out, _ = run(capsys, "plan", "llama3-70b", "--hosting", "self", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"model", "tier", "settings", "reasons", "rejected", "warnings", "runner_up", "monthly_cost_usd",
            "time_to_first_token_s", "tokens_per_second", "seconds_per_request", "cold_start_s", "capacity"} <= set(data)
    assert data["tier"] == "sagemaker-gpu"
    assert {"instance_type", "gpu_count"} <= set(data["settings"])
    assert {"instances", "min_instances", "max_instances"} <= set(data["capacity"])
    assert "lambda-gguf" in data["rejected"]


def test_plan_latency_options_change_the_requirement(capsys):
    code, out, _ = run(capsys, "plan", "llama3-8b", "--hosting", "self", "--batch", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["tier"] == "lambda-gguf" and data["target"]["batch"] is True
    assert data["seconds_per_request"] > 30 and data["capacity"]["peak_concurrency"] >= 1
    code, out, _ = run(capsys, "plan", "tinyllama-1.1b", "--max-seconds", "5", "--json")
    assert json.loads(out)["tier"] != "lambda-gguf"
    code, out, _ = run(capsys, "plan", "tinyllama-1.1b", "--peak-factor", "10", "--json")
    assert json.loads(out)["capacity"]["peak_factor"] == 10
    code, _, err = run(capsys, "plan", "tinyllama-1.1b", "--peak-factor", "0.5")
    assert code == 2 and err.startswith("error: --peak-factor")


def test_plan_text_shows_tier_settings_and_rejections(capsys):
    code, out, _ = run(capsys, "plan", "tinyllama-1.1b", "--requests-per-month", "1000")
    assert code == 0
    assert "lambda-gguf" in out and "memory_mb" in out and "not chosen" in out and "performance:" in out


def test_console_script_runs_without_traceback():
    exe = Path(sys.executable).parent / "tierwise"
    result = subprocess.run([str(exe), "plan", "nope"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown model 'nope'")
    assert "Traceback" not in result.stderr


def test_catalogue_override_must_be_a_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TIERWISE_CATALOGUE", str(tmp_path / "nowhere"))
    code, _, err = run(capsys, "models")
    assert code == 2 and "is not a folder of model profiles" in err and err.count("\n") == 1


@pytest.mark.parametrize("args, tier, streams, via", [
    (["tinyllama-1.1b", "--tier", "lambda-gguf"], "lambda-gguf", True, "RESPONSE_STREAM"),
    (["llama3-8b", "--hosting", "self"], "sagemaker-gpu", True, "InvokeEndpointWithResponseStream"),
    (["qwen2.5-0.5b", "--tier", "sagemaker-serverless"], "sagemaker-serverless", False, "arrive together at the end"),
    (["llama3-8b", "--hosting", "managed"], "bedrock-on-demand", True, "ConverseStream"),
    (["distilbert-sst2"], "sagemaker-serverless", False, "no tokens to stream"),
])
def test_the_plan_says_whether_and_how_the_deployed_model_streams(capsys, args, tier, streams, via):
    code, out, err = run(capsys, "plan", *args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["tier"] == tier and data["streaming"] is streams and via in data["streaming_via"]
    assert {"monthly_cost_usd", "tier", "settings", "reasons", "rejected", "warnings", "runner_up"} <= set(data)
    code, out, _ = run(capsys, "plan", *args)
    text = " ".join(out.split())  # the console wraps long lines
    assert f"streaming: {'yes, ' if streams else 'no: '}{data['streaming_via']}" in text
