"""What every tier construct is: the options they all take (TierOptions), building one from a
tierwise plan (ForPlacement), the IGrantable role (OwnsRole), and the example requests their
stack outputs print."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from tiers.props import PropError


EXAMPLE_REQUESTS = {
    "openai-chat": '{"messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":64}',
    "lmi": '{"inputs":"Say hello in five words.","parameters":{"max_new_tokens":64}}',
    "huggingface": '{"inputs":"I love how simple this was."}',
    "bedrock-messages": '[{"role":"user","content":[{"text":"Say hello in five words."}]}]',
}


def converse_command(model_arn: str) -> str:
    return (
        f"aws bedrock-runtime converse --region {cdk.Aws.REGION} --model-id {model_arn} "
        f"--messages '{EXAMPLE_REQUESTS['bedrock-messages']}'"
    )



@dataclass(frozen=True)
class TierOptions:
    """What every tier construct takes alike: pass one object to any of them (``options=``).

    :param encryption_key: the KMS key for logs, the function environment, the endpoint's
        storage. Default: a new customer managed key with rotation, for this construct only.
    :param role: the role the function or endpoint runs as (constructs that own a role:
        Lambda and both SageMaker tiers). Default: a new role with exactly the statements the
        construct needs; a role passed in gets those statements added.
    :param log_retention: how long the construct's log groups keep events.
        Default: ``logs.RetentionDays.ONE_MONTH``.
    :param removal_policy: what ``cdk destroy`` does with the log groups.
        Default: ``cdk.RemovalPolicy.DESTROY`` (logs hold no state worth keeping).
    :param alarm_actions: actions (e.g. ``cloudwatch_actions.SnsAction(topic)``) for every alarm
        the construct creates. Default: none, the alarms only change state.
    """

    encryption_key: kms.IKey | None = None
    role: iam.IRole | None = None
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY
    alarm_actions: Sequence[cloudwatch.IAlarmAction] = ()

    @staticmethod
    def checked(owner: str, options: TierOptions | None, *, uses: Iterable[str]) -> TierOptions:
        """`options` (None: the defaults), checked for `owner`, which uses the options named in
        `uses`: a wrong type or an option the construct has nothing for is an error naming it."""
        if options is None:
            options = TierOptions()
        if not isinstance(options, TierOptions):
            raise PropError(f"{owner}: options must be a tiers.TierOptions (got {options!r})")
        uses = set(uses)
        # jsii interfaces are not runtime-checkable: recognise them by the attribute CDK reads
        kinds = {
            "encryption_key": (lambda v: hasattr(v, "key_arn"), "a kms.IKey"),
            "role": (lambda v: hasattr(v, "role_arn") and hasattr(v, "add_to_principal_policy"), "an iam.IRole"),
            "log_retention": (lambda v: isinstance(v, logs.RetentionDays), "a logs.RetentionDays"),
            "removal_policy": (lambda v: isinstance(v, cdk.RemovalPolicy), "a cdk.RemovalPolicy"),
        }
        defaults = TierOptions()
        for name, (fits, what) in kinds.items():
            value = getattr(options, name)
            if name not in uses and value != getattr(defaults, name):
                raise PropError(f"{owner}: options.{name} does not apply: it has no {name.replace('_', ' ')} to set "
                                f"(it uses {', '.join(sorted(uses)) or 'none of the options'})")
            if value is not None and not fits(value):
                raise PropError(f"{owner}: options.{name} must be {what} (got {value!r})")
        actions = options.alarm_actions
        if isinstance(actions, (str, bytes)) or not isinstance(actions, Iterable):
            raise PropError(f"{owner}: options.alarm_actions must be a list of cloudwatch.IAlarmAction (got {actions!r})")
        actions = tuple(actions)
        if actions and "alarm_actions" not in uses:
            raise PropError(f"{owner}: options.alarm_actions does not apply: it creates no alarms")
        for action in actions:
            if not hasattr(action, "bind"):
                raise PropError(f"{owner}: options.alarm_actions must hold cloudwatch.IAlarmAction objects (got {action!r})")
        return replace(options, alarm_actions=actions)



class ForPlacement:
    """Build a tier construct from a tierwise Placement (its settings are the props, see
    docs/CONTRACTS.md) or straight from a model profile, planned for this construct's tier.

    ``for_placement`` and ``for_profile`` make a new construct; CDK's ``from_*`` names mean
    importing an existing resource, which these are not.

    Every tier construct also has ``outputs()``: output name -> (value, description), what to
    call and the exact command that calls it (ModelStack turns them into stack outputs)."""

    TIER: str = ""  # the tier id, from the tier's core module (tierwise/tiers)

    @classmethod
    def props_for_placement(cls, placement: Any, **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def for_placement(cls, scope: Construct, id: str, placement: Any, **overrides: Any):
        """The construct for `placement` (a tierwise.placement.Placement for this tier); any
        prop can be overridden by keyword."""
        if placement.tier != cls.TIER:
            raise PropError(f"{cls.__name__}: the placement is for tier {placement.tier}; this construct is {cls.TIER}")
        return cls(scope, id, **cls.props_for_placement(placement, **overrides))  # type: ignore[call-arg]

    @classmethod
    def for_profile(
        cls,
        scope: Construct,
        id: str,
        profile: Any,
        *,
        quant: str | None = None,
        context: int | None = None,
        workload: Any = None,
        **overrides: Any,
    ):
        """A sound deployment of `profile` on this tier: sized by tierwise.placement, every
        setting overridable by keyword."""
        from tierwise.placement import plan

        placement = plan(profile, quant=quant, context=context, workload=workload, tier=cls.TIER)
        return cls.for_placement(scope, id, placement, **overrides)


class OwnsRole:
    """``grant_principal`` and ``add_to_role_policy`` for a construct whose compute runs as
    ``self.role`` (CDK's IGrantable: ``bucket.grant_read(endpoint)`` works)."""

    role: iam.IRole

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The principal the function or endpoint runs as: grant it access to what it reads."""
        return self.role

    def add_to_role_policy(self, statement: iam.PolicyStatement) -> None:
        """Add a statement to the role the function or endpoint runs as (for a role passed in
        through options.role, to that role's default policy)."""
        self.role.add_to_principal_policy(statement)
