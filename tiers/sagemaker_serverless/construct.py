"""SageMakerServerlessEndpoint: a CPU model on a SageMaker Serverless Inference endpoint,
billed per request, scaled to zero between them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from tiers.checkov import SAGEMAKER_SERVERLESS_NO_ISOLATION, acknowledge_checkov
from tiers.gguf_model import GgufModel, gguf_model_for, sha256_matches_file
from tiers.gguf_runtime import generation_timeout_s
from tiers.sagemaker_endpoint import SageMakerEndpointBase
from tiers.construct_base import EXAMPLE_REQUESTS, ForPlacement, TierOptions
from tiers.images import dlc_image_uri, dlc_repository_arn
from tiers.props import (
    PropError,
    check_choice,
    check_int,
    check_model_name,
    check_runtime_directory,
    check_text,
)
from tiers.security import alarm
from tierwise.facts import containers, serverless_limits
from tierwise import tiers
from tierwise.tiers import sagemaker_serverless

CONTAINERS = ("gguf", "huggingface-cpu")
HF_TASKS = (
    "text-classification", "token-classification", "feature-extraction", "sentence-similarity",
    "fill-mask", "question-answering", "summarization", "text-generation", "text2text-generation",
    "zero-shot-classification",
)
GGUF_ONLY = ("model", "gguf_url", "gguf_sha256", "gguf_file", "model_uri", "model_sha256", "image_uri")


class SageMakerServerlessEndpoint(ForPlacement, SageMakerEndpointBase):
    """A SageMaker Serverless Inference endpoint (CPU only), billed per request and scaled to
    zero between requests (tiers/sagemaker_serverless/README.md).

    ``container="gguf"`` runs the GGUF runtime image (tiers/gguf_runtime) in SageMaker mode
    (``serve``, port 8080) on ``model``, a ``tiers.GgufModel`` exactly as the Lambda tier takes
    it (its sha256 is checked the same way). ``container="huggingface-cpu"`` runs the Hugging
    Face CPU inference container on ``hf_model_id`` / ``hf_task``: the choice for a predictive
    model (classification, embeddings) that needs no generative runtime; its image URI is
    resolved for the stack's region from tierwise/data/containers.yaml. Props (all keyword):

    - ``container``: ``"gguf"`` or ``"huggingface-cpu"``. Default ``"gguf"``.
    - ``memory_mb``: 1024, 2048, 3072, 4096, 5120 or 6144. Default 2048.
    - ``max_concurrency``: 1..200 concurrent invocations. Default 5.
    - ``provisioned_concurrency``: 1..max_concurrency kept warm (billed by the hour). Default: none.
    - ``model`` (gguf): a ``tiers.GgufModel``. Required for gguf, unless the shorthand names it.
    - ``gguf_url`` / ``gguf_sha256`` / ``gguf_file``, ``model_uri`` / ``model_sha256``, ``image_uri``
      (gguf): the shorthand for ``model``, as for LambdaGgufEndpoint. Default: none, ``model`` names the source.
    - ``model_name`` (gguf): the "model" field of responses. Default: the file name.
    - ``n_ctx`` (gguf): context window in tokens, >= 16. Default 4096.
    - ``threads`` (gguf): llama.cpp threads, >= 1. Default: the CPUs the container gets.
    - ``max_tokens_default`` (gguf): completion length when a request names none. Default 256.
    - ``hf_model_id`` (huggingface-cpu): a Hub id, ``org/name``. Required for that container.
    - ``hf_task`` (huggingface-cpu): the pipeline task, e.g. ``"text-classification"``. Required for that container.
    - ``hf_revision`` (huggingface-cpu): the Hub commit to download, 40 hex digits. Default: none,
      the repository's main branch when the container starts (a synth warning says so).
    - ``options``: a ``tiers.TierOptions``. Default: a new key and execution role, one month of
      logs, destroyed with the stack, alarms without actions.
    - ``runtime_directory`` (gguf): the Docker build context. Default: tiers/gguf_runtime/image.
    - ``vpc``, ``vpc_subnets``, ``security_groups``: Default: none, the only value accepted:
      Serverless Inference supports no VPC configuration (nor network isolation), a documented
      feature exclusion, so any other is an error.
    """

    TIER = sagemaker_serverless.ID

    @classmethod
    def props_for_placement(
        cls, placement, *, model: GgufModel | None = None, model_uri: str | None = None,
        image_uri: str | None = None, **props,
    ) -> dict:
        s = placement.settings
        base = {
            "container": s.container,
            "memory_mb": s.memory_mb,
            "max_concurrency": s.max_concurrency,
            "provisioned_concurrency": s.provisioned_concurrency,
        }
        if s.container != "gguf":
            if model is not None or model_uri is not None or image_uri is not None:
                raise PropError(
                    f"{cls.__name__}: model, model_uri and image_uri apply to GGUF models; {placement.model} runs the "
                    f"Hugging Face CPU container from {s.hf_model_id}"
                )
            return {**base, "hf_model_id": s.hf_model_id, "hf_task": s.hf_task, "hf_revision": s.hf_revision, **props}
        if model is None and (model_uri is not None or image_uri is not None):
            model = GgufModel.from_props(cls.__name__, model_uri=model_uri, image_uri=image_uri)
        if model is None:
            model = GgufModel.from_props(
                cls.__name__, gguf_url=s.gguf_url, gguf_sha256=s.gguf_sha256, gguf_file=s.gguf_file
            )
        # the plan's checksum is for the plan's file: it checks a copy of that file only
        model = sha256_matches_file(model, s.gguf_file, s.gguf_sha256)
        return {**base, "model": model, "model_name": placement.model, "n_ctx": s.n_ctx, "threads": s.threads,
                **props}

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        container: str = "gguf",
        memory_mb: int = 2048,
        max_concurrency: int = 5,
        provisioned_concurrency: int | None = None,
        model: GgufModel | None = None,
        gguf_url: str | None = None,
        gguf_sha256: str | None = None,
        gguf_file: str | None = None,
        model_uri: str | None = None,
        model_sha256: str | None = None,
        image_uri: str | None = None,
        model_name: str | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        max_tokens_default: int = 256,
        hf_model_id: str | None = None,
        hf_task: str | None = None,
        hf_revision: str | None = None,
        options: TierOptions | None = None,
        runtime_directory: str | Path | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
    ) -> None:
        owner = type(self).__name__
        lim = serverless_limits()
        if vpc is not None or vpc_subnets is not None or security_groups is not None:
            raise PropError(
                f"{owner}: vpc, vpc_subnets and security_groups cannot be used: "
                f"{sagemaker_serverless.TIER.refusal('vpc_id')}; place the model on "
                f"{' or '.join(tiers.reading('vpc_id'))} to run it in a VPC"
            )
        check_choice(owner, "container", container, CONTAINERS)
        check_choice(owner, "memory_mb", memory_mb, lim.memory_mb_allowed)
        check_int(owner, "max_concurrency", max_concurrency, lim.max_concurrency_min, lim.max_concurrency_max)
        if provisioned_concurrency is not None:
            check_int(owner, "provisioned_concurrency", provisioned_concurrency, 1, max_concurrency)
        shorthand = {"gguf_url": gguf_url, "gguf_sha256": gguf_sha256, "gguf_file": gguf_file,
                     "model_uri": model_uri, "model_sha256": model_sha256, "image_uri": image_uri}
        if container == "gguf":
            check_int(owner, "n_ctx", n_ctx, 16)
            check_int(owner, "max_tokens_default", max_tokens_default, 1)
            if threads is not None:
                check_int(owner, "threads", threads, 1)
            check_model_name(owner, model_name)
            check_runtime_directory(owner, runtime_directory)
            if hf_revision is not None:
                raise PropError(f"{owner}: hf_revision applies to container huggingface-cpu (a Hub model); gguf "
                                "checks its file by sha256")
            model = gguf_model_for(owner, model, **shorthand)
        else:
            given = [name for name, value in {"model": model, **shorthand}.items() if value is not None]
            if given:
                raise PropError(f"{owner}: {', '.join(given)} apply to container gguf; huggingface-cpu takes hf_model_id and hf_task")
            if hf_model_id is None:
                raise PropError(f"{owner}: container huggingface-cpu needs hf_model_id (a Hugging Face Hub id, org/name)")
            check_text(owner, "hf_model_id", hf_model_id, r"[\w.-]+/[\w.-]+", "a Hugging Face Hub id, org/name")
            check_choice(owner, "hf_task", hf_task, HF_TASKS)
            if hf_revision is not None:
                check_text(owner, "hf_revision", hf_revision, r"[0-9a-f]{40}", "a Hub commit sha, 40 hex digits")
        opts = TierOptions.checked(owner, options, uses=self.OPTIONS)
        super().__init__(scope, id, options=opts)
        self.container = container
        self.memory_mb = memory_mb
        self.max_concurrency = max_concurrency
        self.gguf_model = model
        self.model_source = model.source if model is not None else "hub"

        if model is not None:
            environment = {
                "N_CTX": str(n_ctx), "MAX_TOKENS_DEFAULT": str(max_tokens_default),
                # answer "length" before SageMaker's 60 s invocation limit instead of generating
                # on for a caller that has already been sent an error
                "GENERATION_TIMEOUT_S": str(generation_timeout_s(serverless_limits().invocation_timeout_s)),
            }
            if threads is not None:
                environment["N_THREADS"] = str(threads)
            if model_name:
                environment["MODEL_NAME"] = model_name
            bound = model.bind(self, owner, self.role)
            environment.update(bound.environment)
            image, repository_arn = model.container_image(self, owner, runtime_directory)
            self._allow_image_pull([repository_arn])
        else:
            image = dlc_image_uri(self, "huggingface-cpu")
            self._allow_image_pull([dlc_repository_arn(self, "huggingface-cpu")])
            environment = {"HF_MODEL_ID": hf_model_id, "HF_TASK": hf_task}
            if hf_revision is not None:
                environment[containers().image("huggingface-cpu").revision_env] = hf_revision
            else:
                cdk.Annotations.of(self).add_warning_v2(
                    "tierwise:unpinned-hub-revision",
                    f"{hf_model_id} is downloaded at its current main branch whenever the container starts: pass "
                    "hf_revision (a commit sha) to serve the weights you tested",
                )
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
        acknowledge_checkov(self.cfn_model, SAGEMAKER_SERVERLESS_NO_ISOLATION)
        timeout_ms = serverless_limits().invocation_timeout_s * 1000
        alarm_actions = opts.alarm_actions
        # which alarms exist is the tier's (its bill counts them): tierwise/tiers/sagemaker_serverless.py
        make = {
            "Errors": lambda: self._errors_alarm(alarm_actions),
            "Latency": lambda: alarm(
                self, "LatencyAlarm",
                metric=self.metric("ModelLatency", statistic="Maximum"),
                # ModelLatency is in microseconds
                threshold=timeout_ms * 1000 * 0.8, actions=alarm_actions,
                description="a request used more than 80% of the 60 s serverless invocation limit",
            ),
        }
        self.alarms = [make[name]() for name in sagemaker_serverless.TIER.alarms]
