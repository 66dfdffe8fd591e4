"""How long sizing a Hugging Face folder takes when it holds a 100+ GB model: only config.json and
the safetensors headers are read, so the time must not grow with the weights.

The folders are built here as sparse files: each shard has its real header and a hole where the
tensor data would be, so it has the full size on `ls -l` and takes almost no disk. Prints, per
model: the folder's apparent size, the disk it really takes, shards, tensors, parameters, and the
time `model_profiles.resolve(hf_dir=...)` takes (best and median of the runs).

    .venv/bin/python benchmarks/hf_folder_bench.py [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_profiles import resolve  # noqa: E402
from model_profiles.hf_config import read_shape, weights  # noqa: E402

# config.json keys of two public models (sources in tests/core/hf_published.py and the catalogue)
MODELS = {
    "llama-3-70b (dense)": ({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
        "max_position_embeddings": 8192, "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": 8,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 128256,
    }, 30),
    "mixtral-8x22b (mixture of experts)": ({
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 6144,
        "intermediate_size": 16384, "max_position_embeddings": 65536, "num_attention_heads": 48,
        "num_experts_per_tok": 2, "num_hidden_layers": 56, "num_key_value_heads": 8, "num_local_experts": 8,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32000,
    }, 59),
}


def sparse_files_work(folder: Path) -> bool:
    probe = folder / "probe"
    with open(probe, "wb") as fh:
        fh.truncate(1 << 30)
    used = probe.stat().st_blocks * 512
    probe.unlink()
    return used < 1 << 20


def write_folder(folder: Path, config: dict, shards: int) -> None:
    """config.json, model.safetensors.index.json and `shards` header-only BF16 shards."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    tensors = []
    for w in weights(read_shape(config, "bench")):
        if w.n_in:  # a Linear: weight [out, in], its bias when the elements say so
            tensors.append((w.name + ".weight", [w.n_out, w.n_in]))
            if w.elements > w.n_in * w.n_out:
                tensors.append((w.name + ".bias", [w.n_out]))
        elif w.role == "embedding":
            tensors.append((w.name + ".weight", [config["vocab_size"], config["hidden_size"]]))
        else:
            tensors.append((w.name + ".weight", [w.elements]))
    per_shard = -(-len(tensors) // shards)
    weight_map = {}
    for k in range(shards):
        part = tensors[k * per_shard:(k + 1) * per_shard]
        name = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        header, offset = {}, 0
        for tensor, shape in part:
            n = 2
            for d in shape:
                n *= d
            header[tensor] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
            offset += n
            weight_map[tensor] = name
        raw = json.dumps({"__metadata__": {"format": "pt"}, **header}).encode()
        raw += b" " * (-len(raw) % 8)
        with open(folder / name, "wb") as fh:
            fh.write(struct.pack("<Q", len(raw)) + raw)
            fh.truncate(8 + len(raw) + offset)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the folders here and keep them")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="tierwise-hf-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    if not sparse_files_work(base):
        print(f"{base}: this file system does not keep holes (sparse files); a 100 GB stand-in would fill it")
        return 1
    print(f"{'model':48} {'apparent':>10} {'on disk':>9} {'shards':>6} {'tensors':>7} {'parameters':>18} {'best':>8} {'median':>8}")
    for label, (config, shards) in MODELS.items():
        folder = base / label.split()[0]
        if not folder.exists():
            write_folder(folder, config, shards)
        files = list(folder.iterdir())
        apparent = sum(f.stat().st_size for f in files)
        on_disk = sum(f.stat().st_blocks * 512 for f in files)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            profile = resolve(hf_dir=folder)
            times.append(time.perf_counter() - start)
        print(f"{label:48} {apparent / 1e9:>8.1f} GB {on_disk / 1e6:>6.1f} MB {profile.hf_folder.shards:>6} "
              f"{profile.hf_folder.tensors:>7} {profile.parameters:>18,} {min(times):>7.3f}s {statistics.median(times):>7.3f}s")
    if args.keep is None:
        import shutil

        shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
