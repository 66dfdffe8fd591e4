"""The cdk context keys of issue #9 reach the plan exactly as the CLI options do."""

from __future__ import annotations

import pytest

from stacks.app_context import read
from tierwise.errors import TierwiseError


def plan_of(**context):
    (stack,) = read({"model": "llama3-8b", **context}, environ={}).stacks
    return stack.placement


# llama3-8b is gated on the Hub: on the GPU tier synth needs a token secret (in a pinned region)
GATED_GPU = {"region": "us-east-1", "hf_token_secret": "hf-token"}


def test_hosting_batch_and_targets_from_context():
    assert plan_of().tier == "bedrock-on-demand"
    hosted = plan_of(hosting="self", **GATED_GPU)
    assert hosted.tier == "sagemaker-gpu" and hosted.hosting == "self"
    batch = plan_of(hosting="self", batch="true", **GATED_GPU)
    assert batch.tier == "sagemaker-async" and batch.target["batch"] is True
    assert batch.rejected["lambda-gguf"].startswith("feasible")
    # a target given with batch contradicts it (tests/stacks/test_synth_inputs.py); alone it is the target
    strict = plan_of(hosting="self", max_seconds="60", **GATED_GPU)
    assert strict.target["max_seconds"] == 60 and strict.seconds_per_request <= 60
    floor = plan_of(hosting="self", tokens_per_second_floor="20", **GATED_GPU)
    assert floor.tokens_per_second >= 20
    spiky = plan_of(hosting="self", peak_factor="10", requests_per_month="30000000", **GATED_GPU)
    assert spiky.capacity["peak_factor"] == 10
    steady = plan_of(hosting="self", requests_per_month="30000000", **GATED_GPU)
    assert spiky.settings.max_instances > steady.settings.max_instances


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
