"""Bring your own model through the commands: `profile` writes a catalogue file that plans like the
folder it came from, and `plan`, `compare` and the CDK app's context take the folder directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model_profiles import load_profile
from model_profiles.loader import load_profile_file
from stacks.app_context import read
from tests.core.hf_folders import TINY_LLAMA, llama_state, one_error_line, write_config, write_shards
from tests.core.hf_published import PUBLISHED
from tierwise.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def qwen_folder(tmp_path):
    return write_config(tmp_path / "my-qwen", PUBLISHED["qwen2.5-1.5b-instruct"]["config"])


def plan_json(capsys, argv) -> dict:
    assert main(["plan", *argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_profile_writes_a_catalogue_file_that_plans_like_the_folder(tmp_path, capsys, monkeypatch, qwen_folder):
    catalogue = tmp_path / "catalogue"
    assert main(["profile", "--hf-dir", str(qwen_folder), "--name", "my-qwen", "--out", str(catalogue)]) == 0
    written = catalogue / "my-qwen.yaml"
    assert "wrote" in capsys.readouterr().err
    text = written.read_text()
    # where every figure came from, in the file: comments and the hf_folder block
    assert "# Where each figure came from" in text and "config.json num_hidden_layers" in text
    data = yaml.safe_load(text)
    assert data["hf_folder"]["figures"]["embedding_width"] == "config.json hidden_size"
    assert data["architecture"]["source"].startswith("file://")
    profile = load_profile_file(written)
    assert profile.parameters == 1_543_714_304 and profile.architecture.attention_bias

    from_folder = plan_json(capsys, ["--hf-dir", str(qwen_folder)])
    monkeypatch.setenv("TIERWISE_CATALOGUE", str(catalogue))
    from_catalogue = plan_json(capsys, ["my-qwen"])
    for key in ("tier", "quant", "context", "settings", "monthly_cost_usd", "tokens_per_second", "memory"):
        assert from_catalogue[key] == from_folder[key], key
    # the CDK app takes it as -c model=NAME, and the folder itself as -c hf_dir=DIR
    by_name = read({"model": "my-qwen"}).stacks[0]
    by_folder = read({"hf_dir": str(qwen_folder)}).stacks[0]
    assert by_name.stack_id == by_folder.stack_id == "tierwise-my-qwen"
    assert by_name.placement.tier == by_folder.placement.tier
    assert by_name.placement.monthly_cost_usd == by_folder.placement.monthly_cost_usd


def test_profile_prints_to_stdout_and_the_output_validates(tmp_path, capsys, qwen_folder):
    assert main(["profile", "--hf-dir", str(qwen_folder), "--name", "printed", "--hf-model-id", "Qwen/Qwen2.5-1.5B-Instruct"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "printed.yaml"
    path.write_text(text)
    assert load_profile_file(path).hf_model_id == "Qwen/Qwen2.5-1.5B-Instruct"


def test_a_safetensors_folder_profile_records_the_headers(tmp_path, capsys):
    folder = write_config(tmp_path / "tiny", TINY_LLAMA)
    write_shards(folder, llama_state(TINY_LLAMA), shards=2)
    assert main(["profile", "--hf-dir", str(folder), "--name", "tiny", "--out", str(tmp_path / "tiny.yaml")]) == 0
    data = yaml.safe_load((tmp_path / "tiny.yaml").read_text())
    assert data["hf_folder"]["weights_from"] == "safetensors headers" and data["hf_folder"]["shards"] == 2
    assert "safetensors headers (2 files" in data["hf_folder"]["figures"]["parameters"]


def test_an_adapter_profile_is_written_and_validated(tmp_path, capsys):
    folder = tmp_path / "my-lora"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "r": 16,
        "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"]}))
    assert main(["profile", "--hf-dir", str(folder), "--name", "my-lora", "--out", str(tmp_path)]) == 0
    profile = load_profile_file(tmp_path / "my-lora.yaml")
    assert profile.adapter.base_model == "llama3-8b" and profile.adapter.rank == 16
    assert profile.parameters == load_profile("llama3-8b").parameters + 16 * (8192 + 5120) * 32
    capsys.readouterr()
    assert "--hf-model-id names a whole model" in one_error_line(
        capsys, ["profile", "--hf-dir", str(folder), "--name", "x", "--hf-model-id", "a/b"])


def test_profile_mistakes_are_one_line_and_write_nothing(tmp_path, capsys, qwen_folder):
    assert "a profile name is lower-case" in one_error_line(
        capsys, ["profile", "--hf-dir", str(qwen_folder), "--name", "My Qwen"])
    assert "named after its model, q.yaml" in one_error_line(
        capsys, ["profile", "--hf-dir", str(qwen_folder), "--name", "q", "--out", str(tmp_path / "other.yaml")])
    (tmp_path / "q.yaml").write_text("keep me")
    assert "--force replaces it" in one_error_line(
        capsys, ["profile", "--hf-dir", str(qwen_folder), "--name", "q", "--out", str(tmp_path)])
    assert (tmp_path / "q.yaml").read_text() == "keep me"
    assert "--hf-model-id" in one_error_line(
        capsys, ["profile", "--hf-dir", str(qwen_folder), "--name", "q", "--hf-model-id", "not a hub id"])
    assert "does not exist" in one_error_line(
        capsys, ["profile", "--hf-dir", str(tmp_path / "none"), "--name", "q", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    assert main(["profile", "--hf-dir", str(qwen_folder), "--name", "q", "--out", str(tmp_path), "--force"]) == 0
    assert load_profile_file(tmp_path / "q.yaml").name == "q"


def test_plan_and_compare_take_a_folder(capsys, tmp_path):
    folder = write_config(tmp_path / "mixtral", PUBLISHED["mixtral-8x7b-instruct"]["config"])
    plan = plan_json(capsys, ["--hf-dir", str(folder)])
    assert plan["model"] == "mixtral" and plan["memory"]["active_parameters"] == 12_879_925_248
    assert plan["rejected"]["lambda-gguf"].startswith("no published Q4_K_M GGUF file for mixtral")
    assert main(["compare", "--hf-dir", str(folder), "--format", "json"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert comparison["model"] == "mixtral" and comparison["chosen_tier"] == plan["tier"]


def test_context_keys_for_a_folder_are_one_line(tmp_path, qwen_folder):
    from tierwise.errors import UserError

    # cdk.json always names a model: -c hf_dir replaces it (the app sees one merged context)
    [stack] = read({"model": "llama3-8b", "hf_dir": str(qwen_folder), "hosting": "self"}).stacks
    assert stack.placement.model != "llama3-8b" and stack.placement.profile.hf_folder is not None
    with pytest.raises(UserError, match="-c hf_dir .* does not exist"):
        read({"hf_dir": str(tmp_path / "missing")})
    with pytest.raises(UserError, match="-c base_hf_dir is the base of a LoRA adapter folder"):
        read({"model": "llama3-8b", "base_hf_dir": str(qwen_folder)})
    # cdk.json can hold any JSON where a path belongs
    for value in (3, ["a"], {"a": 1}, True):
        with pytest.raises(UserError, match="-c hf_dir: a folder path"):
            read({"hf_dir": value})
    with pytest.raises(UserError, match=r"'a\\x00b' does not exist"):
        read({"hf_dir": "a\x00b"})


def test_the_app_synthesizes_nothing_half_written_for_a_bad_folder(tmp_path):
    out = tmp_path / "cdk.out"
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_OUTDIR": str(out),
           "CDK_CONTEXT_JSON": json.dumps({"hf_dir": str(tmp_path / "missing")})}
    run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: -c hf_dir {tmp_path / 'missing'} does not exist; give a local "
                                                "Hugging Face model folder (with config.json)"]
    assert not out.exists() or not any(out.iterdir())  # no template, no manifest


def test_the_folder_benchmark_sizes_its_100_gb_stand_ins_exactly():
    """benchmarks/hf_folder_bench.py builds header-only (sparse) shards of 141 GB and 281 GB models;
    its timing is for people to read, the counts are checked here."""
    run = subprocess.run([sys.executable, "benchmarks/hf_folder_bench.py", "--runs", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()[1:]}
    assert f"{load_profile('llama3-70b').parameters:,}" in rows["llama-3-70b"]
    assert "140,620,634,112" in rows["mixtral-8x22b"]
