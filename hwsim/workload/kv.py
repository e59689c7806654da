"""KV-cache (and recurrent-state) sizes, derived from the blocks: the one place trace, footprint and
allocation read them from.

- attention: K and V of every cached token, per KV head (GQA/MQA share them across query heads);
- sliding-window / chunked layers keep at most `window` (or `chunk`) tokens (a ring buffer, as serving
  stacks allocate them);
- MLA: the compressed latent plus the shared rope key,
  kv_lora_rank + qk_rope_head_dim per token (DeepSeek-V3.2 adds its indexer's key, index_head_dim, every token
  kept: the top-k selection reads among all of them; stored at its own format whatever the KV format,
  blocks.Indexer.KEY_FORMAT: fp8 + an fp32 scale per 128, 132 bytes at index_head_dim 128), in modes "absorbed" (what serving kernels cache) and "latent"
  (transformers 5: the same cache, up-projected again every step); mode "expanded" (DeepSeek's own HF
  modelling code, transformers 4): full per-head K and V;
- SSM (Mamba-1, Mamba-2), Gated DeltaNet and Kimi Delta Attention, LFM2's short convolution and MiniMax's lightning
  attention: a fixed state per sequence (scan or delta-rule state + conv window, the conv window alone, or the linear-attention state),
  independent of the span;
- an MLP-only layer (Nemotron-H's "-"): nothing.
A hybrid (attention + SSM layers) holds both: K/V growing with the span in its attention layers, a fixed state
in its SSM layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwsim.workload.blocks import RECURRENT, Attention, Indexer, Layer

MLA_MODES = ("absorbed", "latent", "expanded")
# rows of a layer whose attention reads a bounded number of keys (Attention.limit) that still read every cached token:
# DeepSeek-V3.2's indexer scores the whole span to pick the top-k its attention reads (serving fits them unbounded)
UNBOUNDED_ROWS = r"\.indexer\."


def cached_tokens(attn: Attention, span: int) -> int:
    """Tokens of one sequence a layer holds after a step that ends at `span` tokens."""
    return span if attn.held is None else min(span, attn.held)


def attended_tokens(attn: Attention, span: int) -> int:
    """Keys each query of a step ending at `span` tokens attends to: the cached ones, or a sparse attention's
    top-k of them (DeepSeek-V3.2's indexer)."""
    return span if attn.limit is None else min(span, attn.limit)


def index_elems_per_token(attn: Attention) -> int:
    """Elements of DeepSeek-V3.2's index key per token of one sequence in one layer (0 without an indexer of its
    own: GLM-5's shared layers reuse another layer's choice)."""
    ix = attn.mla.indexer if attn.mla is not None else None
    return ix.head_dim if ix is not None and not ix.reuse else 0


def as_bytes(elems: Any, index: Any, kv_bits: Any, by_rows: Mapping[tuple[int, int], int] | None = None) -> Any:
    """Bytes of `elems` cache elements of which `index` are index keys, stored at their own format; the others at
    `kv_bits` (no index key: elems × kv_bits / 8, as every other model's cache). `kv_bits`: bits, or the KV format
    (hwsim.core.precision.OperandType): a format with a scale per group along each row prices the attention
    elements among them (`by_rows`: elements by their (key row, value row), row_elems) at the scales their rows
    hold (OperandType.bits_on_rows: a group never spans two heads; head_dim 64 at int4_g128 is 4.25 bits, not
    4.125), the others (recurrent state) at its bits. Numbers or arrays that broadcast."""
    bits = getattr(kv_bits, "bits", kv_bits)
    if isinstance(index, int) and not index:
        out = elems * bits / 8
    else:
        out = (elems - index) * bits / 8 + index * Indexer.KEY_BITS / 8
    if by_rows and row_scaled(kv_bits):
        out = out + sum(n * (kv_bits.bits_on_rows(*rows) - bits) / 8 for rows, n in by_rows.items())
    return out


def row_scaled(kv_bits: Any) -> bool:
    """Whether `kv_bits` is a KV format with a scale per group along each row (OperandType.row_scaled)."""
    return bool(getattr(kv_bits, "row_scaled", False))


def rows(attn: Attention, mla: str = "absorbed") -> tuple[int, int]:
    """(key row, value row): the elements one cached token holds per KV head in each of the two rows a KV format
    groups along (one token's one head, as hwsim.accuracy quantizes them): head_dim and v_dim; MLA (absorbed,
    latent): the latent and the rope key, two tensors side by side (kv_lora_rank, rope_dim); the index key aside."""
    if attn.mla is not None and mla != "expanded":
        return attn.mla.kv_lora_rank, attn.mla.rope_dim
    return attn.head_dim, attn.v_dim


def row_elems(blocks: tuple[Layer, ...], batch: int, span: int, mla: str = "absorbed") -> dict[tuple[int, int], int]:
    """The attention cache elements among cache_elems (index keys aside) by their rows (`rows`)."""
    out: dict[tuple[int, int], int] = {}
    for layer in blocks:
        if isinstance(layer.mixer, Attention):
            n = (
                batch
                * cached_tokens(layer.mixer, span)
                * (elems_per_token(layer.mixer, mla) - index_elems_per_token(layer.mixer))
            )
            key = rows(layer.mixer, mla)
            out[key] = out.get(key, 0) + n
    return out


def elems_per_token(attn: Attention, mla: str = "absorbed") -> int:
    """Cache elements per token of one sequence in one attention layer (DeepSeek-V3.2: the indexer's key too; a
    Gemma-4 KV-sharing layer none: it reads an earlier layer's)."""
    if attn.kv_reuse:
        return 0
    index = index_elems_per_token(attn)
    if attn.mla is not None and mla != "expanded":
        return attn.mla.kv_lora_rank + attn.mla.rope_dim + index
    return attn.kv_heads * (attn.head_dim + attn.v_dim) + index


def layer_elems(layer: Layer, batch: int, span: int, mla: str = "absorbed") -> int:
    """Elements one layer's cache (or state) holds for `batch` sequences of `span` tokens."""
    beside = batch * layer.ssm.state_elems if layer.ssm is not None else 0  # Falcon-H1's parallel Mamba-2
    if isinstance(layer.mixer, RECURRENT):
        return batch * layer.mixer.state_elems + beside
    if layer.mixer is None:
        return beside
    return batch * cached_tokens(layer.mixer, span) * elems_per_token(layer.mixer, mla) + beside


def cache_elems(blocks: tuple[Layer, ...], batch: int, span: int, mla: str = "absorbed") -> int:
    """Elements of the whole model's KV cache (or SSM state) after a step ending at `span` tokens."""
    return sum(layer_elems(layer, batch, span, mla) for layer in blocks)


def layer_index_elems(layer: Layer, batch: int, span: int) -> int:
    """The index keys among layer_elems (DeepSeek-V3.2; 0 for every other layer), stored at their own format."""
    if not isinstance(layer.mixer, Attention):
        return 0
    return batch * cached_tokens(layer.mixer, span) * index_elems_per_token(layer.mixer)


def index_elems(blocks: tuple[Layer, ...], batch: int, span: int) -> int:
    """The index keys among cache_elems (DeepSeek-V3.2; 0 for every other model)."""
    return sum(layer_index_elems(layer, batch, span) for layer in blocks)


def cache_bytes(blocks: tuple[Layer, ...], batch: int, span: int, kv_bits: Any, mla: str = "absorbed") -> float:
    """Bytes of the whole model's KV cache (or SSM state) after a step ending at `span` tokens, at `kv_bits`
    (the index keys at their own format)."""
    return as_bytes(
        cache_elems(blocks, batch, span, mla),
        index_elems(blocks, batch, span),
        kv_bits,
        row_elems(blocks, batch, span, mla) if row_scaled(kv_bits) else None,
    )


def state_elems(blocks: tuple[Layer, ...], batch: int = 1) -> int:
    """Elements of the fixed recurrent state (SSM layers) of `batch` sequences: the part of cache_elems that
    does not grow with the span."""
    own = sum(batch * layer.mixer.state_elems for layer in blocks if isinstance(layer.mixer, RECURRENT))
    return own + sum(batch * layer.ssm.state_elems for layer in blocks if layer.ssm is not None)


def token_elems(blocks: tuple[Layer, ...]) -> int:
    """Elements one cached token of one sequence adds (attention layers; SSM layers keep a fixed state instead):
    what a paged cache's blocks hold."""
    return cache_elems(blocks, 1, 1) - state_elems(blocks)


def token_bytes(blocks: tuple[Layer, ...], kv_bits: Any) -> float:
    """Bytes of token_elems at `kv_bits` (the index keys at their own format): one paged-cache token."""
    by_rows = row_elems(blocks, 1, 1) if row_scaled(kv_bits) else None
    return as_bytes(token_elems(blocks), index_elems(blocks, 1, 1), kv_bits, by_rows)


def bytes_per_token(blocks: tuple[Layer, ...], kv_bits: Any = 16, mla: str = "absorbed") -> float:
    """KV bytes one more token adds to a long sequence (window layers and SSMs add none once full;
    counted here as the unbounded per-token size of attention layers, window or not; the index keys at
    their own format)."""
    attn = [layer.mixer for layer in blocks if isinstance(layer.mixer, Attention)]
    by_rows: dict[tuple[int, int], int] = {}
    for a in attn:
        by_rows[rows(a, mla)] = by_rows.get(rows(a, mla), 0) + elems_per_token(a, mla) - index_elems_per_token(a)
    return as_bytes(
        sum(elems_per_token(a, mla) for a in attn), sum(index_elems_per_token(a) for a in attn), kv_bits, by_rows
    )
