"""ModelStack: one Placement -> one tier construct + the parts every tier shares (a KMS key,
cost-allocation tags, outputs that say how to call what was deployed)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from tiers import TIER_CONSTRUCTS, construct_for
from tiers.shared import PropError, TierOptions, create_key
from tierwise.contract import NO_QUANT, OPTION_TIERS, TAG_MODEL, TAG_QUANT, TAG_TIER
from tierwise.placement import Placement


def throughput_metadata(placement: Placement) -> dict[str, Any]:
    """How fast the planned deployment serves, recorded in the template (``Metadata.tierwise``)
    so the cost review prices request time from the template alone, without placement."""
    settings = placement.settings
    memory_mb = settings.get("memory_mb") if isinstance(settings, dict) else getattr(settings, "memory_mb", None)
    meta: dict[str, Any] = {"model": placement.model, "tier": placement.tier}
    for key, value in (("decodeTokensPerSecond", placement.tokens_per_second),
                       ("promptTokensPerSecond", placement.prompt_tokens_per_second),
                       ("memoryMb", memory_mb)):
        if value is not None:
            # full precision (the review must price what placement did), as a string: CloudFormation
            # (cfn-lint E4002) takes no floating-point numbers in template Metadata
            meta[key] = repr(float(value)) if key != "memoryMb" else int(value)
    return meta


class ModelStack(cdk.Stack):
    """The deployable stack for one placed model: nothing tier-specific here; the tier's
    construct maps the plan's settings to its props (``for_placement``) and says how to call
    what it deployed (``outputs``).

    ``placement`` is the decision (tierwise.placement.plan); its ``settings`` become the tier
    construct's props one to one (docs/CONTRACTS.md). Options override what a plan cannot
    know: ``model_uri`` (the GGUF in S3 or a local file), ``image_uri`` (a runtime image a
    pipeline already pushed), ``architecture`` (Lambda), ``min_instances``/``max_instances``
    (GPU autoscaling bounds), ``hf_token_secret`` (a Secrets Manager secret name holding a
    Hugging Face token for gated models). Other keyword arguments are Stack props.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        placement: Placement,
        model_uri: str | None = None,
        image_uri: str | None = None,
        architecture: str | None = None,
        min_instances: int | None = None,
        max_instances: int | None = None,
        hf_token_secret: str | None = None,
        **stack_props: Any,
    ) -> None:
        options = {
            "model_uri": model_uri, "image_uri": image_uri, "architecture": architecture,
            "min_instances": min_instances, "max_instances": max_instances, "hf_token_secret": hf_token_secret,
        }
        tier = str(placement.tier)  # the plain id in tags, outputs and messages
        if tier not in TIER_CONSTRUCTS:
            raise PropError(f"ModelStack: placement.tier must be one of {', '.join(TIER_CONSTRUCTS)} (got {tier!r})")
        for name, value in options.items():
            if value is not None and tier not in OPTION_TIERS[name]:
                raise PropError(
                    f"ModelStack: {name} applies to {' and '.join(OPTION_TIERS[name])}; {placement.model} is placed on {tier}"
                )
        stack_props.setdefault(
            "description",
            f"tierwise: {placement.model} on {tier}" + (f" ({placement.quant})" if placement.quant else ""),
        )
        super().__init__(scope, id, **stack_props)
        self.placement = placement
        self.options = {k: v for k, v in options.items() if v is not None}
        quant = placement.quant or NO_QUANT
        for key, value in ((TAG_MODEL, placement.model), (TAG_TIER, tier), (TAG_QUANT, quant)):
            cdk.Tags.of(self).add(key, value)
        self.template_options.metadata = {"tierwise": throughput_metadata(placement)}

        construct = construct_for(tier)
        props: dict[str, Any] = dict(self.options)
        # the shared key, for tiers that encrypt something of ours (a key costs money)
        self.key: kms.Key | None = None
        if construct.USES_KEY:
            self.key = create_key(self, "Key", description=f"tierwise {placement.model}: logs, environment, endpoint storage")
            props["options"] = TierOptions(encryption_key=self.key)
        self.endpoint = construct.for_placement(self, "Endpoint", placement, **props)

        cdk.CfnOutput(self, "Tier", value=tier, description="where the model runs")
        cdk.CfnOutput(self, "Model", value=f"{placement.model} ({quant}, context {placement.context})")
        for name, (value, description) in self.endpoint.outputs().items():
            cdk.CfnOutput(self, name, value=value, description=description)
