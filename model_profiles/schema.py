"""The model profile: everything sizing and placement need to know about one model.

A profile is data, one YAML file per model in ``model_profiles/catalogue/``. Every field
is constrained and unknown fields are rejected, so a typo in a catalogue file is an error
that names the file and the field instead of a silently ignored key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

Task = Literal[
    "text-generation",
    "chat",
    "code-generation",
    "classification",
    "token-classification",
    "embedding",
]
GENERATIVE_TASKS: frozenset[str] = frozenset({"text-generation", "chat", "code-generation"})

# Architectures whose GGUF tensor layout tierwise knows (see tierwise/tensors.py).
GgufArchitecture = Literal["llama", "phi3", "gemma2", "qwen2", "bert"]
ServingDtype = Literal["F32", "F16", "BF16", "FP8"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(_Strict):
    """The transformer's shape, as published in the model's config.json."""

    gguf_architecture: GgufArchitecture
    layers: int = Field(gt=0, le=1000)
    embedding_width: int = Field(gt=0, description="hidden_size / d_model")
    attention_heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0, description="num_key_value_heads (GQA); equals attention_heads for MHA")
    head_dim: int = Field(gt=0)
    ffn_width: int = Field(gt=0, description="intermediate_size")
    vocabulary: int = Field(gt=0)
    tied_embeddings: bool
    max_context: int = Field(gt=0, le=10_000_000)
    attention_bias: bool = Field(False, description="q/k/v projections carry a bias (Qwen2)")
    sliding_window: int | None = Field(None, gt=0, description="window of the local-attention layers")
    sliding_window_pattern: int | None = Field(
        None,
        ge=2,
        description="every Nth layer is global, the others use the sliding window "
        "(Gemma 2: 2, i.e. they alternate); None means no layer slides",
    )
    source: HttpUrl = Field(description="where these numbers were read (config.json)")

    @model_validator(mode="after")
    def _consistent(self) -> "Architecture":
        if self.attention_heads % self.kv_heads:
            raise ValueError(
                f"attention_heads ({self.attention_heads}) must be a multiple of kv_heads ({self.kv_heads})"
            )
        if (self.sliding_window is None) != (self.sliding_window_pattern is None):
            raise ValueError("sliding_window and sliding_window_pattern go together")
        return self

    @property
    def sliding_layers(self) -> int:
        if self.sliding_window_pattern is None:
            return 0
        return self.layers - self.layers // self.sliding_window_pattern


class GgufFile(_Strict):
    file: str = Field(min_length=1, pattern=r".+\.gguf$")
    published_bytes: int | None = Field(
        None, gt=0, description="size of the published file, used to check sizing (±3%)"
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class GgufSource(_Strict):
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="Hugging Face repository id")
    files: dict[str, GgufFile] = Field(min_length=1, description="llama.cpp recipe name -> file")
    separate_output: bool = Field(
        False,
        description="the files carry their own output.weight although the model ties its embeddings "
        "(some converters write the shared matrix twice)",
    )
    sizes_source: HttpUrl | None = None
    sizes_checked: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    def url(self, recipe: str) -> str:
        return f"https://huggingface.co/{self.repository}/resolve/main/{self.files[recipe].file}"


class BedrockOffer(_Strict):
    model_ids: list[str] = Field(min_length=1, description="Bedrock model ids, preferred first")
    on_demand: bool
    provisioned_throughput: bool
    custom_model: bool = Field(False, description="a fine-tuned model: only provisioned throughput serves it")
    source: HttpUrl
    checked: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


class ModelProfile(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$", max_length=40)
    display_name: str = Field(min_length=1)
    task: Task
    open_weights: bool
    parameters: int | None = Field(None, gt=0, description="exact parameter count; None when undisclosed")
    architecture: Architecture | None = None
    serving_dtype: ServingDtype = Field("BF16", description="precision on a GPU endpoint")
    default_quant: str = Field("Q4_K_M", description="llama.cpp recipe used for CPU tiers unless told")
    gguf: GgufSource | None = None
    hf_model_id: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$")
    bedrock: BedrockOffer | None = None
    license: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _open_weights_need_shape(self) -> "ModelProfile":
        if self.open_weights and (self.parameters is None or self.architecture is None):
            raise ValueError("an open-weights model needs parameters and architecture")
        if not self.open_weights and self.bedrock is None:
            raise ValueError("a closed model must say which Bedrock ids serve it")
        if self.gguf is not None and self.architecture is None:
            raise ValueError("gguf files need an architecture to size them")
        return self

    @property
    def generative(self) -> bool:
        return self.task in GENERATIVE_TASKS
