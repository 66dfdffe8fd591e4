import pytest

from tierwise.errors import TierwiseError
from tierwise.quant import check_recipe, quant_type, tensor_type

# Bytes per block straight from ggml's block structs (ggml-common.h): a Q4_K block is
# d, dmin (2 x fp16) + 12 bytes of scales + 128 bytes of 4-bit quants = 144.
BLOCKS = {
    "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q8_0": (32, 2 + 32), "Q6_K": (256, 128 + 64 + 16 + 2),
    "Q5_K": (256, 4 + 12 + 32 + 128), "Q5_1": (32, 4 + 4 + 16), "Q5_0": (32, 2 + 4 + 16),
    "Q4_K": (256, 4 + 12 + 128), "Q4_1": (32, 4 + 16), "Q4_0": (32, 2 + 16), "IQ4_XS": (256, 2 + 2 + 4 + 128),
    "Q3_K": (256, 32 + 64 + 12 + 2), "Q2_K": (256, 16 + 64 + 4),
}


@pytest.mark.parametrize("name", BLOCKS)
def test_block_layouts_match_ggml_structs(name):
    qt = quant_type(name)
    assert (qt.block_weights, qt.block_bytes) == BLOCKS[name]


def test_block_layouts_match_gguf_package():
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    for name, (weights, size) in BLOCKS.items():
        assert GGML_QUANT_SIZES[GGMLQuantizationType[name]] == (weights, size)


def test_recipe_names_are_case_insensitive_and_checked():
    assert check_recipe("q4_k_m") == "Q4_K_M"
    with pytest.raises(TierwiseError, match="unknown quantization 'Q4_K_X'; allowed: .*Q4_K_M"):
        check_recipe("Q4_K_X")


def _t(recipe, role, layer=None, layers=32, row=4096, gqa=4, matrix=True):
    return tensor_type(recipe, role=role, layer=layer, layers=layers, row_length=row, quantizable=matrix,
                       source_type="F32", gqa=gqa)


def test_q4_k_m_gives_more_bits_to_attn_v_and_ffn_down_on_llama_cpp_layers():
    # use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2 -> 4..27 hits 6, 9, ..., 27
    more = [i for i in range(32) if _t("Q4_K_M", "attn_v", i) == "Q6_K"]
    assert more == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert [i for i in range(32) if _t("Q4_K_M", "ffn_down", i) == "Q6_K"] == more
    assert _t("Q4_K_M", "attn_q", 6) == "Q4_K"


def test_output_and_tied_embeddings_stay_q6_k_except_at_q8_0():
    assert _t("Q4_0", "output") == "Q6_K"
    assert _t("Q4_K_M", "token_embd_tied") == "Q6_K"
    assert _t("Q8_0", "output") == "Q8_0"
    assert _t("Q4_0", "token_embd") == "Q4_0"  # untied embeddings follow the base type


def test_rows_not_divisible_by_the_block_fall_back():
    # Qwen2.5-0.5B is 896 wide: 896 % 256 != 0
    assert _t("Q4_K_M", "attn_q", 0, layers=24, row=896) == "Q5_0"
    assert _t("Q4_K_M", "attn_v", 0, layers=24, row=896) == "Q8_0"  # Q6_K -> Q8_0
    assert _t("Q5_K_M", "attn_k", 0, layers=24, row=896) == "Q5_1"
    assert _t("Q4_K_M", "token_embd_tied", None, layers=24, row=896) == "Q8_0"


def test_one_dimensional_tensors_keep_their_type():
    assert _t("Q4_K_M", "attn_norm", 0, matrix=False) == "F32"


def test_fused_qkv_and_70b_attn_v():
    assert _t("Q4_K_M", "attn_qkv", 5) == "Q5_K"
    assert _t("Q5_K_M", "attn_qkv", 5) == "Q6_K"
    # 80 layers: attn_v at Q4_K becomes Q5_K
    assert _t("Q4_K_M", "attn_v", 11, layers=80) == "Q5_K"  # (11 - 10) % 3 != 2: not a more-bits layer
    assert _t("Q4_K_M", "attn_v", 0, layers=80) == "Q6_K"


def test_every_recipe_rule_names_a_layer_selector_and_a_known_type():
    from tierwise.facts import recipes
    from tierwise.quant import _LAYER_SELECTORS, quant_types

    data = recipes()
    for name, recipe in data.recipes.items():
        assert recipe.base in quant_types(), name
        for rule in recipe.rules:
            assert rule.layers in _LAYER_SELECTORS, (name, rule)
            assert rule.type in quant_types(), (name, rule)
