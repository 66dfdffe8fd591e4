"""Synthesize the tierwise app in the variants a refactoring must leave unchanged, one cloud
assembly per variant, for scripts/compare_synth.py to compare.

    python scripts/synth_variants.py OUTDIR [VARIANT ...]     # run from a source tree's root

`-c model=all` covers every catalogue model on its planned tier; the other variants reach
what the catalogue does not: tiers forced onto a model, a GGUF from S3 or a local file, a
pushed image, arm64, GPU autoscaling bounds, a Hub token. To compare a branch with main:

    git archive main | tar -x -C /tmp/main-src
    (cd /tmp/main-src && python $OLDPWD/scripts/synth_variants.py /tmp/before)
    python scripts/synth_variants.py /tmp/after
    for v in $(ls /tmp/before); do python scripts/compare_synth.py /tmp/before/$v /tmp/after/$v; done

The source tree is the working directory (its app.py, tiers/ and stacks/ are imported), so the
same script synthesizes either tree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tierwise-runtime:ci"
S3_GGUF = "s3://my-models/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf"  # the plan's own file name



def stand_in_gguf(model: str, path: Path) -> str:
    """A GGUF header with `model`'s shape and one 1-element tensor: what a local -c model_uri must
    declare (the app checks the file holds the catalogue model), the same bytes in every run so the
    S3 asset's hash is stable."""
    import numpy as np
    from gguf import GGUFWriter

    from model_profiles import load_profile

    arch = load_profile(model).architecture
    writer = GGUFWriter(str(path), arch.gguf_architecture)
    writer.add_block_count(arch.layers)
    writer.add_context_length(arch.max_context)
    writer.add_embedding_length(arch.embedding_width)
    writer.add_head_count(arch.attention_heads)
    writer.add_head_count_kv(arch.kv_heads)
    writer.add_tensor("stand_in", np.zeros(1, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


def variants(inputs: Path) -> dict[str, dict[str, str]]:
    return {
        "all": {"model": "all"},
        "all-us-east-1": {"model": "all", "region": "us-east-1"},
        "serverless-gguf": {"model": "qwen2.5-0.5b", "tier": "sagemaker-serverless"},
        "serverless-s3-image": {"model": "qwen2.5-0.5b", "tier": "sagemaker-serverless", "model_uri": S3_GGUF,
                                "image_uri": IMAGE, "region": "us-east-1"},
        "serverless-file": {"model": "qwen2.5-0.5b", "tier": "sagemaker-serverless", "model_uri": str(inputs / "qwen2.5-0.5b.gguf")},
        "provisioned": {"model": "nova-pro", "tier": "bedrock-provisioned", "commitment": "OneMonth"},
        "lambda-s3": {"model": "llama3-8b", "tier": "lambda-gguf", "batch": "true", "model_uri": "s3://my-models/llama/x.gguf"},
        "lambda-file": {"model": "llama3-8b", "tier": "lambda-gguf", "batch": "true", "model_uri": str(inputs / "llama3-8b.gguf")},
        "lambda-image": {"model": "llama3-8b", "tier": "lambda-gguf", "batch": "true", "image_uri": IMAGE, "region": "us-east-1"},
        "lambda-s3-image-arm": {"model": "llama3-8b", "tier": "lambda-gguf", "batch": "true", "image_uri": IMAGE, "model_uri": "s3://my-models/llama/x.gguf",
                                "architecture": "arm64", "region": "us-east-1"},
        "gpu-scaling": {"model": "llama3-70b", "tier": "sagemaker-gpu", "min_instances": "2", "max_instances": "3", "hf_token_secret": "hf-token",
                        "region": "us-east-1"},
        "gpu-8b": {"model": "llama3-8b", "tier": "sagemaker-gpu", "requests_per_month": "1000000", "hf_token_secret": "hf-token",
                   "region": "us-east-1"},
        "classifier-2m": {"model": "distilbert-sst2", "requests_per_month": "2000000"},
        "lambda-batch": {"model": "tinyllama-1.1b", "tier": "lambda-gguf", "requests_per_month": "200000",
                         "input_tokens": "1500", "output_tokens": "400", "batch": "true"},
        "gpu-image": {"model": "llama3-70b", "tier": "sagemaker-gpu", "image_uri": IMAGE, "hf_token_secret": "hf-token", "region": "us-east-1"},
    }


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    outdir = Path(argv[0]).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    inputs = outdir / ".inputs"  # a dot folder: `ls OUTDIR` lists only assemblies
    inputs.mkdir(exist_ok=True)
    sys.path.insert(0, os.getcwd())  # the source tree being synthesized, not this script's
    for model in ("qwen2.5-0.5b", "llama3-8b"):
        stand_in_gguf(model, inputs / f"{model}.gguf")
    table = variants(inputs)
    unknown = [name for name in argv[1:] if name not in table]
    if unknown:
        print(f"error: unknown variant {unknown[0]!r}; variants: {', '.join(table)}", file=sys.stderr)
        return 2
    import app

    for name in argv[1:] or table:
        app.main(dict(table[name]), str(outdir / name)).synth()
        print(f"synthesized {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
