"""What the Bedrock tiers share: the model's lifecycle on Bedrock (a Legacy or EOL model is not
chosen for a new deployment) and the request time from its published speed."""

from __future__ import annotations

from tierwise.facts import BedrockModel, bedrock_model
from tierwise.throughput import Speed, bedrock_speed
from tierwise.tiers.base import Ask, Rejection


def offer_of(ask: Ask):
    """The profile's Bedrock offer, its first model id, that id's facts and speed."""
    offer = ask.profile.bedrock
    if offer is None:
        raise Rejection(f"Bedrock does not serve {ask.profile.name}")
    model_id = offer.model_ids[0]
    speed = bedrock_speed(model_id)
    return offer, model_id, bedrock_model(model_id), speed


def request_tokens(ask: Ask) -> int:
    return ask.workload.input_tokens + ask.workload.output_tokens


def check_context(ask: Ask, model_id: str, facts: BedrockModel | None) -> None:
    """Reject a workload whose requests do not fit the model's context on Bedrock (unknown for a
    model the data does not know: lifecycle_check already warns about those)."""
    if facts is None or facts.context_tokens is None:
        return
    tokens = request_tokens(ask)
    if tokens > facts.context_tokens:
        w = ask.workload
        raise Rejection(
            f"a request of {w.input_tokens:,} input + {w.output_tokens:,} output = {tokens:,} tokens does not fit "
            f"{model_id}'s {facts.context_tokens:,}-token context on Bedrock ({facts.context_source})"
        )


def request_seconds(ask: Ask, speed: Speed) -> float:
    return speed.request_seconds(ask.workload.input_tokens, ask.workload.output_tokens)


def lifecycle_check(model_id: str, facts: BedrockModel | None) -> list[str]:
    """Reject a Legacy/EOL model for a new deployment; notes (plan --verbose) when the state is
    unknown: nothing in tierwise can settle it, AWS's GetFoundationModel can."""
    ask_aws = f"`aws bedrock get-foundation-model --model-identifier {model_id}` shows it (modelLifecycle)"
    if facts is None:
        return [f"tierwise/data/bedrock_models.yaml has no entry for {model_id}: its lifecycle and quotas are "
                f"unknown to tierwise; {ask_aws}"]
    if facts.lifecycle in ("Legacy", "EOL"):
        when = f" (EOL {facts.eol_date})" if facts.eol_date else ""
        raise Rejection(f"{model_id} is {facts.lifecycle} on Bedrock{when}: not chosen for a new deployment "
                        f"({facts.lifecycle_source})")
    if facts.lifecycle is None:
        return [f"{model_id}'s Bedrock lifecycle state (Active or Legacy) is unknown to tierwise; {ask_aws}"]
    return []
