"""Public models' config.json values and their published parameter counts, for tests/core/test_hf_folder.py.

Each `config` holds the keys of the model's real config.json that sizing reads (the other keys,
rope and token ids, change no count), as published at `config_source`; `published` is the count
its authors (or a run of the real model) state, with `published_source` and the words quoted.
"""

from __future__ import annotations

HF = "https://huggingface.co"

PUBLISHED = {
    "mixtral-8x7b-instruct": {
        "config_source": f"{HF}/mistralai/Mixtral-8x7B-Instruct-v0.1/blob/eba92302a2861cdc0098cc54bc9f17cb2c47eb61/config.json",
        "config": {
            "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
            "intermediate_size": 14336, "max_position_embeddings": 32768, "num_attention_heads": 32,
            "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
            "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32000,
        },
        "published": 46.7e9, "published_active": 12.9e9,
        "published_source": "https://mistral.ai/news/mixtral-of-experts/ (\"Mixtral has 46.7B total parameters but "
                            "only uses 12.9B parameters per token\")",
    },
    "mixtral-8x22b": {
        "config_source": f"{HF}/mistralai/Mixtral-8x22B-v0.1/blob/main/config.json",
        "config": {
            "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 6144,
            "intermediate_size": 16384, "max_position_embeddings": 65536, "num_attention_heads": 48,
            "num_experts_per_tok": 2, "num_hidden_layers": 56, "num_key_value_heads": 8, "num_local_experts": 8,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32000,
        },
        "published": 141e9, "published_active": 39e9,
        "published_source": "https://mistral.ai/news/mixtral-8x22b/ (\"uses only 39B active parameters out of 141B\")",
    },
    "qwen1.5-moe-a2.7b": {
        "config_source": f"{HF}/Qwen/Qwen1.5-MoE-A2.7B/blob/main/config.json",
        "config": {
            "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe", "decoder_sparse_step": 1,
            "hidden_size": 2048, "intermediate_size": 5632, "max_position_embeddings": 8192,
            "moe_intermediate_size": 1408, "num_attention_heads": 16, "num_experts": 60, "num_experts_per_tok": 4,
            "num_hidden_layers": 24, "num_key_value_heads": 16, "shared_expert_intermediate_size": 5632,
            "sliding_window": 32768, "use_sliding_window": False, "tie_word_embeddings": False,
            "torch_dtype": "bfloat16", "vocab_size": 151936,
        },
        "published": 14.3e9, "published_active": 2.7e9,
        "published_source": f"{HF}/Qwen/Qwen1.5-MoE-A2.7B (\"It has 14.3B parameters in total and 2.7B activated "
                            "parameters during runtime\")",
    },
    "qwen2.5-7b-instruct": {
        "config_source": f"{HF}/Qwen/Qwen2.5-7B-Instruct/blob/main/config.json",
        "config": {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
            "intermediate_size": 18944, "max_position_embeddings": 32768, "num_attention_heads": 28,
            "num_hidden_layers": 28, "num_key_value_heads": 4, "sliding_window": 131072, "use_sliding_window": False,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 152064,
        },
        "published": 7.61e9,
        "published_source": f"{HF}/Qwen/Qwen2.5-7B-Instruct (\"Number of Parameters: 7.61B\")",
    },
    "qwen2.5-1.5b-instruct": {
        "config_source": f"{HF}/Qwen/Qwen2.5-1.5B-Instruct/blob/main/config.json",
        "config": {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536,
            "intermediate_size": 8960, "max_position_embeddings": 32768, "num_attention_heads": 12,
            "num_hidden_layers": 28, "num_key_value_heads": 2, "sliding_window": 32768, "use_sliding_window": False,
            "tie_word_embeddings": True, "torch_dtype": "bfloat16", "vocab_size": 151936,
        },
        "published": 1.54e9,
        "published_source": f"{HF}/Qwen/Qwen2.5-1.5B-Instruct (\"Number of Parameters: 1.54B\")",
    },
    "llama-3.2-3b-instruct": {
        "config_source": f"{HF}/meta-llama/Llama-3.2-3B-Instruct/blob/main/config.json",
        "config": {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False, "head_dim": 128,
            "hidden_size": 3072, "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": False,
            "num_attention_heads": 24, "num_hidden_layers": 28, "num_key_value_heads": 8,
            "tie_word_embeddings": True, "torch_dtype": "bfloat16", "vocab_size": 128256,
        },
        "published": 3.21e9,
        "published_source": f"{HF}/meta-llama/Llama-3.2-3B-Instruct (model information table: \"3B (3.21B)\")",
    },
    "llama-2-7b": {
        "config_source": f"{HF}/meta-llama/Llama-2-7b-hf/blob/main/config.json",
        "config": {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "intermediate_size": 11008, "max_position_embeddings": 4096, "num_attention_heads": 32,
            "num_hidden_layers": 32, "num_key_value_heads": 32, "tie_word_embeddings": False,
            "torch_dtype": "float16", "vocab_size": 32000,
        },
        # PEFT's print_trainable_parameters() on Llama-2-7b with a rank-8 q_proj/v_proj adapter
        "published": 6_742_609_920 - 4_194_304,
        "published_source": "https://github.com/intel-analytics/ipex-llm/blob/main/docker/llm/finetune/lora/cpu/docker/"
                            "README.md (\"trainable params: 4194304 || all params: 6742609920\"; all minus trainable)",
    },
    "gemma-7b": {
        "config_source": f"{HF}/google/gemma-7b/blob/main/config.json",
        "config": {
            "architectures": ["GemmaForCausalLM"], "model_type": "gemma", "head_dim": 256, "hidden_size": 3072,
            "intermediate_size": 24576, "max_position_embeddings": 8192, "num_attention_heads": 16,
            "num_hidden_layers": 28, "num_key_value_heads": 16, "torch_dtype": "float32", "vocab_size": 256000,
        },
        # the report counts embeddings over a 256,128-token table; config.json's vocab_size is 256,000
        "published": 786_825_216 + 7_751_248_896, "published_non_embedding": 7_751_248_896,
        "published_source": "https://arxiv.org/abs/2403.08295 (Gemma report, Table 2: 7B embedding parameters "
                            "786,825,216, non-embedding parameters 7,751,248,896)",
    },
    "gemma-2-2b-it": {
        "config_source": f"{HF}/google/gemma-2-2b-it/blob/main/config.json",
        "config": {
            "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "head_dim": 256, "hidden_size": 2304,
            "intermediate_size": 9216, "max_position_embeddings": 8192, "num_attention_heads": 8,
            "num_hidden_layers": 26, "num_key_value_heads": 4, "sliding_window": 4096, "torch_dtype": "float32",
            "vocab_size": 256000,
        },
        "published": 590_118_912 + 2_024_517_888, "published_non_embedding": 2_024_517_888,
        "published_source": "https://arxiv.org/abs/2408.00118 (Gemma 2 report, Table 2: 2B embedding parameters "
                            "590,118,912, non-embedding parameters 2,024,517,888)",
    },
    "gemma-2-9b-it": {
        "config_source": f"{HF}/google/gemma-2-9b-it/blob/main/config.json",
        "config": {
            "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "head_dim": 256, "hidden_size": 3584,
            "intermediate_size": 14336, "max_position_embeddings": 8192, "num_attention_heads": 16,
            "num_hidden_layers": 42, "num_key_value_heads": 8, "sliding_window": 4096, "torch_dtype": "float32",
            "vocab_size": 256000,
        },
        "published": 917_962_752 + 8_324_201_984, "published_non_embedding": 8_324_201_984,
        "published_source": "https://arxiv.org/abs/2408.00118 (Gemma 2 report, Table 2: 9B embedding parameters "
                            "917,962,752, non-embedding parameters 8,324,201,984)",
    },
    "phi-3-medium-4k-instruct": {
        "config_source": f"{HF}/microsoft/Phi-3-medium-4k-instruct/blob/main/config.json",
        "config": {
            "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 5120,
            "intermediate_size": 17920, "max_position_embeddings": 4096, "num_attention_heads": 40,
            "num_hidden_layers": 40, "num_key_value_heads": 10, "sliding_window": 2047,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32064,
        },
        "published": 14e9,
        "published_source": "https://arxiv.org/abs/2404.14219 (Phi-3 report: \"phi-3-medium\" with \"14B parameters\")",
    },
}

# Families with no count published to 0.5%, checked against the catalogue's exact count instead
# (recomputed by hand from the same config.json, model_profiles/SOURCES.md).
CATALOGUE_CHECKED = {
    "mistral-7b": {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
        "intermediate_size": 14336, "max_position_embeddings": 32768, "num_attention_heads": 32,
        "num_hidden_layers": 32, "num_key_value_heads": 8, "sliding_window": None, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "vocab_size": 32768,
    },
    "qwen2.5-0.5b": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
        "max_position_embeddings": 32768, "num_attention_heads": 14, "num_hidden_layers": 24,
        "num_key_value_heads": 2, "tie_word_embeddings": True, "torch_dtype": "bfloat16", "vocab_size": 151936,
    },
    "llama3-8b": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "intermediate_size": 14336, "max_position_embeddings": 8192, "num_attention_heads": 32,
        "num_hidden_layers": 32, "num_key_value_heads": 8, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "vocab_size": 128256,
    },
    "phi3-mini": {
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192,
        "max_position_embeddings": 4096, "num_attention_heads": 32, "num_hidden_layers": 32,
        "num_key_value_heads": 32, "sliding_window": 2047, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "vocab_size": 32064,
    },
}
