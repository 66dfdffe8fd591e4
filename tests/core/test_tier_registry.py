"""The tier registry: one module per tier, asked by placement, compare, validation and the
review; a tier registered from outside (a plug-in, here a toy) is planned, compared and priced
with no edit anywhere else, and an id nobody registered is an error, never another tier's code."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest

from model_profiles import load_profile
from tierwise import tiers
from tierwise.contract import TierSettings
from tierwise.cost import bills
from tierwise.cost.compare import compare_tiers
from tierwise.cost.prices import Quote
from tierwise.errors import TierwiseError
from tierwise.placement import candidates, plan, tier_cost
from tierwise.tiers.base import Option, Rejection, TierModule, meets
from tierwise.tiers.lambda_gguf import LambdaGgufSettings
from tierwise.tiers.sagemaker_serverless import ServerlessHfSettings
from tierwise.throughput import Speed
from tierwise.workload import Workload

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ("lambda-gguf", "sagemaker-serverless", "sagemaker-gpu", "sagemaker-async", "bedrock-provisioned",
           "bedrock-on-demand", "bedrock-batch", "bedrock-custom")


class ToySettings(TierSettings):
    vcpus: int
    tasks: int


TASK_HOUR = Quote(key="toy/task_hour", value=0.25, unit="USD per task-hour", source="https://example.test/toy",
                  taken="2026-12-03")


class ToyFargate(TierModule):
    """A made-up always-on tier: a GGUF on container tasks, 40 tokens/s, $0.25 a task-hour."""

    id = "toy-fargate"
    summary = "a toy: GGUF runtime image on container tasks"
    hosting = "self"
    billing = "always-on"
    settings_models = (ToySettings,)
    options = frozenset({"image_uri"})
    construct = "toy.construct:ToyFargateService"
    streaming = (True, "the toy's HTTP door")
    client_door = "function-url"

    def settle(self, ask):
        if not ask.profile.generative:
            raise Rejection("the toy serves generative models only")
        speed = Speed(40.0, 400.0, "toy: 40 tokens/s")
        seconds = speed.request_seconds(ask.workload.input_tokens, ask.workload.output_tokens)
        meets(ask.target, speed, seconds, 600, "on a toy task")
        tasks = max(1, math.ceil(ask.workload.requests_per_month * seconds / (730 * 3600)))
        return Option({"vcpus": 4, "tasks": tasks}, [f"{tasks} toy task(s)"], None, ask.recipe, speed, seconds,
                      speed.time_to_first_token(ask.workload.input_tokens), 20.0, {"tasks": tasks})

    def bill(self, settings, usage, book, region):
        return [bills.component("Toy tasks", "task-hours", settings.tasks * bills.HOURS_PER_MONTH, TASK_HOUR,
                                "toy/task_hour")]

    def instances(self, settings):
        return settings.tasks

    def cold_start(self, settings):
        return None, "none: tasks stay running"

    def limitations(self, settings, seconds):
        return ["a toy"]


def test_the_builtin_tiers_are_registered_in_tie_break_order():
    assert tiers.ids() == BUILTIN
    for module in tiers.modules():
        assert tiers.get(module.id) is module
        assert module.hosting in ("self", "managed") and module.billing in ("per-use", "always-on")
        assert module.settings_models and module.construct.count(":") == 1


def test_every_tier_module_names_the_construct_that_deploys_it():
    from tiers import construct_for

    for tier in tiers.ids():
        assert construct_for(tier).TIER == tier


def test_an_unregistered_tier_is_one_line_naming_the_tiers():
    with pytest.raises(TierwiseError, match=r"unknown tier 'lambda'; allowed: lambda-gguf, "):
        tiers.get("lambda")
    with pytest.raises(TierwiseError, match="unknown tier"):
        plan(load_profile("tinyllama-1.1b"), tier="ecs-fargate")
    from tiers import construct_for

    with pytest.raises(TierwiseError, match="no tier construct for tier 'ecs-fargate'"):
        construct_for("ecs-fargate")


def test_a_plan_carries_its_tiers_settings_model():
    p = plan(load_profile("distilbert-sst2"))
    assert p.tier == "sagemaker-serverless"
    assert isinstance(p.settings, ServerlessHfSettings)
    forced = plan(load_profile("tinyllama-1.1b"), tier="lambda-gguf")
    assert isinstance(forced.settings, LambdaGgufSettings)
    assert forced.contract()["settings"]["memory_mb"] == forced.settings.memory_mb


def test_settings_outside_the_tiers_limits_are_refused():
    lam = tiers.get("lambda-gguf")
    good = plan(load_profile("tinyllama-1.1b"), tier="lambda-gguf").settings.model_dump()
    assert lam.settings(good).memory_mb == good["memory_mb"]
    with pytest.raises(TierwiseError, match="memory_mb"):
        lam.settings({**good, "memory_mb": 20_000})
    with pytest.raises(TierwiseError, match="are not sagemaker-gpu settings"):
        tiers.get("sagemaker-gpu").settings(LambdaGgufSettings(**good))


def test_a_toy_tier_is_planned_compared_and_priced_with_no_edit_elsewhere():
    profile = load_profile("tinyllama-1.1b")
    workload = Workload(requests_per_month=100_000, input_tokens=500, output_tokens=200)
    with tiers.registered(ToyFargate()):
        found = candidates(profile, workload=workload)
        assert list(found) == [*BUILTIN, "toy-fargate"]
        toy = found["toy-fargate"]
        assert toy.settings == ToySettings(vcpus=4, tasks=1)
        # priced: the toy's own line, nothing of another tier's
        cost = tier_cost(toy)
        assert [c.name for c in cost.components] == ["Toy tasks"]
        assert cost.monthly_usd == pytest.approx(0.25 * 730)
        # planned: forced, and in the race (it is the cheapest self-hosted tier here)
        forced = plan(profile, workload=workload, tier="toy-fargate")
        assert forced.monthly_cost_usd == pytest.approx(182.5) and forced.streaming() == (True, "the toy's HTTP door")
        chosen = plan(profile, workload=workload, hosting="self")
        assert "toy-fargate" in (chosen.tier, *chosen.rejected)
        # compared: its line, limits and cold start come from the toy module
        comparison = compare_tiers(found, workload, "us-east-1", chosen_tier=chosen.tier)
        option = next(o for o in comparison.options if o.tier == "toy-fargate")
        assert option.feasible and option.cannot == ["a toy"] and option.cold_start.startswith("none: tasks")
        assert option.line.fixed_usd == pytest.approx(182.5) and option.line.per_request_usd == pytest.approx(0.0)
        # the options it reads are the registry's: image_uri now applies to it too
        assert "toy-fargate" in tiers.reading("image_uri")
    assert "toy-fargate" not in tiers.ids()
    assert "toy-fargate" not in candidates(profile, workload=workload)


def test_a_tier_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already registered"):
        tiers.register(tiers.get("lambda-gguf"))


def _code_strings(path: Path) -> list[str]:
    """Every string constant in a module's code (docstrings, which describe, left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_tier_ids_are_spelled_only_in_the_tier_modules():
    """No module outside tierwise/tiers spells a tier id in its code (a branch, a message, a
    table): they ask the registry."""
    words = {t: re.compile(rf"(?<![a-z0-9-]){re.escape(t)}(?![a-z0-9-])") for t in BUILTIN}
    spelled = {}
    for package in ("tierwise", "tiers", "stacks", "model_profiles"):
        for path in (ROOT / package).rglob("*.py"):
            if path.is_relative_to(ROOT / "tierwise" / "tiers"):
                continue
            hits = {t for t, word in words.items() for text in _code_strings(path) if word.search(text)}
            if hits:
                spelled[str(path.relative_to(ROOT))] = sorted(hits)
    assert spelled == {}


def test_no_module_is_over_700_lines():
    long = {}
    for package in ("tierwise", "tiers", "stacks", "model_profiles"):
        for path in (ROOT / package).rglob("*.py"):
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines > 700:
                long[str(path.relative_to(ROOT))] = lines
    assert long == {}
