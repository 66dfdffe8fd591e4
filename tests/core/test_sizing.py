"""Sizing against figures computed by hand from the architecture and ggml's block sizes."""

import pytest

from model_profiles import load_catalogue, load_profile
from tierwise.errors import TierwiseError
from tierwise.sizing import estimate_framework, estimate_gguf_profile, estimate_gpu, kv_cache_bytes
from tierwise.tensors import parameter_count

CATALOGUE = load_catalogue()
OPEN = [p for p in CATALOGUE.values() if p.open_weights and p.architecture.gguf_architecture != "bert"]


def q8(n):  # Q8_0: 34 bytes per 32 weights
    return n // 32 * 34


@pytest.mark.parametrize("profile", OPEN, ids=lambda p: p.name)
def test_tensor_layout_adds_up_to_the_published_parameter_count(profile):
    counted = parameter_count(profile.architecture)
    # Llama 3.1+ GGUFs also carry a tiny rope_freqs tensor; published counts exclude nothing else.
    assert abs(counted - profile.parameters) / profile.parameters < 0.001, (counted, profile.parameters)


def test_llama3_8b_q8_0_by_hand():
    p = load_profile("llama3-8b")
    norms = (2 * 32 + 1) * 4096  # attn_norm + ffn_norm per layer + output_norm, F32
    matrices = 8_030_261_248 - norms
    est = estimate_gguf_profile(p, "Q8_0", 8192)
    assert est.weights_bytes == q8(matrices) + 4 * norms == 8_532_934_656
    # KV: 2 x 32 layers x 8192 x 8 heads x 128 x 2 bytes = 1 GiB
    assert est.kv_cache_bytes == 2 * 32 * 8192 * 8 * 128 * 2 == 1024**3
    assert est.total_bytes == est.weights_bytes + est.kv_cache_bytes + est.runtime_bytes


def test_phi3_mini_q4_k_m_by_hand_fused_qkv():
    p = load_profile("phi3-mini")
    a = p.architecture
    d, layers, ff, vocab = 3072, 32, 8192, 32064
    assert (a.embedding_width, a.layers, a.ffn_width, a.vocabulary) == (d, layers, ff, vocab)
    q4k, q5k, q6k = (lambda n: n // 256 * 144), (lambda n: n // 256 * 176), (lambda n: n // 256 * 210)
    more = [i for i in range(layers) if i < 4 or i >= 28 or (i - 4) % 3 == 2]
    expected = (
        q4k(vocab * d)  # token_embd, untied: base type
        + q6k(vocab * d)  # output.weight: Q6_K
        + layers * q5k(d * 3 * d)  # attn_qkv: Q5_K in Q4_K_M
        + layers * q4k(d * d)  # attn_output
        + layers * q4k(d * 2 * ff)  # fused gate+up
        + len(more) * q6k(ff * d) + (layers - len(more)) * q4k(ff * d)  # ffn_down
        + 4 * (2 * layers + 1) * d  # norms, F32
    )
    assert estimate_gguf_profile(p, "Q4_K_M").weights_bytes == expected


def test_gemma2_2b_q8_0_tied_embeddings_and_sliding_window_kv():
    p = load_profile("gemma2-2b")
    est = estimate_gguf_profile(p, "Q8_0", 8192)
    norms = (4 * 26 + 1) * 2304
    assert est.weights_bytes == q8(2_614_341_888 - norms) + 4 * norms
    # 13 global layers keep 8192 positions, 13 sliding layers keep the 4096-token window
    assert est.kv_cache_bytes == 2 * (13 * 8192 + 13 * 4096) * 4 * 256 * 2


def test_qwen2_5_0_5b_q4_k_m_falls_back_where_896_is_not_a_multiple_of_256():
    p = load_profile("qwen2.5-0.5b")
    d, layers, ff, vocab, kv = 896, 24, 4864, 151936, 128
    q4k, q6k = (lambda n: n // 256 * 144), (lambda n: n // 256 * 210)
    q5_0 = lambda n: n // 32 * 22  # noqa: E731
    more = [i for i in range(layers) if i < 3 or i >= 21 or (i - 3) % 3 == 2]
    expected = (
        # Qwen's files carry output.weight as well (separate_output): the embeddings get the
        # base type (Q4_K -> Q5_0 on 896-wide rows), the output Q6_K -> Q8_0
        q5_0(vocab * d) + q8(vocab * d)
        + layers * (q5_0(d * d) + q5_0(d * kv) + q5_0(d * d))  # q, k, attn_output: Q4_K -> Q5_0
        + len(more) * q8(d * kv) + (layers - len(more)) * q5_0(d * kv)  # attn_v: Q6_K -> Q8_0 / Q4_K -> Q5_0
        + layers * 2 * q5_0(d * ff)  # gate, up
        + len(more) * q6k(ff * d) + (layers - len(more)) * q4k(ff * d)  # ffn_down rows are 4864 = 19 x 256
        + 4 * ((2 * layers + 1) * d + layers * (d + kv + kv))  # norms and q/k/v biases, F32
    )
    assert estimate_gguf_profile(p, "Q4_K_M").weights_bytes == expected


# The article's Ollama figures, all Q4_0, rounded to 0.1 GB (1 GB = 1e9 bytes).
ARTICLE = {"llama3-8b": 4.7e9, "llama3-70b": 40e9, "phi3-mini": 2.3e9, "phi3-medium": 7.9e9}


@pytest.mark.parametrize("name", ARTICLE)
def test_article_figures_within_their_rounding(name):
    # The article does not say which build Ollama shipped (Ollama's phi3:mini page says 2.2 GB,
    # the article 2.3 GB); the ±3% target is checked against real files below.
    est = estimate_gguf_profile(load_profile(name), "Q4_0")
    assert abs(est.file_bytes - ARTICLE[name]) / ARTICLE[name] < 0.06


def test_article_naive_formula_is_15_to_20_percent_low_for_phi3_mini():
    est = estimate_gguf_profile(load_profile("phi3-mini"), "Q4_0")
    assert est.naive_bytes == 3_821_079_552 // 2
    low = 1 - est.naive_bytes / est.file_bytes
    assert 0.10 < low < 0.20


PUBLISHED = [
    (p, recipe, f.published_bytes)
    for p in OPEN if p.gguf
    for recipe, f in p.gguf.files.items() if f.published_bytes
]


@pytest.mark.parametrize("profile,recipe,published", PUBLISHED, ids=[f"{p.name}-{r}" for p, r, _ in PUBLISHED])
def test_file_bytes_within_3_percent_of_the_published_gguf(profile, recipe, published):
    est = estimate_gguf_profile(profile, recipe)
    assert abs(est.file_bytes - published) / published <= 0.03, (est.file_bytes, published)


def test_published_sizes_cover_every_open_generative_model():
    covered = {p.name for p, _, _ in PUBLISHED}
    assert covered >= {"llama3-8b", "phi3-mini", "phi3-medium", "qwen2.5-7b", "gemma2-2b"}


def test_kv_cache_types_and_context_limits():
    p = load_profile("llama3-8b")
    f16 = estimate_gguf_profile(p, "Q4_K_M", 4096).kv_cache_bytes
    assert estimate_gguf_profile(p, "Q4_K_M", 4096, cache_type="q8_0").kv_cache_bytes == f16 * 34 // 64
    assert estimate_gguf_profile(p, "Q4_K_M", 4096, cache_type="q4_0").kv_cache_bytes == f16 * 18 // 64
    with pytest.raises(TierwiseError, match="above llama3-8b's maximum of 8,192"):
        estimate_gguf_profile(p, "Q4_K_M", 8193)
    with pytest.raises(TierwiseError, match="positive"):
        estimate_gguf_profile(p, "Q4_K_M", 0)
    with pytest.raises(TierwiseError, match="unknown KV cache type"):
        estimate_gguf_profile(p, "Q4_K_M", 4096, cache_type="q3")


def test_kv_cache_formula():
    assert kv_cache_bytes(layers=2, kv_heads=3, head_dim=4, context=5, element_bytes=2) == 2 * 2 * 5 * 3 * 4 * 2
    assert kv_cache_bytes(layers=2, kv_heads=1, head_dim=1, context=100, element_bytes=1, sliding_layers=1, sliding_window=10) == 2 * (100 + 10)


def test_gpu_sizing_at_serving_precision_with_batch():
    p = load_profile("llama3-8b")
    est = estimate_gpu(p, 4096, batch=4)
    assert est.weights_bytes == 8_030_261_248 * 2
    assert est.kv_cache_bytes == 4 * 2 * 32 * 4096 * 8 * 128 * 2
    assert est.quant == "BF16"


def test_predictive_model_is_sized_in_its_framework():
    p = load_profile("distilbert-sst2")
    est = estimate_framework(p)
    assert est.weights_bytes == p.parameters * 4
    assert est.kv_cache_bytes == 0
    assert est.total_bytes < 2 * 1024**3


def test_every_step_is_explained():
    est = estimate_gguf_profile(load_profile("llama3-8b"))
    text = "\n".join(est.steps)
    for word in ("weights", "KV cache", "runtime", "total", "naive"):
        assert word in text
