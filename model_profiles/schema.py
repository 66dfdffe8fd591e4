"""The model profile: everything sizing and placement need to know about one model.

A profile is data, one YAML file per model in ``model_profiles/catalogue/``. Every field
is constrained and unknown fields are rejected, so a typo in a catalogue file is an error
that names the file and the field instead of a silently ignored key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, FileUrl, HttpUrl, model_validator

Task = Literal[
    "text-generation",
    "chat",
    "code-generation",
    "classification",
    "token-classification",
    "embedding",
]
GENERATIVE_TASKS: frozenset[str] = frozenset({"text-generation", "chat", "code-generation"})

# Architectures whose GGUF tensor layout tierwise knows (see tierwise/tensors.py). Mistral and
# Mixtral convert to "llama" (Mixtral with expert tensors); Qwen2-MoE to "qwen2moe".
GgufArchitecture = Literal["llama", "phi3", "gemma", "gemma2", "qwen2", "qwen2moe", "bert"]
ServingDtype = Literal["F32", "F16", "BF16", "FP8"]


NAME_PATTERN = r"^[a-z0-9][a-z0-9.\-]*$"
NAME_MAX = 40
# Plausible ranges of a model's shape: generous enough for every published model (Llama 4
# Scout's 10 M-token context, 256 k vocabularies, 16 k-wide embeddings), so a value outside them
# means a damaged file or a slip, not an unusual model, and no size computed from a shape can
# overflow a float (10**400 heads would end as an OverflowError deep in the sizing). A GGUF
# header is held to the same ranges (tierwise/gguf_header.py), by its llama.cpp key.
# field -> (GGUF key suffix, lowest, highest, what it is)
SHAPE_RANGES: dict[str, tuple[str, int, int, str]] = {
    "layers": ("block_count", 1, 4096, "the number of layers"),
    "max_context": ("context_length", 1, 1 << 27, "the trained context length in tokens"),
    "embedding_width": ("embedding_length", 1, 1 << 18, "the embedding width"),
    "attention_heads": ("attention.head_count", 1, 1 << 14, "the number of attention heads"),
    "kv_heads": ("attention.head_count_kv", 1, 1 << 14, "the number of KV heads"),
    "head_dim": ("attention.key_length", 1, 1 << 14, "the width of one attention head"),
    "ffn_width": ("feed_forward_length", 1, 1 << 20, "the feed-forward width"),
    "sliding_window": ("attention.sliding_window", 1, 1 << 27, "the sliding-window length in tokens"),
}
VOCABULARY_MAX = 1 << 24
# 100 trillion: over 60 times the largest model published with its count, Switch-C's 1,571
# billion parameters (Fedus et al., "Switch Transformers", https://arxiv.org/abs/2101.03961).
PARAMETERS_MAX = 10**14


def _most(field: str) -> int:
    return SHAPE_RANGES[field][2]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(_Strict):
    """The transformer's shape, as published in the model's config.json."""

    gguf_architecture: GgufArchitecture
    model_type: str | None = Field(
        None, pattern=r"^[a-z0-9_]+$",
        description="config.json's model_type (the transformers architecture; Bedrock Custom Model Import checks it)")
    layers: int = Field(gt=0, le=1000)
    embedding_width: int = Field(gt=0, le=_most("embedding_width"), description="hidden_size / d_model")
    attention_heads: int = Field(gt=0, le=_most("attention_heads"))
    kv_heads: int = Field(
        gt=0, le=_most("kv_heads"), description="num_key_value_heads (GQA); equals attention_heads for MHA"
    )
    head_dim: int = Field(gt=0, le=_most("head_dim"))
    ffn_width: int = Field(gt=0, le=_most("ffn_width"),
                           description="intermediate_size; in a mixture of experts, one routed expert's width")
    vocabulary: int = Field(gt=0, le=VOCABULARY_MAX)
    tied_embeddings: bool
    max_context: int = Field(gt=0, le=10_000_000)
    attention_bias: bool = Field(False, description="q/k/v projections carry a bias (Qwen2)")
    attention_output_bias: bool = Field(
        False, description="the output projection carries a bias too (Llama's attention_bias: true)")
    ffn_bias: bool = Field(False, description="the FFN projections carry biases (Llama's mlp_bias: true)")
    experts: int | None = Field(
        None, ge=2, le=4096, description="routed experts per layer (num_local_experts / num_experts); None: dense")
    experts_per_token: int | None = Field(None, ge=1, description="experts each token is routed to (num_experts_per_tok)")
    shared_expert_ffn_width: int | None = Field(
        None, gt=0, le=_most("ffn_width"),
        description="width of the always-active shared expert (Qwen2-MoE); None: no shared expert")
    sliding_window: int | None = Field(
        None, gt=0, le=_most("sliding_window"), description="window of the local-attention layers"
    )
    sliding_window_pattern: int | None = Field(
        None,
        ge=2,
        description="every Nth layer is global, the others use the sliding window "
        "(Gemma 2: 2, i.e. they alternate); None means no layer slides",
    )
    source: HttpUrl | FileUrl = Field(description="where these numbers were read (config.json)")

    @model_validator(mode="after")
    def _consistent(self) -> "Architecture":
        if (self.experts is None) != (self.experts_per_token is None):
            raise ValueError("experts and experts_per_token go together")
        if self.experts is not None and self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) exceeds experts ({self.experts})")
        if self.shared_expert_ffn_width is not None and self.experts is None:
            raise ValueError("shared_expert_ffn_width needs experts")
        if self.attention_heads % self.kv_heads:
            raise ValueError(
                f"attention_heads ({self.attention_heads}) must be a multiple of kv_heads ({self.kv_heads})"
            )
        if (self.sliding_window is None) != (self.sliding_window_pattern is None):
            raise ValueError("sliding_window and sliding_window_pattern go together")
        return self

    @property
    def mixture_of_experts(self) -> bool:
        return self.experts is not None

    @property
    def sliding_layers(self) -> int:
        if self.sliding_window_pattern is None:
            return 0
        return self.layers - self.layers // self.sliding_window_pattern


class GgufFile(_Strict):
    file: str = Field(min_length=1, pattern=r".+\.gguf$")
    published_bytes: int | None = Field(
        None, gt=0, le=4 * PARAMETERS_MAX,  # the largest model at 4 bytes (F32) a weight
        description="size of the published file, used to check sizing (±3%)"
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


StoredDtype = Literal["F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"]


class HubPin(_Strict):
    """The Hugging Face Hub commit the containers that download ``hf_model_id`` at start-up are
    pinned to (the GPU tier's LMI, the classifier's inference toolkit), and whether the repository
    is gated (downloading it needs a token of an account that accepted its licence)."""

    revision: str = Field(pattern=r"^[0-9a-f]{40}$", description="a commit sha of the model repository")
    gated: bool
    source: HttpUrl = Field(description="the commit on the Hub")
    found_in: str = Field(min_length=1, description="where the commit was read")
    gated_source: HttpUrl
    checked: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


class LoraAdapter(_Strict):
    """A LoRA adapter: sized as its base plus r x (in + out) per adapted matrix. Served as such
    where the engine takes adapters (vLLM on the GPU tier); merged into the base weights first
    where it does not (one GGUF for llama.cpp, a whole model for Bedrock import)."""

    base_model: str = Field(min_length=1, description="the base: a catalogue name, or the base folder's profile")
    base_model_name_or_path: str | None = Field(None, description="as adapter_config.json names it")
    base_parameters: int = Field(gt=0)
    rank: int = Field(gt=0, le=65536, description="r")
    alpha: float | None = Field(None, description="lora_alpha (scales the update; no memory)")
    target_modules: list[str] = Field(min_length=1, description="the base's matrices that carry an adapter")
    adapted_matrices: int = Field(gt=0, description="matrices adapted across every layer")
    parameters: int = Field(gt=0, description="the adapter's own parameters")
    dtype: StoredDtype | None = Field(None, description="as stored in adapter_model.safetensors")
    weights_from: Literal["adapter_model.safetensors", "adapter_config.json"]


class HfFolder(_Strict):
    """Where a profile read from a local Hugging Face folder got each figure."""

    path: str = Field(min_length=1)
    read: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    model_type: str
    stored_dtype: StoredDtype
    weights_from: Literal["safetensors headers", "config.json"]
    shards: int = Field(ge=0, description="safetensors files whose headers were read")
    tensors: int = Field(ge=0)
    stored_bytes: int | None = Field(None, ge=0, description="tensor bytes in the headers, at their stored dtypes")
    config_parameters: int = Field(gt=0, description="what config.json's shapes add up to")
    figures: dict[str, str] = Field(description="profile field -> the config key or file it came from")


class Int4Checkpoint(_Strict):
    """A published 4-bit checkpoint of the model the GPU container loads (vLLM's AWQ kernels)."""

    hf_model_id: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    method: Literal["awq"]
    group_size: int = Field(gt=0, description="weights sharing one scale and zero point")
    source: str = Field(pattern=r"^https?://\S+$")
    checked: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    note: str | None = None


class ModelProfile(_Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX)
    display_name: str = Field(min_length=1)
    task: Task
    open_weights: bool
    parameters: int | None = Field(
        None, gt=0, le=PARAMETERS_MAX, description="exact parameter count; None when undisclosed"
    )
    active_parameters: int | None = Field(
        None, gt=0, le=PARAMETERS_MAX,
        description="a mixture of experts: parameters one token runs through (None: all of them)")
    architecture: Architecture | None = None
    serving_dtype: ServingDtype = Field("BF16", description="precision on a GPU endpoint")
    default_quant: str = Field("Q4_K_M", description="llama.cpp recipe used for CPU tiers unless told")
    gguf: GgufSource | None = None
    hf_model_id: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$")
    int4_checkpoint: Int4Checkpoint | None = Field(None, description="a 4-bit checkpoint for --quant INT4 on GPUs")
    hub: HubPin | None = Field(None, description="the Hub commit hf_model_id is pinned to, and its gating")
    bedrock: BedrockOffer | None = None
    adapter: LoraAdapter | None = None
    hf_folder: HfFolder | None = None
    license: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _open_weights_need_shape(self) -> "ModelProfile":
        moe = self.architecture is not None and self.architecture.mixture_of_experts
        if moe and self.parameters is not None and self.active_parameters is None:
            raise ValueError("a mixture of experts needs active_parameters (the parameters one token runs through)")
        if self.active_parameters is not None:
            if not moe:
                raise ValueError("active_parameters is for a mixture of experts (architecture.experts)")
            if self.parameters is None or self.active_parameters >= self.parameters:
                raise ValueError("active_parameters must be below parameters")
        if self.adapter is not None and self.parameters != self.adapter.base_parameters + self.adapter.parameters:
            raise ValueError(
                f"parameters ({self.parameters}) must be the base's ({self.adapter.base_parameters}) plus the "
                f"adapter's ({self.adapter.parameters})")
        if self.open_weights and (self.parameters is None or self.architecture is None):
            raise ValueError("an open-weights model needs parameters and architecture")
        if not self.open_weights and self.bedrock is None:
            raise ValueError("a closed model must say which Bedrock ids serve it")
        if self.gguf is not None and self.architecture is None:
            raise ValueError("gguf files need an architecture to size them")
        if self.hub is not None:
            if self.hf_model_id is None:
                raise ValueError("hub pins a revision of hf_model_id: give hf_model_id")
            if f"huggingface.co/{self.hf_model_id}/commit/{self.hub.revision}" not in str(self.hub.source):
                raise ValueError("hub.source must be the commit page, https://huggingface.co/ORG/NAME/commit/REVISION")
        return self

    @property
    def generative(self) -> bool:
        return self.task in GENERATIVE_TASKS

    @property
    def parameters_per_token(self) -> int | None:
        """Parameters a token runs through: all of them, or the active ones of a mixture of experts."""
        return self.active_parameters if self.active_parameters is not None else self.parameters
