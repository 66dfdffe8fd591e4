"""LoRA adapter folders: sized as their base plus r x (in + out) per adapted matrix, against a
published count, exact from adapter_model.safetensors, and PEFT's targeting rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from model_profiles import load_profile, resolve
from tests.core.hf_folders import TINY_LLAMA, TINY_MIXTRAL, one_error_line, write_config
from tests.core.hf_published import PUBLISHED
from tierwise.sizing import estimate_gguf_profile, estimate_gpu


def adapter(tmp_path, name="adapter", **config):
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", **config}), encoding="utf-8")
    return folder


def test_a_published_lora_count_on_a_base_folder(tmp_path):
    """Llama-2-7b with a rank-8 adapter on q_proj and v_proj: PEFT printed "trainable params:
    4194304 || all params: 6742609920" (ipex-llm's LoRA fine-tuning README, tests/core/hf_published.py)."""
    base = write_config(tmp_path / "llama-2-7b-hf", PUBLISHED["llama-2-7b"]["config"])
    folder = adapter(tmp_path, base_model_name_or_path="meta-llama/Llama-2-7b-hf", r=8, lora_alpha=16,
                     target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    profile = resolve(hf_dir=folder, base_hf_dir=base)
    assert profile.adapter.parameters == 4_194_304
    assert profile.parameters == 6_742_609_920
    assert profile.adapter.base_parameters == 6_738_415_616
    assert (profile.adapter.rank, profile.adapter.target_modules, profile.adapter.adapted_matrices) == (8, ["q_proj", "v_proj"], 64)
    assert profile.adapter.weights_from == "adapter_config.json"
    assert "served as an adapter" in profile.notes and "merged" in profile.notes


def test_a_catalogue_base_is_found_by_its_hub_id(tmp_path):
    # r=16 on every projection of Llama 3 8B: 16 x (in + out) summed over the 7 matrices x 32 layers
    folder = adapter(tmp_path, base_model_name_or_path="meta-llama/meta-llama-3-8b-instruct", r=16,
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    profile = resolve(hf_dir=folder)
    base = load_profile("llama3-8b")
    per_layer = (4096 + 4096) * 2 + (4096 + 1024) * 2 + (4096 + 14336) * 3
    assert profile.adapter.parameters == 16 * per_layer * 32 == 41_943_040
    assert profile.adapter.base_model == "llama3-8b"
    assert profile.parameters == base.parameters + 41_943_040
    assert profile.architecture == base.architecture
    # "all-linear" is every Linear but the output layer: the same seven matrices
    same = resolve(hf_dir=adapter(tmp_path, "all-linear", base_model_name_or_path="meta-llama/Meta-Llama-3-8B-Instruct",
                                  r=16, target_modules="all-linear"))
    assert same.adapter.parameters == 41_943_040


def test_exact_count_and_dtype_from_adapter_model_safetensors(tmp_path):
    base = write_config(tmp_path / "tiny", TINY_LLAMA)
    folder = adapter(tmp_path, base_model_name_or_path="local/tiny", r=4, target_modules=["q_proj", "v_proj"])
    rng = np.random.default_rng(0)
    d, kv = 64, 2 * 16
    tensors = {}
    for i in range(TINY_LLAMA["num_hidden_layers"]):
        p = f"base_model.model.model.layers.{i}.self_attn."
        tensors[p + "q_proj.lora_A.weight"] = rng.standard_normal((4, d)).astype(np.float32)
        tensors[p + "q_proj.lora_B.weight"] = rng.standard_normal((d, 4)).astype(np.float32)
        tensors[p + "v_proj.lora_A.weight"] = rng.standard_normal((4, d)).astype(np.float32)
        tensors[p + "v_proj.lora_B.weight"] = rng.standard_normal((kv, 4)).astype(np.float32)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    profile = resolve(hf_dir=folder, base_hf_dir=base)
    assert profile.adapter.parameters == sum(a.size for a in tensors.values())
    assert profile.adapter.weights_from == "adapter_model.safetensors" and profile.adapter.dtype == "F32"
    assert profile.hf_folder.config_parameters == profile.adapter.parameters  # the config agrees with the file
    assert profile.hf_folder.stored_bytes == sum(a.nbytes for a in tensors.values())


@pytest.mark.parametrize("extra,expected", [
    # a regular expression matched against the whole module name: layer 0's q_proj only
    ({"target_modules": r"model\.layers\.0\.self_attn\.q_proj"}, 4 * (64 + 64)),
    # layers_to_transform keeps two of the three layers
    ({"target_modules": ["q_proj"], "layers_to_transform": [0, 2]}, 2 * 4 * (64 + 64)),
    # rank_pattern gives v_proj rank 8
    ({"target_modules": ["q_proj", "v_proj"], "rank_pattern": {"v_proj": 8}}, 3 * (4 * 128 + 8 * (64 + 32))),
    # DoRA adds a magnitude per output feature
    ({"target_modules": ["o_proj"], "use_dora": True}, 3 * (4 * 128 + 64)),
    # modules_to_save copies the output layer whole
    ({"target_modules": ["down_proj"], "modules_to_save": ["lm_head"]}, 3 * 4 * (128 + 64) + 256 * 64),
    ({"target_modules": ["q_proj"], "exclude_modules": r".*layers\.1\..*"}, 2 * 4 * 128),
])
def test_peft_targeting_rules(tmp_path, extra, expected):
    base = write_config(tmp_path / "tiny", TINY_LLAMA)
    folder = adapter(tmp_path, base_model_name_or_path="local/tiny", r=4, **extra)
    assert resolve(hf_dir=folder, base_hf_dir=base).adapter.parameters == expected


def test_an_adapter_on_a_mixture_of_experts_keeps_the_base_routing(tmp_path):
    base = write_config(tmp_path / "tiny-moe", TINY_MIXTRAL)
    folder = adapter(tmp_path, base_model_name_or_path="local/moe", r=2, target_modules=["w1"])
    profile = resolve(hf_dir=folder, base_hf_dir=base)
    # w1 of 4 experts x 2 layers, 64 -> 96
    assert profile.adapter.parameters == 2 * 4 * 2 * (64 + 96)
    base_profile = resolve(hf_dir=base)
    assert profile.active_parameters == base_profile.active_parameters + profile.adapter.parameters


def test_served_as_an_adapter_on_the_gpu_merged_for_a_gguf(tmp_path):
    folder = adapter(tmp_path, base_model_name_or_path="Qwen/Qwen2.5-7B-Instruct", r=64, target_modules="all-linear")
    profile = resolve(hf_dir=folder)
    base = load_profile("qwen2.5-7b")
    gguf, gguf_base = estimate_gguf_profile(profile), estimate_gguf_profile(base.model_copy(update={"gguf": None}))
    assert gguf.weights_bytes == gguf_base.weights_bytes  # merged: the adapter adds no tensor
    assert any("merged into qwen2.5-7b's weights" in s for s in gguf.steps)
    gpu, gpu_base = estimate_gpu(profile), estimate_gpu(base)
    assert gpu.weights_bytes - gpu_base.weights_bytes == pytest.approx(profile.adapter.parameters * 2, abs=2)
    assert any("served beside qwen2.5-7b's weights" in s for s in gpu.steps)


@pytest.mark.parametrize("config,expected", [
    ({"base_model_name_or_path": "someone/unknown-7b", "r": 8, "target_modules": ["q_proj"]},
     "is no catalogue model's hf_model_id"),
    ({"r": 8, "target_modules": ["q_proj"]}, "names no base_model_name_or_path"),
    ({"peft_type": "IA3", "base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "target_modules": ["q_proj"]},
     "peft_type 'IA3'"),
    ({"base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "r": 8, "target_modules": ["c_attn"]},
     "match no module of llama3-8b"),
    ({"base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "r": 0, "target_modules": ["q_proj"]},
     "r must be a whole number"),
    ({"base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "r": 8, "target_modules": "("},
     "not a regular expression"),
    ({"base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "r": 8, "target_modules": ["q_proj"],
      "target_parameters": ["experts.gate_up_proj"]}, "target_parameters"),
])
def test_a_bad_adapter_is_one_line(tmp_path, capsys, config, expected):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", **config}))
    line = one_error_line(capsys, ["size", "--hf-dir", str(folder)])
    assert expected in line
    if "hf_model_id" in expected:
        assert "--base-hf-dir" in line and "meta-llama/Meta-Llama-3-8B-Instruct" in line


def test_base_folder_mistakes_are_one_line(tmp_path, capsys):
    folder = adapter(tmp_path, base_model_name_or_path="x/y", r=8, target_modules=["q_proj"])
    assert "is itself a LoRA adapter" in one_error_line(capsys, ["size", "--hf-dir", str(folder), "--base-hf-dir", str(folder)])
    full = write_config(tmp_path / "full", TINY_LLAMA)
    assert "not a LoRA adapter" in one_error_line(capsys, ["size", "--hf-dir", str(full), "--base-hf-dir", str(full)])
