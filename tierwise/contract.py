"""The tier contract: what a tier is, defined once and read by every layer.

A tier has an id (`Tier`), a settings model (what placement decides and its construct
takes as props), the context options that apply to it, and the tags every resource of its
stack carries. Adding a tier means: a member here and its settings model, its placement
function (tierwise/placement.py), its cost function (tierwise/cost/estimates.py) and its
construct (tiers/__init__.py's registry).

Plain pydantic, no aws_cdk import: the core, the cost review and the constructs all read it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from tierwise.errors import TierwiseError


class Tier(StrEnum):
    """The places a model can run. The value is the id users type (`--tier`, `-c tier=`)."""

    LAMBDA_GGUF = "lambda-gguf"
    SAGEMAKER_SERVERLESS = "sagemaker-serverless"
    SAGEMAKER_GPU = "sagemaker-gpu"
    BEDROCK_PROVISIONED = "bedrock-provisioned"
    BEDROCK_ON_DEMAND = "bedrock-on-demand"

    @property
    def self_hosted(self) -> bool:
        """We run the weights (private weights, network isolation, data residency)."""
        return self in SELF_HOSTED

    @property
    def managed(self) -> bool:
        return self in MANAGED


TIERS: tuple[str, ...] = tuple(t.value for t in Tier)
SELF_HOSTED = frozenset({Tier.LAMBDA_GGUF, Tier.SAGEMAKER_SERVERLESS, Tier.SAGEMAKER_GPU})
MANAGED = frozenset({Tier.BEDROCK_PROVISIONED, Tier.BEDROCK_ON_DEMAND})


def tier_of(value: str) -> Tier:
    """The Tier a user named, or one line saying which tiers exist."""
    try:
        return Tier(value)
    except ValueError:
        raise TierwiseError(f"unknown tier {value!r}; allowed: {', '.join(TIERS)}") from None


# --- tags every resource of a tierwise stack carries (read back by the cost review) --------

TAG_MODEL = "tierwise:model"
TAG_TIER = "tierwise:tier"
TAG_QUANT = "tierwise:quant"
NO_QUANT = "none"  # the tierwise:quant value when the tier has no quantization


# --- one settings model per tier ------------------------------------------------------------
# Field order is the order `plan --json` prints; docs/CONTRACTS.md describes each field.


class TierSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LambdaGgufSettings(TierSettings):
    memory_mb: int = Field(ge=128, le=10240)
    vcpus: float = Field(gt=0)
    # room for the GGUF in /tmp when loaded from S3; a model baked into the image keeps 512
    ephemeral_storage_mb: int = Field(ge=512, le=10240)
    timeout_s: int = Field(ge=1, le=900)
    architecture: Literal["x86_64", "arm64"]
    n_ctx: int = Field(gt=0)
    threads: int = Field(ge=1)
    gguf_file: str
    gguf_url: str
    gguf_sha256: str | None
    file_bytes: int = Field(gt=0)
    # None: reserving fails on new accounts whose concurrency limit is 10
    reserved_concurrency: int | None


class _ServerlessBase(TierSettings):
    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144]
    max_concurrency: int = Field(ge=1, le=200)
    provisioned_concurrency: int | None


class ServerlessGgufSettings(_ServerlessBase):
    """The tier's llama.cpp runtime image serving a GGUF."""

    container: Literal["gguf"] = "gguf"
    n_ctx: int = Field(gt=0)
    threads: int = Field(ge=1)
    gguf_file: str
    gguf_url: str
    gguf_sha256: str | None
    file_bytes: int = Field(gt=0)


class ServerlessHfSettings(_ServerlessBase):
    """The Hugging Face CPU inference container serving a predictive model."""

    container: Literal["huggingface-cpu"] = "huggingface-cpu"
    hf_model_id: str
    hf_task: str


SageMakerServerlessSettings = Annotated[
    Union[Annotated[ServerlessGgufSettings, Tag("gguf")], Annotated[ServerlessHfSettings, Tag("huggingface-cpu")]],
    Discriminator(lambda v: v.get("container") if isinstance(v, dict) else getattr(v, "container", None)),
]


class SageMakerGpuSettings(TierSettings):
    instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    gpu_count: int = Field(ge=1)
    gpu_memory_gb: int | float = Field(gt=0, description="GiB per GPU")
    tensor_parallel_degree: int = Field(ge=1)
    serving_dtype: str
    hf_model_id: str | None
    max_model_len: int = Field(gt=0)
    max_batch_size: int = Field(ge=1)
    volume_size_gb: int = Field(ge=1, le=512)
    startup_health_check_timeout_s: int = Field(ge=60, le=3600)
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=1)
    # NVMe instance storage: the endpoint config takes no KMS key for the volume
    local_nvme: bool


Commitment = Literal["OneMonth", "SixMonths"] | None


class BedrockProvisionedSettings(TierSettings):
    model_id: str
    model_units: int = Field(ge=1)
    commitment: Commitment


class BedrockOnDemandSettings(TierSettings):
    model_id: str
    model_units: Literal[0] = 0  # nothing is provisioned


Settings = Union[
    LambdaGgufSettings, ServerlessGgufSettings, ServerlessHfSettings, SageMakerGpuSettings,
    BedrockProvisionedSettings, BedrockOnDemandSettings,
]

SETTINGS_MODELS: dict[Tier, tuple[type[TierSettings], ...]] = {
    Tier.LAMBDA_GGUF: (LambdaGgufSettings,),
    Tier.SAGEMAKER_SERVERLESS: (ServerlessGgufSettings, ServerlessHfSettings),
    Tier.SAGEMAKER_GPU: (SageMakerGpuSettings,),
    Tier.BEDROCK_PROVISIONED: (BedrockProvisionedSettings,),
    Tier.BEDROCK_ON_DEMAND: (BedrockOnDemandSettings,),
}


def settings_for(tier: str, values: TierSettings | dict) -> TierSettings:
    """`values` as the tier's settings model (a dict is validated; a model of another tier is
    an error), so every reader gets typed settings whatever it was handed."""
    t = tier_of(str(tier))
    models = SETTINGS_MODELS[t]
    if isinstance(values, models):
        return values
    if isinstance(values, TierSettings):
        raise TierwiseError(f"{type(values).__name__} are not {t} settings")
    if t is Tier.SAGEMAKER_SERVERLESS:
        model = ServerlessHfSettings if values.get("container") == "huggingface-cpu" else ServerlessGgufSettings
    else:
        (model,) = models
    try:
        return model.model_validate(values)
    except Exception as exc:  # pydantic's ValidationError: one line naming the first field
        errors = getattr(exc, "errors", None)
        if errors is None:
            raise
        err = errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise TierwiseError(f"{t} settings: {field}: {err['msg']}") from None


# --- context options that make sense for some tiers only -------------------------------------

OPTION_TIERS: dict[str, tuple[Tier, ...]] = {
    "model_uri": (Tier.LAMBDA_GGUF, Tier.SAGEMAKER_SERVERLESS),
    "image_uri": (Tier.LAMBDA_GGUF, Tier.SAGEMAKER_SERVERLESS, Tier.SAGEMAKER_GPU),
    "architecture": (Tier.LAMBDA_GGUF,),
    "min_instances": (Tier.SAGEMAKER_GPU,),
    "max_instances": (Tier.SAGEMAKER_GPU,),
    "hf_token_secret": (Tier.SAGEMAKER_GPU,),
    # private networking: the tiers whose compute can sit in a VPC (tiers/network.py)
    "vpc_id": (Tier.LAMBDA_GGUF, Tier.SAGEMAKER_GPU),
    "subnet_type": (Tier.LAMBDA_GGUF, Tier.SAGEMAKER_GPU),
    "subnet_ids": (Tier.LAMBDA_GGUF, Tier.SAGEMAKER_GPU),
    "vpc_endpoints": (Tier.LAMBDA_GGUF, Tier.SAGEMAKER_GPU),
}


# --- Bedrock model ids ----------------------------------------------------------------------

# System (cross-region) inference profile ids start with a geography, e.g. "us.anthropic...".
# Source: https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html
# (checked 2026-11-27)
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.")


def is_inference_profile(model_id: str) -> bool:
    return model_id.startswith(INFERENCE_PROFILE_PREFIXES)


def base_model_id(model_id: str) -> str:
    """The foundation model id behind a system inference profile id (else the id itself)."""
    for prefix in INFERENCE_PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix):]
    return model_id
