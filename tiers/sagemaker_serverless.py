"""SageMakerServerlessEndpoint: a CPU model on a SageMaker Serverless Inference endpoint,
billed per request, scaled to zero between them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from tiers.gguf_runtime import BUILD_CONTEXT_EXCLUDES, RUNTIME_DIRECTORY, runtime_image_build_args
from tiers.sagemaker_endpoint import SageMakerEndpointBase
from tiers.shared import (
    EXAMPLE_REQUESTS,
    FromPlacement,
    PropError,
    alarm,
    check_choice,
    check_int,
    check_model_source,
    check_text,
    dlc_image_uri,
    dlc_repository_arn,
    limits,
    model_object,
    ecr_image_repository_arn,
    parse_s3_uri,
)

CONTAINERS = ("gguf", "huggingface-cpu")
HF_TASKS = (
    "text-classification", "token-classification", "feature-extraction", "sentence-similarity",
    "fill-mask", "question-answering", "summarization", "text-generation", "text2text-generation",
    "zero-shot-classification",
)


class SageMakerServerlessEndpoint(FromPlacement, SageMakerEndpointBase):
    """A SageMaker Serverless Inference endpoint (CPU only).

    ``container="gguf"`` runs the tier's llama.cpp runtime image (tiers/gguf_runtime)
    in SageMaker mode (``serve``, port 8080), with the model baked in from ``gguf_url``, read
    from ``model_uri`` (s3://bucket/key) at start-up, or inside a prebuilt ``image_uri``.
    ``container="huggingface-cpu"`` runs the Hugging Face CPU inference container on
    ``hf_model_id`` / ``hf_task``: the choice for a predictive model (classification,
    embeddings) that needs no generative runtime. Its image URI is resolved for the stack's
    region from tiers/data/containers.yaml.
    """

    TIER = "sagemaker-serverless"

    @classmethod
    def props_from_placement(
        cls, placement, *, model_uri: str | None = None, image_uri: str | None = None, **props,
    ) -> dict:
        s = placement.settings
        base = {
            "container": s.container,
            "memory_mb": s.memory_mb,
            "max_concurrency": s.max_concurrency,
            "provisioned_concurrency": s.provisioned_concurrency,
        }
        if s.container != "gguf":
            if model_uri is not None or image_uri is not None:
                raise PropError(
                    f"{cls.__name__}: model_uri and image_uri apply to GGUF models; {placement.model} runs the "
                    f"Hugging Face CPU container from {s.hf_model_id}"
                )
            return {**base, "hf_model_id": s.hf_model_id, "hf_task": s.hf_task, **props}
        if model_uri is not None or image_uri is not None:
            source = {"model_uri": model_uri, "image_uri": image_uri}
        else:
            source = {"gguf_url": s.gguf_url, "gguf_sha256": s.gguf_sha256, "gguf_file": s.gguf_file}
        return {**base, **source, "model_name": placement.model, "n_ctx": s.n_ctx, "threads": s.threads, **props}

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        container: str = "gguf",
        memory_mb: int = 2048,
        max_concurrency: int = 5,
        provisioned_concurrency: int | None = None,
        gguf_url: str | None = None,
        gguf_sha256: str | None = None,
        gguf_file: str | None = None,
        model_uri: str | None = None,
        image_uri: str | None = None,
        model_name: str | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        max_tokens_default: int = 256,
        hf_model_id: str | None = None,
        hf_task: str | None = None,
        encryption_key: kms.IKey | None = None,
        role: iam.IRole | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] = (),
        runtime_directory: str | Path | None = None,
    ) -> None:
        owner = type(self).__name__
        lim = limits("sagemaker_serverless")
        check_choice(owner, "container", container, CONTAINERS)
        check_choice(owner, "memory_mb", memory_mb, lim["memory_mb_allowed"])
        check_int(owner, "max_concurrency", max_concurrency, lim["max_concurrency_min"], lim["max_concurrency_max"])
        if provisioned_concurrency is not None:
            check_int(owner, "provisioned_concurrency", provisioned_concurrency, 1, max_concurrency)
        if container == "gguf":
            check_int(owner, "n_ctx", n_ctx, 16)
            check_int(owner, "max_tokens_default", max_tokens_default, 1)
            if threads is not None:
                check_int(owner, "threads", threads, 1)
            check_model_source(owner, gguf_url, model_uri, image_uri)
            if model_uri is not None and model_uri.startswith("s3://"):
                parse_s3_uri(owner, "model_uri", model_uri)
        else:
            if hf_model_id is None:
                raise PropError(f"{owner}: container huggingface-cpu needs hf_model_id (a Hugging Face Hub id, org/name)")
            check_text(owner, "hf_model_id", hf_model_id, r"[\w.-]+/[\w.-]+", "a Hugging Face Hub id, org/name")
            check_choice(owner, "hf_task", hf_task, HF_TASKS)
        super().__init__(
            scope, id, encryption_key=encryption_key, role=role, log_retention=log_retention,
            removal_policy=removal_policy,
        )
        self.container = container
        self.memory_mb = memory_mb
        self.max_concurrency = max_concurrency

        if container == "gguf":
            environment = {"N_CTX": str(n_ctx), "MAX_TOKENS_DEFAULT": str(max_tokens_default)}
            if threads is not None:
                environment["N_THREADS"] = str(threads)
            if model_name:
                environment["MODEL_NAME"] = model_name
            if model_uri is not None:
                uri, object_arn = model_object(self, owner, model_uri)
                environment["MODEL_S3_URI"] = uri
                self.role.add_to_principal_policy(
                    iam.PolicyStatement(sid="ReadModelObject", actions=["s3:GetObject"], resources=[object_arn])
                )
            if image_uri is not None:
                image = image_uri
                _, repository_arn = ecr_image_repository_arn(self, owner, "image_uri", image_uri)
            else:
                # serverless endpoints run x86_64 only
                asset = ecr_assets.DockerImageAsset(
                    self,
                    "Image",
                    directory=str(runtime_directory or RUNTIME_DIRECTORY),
                    platform=ecr_assets.Platform.LINUX_AMD64,
                    build_args=runtime_image_build_args(gguf_url, gguf_sha256, gguf_file),
                    exclude=BUILD_CONTEXT_EXCLUDES,
                )
                image, repository_arn = asset.image_uri, asset.repository.repository_arn
            self._allow_image_pull([repository_arn])
        else:
            image = dlc_image_uri(self, "huggingface-cpu")
            self._allow_image_pull([dlc_repository_arn(self, "huggingface-cpu")])
            environment = {"HF_MODEL_ID": hf_model_id, "HF_TASK": hf_task}
        self.image_uri = image
        self.example_request = EXAMPLE_REQUESTS["openai-chat" if container == "gguf" else "huggingface"]

        self._build_endpoint(
            container={"image": image, "environment": environment},
            variant={
                "serverless_config": sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=memory_mb,
                    max_concurrency=max_concurrency,
                    provisioned_concurrency=provisioned_concurrency,
                )
            },
            # serverless endpoints take the key to encrypt the image SageMaker copies
            kms_key_on_config=True,
        )
        timeout_ms = limits("sagemaker_serverless")["invocation_timeout_s"] * 1000
        self.alarms = [
            self._errors_alarm(alarm_actions),
            alarm(
                self, "LatencyAlarm",
                metric=self.metric("ModelLatency", statistic="Maximum"),
                # ModelLatency is in microseconds
                threshold=timeout_ms * 1000 * 0.8, actions=alarm_actions,
                description="a request used more than 80% of the 60 s serverless invocation limit",
            ),
        ]
