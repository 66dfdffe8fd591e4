"""ModelStack: one Placement -> one tier construct + the parts every tier shares (a KMS key,
cost-allocation tags, outputs that say how to call what was deployed)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from tiers import construct_for
from tiers.network import SUBNET_TYPES, PrivateNetwork
from tiers.construct_base import TierOptions
from tiers.props import PropError
from tiers.security import create_key
from tierwise import tiers
from tierwise.contract import NO_QUANT, TAG_MODEL, TAG_QUANT, TAG_TIER
from tierwise.placement import Placement, tier_cost
from tierwise.stack_metadata import KEY as METADATA_KEY
from tierwise.stack_metadata import planned_metadata


# the AlarmsNotify output of a stack whose alarms have no action (-c alarm_topic_arn not given)
ALARMS_NOTIFY_NOBODY = ("nobody: the alarms only change state in CloudWatch; give -c "
                        "alarm_topic_arn=arn:aws:sns:REGION:ACCOUNT:TOPIC to be told")


class ModelStack(cdk.Stack):
    """The deployable stack for one placed model: nothing tier-specific here; the tier's
    construct maps the plan's settings to its props (``for_placement``) and says how to call
    what it deployed (``outputs``).

    ``placement`` is the decision (tierwise.placement.plan); its ``settings`` become the tier
    construct's props one to one (docs/CONTRACTS.md). Options override what a plan cannot
    know: ``model_uri`` (the GGUF in S3 or a local file), ``image_uri`` (a runtime image a
    pipeline already pushed), ``architecture`` (Lambda), ``min_instances``/``max_instances``
    (GPU autoscaling bounds), ``hf_token_secret`` (a Secrets Manager secret's name or full ARN
    holding a Hugging Face token for gated models), ``alarm_topic_arn`` (an SNS topic every alarm
    of the stack notifies; without it a synth warning says nobody is told), ``weights_uri``
    (``s3://bucket/prefix/``, the model's Hugging Face files: what Bedrock imports, or what the GPU
    tier loads instead of the Hub, so it can run isolated) and ``weights_key`` (the KMS key ARN of
    that bucket). ``vpc_id`` puts the model's compute in that VPC
    (looked up at synth: the stack needs an account and region), in its ``subnet_type``
    (``private``, the default, or ``isolated``) subnets or the ``subnet_ids`` given, with the
    endpoints and security groups of tiers/network.py (``vpc_endpoints=False`` when the VPC
    already has them). Other keyword arguments are Stack props.
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
        alarm_topic_arn: str | None = None,
        vpc_id: str | None = None,
        subnet_type: str | None = None,
        subnet_ids: list[str] | None = None,
        vpc_endpoints: bool | None = None,
        weights_uri: str | None = None,
        weights_key: str | None = None,
        **stack_props: Any,
    ) -> None:
        options = {
            "model_uri": model_uri, "image_uri": image_uri, "architecture": architecture,
            "min_instances": min_instances, "max_instances": max_instances, "hf_token_secret": hf_token_secret,
            "alarm_topic_arn": alarm_topic_arn, "vpc_id": vpc_id, "subnet_type": subnet_type, "subnet_ids": subnet_ids,
            "vpc_endpoints": vpc_endpoints, "weights_uri": weights_uri, "weights_key": weights_key,
        }
        tier = str(placement.tier)  # the plain id in tags, outputs and messages
        module = tiers.get_or_none(tier)
        if module is None:
            raise PropError(f"ModelStack: placement.tier must be one of {', '.join(tiers.ids())} (got {tier!r})")
        for name, value in options.items():
            if value is not None and name not in module.options:
                raise PropError(
                    f"ModelStack: {name} applies to {' and '.join(tiers.reading(name))}; {placement.model} is placed "
                    f"on {tier}"
                )
        stack_props.setdefault(
            "description",
            f"tierwise: {placement.model} on {tier}" + (f" ({placement.quant})" if placement.quant else ""),
        )
        cost_tags = {TAG_MODEL: placement.model, TAG_TIER: tier, TAG_QUANT: placement.quant or NO_QUANT}
        # the stack's own tags too: with cdk.json's @aws-cdk/core:explicitStackTags, Tags.of(stack)
        # no longer tags the stack, and what reads stack.tags (the provisioned model's tags) would
        # find none
        stack_props["tags"] = {**cost_tags, **(stack_props.get("tags") or {})}
        super().__init__(scope, id, **stack_props)
        # an option that changes what the construct deploys (a GGUF read from S3 needs /tmp room)
        # changes the bill: the stack records the bill of what it deploys
        deployed = module.deployed(placement.settings, {k: v for k, v in options.items() if v is not None})
        if deployed != placement.settings:
            placement = placement.model_copy(update={"settings": deployed})
            cost = tier_cost(placement)
            placement = placement.model_copy(update={"monthly_cost_usd": cost.monthly_usd, "bill": cost.components})
        self.placement = placement
        self.options = {k: v for k, v in options.items() if v is not None}
        for key, value in cost_tags.items():
            cdk.Tags.of(self).add(key, value)
        self.template_options.metadata = {METADATA_KEY: planned_metadata(placement, placement.region)}

        construct = construct_for(tier)
        network_options = {k: self.options.pop(k) for k in ("vpc_id", "subnet_type", "subnet_ids", "vpc_endpoints") if k in self.options}
        props: dict[str, Any] = {k: v for k, v in self.options.items() if k != "alarm_topic_arn"}
        self.network: PrivateNetwork | None = None
        if network_options:
            reads_s3 = model_uri is not None or weights_uri is not None
            props.update(self._private_network(tier, reads_s3=reads_s3, options=self.options, **network_options))
            self.options.update(network_options)
        # the shared key, for tiers that encrypt something of ours (a key costs money)
        self.key: kms.Key | None = None
        tier_options: dict[str, Any] = {}
        if module.uses_key:
            self.key = create_key(self, "Key", description=f"tierwise {placement.model}: logs, environment, endpoint storage")
            tier_options["encryption_key"] = self.key
        self.alarm_topic: sns.ITopic | None = None
        if alarm_topic_arn is not None:
            self.alarm_topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
            tier_options["alarm_actions"] = [cloudwatch_actions.SnsAction(self.alarm_topic)]
        if tier_options:
            props["options"] = TierOptions(**tier_options)
        self.endpoint = construct.for_placement(self, "Endpoint", placement, **props)

        cdk.CfnOutput(self, "Tier", value=tier, description="where the model runs")
        if self.network is not None:
            cdk.CfnOutput(
                self, "SecurityGroup", value=self.network.security_group.security_group_id,
                description="the model workload's security group: allow it where the model must connect",
            )
        cdk.CfnOutput(self, "Model", value=f"{placement.model} ({cost_tags[TAG_QUANT]}, context {placement.context})")
        for name, (value, description) in self.endpoint.outputs().items():
            cdk.CfnOutput(self, name, value=value, description=description)
        if module.alarms:
            # said where it matters, in what `cdk deploy` prints, not as a warning on every synth
            cdk.CfnOutput(
                self, "AlarmsNotify",
                value=alarm_topic_arn or ALARMS_NOTIFY_NOBODY,
                description=f"who the stack's {len(module.alarms)} alarms ({', '.join(module.alarms)}) notify",
            )

    def _private_network(
        self, tier: str, *, reads_s3: bool, options: dict[str, Any], vpc_id: str | None = None,
        subnet_type: str | None = None, subnet_ids: list[str] | None = None, vpc_endpoints: bool | None = None,
    ) -> dict[str, Any]:
        """The VPC props of the tier construct, and the network they need (self.network)."""
        if vpc_id is None:
            raise PropError("ModelStack: subnet_type, subnet_ids and vpc_endpoints need vpc_id")
        if subnet_type is not None and subnet_ids:
            raise PropError("ModelStack: give subnet_type or subnet_ids, not both")
        # a context lookup: `cdk synth` with credentials asks EC2 once and caches it in cdk.context.json
        vpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=vpc_id)
        if subnet_ids:
            selection = self._given_subnets(vpc, vpc_id, list(subnet_ids))
        else:
            selection = ec2.SubnetSelection(subnet_type=SUBNET_TYPES[subnet_type or "private"])
        self.network = PrivateNetwork.for_tier(
            self, "Network", tier=tier, vpc=vpc, vpc_subnets=selection,
            create_endpoints=vpc_endpoints is not False, reads_s3=reads_s3,
            reaches_internet=tiers.get(tier).needs_internet_with(options),
        )
        return {"vpc": vpc, "vpc_subnets": selection, "security_groups": [self.network.security_group]}

    def _given_subnets(self, vpc: ec2.IVpc, vpc_id: str, subnet_ids: list[str]) -> ec2.SubnetSelection:
        """The subnets named by id, as the looked-up VPC knows them (with their route tables)."""
        key = cdk.ContextProvider.get_key(
            self, provider="vpc-provider", props={"filter": {"vpc-id": vpc_id}, "returnAsymmetricSubnets": True}
        ).key
        if self.node.try_get_context(key) is None:
            # not looked up yet: CDK answers with a placeholder VPC and the CLI synthesizes again once
            # it has looked the VPC up, discarding this template; its placeholder subnets stand in
            return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        known = {s.subnet_id: s for s in (*vpc.public_subnets, *vpc.private_subnets, *vpc.isolated_subnets)}
        unknown = [i for i in subnet_ids if i not in known]
        if unknown:
            raise PropError(
                f"ModelStack: subnet_ids {', '.join(unknown)} are not subnets of {vpc_id} "
                f"(its subnets: {', '.join(sorted(known))})"
            )
        return ec2.SubnetSelection(subnets=[known[i] for i in subnet_ids])
