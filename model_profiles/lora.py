"""A LoRA adapter folder (adapter_config.json, adapter_model.safetensors) read into a profile:
its base (a catalogue model, or a base folder) plus the adapter's own parameters.

Which of the base's matrices carry an adapter follows PEFT's rules for `target_modules` (a list:
a module whose name is, or ends with, an entry; a string: a regular expression the whole module
name matches; "all-linear": every Linear but the output layer), `exclude_modules`,
`layers_to_transform` and `rank_pattern`; each adapted matrix of in x out features adds
r x (in + out) parameters (A is r x in, B is out x r), DoRA a magnitude of `out` more, and
`modules_to_save` a full copy of each module named. When adapter_model.safetensors is there its
header is exact and wins.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from model_profiles.errors import ProfileError
from model_profiles.files import read_json_object
from model_profiles.hf_config import Weight, shape_of, weights
from model_profiles.hf_folder import (
    CLI_FLAGS, FLOAT_DTYPES, Flags, check_folder, check_name, folder_name, read_folder, validated,
)
from model_profiles.safetensors_header import read_header
from model_profiles.schema import HfFolder, LoraAdapter, ModelProfile

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def read_adapter(folder: Path, *, name: str | None, base_hf_dir: str | Path | None,
                 flags: Flags = CLI_FLAGS) -> ModelProfile:
    where = f"{folder.name}/{ADAPTER_CONFIG}"
    cfg = read_json_object(folder / ADAPTER_CONFIG, ADAPTER_CONFIG)
    peft_type = cfg.get("peft_type", "LORA")
    if peft_type != "LORA":
        raise ProfileError(f"{where}: peft_type {str(peft_type)[:30]!r} is not sized; tierwise sizes LORA adapters")
    if cfg.get("target_parameters"):
        raise ProfileError(f"{where}: target_parameters (LoRA on raw parameters) is not sized; adapt modules instead")
    if cfg.get("trainable_token_indices"):
        raise ProfileError(f"{where}: trainable_token_indices is not sized")
    rank = _whole(cfg.get("r"), f"{where}: r")
    base, base_label = _base(cfg, where, base_hf_dir, flags)
    arch = base.architecture
    modules = weights(shape_of(arch))
    adapted = _adapted(cfg, modules, rank, where)
    if not adapted:
        raise ProfileError(f"{where}: target_modules {str(cfg.get('target_modules'))[:80]} match no module of "
                           f"{base.name} (its matrices: {', '.join(_kinds(modules))})")
    dora = bool(cfg.get("use_dora"))
    config_params = sum(r * (w.n_in + w.n_out) + (w.n_out if dora else 0) for w, r in adapted)
    saved = _modules_to_save(cfg, modules, where)
    config_params += sum(w.elements for w in saved)
    figures = {
        "adapter.rank": f"{ADAPTER_CONFIG} r" + (" (rank_pattern overrides some)" if cfg.get("rank_pattern") else ""),
        "adapter.target_modules": f"{ADAPTER_CONFIG} target_modules, matched against {base.name}'s modules",
        "architecture": f"the base, {base_label}",
    }
    weights_path = folder / ADAPTER_WEIGHTS
    notes = []
    dtype = None
    tensors = []
    if weights_path.exists():
        tensors = read_header(weights_path)
        params = sum(t.elements for t in tensors)
        by_dtype: dict[str, int] = defaultdict(int)
        for t in tensors:
            by_dtype[t.dtype] += t.nbytes
        dtype = max(by_dtype, key=by_dtype.get) if by_dtype else None
        if dtype not in FLOAT_DTYPES:
            raise ProfileError(f"{folder.name}/{ADAPTER_WEIGHTS}: its weights are stored as {dtype}, not a float type")
        figures["adapter.parameters"] = f"{ADAPTER_WEIGHTS} header: the sum of its {len(tensors)} tensors' shapes"
        if params != config_params:
            notes.append(f"{ADAPTER_CONFIG} implies {config_params:,} adapter parameters; {ADAPTER_WEIGHTS} holds "
                         f"{params:,}, and the file wins")
    else:
        params = config_params
        figures["adapter.parameters"] = (f"{ADAPTER_CONFIG}: r x (in + out) for each of {len(adapted)} adapted matrices"
                                         + (" + DoRA magnitudes" if dora else "")
                                         + (" + modules_to_save" if saved else ""))
        if (folder / "adapter_model.bin").exists():
            notes.append("adapter_model.bin (pickled) is never opened: sized from adapter_config.json")
    targets = sorted({w.name.rsplit(".", 1)[-1] for w, _ in adapted})
    adapter = LoraAdapter(
        base_model=base.name, base_model_name_or_path=cfg.get("base_model_name_or_path"),
        base_parameters=base.parameters, rank=rank, alpha=_alpha(cfg.get("lora_alpha")), target_modules=targets,
        adapted_matrices=len(adapted), parameters=params, dtype=dtype,
        weights_from=ADAPTER_WEIGHTS if tensors else ADAPTER_CONFIG,
    )
    notes.insert(0, f"LoRA adapter, rank {rank} on {', '.join(targets)} of {base_label}: served as an adapter where the "
                    "engine loads adapters (vLLM on the GPU tier), merged into the weights first where it does not "
                    "(one GGUF file for llama.cpp, a whole model for Bedrock Custom Model Import).")
    if base.active_parameters is not None:
        notes.append("active_parameters counts every adapter parameter as active (an upper bound)")
    data = {
        "name": check_name(name) if name else folder_name(folder),
        "display_name": f"{folder.name} (LoRA adapter on {base.display_name})",
        "task": base.task,
        "open_weights": True,
        "parameters": base.parameters + params,
        "active_parameters": None if base.active_parameters is None else base.active_parameters + params,
        "architecture": arch,
        "serving_dtype": base.serving_dtype,
        "default_quant": base.default_quant,
        "adapter": adapter,
        "hf_folder": HfFolder(
            path=str(folder), read=datetime.date.today().isoformat(), model_type=f"lora:{shape_of(arch).family.model_type}",
            stored_dtype=dtype or (base.hf_folder.stored_dtype if base.hf_folder else _stored(base.serving_dtype)),
            weights_from="safetensors headers" if tensors else "config.json", shards=1 if tensors else 0,
            tensors=len(tensors), stored_bytes=sum(t.nbytes for t in tensors) if tensors else None,
            config_parameters=config_params, figures=figures,
        ),
        "license": base.license,
        "notes": " ".join(notes),
    }
    return validated(data, f"{flags.hf_dir} {folder}")


def _base(cfg: dict[str, Any], where: str, base_hf_dir: str | Path | None, flags: Flags) -> tuple[ModelProfile, str]:
    named = cfg.get("base_model_name_or_path")
    if base_hf_dir is not None:
        folder = check_folder(base_hf_dir, flags.base_hf_dir)
        if (folder / ADAPTER_CONFIG).exists():
            raise ProfileError(f"{flags.base_hf_dir} {folder} is itself a LoRA adapter; give the base model's folder")
        base = read_folder(folder, flags=Flags(flags.base_hf_dir, flags.base_hf_dir))
        return base, f"the folder {folder}"
    if not isinstance(named, str) or not named:
        raise ProfileError(f"{where} names no base_model_name_or_path; give the base model's folder with "
                           f"{flags.base_hf_dir} DIR")
    from model_profiles.loader import load_catalogue

    catalogue = load_catalogue()
    for profile in catalogue.values():
        if profile.hf_model_id and profile.hf_model_id.lower() == named.lower() and profile.architecture:
            return profile, f"catalogue model {profile.name} ({profile.hf_model_id})"
    known = sorted(p.hf_model_id for p in catalogue.values() if p.hf_model_id and p.architecture and p.generative)
    raise ProfileError(
        f"{where}: base_model_name_or_path {named[:80]!r} is no catalogue model's hf_model_id "
        f"({', '.join(known)}); give the base model's folder with {flags.base_hf_dir} DIR")


def _matcher(spec: Any, where: str, key: str) -> Callable[[Weight], bool] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec == "all-linear":
            return lambda w: w.name != "lm_head"
        try:
            pattern = re.compile(spec)
        except re.error as exc:
            raise ProfileError(f"{where}: {key} {spec[:60]!r} is not a regular expression ({exc})") from None
        return lambda w: pattern.fullmatch(w.name) is not None
    if isinstance(spec, list) and all(isinstance(s, str) for s in spec):
        names = set(spec)
        return lambda w: w.name in names or any(w.name.endswith("." + s) for s in names)
    raise ProfileError(f"{where}: {key} must be a list of module names or a regular expression")


def _adapted(cfg: dict[str, Any], modules: list[Weight], rank: int, where: str) -> list[tuple[Weight, int]]:
    target = _matcher(cfg.get("target_modules"), where, "target_modules")
    if target is None:
        raise ProfileError(f"{where} names no target_modules")
    exclude = _matcher(cfg.get("exclude_modules"), where, "exclude_modules")
    layers = cfg.get("layers_to_transform")
    if isinstance(layers, int) and not isinstance(layers, bool):
        layers = [layers]
    if layers is not None and not (isinstance(layers, list) and all(isinstance(i, int) for i in layers)):
        raise ProfileError(f"{where}: layers_to_transform must be a layer index or a list of them")
    patterns = cfg.get("rank_pattern") or {}
    if not isinstance(patterns, dict):
        raise ProfileError(f"{where}: rank_pattern must map module patterns to ranks")
    out = []
    for w in modules:
        if not w.linear or not target(w) or (exclude and exclude(w)):
            continue
        if layers is not None and w.layer not in layers:
            continue
        r = rank
        for key, value in patterns.items():
            if re.match(rf"(.*\.)?({key})$", w.name):
                r = _whole(value, f"{where}: rank_pattern {key!r}")
                break
        out.append((w, r))
    return out


def _modules_to_save(cfg: dict[str, Any], modules: list[Weight], where: str) -> list[Weight]:
    names = cfg.get("modules_to_save") or []
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise ProfileError(f"{where}: modules_to_save must be a list of module names")
    return [w for w in modules if any(w.name == n or w.name.endswith("." + n) for n in names)]


def _kinds(modules: list[Weight]) -> list[str]:
    return sorted({w.name.split(".")[-1] for w in modules if w.linear})


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65536:
        raise ProfileError(f"{what} must be a whole number from 1 to 65536 (got {str(value)[:30]})")
    return value


def _alpha(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _stored(serving: str) -> str:
    return {"FP8": "F8_E4M3"}.get(serving, serving)
