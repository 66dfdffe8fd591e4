"""LambdaGgufEndpoint: a GGUF model served by llama.cpp in a container-image Lambda function,
behind a Function URL that only IAM-signed requests may call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from tiers.checkov import LAMBDA_NO_DLQ, LAMBDA_NO_RESERVED_CONCURRENCY, LAMBDA_NO_VPC, acknowledge_checkov
from tiers.gguf_model import GgufModel, gguf_model_for, sha256_matches_file
from tiers.gguf_runtime import generation_timeout_s
from tiers.network import allow_network_interfaces, check_subnets, select
from tiers.construct_base import EXAMPLE_REQUESTS, ForPlacement, OwnsRole, TierOptions
from tiers.props import PropError, check_choice, check_int, check_model_name, check_runtime_directory
from tiers.security import after_policies_of, alarm, create_key, log_group
from tierwise.facts import lambda_limits
from tierwise.tiers import lambda_gguf

ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}
# the TierOptions the function uses: all of them
OPTIONS = ("encryption_key", "role", "log_retention", "removal_policy", "alarm_actions")


@jsii.implements(iam.IGrantable)
class LambdaGgufEndpoint(ForPlacement, OwnsRole, Construct):
    """A container-image Lambda function running llama.cpp on one GGUF model, behind a
    Function URL that only IAM-signed requests may call (tiers/lambda_gguf/README.md).

    ``LambdaGgufEndpoint(self, "Llm", model=GgufModel.baked(url, sha256=...))`` is a sound
    deployment; ``LambdaGgufEndpoint.for_profile(self, "Llm", profile)`` sizes a catalogue model
    for this tier, ``for_placement`` takes a plan made elsewhere. Props (all keyword):

    - ``model``: where the GGUF comes from, a ``tiers.GgufModel`` (``baked``, ``from_s3``,
      ``from_file``, ``from_ecr_image``). Required, unless the shorthand props name it:
      ``gguf_url``/``gguf_sha256``/``gguf_file`` (baked), ``model_uri``/``model_sha256``
      (S3 or a local file), ``image_uri`` (a pushed image; with ``model_uri``: the runtime
      image that reads it).
    - ``gguf_url`` / ``gguf_sha256`` / ``gguf_file``, ``model_uri`` / ``model_sha256``, ``image_uri``:
      the shorthand for ``model`` (``GgufModel.baked``, ``from_s3`` or ``from_file``,
      ``from_ecr_image``). Default: none, ``model`` names the source.
    - ``model_name``: the "model" field of responses and the function description. Default: the file name.
    - ``memory_mb``: 128..10,240. Default 4096. CPU comes with memory: 1,769 MB per vCPU.
    - ``ephemeral_storage_mb``: /tmp, 512..10,240; must hold a model read from S3. Default 512.
    - ``timeout_s``: 1..900. Default 300.
    - ``architecture``: ``"x86_64"`` or ``"arm64"`` (image platform and function). Default ``"x86_64"``.
    - ``n_ctx``: the context window in tokens, >= 16. Default 4096.
    - ``threads``: llama.cpp threads, 1..6. Default: the vCPUs the function gets.
    - ``max_tokens_default``: completion length when a request names none, >= 1. Default 256.
    - ``reserved_concurrency``: reserved concurrent executions, >= 0. Default: none reserved
      (reserving fails on new accounts whose concurrency limit is 10).
    - ``options``: a ``tiers.TierOptions`` (key, role, log retention, removal policy, alarm
      actions). Default: ``TierOptions()``: a new key and role, one month of logs, destroyed with the stack.
    - ``runtime_directory``: the Docker build context. Default: tiers/gguf_runtime/image.
    - ``vpc``, ``vpc_subnets``, ``security_groups``: put the function's network interfaces in
      that VPC's subnets (default: its private subnets) with those groups (default: one CDK
      makes, all outbound). Default: no VPC. tiers/network.py builds the endpoints and groups.

    Attributes: ``function`` (the L2 function), ``cfn_function`` (its AWS::Lambda::Function, also
    the default child), ``function_url`` / ``url``, ``role``, ``encryption_key``, ``log_group``,
    ``alarms``, ``gguf_model`` (the GgufModel), ``model_source`` ("baked-in", "s3" or "image").
    Access: ``grant_invoke(grantee)`` (Function URL and Invoke API); ``grant_principal`` and
    ``add_to_role_policy`` for what the function itself may reach.
    """

    TIER = lambda_gguf.ID

    @classmethod
    def props_for_placement(
        cls, placement, *, model: GgufModel | None = None, model_uri: str | None = None,
        image_uri: str | None = None, architecture: str | None = None, **props,
    ) -> dict:
        """The props for `placement`; `model` (or the model_uri / image_uri shorthand) replaces
        the plan's baked-in GGUF."""
        s = placement.settings
        if model is None and (model_uri is not None or image_uri is not None):
            model = GgufModel.from_props(cls.__name__, model_uri=model_uri, image_uri=image_uri)
        if model is not None:
            # the plan's checksum is for the plan's file: it checks a copy of that file only
            model = sha256_matches_file(model, s.gguf_file, s.gguf_sha256)
        if model is not None and model.kind != "baked":
            # the model may be downloaded to /tmp: keep the plan's room for it
            ephemeral_mb = s.ephemeral_storage_mb
        else:
            model = model or GgufModel.from_props(
                cls.__name__, gguf_url=s.gguf_url, gguf_sha256=s.gguf_sha256, gguf_file=s.gguf_file
            )
            # baked into the image: /tmp holds nothing of the model, so no paid storage above 512 MB
            ephemeral_mb = lambda_limits().ephemeral_storage_mb_min
        return {
            "model": model,
            "model_name": placement.model,
            "memory_mb": s.memory_mb,
            "ephemeral_storage_mb": ephemeral_mb,
            "timeout_s": s.timeout_s,
            "architecture": architecture or s.architecture,
            "n_ctx": s.n_ctx,
            "threads": s.threads,
            "reserved_concurrency": s.reserved_concurrency,
            **props,
        }

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        model: GgufModel | None = None,
        gguf_url: str | None = None,
        gguf_sha256: str | None = None,
        gguf_file: str | None = None,
        model_uri: str | None = None,
        model_sha256: str | None = None,
        image_uri: str | None = None,
        model_name: str | None = None,
        memory_mb: int = 4096,
        ephemeral_storage_mb: int = 512,
        timeout_s: int = 300,
        architecture: str = "x86_64",
        n_ctx: int = 4096,
        threads: int | None = None,
        max_tokens_default: int = 256,
        reserved_concurrency: int | None = None,
        options: TierOptions | None = None,
        runtime_directory: str | Path | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
    ) -> None:
        owner = type(self).__name__
        lim = lambda_limits()
        if vpc is None and (vpc_subnets is not None or security_groups is not None):
            raise PropError(f"{owner}: vpc_subnets and security_groups need vpc (the VPC they belong to)")
        if vpc is not None:
            vpc_subnets = vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
            check_subnets(owner, vpc, vpc_subnets)
        check_int(owner, "memory_mb", memory_mb, lim.memory_mb_min, lim.memory_mb_max)
        check_int(owner, "ephemeral_storage_mb", ephemeral_storage_mb, lim.ephemeral_storage_mb_min, lim.ephemeral_storage_mb_max)
        check_int(owner, "timeout_s", timeout_s, 1, lim.timeout_s_max)
        check_choice(owner, "architecture", architecture, ARCHITECTURES)
        check_int(owner, "n_ctx", n_ctx, 16)
        check_int(owner, "max_tokens_default", max_tokens_default, 1)
        if threads is not None:
            check_int(owner, "threads", threads, 1, lim.vcpus_max)
        if reserved_concurrency is not None:
            check_int(owner, "reserved_concurrency", reserved_concurrency, 0)
        check_model_name(owner, model_name)
        check_runtime_directory(owner, runtime_directory)
        model = gguf_model_for(owner, model, gguf_url=gguf_url, gguf_sha256=gguf_sha256, gguf_file=gguf_file,
                           model_uri=model_uri, model_sha256=model_sha256, image_uri=image_uri)
        opts = TierOptions.checked(owner, options, uses=OPTIONS)
        super().__init__(scope, id)

        self.architecture = architecture
        self.gguf_model = model
        self.encryption_key = opts.encryption_key or create_key(self, "Key", description=f"{self.node.path}: logs and environment")
        self.log_group = log_group(
            self, "Logs", key=self.encryption_key, retention=opts.log_retention, removal_policy=opts.removal_policy
        )
        self.role: iam.IRole = opts.role or iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="llama.cpp GGUF function: writes its own log group, reads its model",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

        environment = {
            "N_CTX": str(n_ctx),
            "MAX_TOKENS_DEFAULT": str(max_tokens_default),
            # the runtime answers "length" before the function timeout instead of being killed
            "GENERATION_TIMEOUT_S": str(generation_timeout_s(timeout_s)),
            # the runtime writes the streaming prelude the URL's invoke mode below expects
            "FUNCTION_URL_INVOKE_MODE": "RESPONSE_STREAM",
        }
        if threads is not None:
            environment["N_THREADS"] = str(threads)
        if model_name:
            environment["MODEL_NAME"] = model_name

        bound = model.bind(self, owner, self.role)
        environment.update(bound.environment)
        self.model_source = bound.source
        if bound.s3_uri is not None:
            self.model_s3_uri = bound.s3_uri
        code = model.lambda_code(self, owner, architecture, runtime_directory)

        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=code,
            description=f"llama.cpp GGUF endpoint ({model_name or 'model'})",
            architecture=ARCHITECTURES[architecture],
            memory_size=memory_mb,
            ephemeral_storage_size=cdk.Size.mebibytes(ephemeral_storage_mb),
            timeout=cdk.Duration.seconds(timeout_s),
            reserved_concurrent_executions=reserved_concurrency,
            environment=environment,
            environment_encryption=self.encryption_key,
            role=self.role,
            log_group=self.log_group,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
        )
        if vpc is not None:
            # CDK adds AWSLambdaVPCAccessExecutionRole only to a role it creates itself
            allow_network_interfaces(
                self.role, "lambda", vpc=vpc, subnet_ids=select(vpc, vpc_subnets).subnet_ids,
                security_group_ids=[g.security_group_id for g in self.function.connections.security_groups],
            )
        after_policies_of(self.function, self.role)
        acknowledge_checkov(self.function, LAMBDA_NO_DLQ)
        if vpc is None:
            acknowledge_checkov(self.function, LAMBDA_NO_VPC)
        if reserved_concurrency is None:
            acknowledge_checkov(self.function, LAMBDA_NO_RESERVED_CONCURRENCY)
        self.function_url = self.function.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM,
            # tokens reach the caller as they are generated (stream=true); whole answers too
            invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM,
        )
        self.url = self.function_url.url
        self.cfn_function: lambda_.CfnFunction = self.function.node.default_child  # type: ignore[assignment]
        self.node.default_child = self.cfn_function

        alarm_actions = opts.alarm_actions
        # which alarms exist is the tier's (its bill counts them): tierwise/tiers/lambda_gguf.py
        make = {
            "Errors": lambda: alarm(
                self, "ErrorsAlarm", metric=self.function.metric_errors(period=cdk.Duration.minutes(5)),
                threshold=1, actions=alarm_actions,
                description="the GGUF function failed at least once in 5 minutes (load error, out of memory, timeout)",
            ),
            "Throttles": lambda: alarm(
                self, "ThrottlesAlarm", metric=self.function.metric_throttles(period=cdk.Duration.minutes(5)),
                threshold=1, actions=alarm_actions,
                description="requests were throttled: more in flight than the reserved concurrency allows",
            ),
            "Duration": lambda: alarm(
                self, "DurationAlarm",
                metric=self.function.metric_duration(period=cdk.Duration.minutes(5), statistic="Maximum"),
                threshold=timeout_s * 1000 * 0.8, actions=alarm_actions,
                description="a request used more than 80% of the timeout: generation is close to being cut off",
            ),
        }
        self.alarms = [make[name]() for name in lambda_gguf.TIER.alarms]

    def outputs(self) -> dict[str, tuple[str, str]]:
        region, name, body = cdk.Aws.REGION, self.function.function_name, EXAMPLE_REQUESTS["openai-chat"]
        return {
            "FunctionName": (name, "the function; call it with the Invoke API"),
            "FunctionUrl": (self.url, "OpenAI routes (/v1/chat/completions, /v1/completions, /v1/models); "
                                      "IAM auth: sign requests with SigV4 (service lambda); stream=true streams"),
            "ChatCommand": (f"tierwise chat {cdk.Aws.STACK_NAME} 'Say hello in five words.'",
                            "stream an answer with your AWS credentials (Python: tierwise.client.for_stack)"),
            "InvokeCommand": (
                f"aws lambda invoke --region {region} --function-name {name} "
                f"--cli-binary-format raw-in-base64-out --payload '{body}' /dev/stdout",
                "call the function through the Invoke API",
            ),
            "InvokeUrlCommand": (
                f"awscurl --service lambda --region {region} -X POST -H 'content-type: application/json' "
                f"-d '{body}' {self.url}v1/chat/completions",
                "call the Function URL with a SigV4-signed request (pip install awscurl)",
            ),
        }

    # --- access ---------------------------------------------------------------------------------

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` call the function through its URL (signed request) or the Invoke API."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
            resource_arns=[self.function.function_arn],
        )

