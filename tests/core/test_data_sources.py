"""The sourced data files: every fact names where it was read and when, and takes a sane value.

Covers tierwise/data/throughput_measurements.yaml, bedrock_models.yaml, jumpstart_defaults.yaml,
the GPU facts in gpu_instances.yaml (`families`) and the figures in prices.yaml. Each
``check_*`` function returns the list of problems it finds; the positive tests require an empty
list for the shipped files and the negative tests break one entry of a copy and require the
checker to name the problem - so a check that silently passes everything fails here.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import statistics
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tierwise" / "data"
CATALOGUE = ROOT / "model_profiles" / "catalogue"

ENGINES = {"llama.cpp", "TGI", "vLLM", "AutoAWQ", "NeMo", "TensorRT-LLM", "LMI"}
PRECISIONS = {"Q4_0", "Q4_K_M", "Q8_0", "FP16", "BF16", "FP8", "INT8", "GPTQ-4bit", "AWQ-4bit"}
METRICS = {
    "decode_tokens_per_second_per_stream",
    "aggregate_decode_tokens_per_second",
    "prompt_tokens_per_second",
    "time_to_first_token_s",
}
TP_METRICS = METRICS | {"request_latency_ms"}
CPU_ARCHITECTURES = {"x86_64", "arm64", None}
GPU_ARCHITECTURES = {"Turing": {"7.5"}, "Ampere": {"8.0", "8.6", "8.7"}, "Ada Lovelace": {"8.9"}, "Hopper": {"9.0"}}
LIFECYCLES = {"Active", "Legacy", "EOL", None}
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
ML_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.\d*x?large$")
BEDROCK_ID = re.compile(r"^[a-z0-9-]+\.[a-z0-9.-]+:\d+$")
MEASUREMENT_FIELDS = {
    "id", "engine", "hardware", "instance_type", "gpu", "gpu_count", "vcpus", "architecture", "model",
    "parameters_b", "precision", "concurrency", "metric", "value", "input_tokens", "output_tokens",
    "source", "taken", "note",
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_unique(text: str) -> Any:
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass


@cache
def _load(name: str) -> Any:
    return load_unique((DATA / name).read_text(encoding="utf-8"))


def data(name: str) -> Any:
    return copy.deepcopy(_load(name))


@cache
def catalogue_names() -> frozenset[str]:
    return frozenset(yaml.safe_load(p.read_text(encoding="utf-8"))["name"] for p in CATALOGUE.glob("*.yaml"))


# ------------------------------------------------------------------------------------- helpers
def _is_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^https?://\S+$", value) is not None


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _sourced(where: str, entry: dict, checked: dt.date, source: str = "source", taken: str = "taken") -> list[str]:
    problems = []
    if not _is_url(entry.get(source)):
        problems.append(f"{where}: {source} is not a URL ({entry.get(source)!r})")
    day = _date(entry.get(taken))
    if day is None:
        problems.append(f"{where}: {taken} is not a YYYY-MM-DD date ({entry.get(taken)!r})")
    elif day > checked:
        problems.append(f"{where}: {taken} {day} is after the file's checked date {checked}")
    return problems


def _checked(doc: Any, name: str) -> tuple[dt.date, list[str]]:
    day = _date(doc.get("checked")) if isinstance(doc, dict) else None
    if day is None:
        return dt.date.max, [f"{name}: top-level checked is not a YYYY-MM-DD date"]
    return day, []


# ------------------------------------------------------------------- throughput_measurements.yaml
def check_throughput(doc: Any) -> list[str]:
    checked, problems = _checked(doc, "throughput_measurements")
    ids: set[str] = set()
    for i, m in enumerate(doc.get("measurements") or []):
        where = f"measurement {m.get('id', i)!r}"
        if set(m) != MEASUREMENT_FIELDS:
            problems.append(f"{where}: fields differ from the schema: {sorted(set(m) ^ MEASUREMENT_FIELDS)}")
        if not isinstance(m.get("id"), str) or not re.match(r"^[a-z0-9][a-z0-9._-]*$", m["id"]):
            problems.append(f"{where}: id is not a lower-case slug")
        elif m["id"] in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(m.get("id"))
        if m.get("engine") not in ENGINES:
            problems.append(f"{where}: engine {m.get('engine')!r} not one of {sorted(ENGINES)}")
        if m.get("metric") not in METRICS:
            problems.append(f"{where}: metric {m.get('metric')!r} not one of {sorted(METRICS)}")
        if m.get("precision") not in PRECISIONS:
            problems.append(f"{where}: precision {m.get('precision')!r} not one of {sorted(PRECISIONS)}")
        if m.get("architecture") not in CPU_ARCHITECTURES:
            problems.append(f"{where}: architecture {m.get('architecture')!r} not x86_64/arm64/null")
        for field in ("value", "parameters_b"):
            if not _positive(m.get(field)):
                problems.append(f"{where}: {field} must be a positive number ({m.get(field)!r})")
        if not _positive_int(m.get("concurrency")):
            problems.append(f"{where}: concurrency must be a positive integer")
        elif m.get("metric") == "aggregate_decode_tokens_per_second" and m["concurrency"] < 2:
            problems.append(f"{where}: an aggregate rate needs concurrency > 1")
        for field in ("input_tokens", "output_tokens"):
            if m.get(field) is not None and not _positive_int(m[field]):
                problems.append(f"{where}: {field} must be null or a positive integer")
        if m.get("gpu") is None:
            if m.get("gpu_count") != 0 or not _positive_int(m.get("vcpus")):
                problems.append(f"{where}: a CPU run needs gpu_count 0 and a positive vcpus")
        elif not _positive_int(m.get("gpu_count")):
            problems.append(f"{where}: a GPU run needs gpu_count >= 1")
        if m.get("instance_type") is not None and not isinstance(m["instance_type"], str):
            problems.append(f"{where}: instance_type must be a string or null")
        problems += _sourced(where, m, checked)
    if not ids:
        problems.append("throughput_measurements: no measurements")
    problems += _check_tensor_parallel(doc.get("tensor_parallel") or {}, checked, ids)
    return problems


def _check_tensor_parallel(tp: dict, checked: dt.date, measurement_ids: set[str]) -> list[str]:
    problems: list[str] = []
    speedups: dict[str, dict[int, float]] = {}
    for i, obs in enumerate(tp.get("observations") or []):
        oid = obs.get("id", i)
        where = f"tensor_parallel observation {oid!r}"
        if oid in speedups or oid in measurement_ids:
            problems.append(f"{where}: duplicate id")
        speedups[oid] = {}
        if obs.get("engine") not in ENGINES:
            problems.append(f"{where}: engine {obs.get('engine')!r} not one of {sorted(ENGINES)}")
        if obs.get("metric") not in TP_METRICS:
            problems.append(f"{where}: metric {obs.get('metric')!r} not one of {sorted(TP_METRICS)}")
        if obs.get("precision") not in PRECISIONS | {None}:
            problems.append(f"{where}: precision {obs.get('precision')!r} not allowed")
        higher = obs.get("higher_is_better")
        if not isinstance(higher, bool):
            problems.append(f"{where}: higher_is_better must be true/false")
        base = obs.get("baseline") or {}
        if base.get("gpu_count") != 1 or not _positive(base.get("value")):
            problems.append(f"{where}: baseline needs gpu_count 1 and a positive value")
            continue
        for row in obs.get("scaled") or []:
            degree = row.get("tp")
            if not _positive_int(degree) or degree < 2 or not _positive(row.get("value")):
                problems.append(f"{where}: scaled row {row} needs tp >= 2 and a positive value")
                continue
            ratio = row["value"] / base["value"] if higher else base["value"] / row["value"]
            if abs(ratio - row.get("speedup", -1)) > 0.0015:
                problems.append(f"{where}: tp {degree} speedup {row.get('speedup')} != {ratio:.3f} from the values")
            if abs(row.get("speedup", 0) / degree - row.get("efficiency", -1)) > 0.0015:
                problems.append(f"{where}: tp {degree} efficiency {row.get('efficiency')} != speedup / tp")
            speedups[oid][degree] = row.get("speedup", 0)
        problems += _sourced(where, obs, checked)
    for degree, summary in (tp.get("by_degree") or {}).items():
        where = f"tensor_parallel by_degree {degree!r}"
        sources = summary.get("from") or []
        unknown = [s for s in sources if degree not in speedups.get(s, {})]
        if unknown or not sources:
            problems.append(f"{where}: from lists observations without that degree: {unknown or 'none'}")
            continue
        median = statistics.median(speedups[s][degree] for s in sources)
        if abs(median - summary.get("speedup", -1)) > 0.0011:
            problems.append(f"{where}: speedup {summary.get('speedup')} is not the median {median:.4f}")
        if abs(summary.get("speedup", 0) / degree - summary.get("efficiency", -1)) > 0.0011:
            problems.append(f"{where}: efficiency is not speedup / degree")
    return problems


# --------------------------------------------------------------------- gpu_instances.yaml facts
def check_gpu_facts(doc: Any) -> list[str]:
    checked, problems = _checked(doc, "gpu_instances")
    for family, f in (doc.get("families") or {}).items():
        where = f"GPU family {family}"
        usable = f.get("usable_memory_per_gpu_mib")
        nominal_gib = f.get("memory_per_gpu_gib")
        if not _positive_int(usable):
            problems.append(f"{where}: usable_memory_per_gpu_mib must be a positive integer")
        elif _positive(nominal_gib) and usable > nominal_gib * 1024:
            problems.append(f"{where}: usable memory {usable} MiB exceeds the nominal {nominal_gib} GiB")
        problems += _sourced(where, f, checked, "usable_memory_source", "usable_memory_taken")
        arch = f.get("architecture")
        if arch not in GPU_ARCHITECTURES:
            problems.append(f"{where}: architecture {arch!r} not one of {sorted(GPU_ARCHITECTURES)}")
        elif f.get("compute_capability") not in GPU_ARCHITECTURES[arch]:
            problems.append(f"{where}: compute capability {f.get('compute_capability')!r} does not match {arch}")
        for field in ("architecture_source", "compute_capability_source"):
            if not _is_url(f.get(field)):
                problems.append(f"{where}: {field} is not a URL")
        cc = f.get("compute_capability")
        if not isinstance(f.get("bf16"), bool):
            problems.append(f"{where}: bf16 must be true/false")
        elif isinstance(cc, str) and re.match(r"^\d+\.\d$", cc) and f["bf16"] != (float(cc) >= 8.0):
            problems.append(f"{where}: bf16 {f['bf16']} contradicts compute capability {cc}")
        for j, rule in enumerate(f.get("engine_support") or []):
            rwhere = f"{where} engine_support[{j}]"
            if rule.get("engine") not in ENGINES:
                problems.append(f"{rwhere}: engine {rule.get('engine')!r} not one of {sorted(ENGINES)}")
            if not isinstance(rule.get("supported"), bool):
                problems.append(f"{rwhere}: supported must be true/false")
            for field in ("applies_to", "reason"):
                if not isinstance(rule.get(field), str) or not rule[field]:
                    problems.append(f"{rwhere}: {field} missing")
            problems += _sourced(rwhere, rule, checked)
    if not doc.get("families"):
        problems.append("gpu_instances: no families")
    return problems


# --------------------------------------------------------------------------- bedrock_models.yaml
def check_bedrock(doc: Any) -> list[str]:
    checked, problems = _checked(doc, "bedrock_models")
    for model_id, m in (doc.get("models") or {}).items():
        where = f"Bedrock model {model_id}"
        if not BEDROCK_ID.match(str(model_id)):
            problems.append(f"{where}: not a Bedrock model id")
        if not isinstance(m.get("name"), str) or not m["name"]:
            problems.append(f"{where}: name missing")
        lifecycle = m.get("lifecycle")
        if lifecycle not in LIFECYCLES:
            problems.append(f"{where}: lifecycle {lifecycle!r} not one of Active/Legacy/EOL/null")
        dates = {}
        for field in ("legacy_date", "eol_date"):
            if m.get(field) is not None:
                dates[field] = _date(m[field])
                if dates[field] is None:
                    problems.append(f"{where}: {field} is not a YYYY-MM-DD date")
        if lifecycle == "EOL" and m.get("eol_date") is None:
            problems.append(f"{where}: EOL without an eol_date")
        if dates.get("legacy_date") and dates.get("eol_date") and dates["legacy_date"] > dates["eol_date"]:
            problems.append(f"{where}: legacy_date after eol_date")
        problems += _sourced(where, m, checked, "lifecycle_source", "lifecycle_taken")
        pt = m.get("provisioned_throughput_ids")
        if pt is not None:
            if not isinstance(pt, list) or len(set(pt)) != len(pt):
                problems.append(f"{where}: provisioned_throughput_ids must be a list without repeats")
            else:
                for pid in pt:
                    if not str(pid).startswith(f"{model_id}:"):
                        problems.append(f"{where}: PT id {pid!r} is not a context variant of the model id")
        if lifecycle == "EOL" and pt:
            problems.append(f"{where}: an EOL model lists Provisioned Throughput ids")
        problems += _sourced(where, m, checked, "provisioned_throughput_source", "provisioned_throughput_taken")
        if "on_demand_quotas" in m:  # one source of quotas: bedrock_quotas.yaml (the newer table)
            problems.append(f"{where}: on_demand_quotas: quotas live in bedrock_quotas.yaml only")
    if not doc.get("models"):
        problems.append("bedrock_models: no models")
    return problems


# ----------------------------------------------------------------------- jumpstart_defaults.yaml
def _instance_fact(where: str, fact: Any, checked: dt.date, is_list: bool) -> list[str]:
    if not isinstance(fact, dict) or "value" not in fact:
        return [f"{where}: must be a mapping with value/source/taken/note"]
    value = fact["value"]
    if value is None:
        return []
    problems = _sourced(where, fact, checked)
    values = value if is_list else [value]
    if is_list and (not isinstance(value, list) or len(set(value)) != len(value)):
        problems.append(f"{where}: must be a list without repeats")
    for item in values:
        if not ML_INSTANCE.match(str(item)):
            problems.append(f"{where}: {item!r} is not an ml.* instance type")
    return problems


def check_jumpstart(doc: Any) -> list[str]:
    checked, problems = _checked(doc, "jumpstart_defaults")
    names = catalogue_names()
    models = doc.get("models") or {}
    seen_ids: set[str] = set()
    for name, m in models.items():
        where = f"JumpStart entry {name}"
        if name not in names:
            problems.append(f"{where}: not a catalogue model name")
        jid = m.get("jumpstart_model_id")
        if not isinstance(jid, str) or not re.match(r"^[a-z][a-zA-Z0-9-]*$", jid):
            problems.append(f"{where}: jumpstart_model_id {jid!r} is not a JumpStart id")
        elif jid in seen_ids:
            problems.append(f"{where}: duplicate jumpstart_model_id {jid}")
        seen_ids.add(jid)
        if not re.match(r"^\d+\.\d+\.\d+$", str(m.get("latest_version"))):
            problems.append(f"{where}: latest_version is not x.y.z")
        problems += _sourced(where, m, checked)
        default = m.get("default_instance_type")
        supported = m.get("supported_instance_types")
        problems += _instance_fact(f"{where} default_instance_type", default, checked, is_list=False)
        problems += _instance_fact(f"{where} supported_instance_types", supported, checked, is_list=True)
        if (
            isinstance(default, dict) and isinstance(supported, dict)
            and default.get("value") and isinstance(supported.get("value"), list)
            and default["value"] not in supported["value"]
        ):
            problems.append(f"{where}: default instance type is not among the supported ones")
        for j, cfg in enumerate(m.get("published_configs") or []):
            cwhere = f"{where} published_configs[{j}]"
            if not ML_INSTANCE.match(str(cfg.get("instance_type"))):
                problems.append(f"{cwhere}: instance_type is not an ml.* instance type")
            for field in ("accelerators_required", "min_memory_mb"):
                if not _positive_int(cfg.get(field)):
                    problems.append(f"{cwhere}: {field} must be a positive integer")
            if not isinstance(cfg.get("config_name"), str) or not isinstance(cfg.get("jumpstart_model_id"), str):
                problems.append(f"{cwhere}: config_name and jumpstart_model_id are required")
            problems += _sourced(cwhere, cfg, checked)
    for name, entry in (doc.get("not_offered") or {}).items():
        where = f"JumpStart not_offered {name}"
        if name not in names:
            problems.append(f"{where}: not a catalogue model name")
        if name in models:
            problems.append(f"{where}: also listed under models")
        problems += _sourced(where, entry, checked)
    if not models:
        problems.append("jumpstart_defaults: no models")
    return problems


# ------------------------------------------------------------------------------------ prices.yaml
def check_prices(doc: Any) -> list[str]:
    problems: list[str] = []
    today = dt.date.today()

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, dict) and "unit" in node and "value" in node:
            where = "price " + "/".join(str(p) for p in path)
            if node["value"] is None:
                return
            if not _positive(node["value"]):
                problems.append(f"{where}: value must be positive ({node['value']!r})")
            problems.extend(_sourced(where, node, today))
            return
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*path, key))

    walk(doc.get("regions") or {}, ())
    if not doc.get("regions"):
        problems.append("prices: no regions")
    return problems


# ------------------------------------------------------------------------------------------ tests
FILES: dict[str, tuple[str, Callable[[Any], list[str]]]] = {
    "throughput": ("throughput_measurements.yaml", check_throughput),
    "gpu": ("gpu_instances.yaml", check_gpu_facts),
    "bedrock": ("bedrock_models.yaml", check_bedrock),
    "jumpstart": ("jumpstart_defaults.yaml", check_jumpstart),
    "prices": ("prices.yaml", check_prices),
}


@pytest.mark.parametrize("kind", sorted(FILES))
def test_shipped_file_is_sourced_and_valid(kind: str) -> None:
    name, check = FILES[kind]
    assert check(data(name)) == []


def test_measurements_cover_cpu_gpu_and_batched_serving() -> None:
    rows = data("throughput_measurements.yaml")["measurements"]
    assert any(r["gpu"] is None and r["metric"] == "decode_tokens_per_second_per_stream" for r in rows)
    per_stream = "decode_tokens_per_second_per_stream"
    assert any(r["gpu"] and r["concurrency"] == 1 and r["metric"] == per_stream for r in rows)
    assert any(r["metric"] == "aggregate_decode_tokens_per_second" for r in rows)


def test_jumpstart_and_bedrock_keys_match_the_catalogue() -> None:
    """Every catalogue model is either given a JumpStart id or listed as not offered, and every
    Bedrock model id the catalogue names (inference-profile prefix and PT context suffix
    stripped) has a facts entry."""
    js = data("jumpstart_defaults.yaml")
    assert set(js["models"]) | set(js["not_offered"]) == set(catalogue_names())
    models = set(data("bedrock_models.yaml")["models"])
    for path in CATALOGUE.glob("*.yaml"):
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
        for model_id in (profile.get("bedrock") or {}).get("model_ids") or []:
            base = re.sub(r":\d+k$", "", re.sub(r"^(us|eu|apac|global)\.", "", model_id))
            assert base in models, (path.name, model_id)


def _set(path: list, value: Any) -> Callable[[Any], None]:
    def mutate(doc: Any) -> None:
        node = doc
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
    return mutate


def _drop(path: list) -> Callable[[Any], None]:
    def mutate(doc: Any) -> None:
        node = doc
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]
    return mutate


def _dup_measurement(doc: Any) -> None:
    doc["measurements"].append(copy.deepcopy(doc["measurements"][0]))


def _eol_with_pt(doc: Any) -> None:
    model = doc["models"]["amazon.nova-pro-v1:0"]
    model["lifecycle"], model["eol_date"] = "EOL", "2026-01-01"


def _dup_jumpstart_id(doc: Any) -> None:
    doc["models"]["llama3-70b"]["jumpstart_model_id"] = doc["models"]["llama3-8b"]["jumpstart_model_id"]


def _overlap_not_offered(doc: Any) -> None:
    doc["not_offered"]["llama3-8b"] = copy.deepcopy(doc["not_offered"]["nova-pro"])


def _first_price(doc: Any) -> dict:
    return doc["regions"]["us-east-1"]["sagemaker"]["instance_hour"]["ml.g5.xlarge"]


M0 = ["measurements", 0]
OBS0 = ["tensor_parallel", "observations", 0]
G4 = ["families", "ml.g4dn"]
NOVA = ["models", "amazon.nova-pro-v1:0"]
L8 = ["models", "llama3-8b"]
SUPPORTED_G5_2XL = {"value": ["ml.g5.2xlarge"], "source": "https://example.com", "taken": "2026-01-01", "note": None}

BROKEN = [
    ("throughput", _drop([*M0, "source"]), "source is not a URL"),
    ("throughput", _set([*M0, "source"], "a forum post"), "source is not a URL"),
    ("throughput", _set([*M0, "taken"], "2024-13-01"), "taken is not a YYYY-MM-DD date"),
    ("throughput", _set([*M0, "taken"], "2099-01-01"), "after the file's checked date"),
    ("throughput", _set([*M0, "value"], -3.0), "value must be a positive number"),
    ("throughput", _set([*M0, "value"], 0), "value must be a positive number"),
    ("throughput", _dup_measurement, "duplicate id"),
    ("throughput", _set([*M0, "metric"], "tokens_per_second"), "metric 'tokens_per_second' not one of"),
    ("throughput", _set([*M0, "engine"], "MagicServe"), "engine 'MagicServe' not one of"),
    ("throughput", _set([*M0, "architecture"], "aarch64"), "architecture 'aarch64' not x86_64/arm64/null"),
    ("throughput", _set([*M0, "precision"], "Q3"), "precision 'Q3' not one of"),
    ("throughput", _set([*M0, "gpu_count"], 2), "a CPU run needs gpu_count 0"),
    ("throughput", _set([*M0, "extra"], 1), "fields differ from the schema"),
    ("throughput", _set([*OBS0, "scaled", 0, "speedup"], 3.0), "speedup 3.0 !="),
    ("throughput", _set([*OBS0, "scaled", 0, "efficiency"], 0.9), "efficiency 0.9 != speedup / tp"),
    ("throughput", _set(["tensor_parallel", "by_degree", 8, "speedup"], 1.9), "is not the median"),
    ("throughput", _set(["tensor_parallel", "by_degree", 2, "from"], ["tp-unknown"]), "from lists observations"),
    ("gpu", _set([*G4, "usable_memory_per_gpu_mib"], 17000), "exceeds the nominal"),
    ("gpu", _set([*G4, "usable_memory_per_gpu_mib"], -1), "must be a positive integer"),
    ("gpu", _drop([*G4, "usable_memory_source"]), "usable_memory_source is not a URL"),
    ("gpu", _set([*G4, "usable_memory_taken"], "Jan 2025"), "usable_memory_taken is not a YYYY-MM-DD date"),
    ("gpu", _set([*G4, "architecture"], "Pascal"), "architecture 'Pascal' not one of"),
    ("gpu", _set([*G4, "compute_capability"], "8.0"), "does not match Turing"),
    ("gpu", _set([*G4, "bf16"], True), "contradicts compute capability 7.5"),
    ("gpu", _drop([*G4, "engine_support", 0, "source"]), "engine_support[0]: source is not a URL"),
    ("gpu", _set([*G4, "engine_support", 0, "engine"], "vllm"), "engine 'vllm' not one of"),
    ("bedrock", _set([*NOVA, "lifecycle"], "Deprecated"), "lifecycle 'Deprecated' not one of"),
    ("bedrock", _eol_with_pt, "an EOL model lists Provisioned Throughput ids"),
    ("bedrock", _set([*NOVA, "lifecycle"], "EOL"), "EOL without an eol_date"),
    ("bedrock", _set([*NOVA, "provisioned_throughput_ids"], ["amazon.nova-lite-v1:0:24k"]), "not a context variant"),
    ("bedrock", _set([*NOVA, "on_demand_quotas"], {"default": 1}),
     "on_demand_quotas: quotas live in bedrock_quotas.yaml only"),
    ("bedrock", _drop([*NOVA, "lifecycle_source"]), "lifecycle_source is not a URL"),
    ("jumpstart", _set(["models", "llama3-9b"], {}), "llama3-9b: not a catalogue model name"),
    ("jumpstart", _dup_jumpstart_id, "duplicate jumpstart_model_id"),
    ("jumpstart", _set([*L8, "default_instance_type", "source"], None), "default_instance_type: source is not a URL"),
    ("jumpstart", _set([*L8, "default_instance_type", "value"], "g5.12xlarge"), "is not an ml.* instance type"),
    ("jumpstart", _set([*L8, "supported_instance_types"], SUPPORTED_G5_2XL), "default instance type is not among"),
    ("jumpstart", _set([*L8, "latest_version"], "latest"), "latest_version is not x.y.z"),
    ("jumpstart", _set([*L8, "published_configs", 0, "accelerators_required"], 0),
     "accelerators_required must be a positive integer"),
    ("jumpstart", _drop([*L8, "taken"]), "taken is not a YYYY-MM-DD date"),
    ("jumpstart", _overlap_not_offered, "also listed under models"),
    ("prices", lambda doc: _first_price(doc).update(source="fmbench pricing table"), "source is not a URL"),
    ("prices", lambda doc: _first_price(doc).update(value=-1.0), "value must be positive"),
    ("prices", lambda doc: _first_price(doc).update(taken="2025/01/01"), "taken is not a YYYY-MM-DD date"),
]


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"),
    BROKEN,
    ids=[f"{kind}-{i:02d}" for i, (kind, _, _) in enumerate(BROKEN)],
)
def test_broken_entry_is_reported(kind: str, mutate: Callable[[Any], None], expected: str) -> None:
    name, check = FILES[kind]
    doc = data(name)
    mutate(doc)
    problems = check(doc)
    assert any(expected in p for p in problems), problems


def test_duplicate_yaml_key_is_refused() -> None:
    text = "checked: '2026-12-01'\nmodels:\n  amazon.nova-pro-v1:0: {name: a}\n  amazon.nova-pro-v1:0: {name: b}\n"
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key"):
        load_unique(text)
