"""A local Hugging Face folder sized as a ModelProfile: parameter counts against published figures,
exact counts from real safetensors files, mixtures of experts, and every damaged input as one line."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from model_profiles import ProfileError, load_profile, resolve
from model_profiles.safetensors_header import MAX_HEADER_BYTES
from tests.core.hf_folders import (
    TINY_LLAMA, TINY_MIXTRAL, llama_state, one_error_line, write_config, write_raw, write_shards,
)
from tests.core.hf_published import CATALOGUE_CHECKED, PUBLISHED
from tierwise.cli import main
from tierwise.sizing import estimate_gguf_profile, estimate_gpu
from tierwise.tensors import parameter_count

BAND = 0.005  # the bar: within 0.5% of the published figure


def folder_of(tmp_path, name, config):
    return write_config(tmp_path / name, config)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_from_config_json_alone_is_within_half_a_percent_of_the_published_figure(tmp_path, name):
    entry = PUBLISHED[name]
    profile = resolve(hf_dir=folder_of(tmp_path, name, entry["config"]))
    error = profile.parameters / entry["published"] - 1
    assert abs(error) <= BAND, f"{name}: {profile.parameters:,} against {entry['published']:,.0f} ({error:+.3%}), {entry['published_source']}"
    if "published_active" in entry:
        active_error = profile.active_parameters / entry["published_active"] - 1
        assert abs(active_error) <= BAND, f"{name}: {profile.active_parameters:,} active ({active_error:+.3%})"
    else:
        assert profile.active_parameters is None
    # the GGUF tensor inventory sizing uses holds the same parameters as the checkpoint
    assert parameter_count(profile.architecture) == profile.parameters
    assert profile.hf_folder.weights_from == "config.json"
    assert profile.architecture.source.scheme == "file"


@pytest.mark.parametrize("name", [n for n in sorted(PUBLISHED) if "published_non_embedding" in PUBLISHED[n]])
def test_non_embedding_parameters_match_the_reports_exactly(tmp_path, name):
    entry = PUBLISHED[name]
    cfg = entry["config"]
    profile = resolve(hf_dir=folder_of(tmp_path, name, cfg))
    assert profile.parameters - cfg["vocab_size"] * cfg["hidden_size"] == entry["published_non_embedding"]


def test_the_named_cases_are_covered():
    families = {e["config"]["model_type"] for e in PUBLISHED.values()}
    assert {"llama", "mixtral", "qwen2", "qwen2_moe", "gemma", "gemma2", "phi3"} <= families
    assert len(PUBLISHED) >= 8


def test_a_tied_embedding_model_counts_its_embedding_once(tmp_path):
    cfg = PUBLISHED["llama-3.2-3b-instruct"]["config"]
    tied = resolve(hf_dir=folder_of(tmp_path, "tied", cfg))
    untied = resolve(hf_dir=folder_of(tmp_path, "untied", {**cfg, "tie_word_embeddings": False}))
    assert tied.architecture.tied_embeddings and not untied.architecture.tied_embeddings
    assert untied.parameters - tied.parameters == cfg["vocab_size"] * cfg["hidden_size"]
    # GGUF: no separate output matrix when tied
    assert estimate_gguf_profile(untied).weights_bytes > estimate_gguf_profile(tied).weights_bytes


def test_qwen2_q_k_v_biases_are_counted(tmp_path):
    cfg = PUBLISHED["qwen2.5-7b-instruct"]["config"]
    profile = resolve(hf_dir=folder_of(tmp_path, "qwen", cfg))
    assert profile.architecture.attention_bias and not profile.architecture.attention_output_bias
    # the same shape as a llama (no bias) is smaller by exactly the q, k and v biases
    llama = resolve(hf_dir=folder_of(tmp_path, "as-llama", {**cfg, "model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    heads, kv, layers = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    head_dim = cfg["hidden_size"] // heads
    assert profile.parameters - llama.parameters == layers * (heads + 2 * kv) * head_dim


def test_llama_attention_and_mlp_bias_keys_add_their_biases(tmp_path):
    cfg = PUBLISHED["llama-2-7b"]["config"]
    plain = resolve(hf_dir=folder_of(tmp_path, "plain", cfg))
    biased = resolve(hf_dir=folder_of(tmp_path, "biased", {**cfg, "attention_bias": True, "mlp_bias": True}))
    d, ffn, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    assert biased.parameters - plain.parameters == layers * (4 * d + 2 * ffn + d)
    assert parameter_count(biased.architecture) == biased.parameters


@pytest.mark.parametrize("name", sorted(CATALOGUE_CHECKED))
def test_a_folder_sizes_exactly_like_the_catalogue_model_it_holds(tmp_path, name):
    profile = resolve(hf_dir=folder_of(tmp_path, name, CATALOGUE_CHECKED[name]))
    catalogue = load_profile(name)
    assert profile.parameters == catalogue.parameters
    mine = profile.architecture.model_dump(exclude={"source"})
    theirs = catalogue.architecture.model_dump(exclude={"source"})
    assert mine == theirs
    # the same memory estimate, byte for byte (set aside what is a property of a published GGUF
    # file, not of the model: some converters write a tied output matrix twice)
    as_converted = catalogue.model_copy(update={"gguf": None})
    assert estimate_gguf_profile(profile, "Q4_K_M").weights_bytes == estimate_gguf_profile(as_converted, "Q4_K_M").weights_bytes
    assert estimate_gpu(profile).total_bytes == estimate_gpu(catalogue).total_bytes


# --- exact counts from real safetensors files ---------------------------------------------------


def test_safetensors_headers_give_the_exact_count_and_dtype(tmp_path):
    folder = folder_of(tmp_path, "tiny", TINY_LLAMA)
    state = llama_state(TINY_LLAMA)
    write_shards(folder, state, shards=2)
    profile = resolve(hf_dir=folder)
    assert profile.parameters == sum(a.size for a in state.values())
    assert profile.hf_folder.weights_from == "safetensors headers"
    assert (profile.hf_folder.shards, profile.hf_folder.tensors) == (2, len(state))
    assert profile.hf_folder.stored_bytes == sum(a.nbytes for a in state.values())
    assert profile.hf_folder.stored_dtype == "F16" and profile.serving_dtype == "F16"
    assert "safetensors headers" in profile.hf_folder.figures["parameters"]


def test_the_headers_win_over_config_json(tmp_path):
    folder = folder_of(tmp_path, "tiny", {**TINY_LLAMA, "vocab_size": 300, "torch_dtype": "bfloat16"})
    state = llama_state(TINY_LLAMA, dtype=np.float32)
    write_shards(folder, state, shards=1)
    profile = resolve(hf_dir=folder)
    assert profile.parameters == sum(a.size for a in state.values())
    assert profile.hf_folder.config_parameters != profile.parameters
    assert profile.serving_dtype == "F32"
    assert "the headers win" in profile.notes and "BF16" in profile.notes


def test_a_mixture_of_experts_from_its_headers(tmp_path):
    folder = folder_of(tmp_path, "tiny-moe", TINY_MIXTRAL)
    state = llama_state(TINY_MIXTRAL, seed=1)
    write_shards(folder, state, shards=3)
    profile = resolve(hf_dir=folder)
    experts = sum(a.size for n, a in state.items() if ".experts." in n)
    total = sum(a.size for a in state.values())
    assert profile.parameters == total
    assert profile.active_parameters == total - experts + experts * 2 // 4
    assert profile.architecture.experts == 4 and profile.architecture.experts_per_token == 2


def test_a_bf16_checkpoint_written_byte_by_byte(tmp_path):
    folder = folder_of(tmp_path, "bf16", {**TINY_LLAMA, "torch_dtype": "bfloat16"})
    shapes = {n: ("BF16", list(a.shape)) for n, a in llama_state(TINY_LLAMA).items()}
    write_raw(folder / "model.safetensors", shapes)
    profile = resolve(hf_dir=folder)
    assert profile.serving_dtype == "BF16"
    assert profile.parameters == sum(int(np.prod(s)) for _, s in shapes.values())


def test_mistral_consolidated_duplicate_is_not_counted_twice(tmp_path):
    from safetensors.numpy import save_file

    folder = folder_of(tmp_path, "mistral", TINY_LLAMA)
    state = llama_state(TINY_LLAMA)
    write_shards(folder, state, shards=1)
    # Mistral's repositories carry the same weights again in their own format and names
    save_file({"tok_embeddings.weight": state["model.embed_tokens.weight"]}, str(folder / "consolidated.safetensors"))
    assert resolve(hf_dir=folder).parameters == sum(a.size for a in state.values())


# --- the speed model reads the active experts --------------------------------------------------


def test_moe_decode_reads_the_active_experts_and_dense_models_are_unchanged(tmp_path):
    import dataclasses

    from tierwise.facts import gpu_instances
    from tierwise.serving import ModelShape, Server, step_seconds
    from tierwise.throughput import cpu_speed

    moe = resolve(hf_dir=folder_of(tmp_path, "mixtral", PUBLISHED["mixtral-8x7b-instruct"]["config"]))
    est = estimate_gguf_profile(moe, "Q4_K_M")
    assert est.experts is not None and est.experts.count == 8 and est.experts.per_token == 2
    # one sequence reads the shared weights and 2 of 8 experts: 7.97 GB of the 28.45 GB file
    assert est.weights_read_per_token == est.weights_bytes - est.experts.weights_bytes + est.experts.weights_bytes // 4
    assert 7.9e9 < est.weights_read_per_token < 8.0e9
    with_experts = cpu_speed(vcpus=6, weights_bytes=est.weights_bytes, kv_bytes_per_token_read=0,
                             parameters=moe.active_parameters, experts=est.experts)
    as_dense = cpu_speed(vcpus=6, weights_bytes=est.weights_read_per_token, kv_bytes_per_token_read=0,
                         parameters=moe.active_parameters)
    assert with_experts.decode_tokens_per_second == pytest.approx(as_dense.decode_tokens_per_second)
    gpu = estimate_gpu(moe)
    inst = next(i for i in gpu_instances() if i.instance_type == "ml.g6e.12xlarge")
    server = Server.for_instance(inst, "BF16", gpu.weights_bytes, gpu.runtime_bytes)
    shape = ModelShape.of(moe, gpu)
    dense = dataclasses.replace(shape, experts=None, parameters=moe.parameters)
    one = step_seconds(shape, server, decode=1, context=700)
    # a step reads 25.8 GB (shared weights + 2 of 8 experts) instead of 93.4 GB; the all-reduce of
    # tensor parallelism and the engine's step cost are the same for both
    assert shape.weights_read(1) == gpu.weights_read_per_token
    assert step_seconds(dense, server, decode=1, context=700) > 2 * one
    # 64 batched tokens touch nearly every expert: the step reads nearly the whole model
    assert gpu.experts.touched_fraction(64) > 0.99 and gpu.experts.touched_fraction(1) == 0.25


def test_size_json_gives_parameters_and_active_parameters(tmp_path, capsys):
    folder = folder_of(tmp_path, "mixtral", PUBLISHED["mixtral-8x7b-instruct"]["config"])
    assert main(["size", "--hf-dir", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parameters"] == 46_702_792_704 and out["active_parameters"] == 12_879_925_248
    assert out["active_weights_bytes"] < out["weights_bytes"] / 3
    assert main(["size", "llama3-8b", "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    assert dense["active_parameters"] == dense["parameters"] and dense["active_weights_bytes"] == dense["weights_bytes"]


# Published GGUF file sizes of Mixtral 8x7B (HF tree listing, decimal GB to one decimal):
# https://huggingface.co/mradermacher/Mixtral-8x7B-v0.1-GGUF/tree/main (read 2026-12-03)
MIXTRAL_GGUF_GB = {"Q2_K": 17.3, "Q3_K_M": 22.5, "Q4_K_S": 26.7, "Q4_K_M": 28.4, "Q5_K_S": 32.2, "Q5_K_M": 33.2,
                   "Q6_K": 38.4, "Q8_0": 49.6}


@pytest.mark.parametrize("recipe", sorted(MIXTRAL_GGUF_GB))
def test_mixtral_gguf_file_sizes_match_the_published_files(tmp_path, recipe):
    moe = resolve(hf_dir=folder_of(tmp_path, "mixtral", PUBLISHED["mixtral-8x7b-instruct"]["config"]))
    published = MIXTRAL_GGUF_GB[recipe] * 1e9
    # the listing rounds to 0.05 GB either way; 0.2% more for the estimated metadata
    assert abs(estimate_gguf_profile(moe, recipe).file_bytes - published) <= 0.05e9 + 0.002 * published


# --- bad input: one line each ------------------------------------------------------------------


def damaged(tmp_path, **kwargs):
    folder = folder_of(tmp_path, "damaged", TINY_LLAMA)
    shapes = {n: ("F16", list(a.shape)) for n, a in llama_state(TINY_LLAMA).items()}
    write_raw(folder / "model.safetensors", shapes, **kwargs)
    return folder


@pytest.mark.parametrize("make,expected", [
    (lambda p: (p / "model.safetensors").write_bytes(b"\x01\x02"), "truncated"),
    (lambda p: (p / "model.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}"), "limit"),
    (lambda p: (p / "model.safetensors").write_bytes((500).to_bytes(8, "little") + b"{}"), "truncated"),
    (lambda p: (p / "model.safetensors").write_bytes((8).to_bytes(8, "little") + b"{not js}"), "not valid JSON"),
    (lambda p: (p / "model.safetensors").write_bytes((4).to_bytes(8, "little") + b"\xff\xfe{}"), "not UTF-8"),
    (lambda p: (p / "model.safetensors").write_bytes((2).to_bytes(8, "little") + b"[]"), "JSON object"),
])
def test_a_malformed_safetensors_header_is_one_line(tmp_path, capsys, make, expected):
    folder = folder_of(tmp_path, "bad", TINY_LLAMA)
    make(folder)
    assert expected in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_a_header_above_the_formats_limit_is_refused_before_it_is_read(tmp_path, capsys):
    folder = folder_of(tmp_path, "huge", TINY_LLAMA)
    with open(folder / "model.safetensors", "wb") as fh:
        fh.write((MAX_HEADER_BYTES + 1).to_bytes(8, "little"))
        fh.truncate(MAX_HEADER_BYTES + 64)  # a sparse file: as long as the header claims, never read
    assert "100,000,000-byte limit" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_truncated_data_and_trailing_bytes_are_refused(tmp_path, capsys):
    folder = damaged(tmp_path)
    path = folder / "model.safetensors"
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 1)
    assert "is truncated: its tensors end at byte" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])
    folder = damaged(tmp_path / "b", trailing=b"polyglot")
    assert "longer than its header says" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


@pytest.mark.parametrize("spec,expected", [
    ({"dtype": "F17", "shape": [2], "data_offsets": [0, 4]}, "dtype 'F17'"),
    ({"dtype": "F16", "shape": [2, -1], "data_offsets": [0, 4]}, "whole numbers"),
    ({"dtype": "F16", "shape": [4], "data_offsets": [0, 4]}, "needs 8"),
    ({"dtype": "F16", "shape": [2], "data_offsets": [4, 8]}, "contiguous"),
    ({"dtype": "F16", "shape": [2], "data_offsets": [0, 4], "extra": 1}, "exactly dtype"),
    ({"dtype": "F16", "shape": [True, 2], "data_offsets": [0, 4]}, "whole numbers"),
])
def test_a_lying_tensor_entry_is_one_line(tmp_path, capsys, spec, expected):
    import struct

    folder = folder_of(tmp_path, "lying", TINY_LLAMA)
    raw = json.dumps({"model.embed_tokens.weight": spec}).encode()
    data_end = spec["data_offsets"][1]
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(data_end))
    assert expected in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_a_duplicate_key_or_nan_in_config_json_is_refused(tmp_path, capsys):
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama", "model_type": "falcon"}')
    assert "appears twice" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])
    (folder / "config.json").write_text(json.dumps(TINY_LLAMA).replace('"hidden_size": 64', '"hidden_size": NaN'))
    assert "NaN is not a JSON number" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_a_missing_shard_listed_in_the_index_is_one_line(tmp_path, capsys):
    folder = folder_of(tmp_path, "partial", TINY_LLAMA)
    files = write_shards(folder, llama_state(TINY_LLAMA), shards=2)
    files[1].unlink()
    line = one_error_line(capsys, ["size", "--hf-dir", str(folder)])
    assert "incomplete" in line and files[1].name in line


def test_an_index_naming_a_file_outside_the_folder_is_refused(tmp_path, capsys):
    folder = folder_of(tmp_path, "escape", TINY_LLAMA)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../../etc/passwd"}}))
    assert "not a .safetensors file in the folder" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_an_unknown_architecture_names_the_supported_ones(tmp_path, capsys):
    folder = folder_of(tmp_path, "falcon", {"architectures": ["FalconForCausalLM"], "model_type": "falcon"})
    line = one_error_line(capsys, ["size", "--hf-dir", str(folder)])
    assert "'falcon' (FalconForCausalLM) is not an architecture tierwise sizes" in line
    for family in ("gemma", "gemma2", "llama", "mistral", "mixtral", "phi3", "qwen2", "qwen2_moe"):
        assert family in line


@pytest.mark.parametrize("change,expected", [
    ({"quantization_config": {"quant_method": "gptq"}}, "quantized checkpoint"),
    ({"num_hidden_layers": None}, "num_hidden_layers is missing"),
    ({"hidden_size": "4096"}, "hidden_size must be a whole number"),
    ({"hidden_size": 65, "num_attention_heads": 4}, "not a multiple"),
    ({"torch_dtype": "int8"}, "torch_dtype 'int8'"),
    ({"torch_dtype": None}, "names no torch_dtype"),
    ({"num_key_value_heads": 3}, "multiple of kv_heads"),
])
def test_a_bad_config_json_is_one_line(tmp_path, capsys, change, expected):
    cfg = {k: v for k, v in {**TINY_LLAMA, **change}.items() if v is not None}
    folder = folder_of(tmp_path, "bad-config", cfg)
    assert expected in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


@pytest.mark.parametrize("change,expected", [
    ({"num_experts_per_tok": 9}, "exceeds num_local_experts"),
    ({"num_local_experts": 1}, "from 2"),
])
def test_a_bad_expert_config_is_one_line(tmp_path, capsys, change, expected):
    folder = folder_of(tmp_path, "bad-moe", {**TINY_MIXTRAL, **change})
    assert expected in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_qwen2_moe_dense_layers_are_refused_not_miscounted(tmp_path, capsys):
    cfg = {**PUBLISHED["qwen1.5-moe-a2.7b"]["config"], "mlp_only_layers": [0, 1]}
    folder = folder_of(tmp_path, "qmoe", cfg)
    assert "dense layers among the expert layers" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_a_folder_the_headers_contradict_is_refused(tmp_path, capsys):
    folder = folder_of(tmp_path, "not-moe", TINY_MIXTRAL)
    write_shards(folder, llama_state(TINY_LLAMA), shards=1)
    assert "no tensor in the headers is an expert's" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_folders_that_are_not_model_folders_are_one_line(tmp_path, capsys):
    assert "does not exist" in one_error_line(capsys, ["size", "--hf-dir", str(tmp_path / "nowhere")])
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in one_error_line(capsys, ["size", "--hf-dir", str(tmp_path / "file")])
    (tmp_path / "empty").mkdir()
    assert "holds no config.json" in one_error_line(capsys, ["size", "--hf-dir", str(tmp_path / "empty")])
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    one_error_line(capsys, ["size", "--hf-dir", str(loop)])


def test_a_fifo_named_config_json_does_not_hang(tmp_path, capsys):
    folder = tmp_path / "fifo"
    folder.mkdir()
    os.mkfifo(folder / "config.json")
    assert "not a regular file" in one_error_line(capsys, ["size", "--hf-dir", str(folder)])


def test_a_folder_and_a_model_name_together_is_one_line(tmp_path, capsys):
    folder = folder_of(tmp_path, "x", TINY_LLAMA)
    assert "give one of" in one_error_line(capsys, ["size", "llama3-8b", "--hf-dir", str(folder)])
    assert "goes with --hf-dir" in one_error_line(capsys, ["plan", "llama3-8b", "--base-hf-dir", str(folder)])


def test_resolve_is_the_one_entry_point():
    with pytest.raises(ProfileError, match="either"):
        resolve("llama3-8b", hf_dir="/tmp")
    with pytest.raises(ProfileError, match="give a catalogue model name"):
        resolve()
    assert resolve("llama3-8b") == load_profile("llama3-8b")
