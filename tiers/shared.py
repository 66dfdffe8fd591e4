"""What every tier construct needs: prop checks, checked facts, a KMS key, an encrypted log
group, least-privilege ECR/S3 statements and cdk-nag acknowledgments with their reasons."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from tierwise.errors import TierwiseError
from tierwise.facts import containers


class PropError(TierwiseError):
    """A construct prop is out of range: the message names the construct, the prop and what is allowed."""


# --- prop validation --------------------------------------------------------------------------


def check_int(owner: str, prop: str, value: Any, low: int, high: int | None = None, *, step: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if ok and step:
        ok = value % step == 0
    if not ok:
        allowed = f"an integer {low:,}..{high:,}" if high is not None else f"an integer >= {low:,}"
        if step:
            allowed += f" in steps of {step:,}"
        raise PropError(f"{owner}: {prop} must be {allowed} (got {value!r})")
    return value


def check_choice(owner: str, prop: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join("none" if a is None else str(a) for a in allowed)
        raise PropError(f"{owner}: {prop} must be one of {shown} (got {value!r})")
    return value


def check_text(owner: str, prop: str, value: Any, pattern: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise PropError(f"{owner}: {prop} must be {what} (got {value!r})")
    return value


def check_model_name(owner: str, value: Any) -> None:
    """The "model" field of responses, also part of a description: printable text."""
    if value is not None:
        check_text(owner, "model_name", value, r"[\w.:/ -]{1,128}", "1-128 letters, digits, '.', ':', '/', ' ', '-' or '_'")


def check_runtime_directory(owner: str, value: Any) -> None:
    """A Docker build context given in place of tiers/gguf_runtime/image: a folder with a Dockerfile."""
    from pathlib import Path

    if value is not None and not (isinstance(value, (str, Path)) and (Path(value) / "Dockerfile").is_file()):
        raise PropError(f"{owner}: runtime_directory must be a folder holding a Dockerfile (got {str(value)!r})")


S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.+)")
ECR_IMAGE_URI = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::(?P<tag>[\w.-]{1,128})|@(?P<digest>sha256:[0-9a-f]{64}))"
)


def parse_s3_uri(owner: str, prop: str, uri: str) -> tuple[str, str]:
    match = S3_URI.fullmatch(uri or "")
    if not match:
        raise PropError(f"{owner}: {prop} must be s3://bucket/key of one object (got {uri!r})")
    return match["bucket"], match["key"]


def parse_ecr_image_uri(owner: str, prop: str, uri: str) -> re.Match[str]:
    match = ECR_IMAGE_URI.fullmatch(uri or "")
    if not match:
        raise PropError(
            f"{owner}: {prop} must be a private ECR image, ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG "
            f"or @sha256:DIGEST (got {uri!r})"
        )
    return match


def ecr_image_repository_arn(scope: Construct, owner: str, prop: str, uri: str) -> tuple[re.Match[str], str]:
    """The parsed image URI and the ARN of its repository, for a pull grant on that one repo."""
    match = parse_ecr_image_uri(owner, prop, uri)
    arn = cdk.Stack.of(scope).format_arn(
        service="ecr", account=match["account"], region=match["region"],
        resource="repository", resource_name=match["repository"],
    )
    return match, arn


# --- container images -------------------------------------------------------------------------


def dlc_regions() -> list[str]:
    return sorted(containers().registry.accounts)


def dlc_image_uri(scope: Construct, image: str) -> str:
    """The Deep Learning Container image `image` (a key of tierwise/data/containers.yaml) for the
    stack's region: a plain string when the region is known at synth time, else a lookup in a
    CloudFormation mapping keyed by AWS::Region."""
    spec = containers().image(image)
    accounts = containers().registry.accounts
    stack = cdk.Stack.of(scope)
    region = stack.region
    path = f"{spec.repository}:{spec.tag}"
    if not cdk.Token.is_unresolved(region):
        if region not in accounts:
            raise PropError(
                f"no checked Deep Learning Container registry for region {region}; "
                f"supported regions: {', '.join(sorted(accounts))}"
            )
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"{accounts[region]}.dkr.ecr.{region}.{suffix}/{path}"
    mapping = stack.node.try_find_child("DlcRegistry")
    if mapping is None:
        mapping = cdk.CfnMapping(
            stack, "DlcRegistry", mapping={r: {"account": a} for r, a in sorted(accounts.items())}
        )
    account = mapping.find_in_map(cdk.Aws.REGION, "account")
    return f"{account}.dkr.ecr.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}/{path}"


def dlc_repository_arn(scope: Construct, image: str) -> str:
    """ARN of the DLC repository `image` comes from, for a pull permission scoped to it."""
    repository = containers().image(image).repository
    stack = cdk.Stack.of(scope)
    region = stack.region
    if not cdk.Token.is_unresolved(region):
        account = containers().registry.accounts[region]
    else:
        dlc_image_uri(scope, image)  # makes sure the mapping exists
        account = cdk.Fn.find_in_map("DlcRegistry", cdk.Aws.REGION, "account")
    return stack.format_arn(service="ecr", account=account, resource="repository", resource_name=repository)


def ecr_pull_statements(repository_arns: Sequence[str]) -> list[iam.PolicyStatement]:
    """Pull an image from these repositories and nothing else (GetAuthorizationToken has no
    resource-level permission: AWS requires Resource "*" for it)."""
    return [
        iam.PolicyStatement(
            sid="PullModelImage",
            actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=list(repository_arns),
        ),
        iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
    ]


ECR_TOKEN_REASON = (
    "ecr:GetAuthorizationToken supports no resource-level permission (Resource must be *); it only issues a "
    "registry login token, and the image pull itself is limited to the one repository in the statement above"
)


def s3_object_arn(scope: Construct, bucket: str, key: str) -> str:
    return cdk.Stack.of(scope).format_arn(
        service="s3", region="", account="", resource=bucket, resource_name=key,
        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
    )


# --- shared security parts --------------------------------------------------------------------


def create_key(scope: Construct, id: str, *, description: str) -> kms.Key:
    """A customer managed key with rotation that CloudWatch Logs of this account and region may use."""
    key = kms.Key(
        scope,
        id,
        description=description,
        enable_key_rotation=True,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        pending_window=cdk.Duration.days(7),
    )
    allow_logs(key)
    return key


def allow_logs(key: kms.IKey) -> None:
    """Let CloudWatch Logs encrypt log groups of this account and region with `key`."""
    if not isinstance(key, kms.Key) or key.node.try_find_child("LogsMayUse") is not None:
        return  # an imported key's policy is its owner's to manage; ours gets the statement once
    stack = cdk.Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogs",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs", resource="log-group", resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    Construct(key, "LogsMayUse")  # marks the key: the statement is there


def log_group(
    scope: Construct,
    id: str,
    *,
    key: kms.IKey,
    retention: logs.RetentionDays,
    removal_policy: cdk.RemovalPolicy,
    name: str | None = None,
) -> logs.LogGroup:
    allow_logs(key)
    group = logs.LogGroup(
        scope, id, log_group_name=name, encryption_key=key, retention=retention, removal_policy=removal_policy
    )
    return group


def after_policies_of(resource: Construct, role: iam.IRole) -> None:
    """Create `resource` only once `role`'s inline policy exists: services check the role's
    permissions when the resource is created (the role itself is already referenced)."""
    policy = role.node.try_find_child("DefaultPolicy") if isinstance(role, iam.Role) else None
    resource.node.add_dependency(policy if policy is not None else role)


def alarm(
    scope: Construct,
    id: str,
    *,
    metric: cloudwatch.Metric,
    threshold: float,
    description: str,
    actions: Sequence[cloudwatch.IAlarmAction],
    comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluation_periods: int = 1,
) -> cloudwatch.Alarm:
    made = cloudwatch.Alarm(
        scope,
        id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        comparison_operator=comparison,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    for action in actions:
        made.add_alarm_action(action)
    return made


def acknowledge(construct: Construct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `construct` (and its children), with the reason a
    reviewer reads. cdk-nag 3.x wants each finding by its full id, e.g. AwsSolutions-IAM5[Resource::*]."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


# --- how to call what was deployed -----------------------------------------------------------

# a first request for each runtime, used in the "how to invoke" outputs
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


# --- the options every tier construct takes ----------------------------------------------------


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


# --- from a plan ------------------------------------------------------------------------------


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
