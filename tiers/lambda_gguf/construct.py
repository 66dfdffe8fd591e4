"""LambdaGgufEndpoint: a GGUF model served by llama.cpp in a container-image Lambda function,
behind a Function URL that only IAM-signed requests may call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from tiers.gguf_runtime import BUILD_CONTEXT_EXCLUDES, RUNTIME_DIRECTORY, runtime_image_build_args
from tiers.shared import (
    EXAMPLE_REQUESTS,
    FromPlacement,
    after_policies_of,
    PropError,
    alarm,
    check_choice,
    check_int,
    check_model_source,
    check_text,
    create_key,
    limits,
    log_group,
    model_object,
    ecr_image_repository_arn,
)

ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}
PLATFORMS = {"x86_64": ecr_assets.Platform.LINUX_AMD64, "arm64": ecr_assets.Platform.LINUX_ARM64}
SHA256 = r"[0-9a-f]{64}"


class LambdaGgufEndpoint(FromPlacement, Construct):
    """A container-image Lambda function running llama.cpp on one GGUF model.

    The model comes from exactly one place:
    - ``gguf_url`` (with ``gguf_sha256`` and ``gguf_file``): downloaded and checked at image
      build time and baked into the image, so a cold start reads it from local disk;
    - ``model_uri``: an S3 object (``s3://bucket/key``), or a local ``.gguf`` path that is
      uploaded as an S3 asset; the function downloads it to /tmp at cold start, so
      ``ephemeral_storage_mb`` must hold it;
    - ``image_uri``: an image a pipeline already built and pushed to ECR (its model baked in,
      or from ``model_uri``); nothing is built at synth or deploy time.

    Callers reach it through the Function URL (IAM auth only) or the Invoke API;
    ``grant_invoke(grantee)`` allows both. ``LambdaGgufEndpoint.for_profile(self, "Llm", p)``
    sizes a catalogue model for this tier; ``from_placement`` takes a plan made elsewhere.
    """

    TIER = "lambda-gguf"

    @classmethod
    def props_from_placement(
        cls, placement, *, model_uri: str | None = None, image_uri: str | None = None,
        architecture: str | None = None, **props,
    ) -> dict:
        s = placement.settings
        if model_uri is not None or image_uri is not None:
            source = {"model_uri": model_uri, "image_uri": image_uri}
            if model_uri is not None and Path(model_uri).name == s.gguf_file:
                source["model_sha256"] = s.gguf_sha256  # the plan's checksum is for this file
            # the model may be downloaded to /tmp: keep the plan's room for it
            ephemeral_mb = s.ephemeral_storage_mb
        else:
            source = {"gguf_url": s.gguf_url, "gguf_sha256": s.gguf_sha256, "gguf_file": s.gguf_file}
            # baked into the image: /tmp holds nothing of the model, so no paid storage above 512 MB
            ephemeral_mb = limits("lambda")["ephemeral_storage_mb_min"]
        return {
            **source,
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
        encryption_key: kms.IKey | None = None,
        role: iam.IRole | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        runtime_directory: str | Path | None = None,
    ) -> None:
        super().__init__(scope, id)
        owner = type(self).__name__
        lim = limits("lambda")
        check_int(owner, "memory_mb", memory_mb, lim["memory_mb_min"], lim["memory_mb_max"])
        check_int(owner, "ephemeral_storage_mb", ephemeral_storage_mb, lim["ephemeral_storage_mb_min"], lim["ephemeral_storage_mb_max"])
        check_int(owner, "timeout_s", timeout_s, 1, lim["timeout_s_max"])
        check_choice(owner, "architecture", architecture, ARCHITECTURES)
        check_int(owner, "n_ctx", n_ctx, 16)
        check_int(owner, "max_tokens_default", max_tokens_default, 1)
        if threads is not None:
            check_int(owner, "threads", threads, 1, lim["vcpus_max"])
        if reserved_concurrency is not None:
            check_int(owner, "reserved_concurrency", reserved_concurrency, 0)
        for prop, value in (("gguf_sha256", gguf_sha256), ("model_sha256", model_sha256)):
            if value is not None:
                check_text(owner, prop, value, SHA256, "64 lowercase hex digits")

        check_model_source(owner, gguf_url, model_uri, image_uri)
        if gguf_url is not None:
            check_text(owner, "gguf_url", gguf_url, r"https://\S+", "an https:// URL of a .gguf file")

        self.architecture = architecture
        self.encryption_key = encryption_key or create_key(self, "Key", description=f"{self.node.path}: logs and environment")
        self.log_group = log_group(
            self, "Logs", key=self.encryption_key, retention=log_retention, removal_policy=removal_policy
        )
        self.role: iam.IRole = role or iam.Role(
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
        }
        if threads is not None:
            environment["N_THREADS"] = str(threads)
        if model_name:
            environment["MODEL_NAME"] = model_name

        self.model_source = "baked-in"
        if model_uri is not None:
            self.model_source = "s3"
            self.model_s3_uri = self._model_object(owner, model_uri)
            environment["MODEL_S3_URI"] = self.model_s3_uri
            if model_sha256:
                environment["MODEL_SHA256"] = model_sha256
        if image_uri is not None:
            self.model_source = "image" if model_uri is None else "s3"
            code = self._prebuilt_image(owner, image_uri)
        else:
            if gguf_url is not None and gguf_sha256 is None:
                cdk.Annotations.of(self).add_warning_v2(
                    "tierwise:unverified-gguf",
                    f"{gguf_url} is baked into the image without a sha256 to check it against",
                )
            code = lambda_.DockerImageCode.from_image_asset(
                str(runtime_directory or RUNTIME_DIRECTORY),
                platform=PLATFORMS[architecture],
                build_args=runtime_image_build_args(gguf_url, gguf_sha256, gguf_file),
                exclude=BUILD_CONTEXT_EXCLUDES,
            )

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
        )
        after_policies_of(self.function, self.role)
        self.function_url = self.function.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM,
            invoke_mode=lambda_.InvokeMode.BUFFERED,
        )
        self.url = self.function_url.url
        self.node.default_child = self.function.node.default_child

        self.alarms = [
            alarm(
                self, "ErrorsAlarm", metric=self.function.metric_errors(period=cdk.Duration.minutes(5)),
                threshold=1, actions=alarm_actions,
                description="the GGUF function failed at least once in 5 minutes (load error, out of memory, timeout)",
            ),
            alarm(
                self, "ThrottlesAlarm", metric=self.function.metric_throttles(period=cdk.Duration.minutes(5)),
                threshold=1, actions=alarm_actions,
                description="requests were throttled: more in flight than the reserved concurrency allows",
            ),
            alarm(
                self, "DurationAlarm",
                metric=self.function.metric_duration(period=cdk.Duration.minutes(5), statistic="Maximum"),
                threshold=timeout_s * 1000 * 0.8, actions=alarm_actions,
                description="a request used more than 80% of the timeout: generation is close to being cut off",
            ),
        ]

    # --- model and image sources ---------------------------------------------------------------

    def _model_object(self, owner: str, model_uri: str) -> str:
        uri, object_arn = model_object(self, owner, model_uri)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadModelObject", actions=["s3:GetObject"], resources=[object_arn])
        )
        return uri

    def _prebuilt_image(self, owner: str, image_uri: str) -> lambda_.DockerImageCode:
        match, arn = ecr_image_repository_arn(self, owner, "image_uri", image_uri)
        repository = ecr.Repository.from_repository_attributes(
            self, "Image", repository_arn=arn, repository_name=match["repository"]
        )
        return lambda_.DockerImageCode.from_ecr(repository, tag_or_digest=match["tag"] or match["digest"])

    def outputs(self) -> dict[str, tuple[str, str]]:
        region, name, body = cdk.Aws.REGION, self.function.function_name, EXAMPLE_REQUESTS["openai-chat"]
        return {
            "FunctionName": (name, "the function; call it with the Invoke API"),
            "FunctionUrl": (self.url, "IAM auth: sign requests with SigV4 (service lambda)"),
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
