"""Facts of the GPU serving model (tierwise/data/serving_model.yaml): what the engine keeps to
(sequences, KV blocks), the share of each GPU family's bandwidth and tensor peak it reaches, the
all-reduce latency of each interconnect, the PCIe link rates, and the shapes of the models the
published measurements ran. The efficiencies are fitted to tierwise/data/throughput_measurements.yaml
by scripts/fit_serving_model.py; a family with no measurement says which family it borrows from."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from tierwise.errors import TierwiseError
from tierwise.facts.base import _Fact, _typed
from tierwise.facts.gpu import GpuFamily, gpu_instances

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_URL = r"^https?://\S+$"


class EngineFacts(_Fact):
    """What the serving engine (vLLM inside LMI) keeps to, and its fixed cost per step."""

    name: str
    max_num_seqs: PositiveInt = Field(description="the most sequences a step batches (the curve's ceiling)")
    source: str = Field(pattern=_URL)
    taken: str = Field(pattern=_DATE)
    step_overhead_s: PositiveFloat = Field(description="scheduling, sampling and launches per step (fitted)")
    fitted_on: list[str]
    note: str


class FamilyEfficiency(_Fact):
    """The share of one GPU family's datasheet bandwidth and dense tensor peak the engine reaches.

    `compute_efficiency` is a share of the datasheet dense peak of the precision served; where no
    datasheet peak was found (the A10G) `effective_tflops` is fitted directly instead. A family no
    published run measured borrows another's figures (`borrowed_from`) and says why."""

    bandwidth_efficiency: float = Field(gt=0, le=1)
    compute_efficiency: float | None = Field(None, gt=0, le=1)
    effective_tflops: PositiveFloat | None = None
    basis: Literal["fitted", "borrowed"]
    fitted_on: list[str] = Field(default_factory=list)
    borrowed_from: str | None = None
    compute_borrowed_from: str | None = Field(None, description="when the compute share comes from another family")
    note: str

    @model_validator(mode="after")
    def _one_compute_figure(self) -> FamilyEfficiency:
        if (self.compute_efficiency is None) == (self.effective_tflops is None):
            raise ValueError("exactly one of compute_efficiency and effective_tflops")
        if self.basis == "fitted" and not self.fitted_on:
            raise ValueError("a fitted family names the measurements it was fitted on")
        if self.basis == "borrowed" and self.borrowed_from is None:
            raise ValueError("a borrowed family names the family it borrows from")
        return self


class InterconnectFacts(_Fact):
    """One all-reduce's fixed latency over a kind of GPU-to-GPU link (fitted)."""

    allreduce_latency_s: PositiveFloat
    fitted_on: list[str]
    note: str


class PcieLink(_Fact):
    x16_gbps_per_direction: PositiveFloat
    source: str = Field(pattern=_URL)
    taken: str = Field(pattern=_DATE)


class MeasuredShape(_Fact):
    """The shape of a model a published measurement ran, as its config.json gives it."""

    layers: PositiveInt
    hidden: PositiveInt
    attention_heads: PositiveInt
    kv_heads: PositiveInt
    head_dim: PositiveInt
    vocabulary: PositiveInt
    tied_embeddings: bool
    matches: list[str] = Field(description="substrings of a measurement's `model` that name this shape")
    source: str = Field(pattern=_URL)


class BandwidthCeiling(_Fact):
    share: float = Field(gt=0, le=1)
    source: str = Field(pattern=_URL)
    taken: str = Field(pattern=_DATE)
    note: str


class ServingFacts(_Fact):
    checked: str = Field(pattern=_DATE)
    bandwidth_ceiling: BandwidthCeiling
    engine: EngineFacts
    families: dict[str, FamilyEfficiency]
    interconnect: dict[Literal["NVLink", "PCIe"], InterconnectFacts]
    pcie: dict[str, PcieLink]
    measured_models: dict[str, MeasuredShape]
    fitted_by: str
    fit: dict[str, float] = Field(description="the fit's summary: median and worst absolute error")


@cache
def serving_facts() -> ServingFacts:
    facts = _typed("serving_model", ServingFacts)
    families = {i.family for i in gpu_instances()}
    missing = families - set(facts.families)
    if missing:
        raise TierwiseError(f"tierwise/data/serving_model.yaml: no efficiency for {', '.join(sorted(missing))}")
    for name, fam in facts.families.items():
        if fam.bandwidth_efficiency > facts.bandwidth_ceiling.share:
            raise TierwiseError(f"tierwise/data/serving_model.yaml: {name} reads more than the bandwidth ceiling")
        if fam.borrowed_from is not None and fam.borrowed_from not in facts.families:
            raise TierwiseError(f"tierwise/data/serving_model.yaml: {name} borrows from unknown {fam.borrowed_from}")
    return facts


def family_efficiency(family: str) -> FamilyEfficiency:
    facts = serving_facts()
    if family not in facts.families:
        raise TierwiseError(f"unknown GPU family {family!r}; known: {', '.join(sorted(facts.families))}")
    return facts.families[family]


def link_gbps_per_direction(spec: GpuFamily) -> float:
    """GB/s one GPU sends over its link to the others in one direction: NVLink's per-GPU figure
    is bidirectional (half each way); a PCIe link runs at its generation's x16 rate each way."""
    link = spec.interconnect
    if link.kind == "NVLink":
        if link.gbps is None:
            raise TierwiseError(f"tierwise/data/gpu_instances.yaml: {spec.gpu} NVLink has no GB/s")
        return link.gbps / 2
    pcie = serving_facts().pcie
    if link.generation not in pcie:
        raise TierwiseError(f"tierwise/data/serving_model.yaml: no PCIe generation {link.generation} link rate")
    return pcie[link.generation].x16_gbps_per_direction


def measured_shape(model: str) -> tuple[str, MeasuredShape]:
    """The shape of the model a published run names (its `model` text), or an error."""
    found = [(name, s) for name, s in serving_facts().measured_models.items()
             if any(m.lower() in model.lower() for m in s.matches)]
    if len(found) != 1:
        raise TierwiseError(f"tierwise/data/serving_model.yaml: {len(found)} measured_models match {model!r}")
    return found[0]
