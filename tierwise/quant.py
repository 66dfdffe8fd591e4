"""ggml tensor types and llama.cpp quantization recipes, read from tierwise/data.

`tensor_type()` decides, tensor by tensor, the type llama-quantize gives a weight under a
recipe; sizing multiplies that out with the block layout of the type.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tierwise.errors import TierwiseError
from tierwise.facts import block_layouts, recipes


@dataclass(frozen=True)
class QuantType:
    name: str
    block_weights: int
    block_bytes: int

    @property
    def bits_per_weight(self) -> float:
        return self.block_bytes * 8 / self.block_weights

    def bytes_for(self, weights: int, row_length: int) -> int:
        """Bytes of a tensor of `weights` elements whose rows are `row_length` long."""
        if row_length % self.block_weights:
            raise ValueError(f"{self.name} needs rows that are multiples of {self.block_weights}")
        return weights // self.block_weights * self.block_bytes


@cache
def quant_types() -> dict[str, QuantType]:
    return {
        name: QuantType(name, spec.block_weights, spec.block_bytes)
        for name, spec in block_layouts().items()
    }


def quant_type(name: str) -> QuantType:
    types = quant_types()
    if name not in types:
        raise TierwiseError(f"unknown tensor type {name!r}; known: {', '.join(types)}")
    return types[name]


@cache
def recipe_names() -> tuple[str, ...]:
    return tuple(recipes().recipes)


def check_recipe(name: str) -> str:
    """The canonical recipe name for `name` (case-insensitive), or a TierwiseError."""
    for known in recipe_names():
        if known.lower() == name.lower():
            return known
    raise TierwiseError(f"unknown quantization {name!r}; allowed: {', '.join(recipe_names())}")


def _more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


_LAYER_SELECTORS = {
    "all": lambda i, n: True,
    "more_bits": _more_bits,
    "first_2": lambda i, n: i < 2,
    "from_2": lambda i, n: i >= 2,
    "first_4": lambda i, n: i < 4,
    "first_8th": lambda i, n: i < n // 8,
    "first_16th": lambda i, n: i < n // 16,
    "from_16th": lambda i, n: i >= n // 16,
}


def tensor_type(
    recipe: str,
    *,
    role: str,
    layer: int | None,
    layers: int,
    row_length: int,
    quantizable: bool,
    source_type: str,
    gqa: int = 1,
    experts: int | None = None,
) -> str:
    """The ggml type llama-quantize writes for one tensor.

    role: the tensor's name without its block prefix and suffix ("attn_v", "ffn_down",
    "output", "token_embd_tied", "token_embd", "ffn_down_exps", ...). quantizable is False for
    1-D tensors, norms and an expert router, which keep source_type. experts: the model's
    routed experts (None for a dense model).
    """
    data = recipes()
    spec = data.recipes[recipe]
    if not quantizable:
        return source_type
    base = spec.base
    if not spec.quantized:
        return base
    chosen = base
    # llama.cpp files a tensor under a rule by a substring of its name: the experts' and the
    # shared expert's down projections are ffn_down for the per-layer rules
    rule_role = "ffn_down" if role.startswith("ffn_down") else role
    if role in ("output", "token_embd_tied"):
        k_block = quant_type("Q6_K").block_weights
        if row_length % k_block:
            return "Q8_0"
        return base if base == "Q8_0" else "Q6_K"
    for rule in spec.rules:
        if rule.tensor != rule_role or layer is None:
            continue
        if rule.gqa_below is not None and not gqa < rule.gqa_below:
            continue
        if rule.gqa_at_least is not None and not gqa >= rule.gqa_at_least:
            continue
        if _LAYER_SELECTORS[rule.layers](layer, layers):
            chosen = rule.type
            break
    large = data.large_model_attn_v
    if role == "attn_v" and layers == large.layers and chosen in large.from_types:
        chosen = large.to
    eight = data.eight_experts
    if experts == eight.experts and layer is not None:
        if role in eight.types:
            chosen = eight.types[role]
        elif role == "attn_output" and recipe in eight.attn_output_recipes:
            chosen = eight.attn_output
    return _fit_rows(chosen, row_length, data.fallback)


def _fit_rows(type_name: str, row_length: int, fallback: dict[str, str]) -> str:
    if row_length % quant_type(type_name).block_weights == 0:
        return type_name
    lower = fallback.get(type_name)
    if lower and row_length % quant_type(lower).block_weights == 0:
        return lower
    return "F16"


def check_profile_recipes(profile, path) -> None:
    """The llama.cpp recipes a catalogue file names exist (registered with model_profiles'
    loader by tierwise/__init__.py, so the error names the file and the field)."""
    named = [("default_quant", profile.default_quant)] if profile.generative and profile.architecture else []
    named += [(f"gguf.files.{recipe}", recipe) for recipe in (profile.gguf.files if profile.gguf else {})]
    for field, recipe in named:
        try:
            check_recipe(recipe)
        except TierwiseError as exc:
            raise TierwiseError(f"{path.name}: field {field!r}: {exc}") from None
