"""A local Hugging Face model folder read into a ModelProfile: config.json for the shape, the
safetensors headers (when present) for exact tensor shapes and dtypes. Nothing is downloaded and
no weight is read, so a folder of any size is sized from a few kilobytes of headers.

`resolve(name=None, hf_dir=None)` is the one way every command and the CDK app turn "a catalogue
name, or a folder" into a profile.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable, NamedTuple

from model_profiles.errors import ProfileError
from model_profiles.files import INDEX_CAP_BYTES, read_json_object, shown_path
from model_profiles.hf_config import Shape, counts, read_shape, weights
from model_profiles.safetensors_header import TensorInfo, read_header
from model_profiles.schema import NAME_MAX, NAME_PATTERN, Architecture, HfFolder, ModelProfile

INDEX = "model.safetensors.index.json"
# dtypes a model's weights are stored in, as safetensors names them, and the profile's names
FLOAT_DTYPES = {"BF16": "BF16", "F16": "F16", "F32": "F32", "F8_E4M3": "F8_E4M3", "F8_E5M2": "F8_E5M2"}
class Flags(NamedTuple):
    """How the user named the folders, for the error lines: CLI options or CDK context keys."""

    hf_dir: str = "--hf-dir"
    base_hf_dir: str = "--base-hf-dir"


CLI_FLAGS = Flags()
CONTEXT_FLAGS = Flags("-c hf_dir", "-c base_hf_dir")
SERVING = {"BF16": "BF16", "F16": "F16", "F32": "F32", "F8_E4M3": "FP8", "F8_E5M2": "FP8"}


def resolve(name: str | None = None, hf_dir: str | Path | None = None,
            base_hf_dir: str | Path | None = None, flags: Flags = CLI_FLAGS) -> ModelProfile:
    """The profile of a catalogue model `name`, or of the local folder `hf_dir` (a full model, a
    mixture of experts, or a LoRA adapter whose base is a catalogue model or `base_hf_dir`)."""
    if name is not None and hf_dir is not None:
        raise ProfileError(f"give either a catalogue model name or {flags.hf_dir} DIR, not both")
    if name is None and hf_dir is None:
        raise ProfileError(f"give a catalogue model name (tierwise models lists them) or {flags.hf_dir} DIR "
                           "(a local Hugging Face folder)")
    if hf_dir is None:
        if base_hf_dir is not None:
            raise ProfileError(f"{flags.base_hf_dir} is the base of a LoRA adapter folder; it goes with {flags.hf_dir}")
        from model_profiles.loader import load_profile

        return load_profile(name)
    return read_folder(hf_dir, base_hf_dir=base_hf_dir, flags=flags)


def folder_name(path: Path) -> str:
    """A profile name from a folder's name: lower case, letters, digits, dots and hyphens."""
    name = re.sub(r"[^a-z0-9.\-]+", "-", path.name.lower()).strip("-.")[:NAME_MAX].rstrip("-.")
    return name or "hf-model"


def check_name(name: str, option: str = "--name") -> str:
    if not re.fullmatch(NAME_PATTERN, name) or len(name) > NAME_MAX:
        raise ProfileError(f"{option} {name[:60]!r}: a profile name is lower-case letters, digits, dots and hyphens, "
                           f"starting with a letter or digit, at most {NAME_MAX} characters")
    return name


def check_folder(path: str | Path, option: str = "--hf-dir") -> Path:
    folder = Path(path).expanduser()
    try:
        is_dir, exists = folder.is_dir(), folder.exists()
        resolved = folder.resolve(strict=True) if is_dir else folder
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ProfileError(f"{option} {shown_path(folder)}: cannot be read "
                           f"({getattr(exc, 'strerror', None) or exc})") from None
    if not is_dir:
        what = "does not exist" if not exists else "is not a folder"
        raise ProfileError(f"{option} {shown_path(folder)} {what}; give a local Hugging Face model folder "
                           "(with config.json)")
    return resolved


def read_folder(path: str | Path, *, name: str | None = None, base_hf_dir: str | Path | None = None,
                flags: Flags = CLI_FLAGS) -> ModelProfile:
    folder = check_folder(path, flags.hf_dir)
    if (folder / "adapter_config.json").exists():
        from model_profiles.lora import read_adapter

        return read_adapter(folder, name=name, base_hf_dir=base_hf_dir, flags=flags)
    if base_hf_dir is not None:
        raise ProfileError(f"{flags.base_hf_dir}: {folder} holds no adapter_config.json, so it is not a LoRA "
                           "adapter; a full model folder needs no base")
    return _full_model(folder, name, flags)


def _full_model(folder: Path, name: str | None, flags: Flags = CLI_FLAGS) -> ModelProfile:
    config_path = folder / "config.json"
    if not config_path.exists():
        raise ProfileError(f"{flags.hf_dir} {folder} holds no config.json (a Hugging Face model folder has one; a "
                           "LoRA adapter folder has adapter_config.json)")
    config = read_json_object(config_path, "config.json")
    shape = read_shape(config, f"{folder.name}/config.json")
    inventory = weights(shape)
    config_total, config_active = counts(inventory, shape.experts, shape.experts_per_token)
    tensors, shards = read_weights_headers(folder)
    figures = dict(shape.figures)
    notes = list(shape.notes)
    if tensors:
        total, active, stored, stored_bytes = _from_headers(tensors, shape)
        source = f"safetensors headers ({len(shards)} file{'s' if len(shards) > 1 else ''}, {len(tensors)} tensors)"
        figures["parameters"] = f"{source}: the sum of every tensor's shape"
        if shape.experts:
            figures["active_parameters"] = (f"{source}: every tensor outside the routed experts + "
                                            f"{shape.experts_per_token}/{shape.experts} of the experts'")
        if total != config_total:
            notes.append(f"config.json's shapes add up to {config_total:,} parameters; the headers hold {total:,}, "
                         "and the headers win")
        if shape.dtype is not None and shape.dtype != stored:
            notes.append(f"config.json's torch_dtype is {shape.dtype}; the headers store {stored}, and they win")
        figures["serving_dtype"] = f"{source}: the dtype most tensor bytes are stored in"
    else:
        total, active, stored_bytes = config_total, config_active, None
        if shape.dtype is None:
            raise ProfileError(f"{folder.name}/config.json names no torch_dtype (or dtype) and the folder has no "
                               ".safetensors file to read it from; add torch_dtype to config.json")
        stored = shape.dtype
        figures["parameters"] = "config.json: the shapes above, weight by weight (no .safetensors file in the folder)"
        if shape.experts:
            figures["active_parameters"] = (f"config.json: every weight outside the routed experts + "
                                            f"{shape.experts_per_token}/{shape.experts} of the experts'")
        figures["serving_dtype"] = "config.json torch_dtype" if "torch_dtype" in config else "config.json dtype"
        if any(folder.glob("*.bin")) or any(folder.glob("*.pt")):
            notes.append("pickled weights (*.bin, *.pt) are never opened: sized from config.json")
    if stored not in SERVING:
        raise ProfileError(f"{folder.name}: weights stored as {stored} are not a precision tierwise serves "
                           f"({', '.join(SERVING)})")
    arch = architecture(shape, config_path.as_uri())
    profile_name = check_name(name) if name else folder_name(folder)
    read = datetime.date.today().isoformat()
    data = {
        "name": profile_name,
        "display_name": f"{folder.name} ({shape.family.architecture}, local folder)",
        "task": "text-generation",
        "open_weights": True,
        "parameters": total,
        "active_parameters": active if shape.experts else None,
        "architecture": arch,
        "serving_dtype": SERVING[stored],
        "hf_folder": HfFolder(
            path=str(folder), read=read, model_type=shape.family.model_type, stored_dtype=stored,
            weights_from="safetensors headers" if tensors else "config.json", shards=len(shards),
            tensors=len(tensors), stored_bytes=stored_bytes, config_parameters=config_total, figures=figures,
        ),
        "notes": " ".join(notes) or None,
    }
    return validated(data, f"{flags.hf_dir} {folder}")


def validated(data: dict, where: str) -> ModelProfile:
    from pydantic import ValidationError

    try:
        return ModelProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(profile)"
        raise ProfileError(f"{where}: {field}: {err['msg']}") from None


def architecture(shape: Shape, source: str) -> Architecture:
    from pydantic import ValidationError

    try:
        return _architecture(shape, source)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ProfileError(f"{source.rsplit('/', 2)[-2]}/config.json: {err['msg'].removeprefix('Value error, ')}") from None


def _architecture(shape: Shape, source: str) -> Architecture:
    return Architecture(
        gguf_architecture=shape.family.gguf, model_type=shape.family.model_type, layers=shape.layers, embedding_width=shape.hidden,
        attention_heads=shape.heads, kv_heads=shape.kv_heads, head_dim=shape.head_dim, ffn_width=shape.ffn,
        vocabulary=shape.vocabulary, tied_embeddings=shape.tied, max_context=shape.max_context,
        attention_bias=shape.attention_bias, attention_output_bias=shape.attention_output_bias,
        ffn_bias=shape.ffn_bias, experts=shape.experts, experts_per_token=shape.experts_per_token,
        shared_expert_ffn_width=shape.shared_ffn, sliding_window=shape.sliding_window,
        sliding_window_pattern=2 if shape.sliding_window else None, source=source,
    )


def weight_files(folder: Path) -> list[Path]:
    """The .safetensors files holding the model: the ones model.safetensors.index.json lists, or
    else every .safetensors file (not Mistral's duplicate consolidated.safetensors)."""
    index_path = folder / INDEX
    if index_path.exists():
        index = read_json_object(index_path, INDEX, INDEX_CAP_BYTES)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(v, str) for v in weight_map.values()):
            raise ProfileError(f"{folder.name}/{INDEX}: weight_map must map tensor names to file names")
        files = []
        for file in sorted(set(weight_map.values())):
            if Path(file).name != file or not file.endswith(".safetensors"):
                raise ProfileError(f"{folder.name}/{INDEX}: {file[:80]!r} is not a .safetensors file in the folder")
            path = folder / file
            if not path.exists():
                raise ProfileError(f"{folder.name} is incomplete: {file}, listed in {INDEX}, is missing")
            files.append(path)
        return files
    return sorted(p for p in folder.glob("*.safetensors")
                  if not p.name.startswith(("consolidated", "adapter_model")))


def read_weights_headers(folder: Path) -> tuple[list[TensorInfo], list[Path]]:
    files = weight_files(folder)
    tensors: list[TensorInfo] = []
    seen: dict[str, str] = {}
    for path in files:
        for t in read_header(path):
            if t.name in seen:
                raise ProfileError(f"{folder.name}: tensor {t.name!r} is in both {seen[t.name]} and {path.name}")
            seen[t.name] = path.name
            tensors.append(t)
    return tensors, files


def is_routed_expert(tensor_name: str) -> bool:
    return ".experts." in tensor_name and ".shared_expert" not in tensor_name


def _from_headers(tensors: Iterable[TensorInfo], shape: Shape) -> tuple[int, int, str, int]:
    total = routed = stored_bytes = 0
    by_dtype: dict[str, int] = defaultdict(int)
    for t in tensors:
        total += t.elements
        stored_bytes += t.nbytes
        by_dtype[t.dtype] += t.nbytes
        if is_routed_expert(t.name):
            routed += t.elements
    if shape.experts and not routed:
        raise ProfileError(f"config.json describes {shape.experts} experts but no tensor in the headers is an expert's "
                           "(names with .experts.N.): the folder does not hold that model")
    active = total - routed + routed * shape.experts_per_token // shape.experts if shape.experts else total
    stored = max(by_dtype, key=by_dtype.get)
    if stored not in FLOAT_DTYPES:
        raise ProfileError(f"most of the weights are stored as {stored}: a quantized or packed checkpoint, whose "
                           "parameters cannot be read from its headers; give the unquantized model's folder")
    return total, active, stored, stored_bytes
