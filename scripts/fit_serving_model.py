"""Fit the GPU serving model's efficiencies (tierwise/data/serving_model.yaml) to the published
runs (tierwise/data/throughput_measurements.yaml) and print them with each run's error.

    .venv/bin/python scripts/fit_serving_model.py          # fit, print the figures and errors
    .venv/bin/python scripts/fit_serving_model.py --check  # only print the errors of the data file's figures

What is fitted: per measured GPU family the share of datasheet bandwidth the engine reaches and
the share of its dense tensor peak (the A10G, whose peak no datasheet read gives, an effective
TFLOP/s); per link kind (NVLink, PCIe) the fixed latency of one all-reduce; and the engine's fixed
cost per step. The objective is the sum of squared log errors over every run tierwise models
(tierwise.serving_check), leaving out the offline maximum-throughput runs (upper bounds only: a
penalty keeps the curve under them) and the runs serving_check.KNOWN_MISSES names with a reason.
The search is coordinate descent in log space: deterministic, no dependency beyond tierwise.
"""

from __future__ import annotations

import math
import sys

from tierwise import serving
from tierwise.facts import batched_serving_measurements, throughput_measurements
from tierwise.facts import serving as serving_facts_module
from tierwise.serving_check import BAND, KNOWN_MISSES, check, decode_check, ttft_check

# families fitted together share one pair of figures: both A100 families are the same GPU (40 GB
# HBM2 on ml.p4d, 80 GB HBM2e on ml.p4de), and each has runs of one load only
GROUPS = {"ml.g5": ("ml.g5",), "ml.g6e": ("ml.g6e",), "A100": ("ml.p4d", "ml.p4de"), "ml.p5": ("ml.p5",)}
FITTED = tuple(f for members in GROUPS.values() for f in members)
_DATA_FILE = serving_facts_module.serving_facts()  # the figures as the data file has them


def all_checks():
    out = []
    for row in batched_serving_measurements():
        out += [c for c in (check(row), ttft_check(row)) if c is not None]
    out += [c for c in map(decode_check, throughput_measurements()) if c is not None]
    return out


def _apply(params: dict[str, float]) -> None:
    facts = _DATA_FILE
    families = dict(facts.families)
    for group, members in GROUPS.items():
        for fam in members:
            f = families[fam]
            update = {"bandwidth_efficiency": params[f"{group}.bw"]}
            if f.effective_tflops is not None:
                update["effective_tflops"] = params[f"{group}.compute"]
            else:
                update["compute_efficiency"] = min(1.0, params[f"{group}.compute"])
            families[fam] = f.model_copy(update=update)
    links = {k: v.model_copy(update={"allreduce_latency_s": params[f"{k}.allreduce"]})
             for k, v in facts.interconnect.items()}
    engine = facts.engine.model_copy(update={"step_overhead_s": params["step_overhead"]})
    patched = facts.model_copy(update={"families": families, "interconnect": links, "engine": engine})
    serving_facts_module.serving_facts = lambda: patched  # type: ignore[assignment]
    serving.serving_facts = serving_facts_module.serving_facts  # type: ignore[attr-defined]
    serving.point.cache_clear()


def _loss(params: dict[str, float]) -> float:
    _apply(params)
    total = 0.0
    for c in all_checks():
        if c.id in KNOWN_MISSES:
            continue
        ratio = c.modelled / c.published
        if c.kind == "upper_bound":
            total += 4 * max(0.0, math.log(ratio / (1 + BAND))) ** 2
        else:
            total += math.log(ratio) ** 2
    return total


def _start() -> dict[str, float]:
    facts = _DATA_FILE
    params = {"step_overhead": facts.engine.step_overhead_s}
    for k, v in facts.interconnect.items():
        params[f"{k}.allreduce"] = v.allreduce_latency_s
    for group, members in GROUPS.items():
        f = facts.families[members[0]]
        params[f"{group}.bw"] = f.bandwidth_efficiency
        params[f"{group}.compute"] = f.effective_tflops if f.effective_tflops is not None else f.compute_efficiency
    return params


def fit() -> dict[str, float]:
    params = _start()
    best = _loss(params)
    step = 0.5
    while step > 0.002:
        improved = False
        for name in list(params):
            for direction in (1, -1):
                trial = dict(params)
                trial[name] = params[name] * math.exp(direction * step)
                if name.endswith(".bw"):
                    trial[name] = min(trial[name], _DATA_FILE.bandwidth_ceiling.share)
                elif name.endswith(".compute") and params[name] <= 1:
                    trial[name] = min(trial[name], 1.0)
                loss = _loss(trial)
                if loss < best - 1e-12:
                    params, best, improved = trial, loss, True
        if not improved:
            step /= 2
    _apply(params)
    return params


def report() -> None:
    rows = all_checks()
    fitted = [c for c in rows if c.id not in KNOWN_MISSES and c.kind != "upper_bound"]
    for c in rows:
        mark = "miss" if c.id in KNOWN_MISSES else ("bound" if c.kind == "upper_bound" else "")
        print(f"{c.id:64s} {c.kind:11s} {c.published:10.4g} {c.modelled:10.4g} {c.error:+6.0%} {mark}")
    errors = sorted(abs(c.error) for c in fitted)
    print(f"fitted rows {len(fitted)}, median |error| {errors[len(errors) // 2]:.3f}, worst {errors[-1]:.3f}")


if __name__ == "__main__":
    if "--check" not in sys.argv:
        for name, value in fit().items():
            print(f"{name:24s} {value:.4g}")
    report()
