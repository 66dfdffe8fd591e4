"""The cdk context keys of issue #9 reach the plan exactly as the CLI options do."""

from __future__ import annotations

import pytest

from stacks.app_context import read
from tierwise.errors import TierwiseError


def plan_of(**context):
    (stack,) = read({"model": "llama3-8b", **context}, environ={}).stacks
    return stack.placement


def test_hosting_batch_and_targets_from_context():
    assert plan_of().tier == "bedrock-on-demand"
    hosted = plan_of(hosting="self")
    assert hosted.tier == "sagemaker-gpu" and hosted.hosting == "self"
    batch = plan_of(hosting="self", batch="true")
    assert batch.tier == "sagemaker-async" and batch.target["batch"] is True
    assert batch.rejected["lambda-gguf"].startswith("feasible")
    strict = plan_of(hosting="self", batch="true", max_seconds="60")
    assert strict.target["max_seconds"] == 60 and "over the 60 s target" in strict.rejected["lambda-gguf"]
    floor = plan_of(hosting="self", batch="true", tokens_per_second_floor="20")
    assert floor.tier != "lambda-gguf" or floor.tokens_per_second >= 20
    spiky = plan_of(hosting="self", peak_factor="10", requests_per_month="30000000")
    assert spiky.capacity["peak_factor"] == 10
    assert spiky.settings.max_instances > plan_of(hosting="self", requests_per_month="30000000").settings.max_instances


@pytest.mark.parametrize("context,message", [
    ({"hosting": "cloud"}, "-c hosting: one of auto, self, managed (got 'cloud')"),
    ({"batch": "maybe"}, "-c batch:"),
    ({"peak_factor": "0.5"}, "-c peak_factor:"),
    ({"max_seconds": "0"}, "-c max_seconds:"),
])
def test_bad_values_are_one_line(context, message):
    with pytest.raises(TierwiseError) as err:
        plan_of(**context)
    assert message in str(err.value) and "\n" not in str(err.value)
