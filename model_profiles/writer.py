"""A ModelProfile written back as a catalogue file, saying where each figure came from."""

from __future__ import annotations

import yaml

from model_profiles.schema import ModelProfile


def profile_yaml(profile: ModelProfile) -> str:
    """The catalogue YAML of `profile`: comment lines naming the folder and the source of each
    figure (also kept as data under hf_folder.figures), then the fields the schema validates."""
    data = profile.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    lines = [f"# {profile.display_name}"]
    folder = profile.hf_folder
    if folder is not None:
        read = (f"config.json and {folder.shards} safetensors header(s) read" if folder.shards
                else "config.json read (no safetensors file in the folder)")
        lines.append(f"# Written by `tierwise profile` on {folder.read} from {folder.path}: {read}; nothing "
                     "downloaded, no weight loaded.")
        lines.append("# Where each figure came from (also under hf_folder.figures):")
        lines += [f"#   {field}: {source}" for field, source in folder.figures.items()]
    if profile.adapter is not None:
        a = profile.adapter
        lines.append(f"# LoRA adapter on {a.base_model}: parameters = {a.base_parameters:,} (base) + "
                     f"{a.parameters:,} (adapter, from {a.weights_from}).")
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    # a folder name may hold any character but a line break may not end a comment early
    return "\n".join(" ".join(line.splitlines()) for line in lines) + "\n" + body
