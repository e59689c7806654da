"""Traces: one row per op that an LLM executes for a prefill or decode step.

Token convention (used everywhere in hwsim): each of `batch` sequences processes T new tokens
(prefill: T = seq; decode: T = 1) that attend over C + T keys, C = `context` tokens already in the
KV cache. New K/V are written to the cache once (by rope, or by k_proj/v_proj when the model has no
rotary embedding); attention reads all C + T keys and values from the cache, once per KV head (GQA).
Attention scores are counted over the full C + T span for every new token (what a dense kernel
executes; a causal mask does not shrink the work here). MoE routing is balanced: the batch's
token-expert assignments are spread as evenly as possible over the experts (the most distinct
experts, hence an upper bound on expert weights read).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError
from hwsim.workload.config import ModelConfig

PHASES = ("prefill", "decode")
LOGITS = ("last", "all")
DEFAULT_SEQ = 256  # prefill tokens; BitMoD's evaluation setting (REFERENCES.md)
DEFAULT_DECODE_CONTEXT = 256

# Approximate element operations per element for elementwise ops (assumed: one op per arithmetic step).
VECTOR_OPS = {"rmsnorm": 4, "layernorm": 7, "softmax": 5, "silu": 4, "gelu": 8, "gelu_new": 8, "relu": 1,
              "relu2": 2, "gelu_pytorch_tanh": 8, "rope": 3, "residual": 1, "gate_mul": 1, "position_add": 1}

COLUMNS = ["name", "layer", "kind", "op", "m", "n", "k", "count", "macs", "vector_ops", "weight_elems",
           "act_in_elems", "act_out_elems", "kv_read_elems", "kv_write_elems"]
_INT_COLUMNS = COLUMNS[4:]


@dataclass(frozen=True)
class Trace:
    model: ModelConfig
    phase: str
    batch: int
    seq: int  # new tokens per sequence in this step (1 for decode)
    context: int  # tokens already cached before this step
    logits: str
    ops: pd.DataFrame

    @property
    def tokens(self) -> int:
        return self.seq

    @property
    def span(self) -> int:
        return self.context + self.seq

    def kv_cache_bytes(self, kv_bits: float = 16) -> float:
        """KV cache held after this step: K and V, every layer, every sequence, C + T tokens."""
        m = self.model
        return 2 * m.layers * self.batch * self.span * m.kv_dim * kv_bits / 8

    def totals(self, kv_bits: float = 16) -> dict:
        ops = self.ops
        return {
            "params": self.model.params,
            "active_params_per_token": self.model.active_params_per_token,
            "macs": int(ops["macs"].sum()),
            "vector_ops": int(ops["vector_ops"].sum()),
            "weight_elems_read": int(ops["weight_elems"].sum()),
            "kv_cache_bytes": self.kv_cache_bytes(kv_bits),
            "ops": len(ops),
        }

    def linear(self) -> pd.DataFrame:
        return self.ops[self.ops["kind"] == "linear"]


# Op counts are int64 and sums of them are taken in float64: every count must stay exact there.
MAX_COUNT = 2**53
MAX_TOKENS = 2**31  # batch, seq and context (assumed bound: 1000x the longest published context)


def _check_count(value: object, field: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        allowed = "a non-negative integer" if allow_zero else "a positive integer"
        raise HwsimError(f"must be {allowed}, got {value!r}", field=field)
    if value > MAX_TOKENS:
        raise HwsimError(f"must be at most {MAX_TOKENS:,} (2^31), got {value:.3g}", field=field)
    return int(value)


def check_magnitudes(rows: list[tuple], repeat: int = 1, *, field: str | None = None) -> None:
    """Refuse a workload whose op counts (over `repeat` layers) leave the exact range of int64/float64,
    naming the op and the count, instead of overflowing into negative or wrong numbers."""
    for row in rows:
        for col, value in zip(_INT_COLUMNS, row[3:]):  # rows: name, kind, op, then the counts
            if value * repeat > MAX_COUNT:
                raise HwsimError(f"too large to count: {col} of {row[0]} reaches {value * repeat:.3g} (limit 2^53); "
                                 "use a smaller batch, sequence, context or model", field=field)


class _Ops:
    """Accumulates op rows for one layer template (plain lists; tiled over layers with numpy)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, name, kind, op, m, n, k, count=1, *, macs=0, vector_ops=0, weight=0, act_in=0, act_out=0,
            kv_read=0, kv_write=0) -> None:
        self.rows.append((name, kind, op, m, n, k, count, macs, vector_ops, weight, act_in, act_out, kv_read,
                          kv_write))

    def linear(self, name, op, m, k, n, *, bias=False, count=1, out_to_kv=False) -> None:
        out = m * n * count
        self.add(name, "linear", op, m, n, k, count, macs=m * n * k * count, weight=(k * n + (n if bias else 0)) * count,
                 act_in=m * k * count, act_out=0 if out_to_kv else out, kv_write=out if out_to_kv else 0)

    def elementwise(self, name, op, rows, width, per_elem, *, inputs=1, weight=0, kv_read=0, kv_write=0,
                    out=None) -> None:
        elems = rows * width
        self.add(name, "elementwise", op, rows, width, 1, 1, vector_ops=per_elem * elems, weight=weight,
                 act_in=inputs * elems, act_out=elems if out is None else out, kv_read=kv_read, kv_write=kv_write)


def _layer_template(model: ModelConfig, batch: int, t: int, span: int) -> _Ops:
    h, M = model.hidden, batch * t
    norm_ops, npe = VECTOR_OPS[model.norm], model.norm_params_per_elem
    act_ops = VECTOR_OPS.get(model.activation, 4)
    shapes = model.linear_shapes()
    ops = _Ops()

    ops.elementwise("input_norm", "norm", M, h, norm_ops, weight=h * npe)
    for role in ("q_proj", "k_proj", "v_proj"):
        k, n, bias = shapes[role]
        # without rope, k_proj/v_proj outputs go straight to the cache; with rope, only v does
        to_kv = role == "v_proj" or (role == "k_proj" and not model.rotary)
        ops.linear(role, role, M, k, n, bias=bias, out_to_kv=to_kv)
    if model.rotary:
        q_el, k_el = M * model.q_dim, M * model.kv_dim
        ops.add("rope", "elementwise", "rope", M, model.q_dim + model.kv_dim, 1, 1,
                vector_ops=VECTOR_OPS["rope"] * (q_el + k_el), act_in=q_el + k_el, act_out=q_el, kv_write=k_el)

    heads, kvh, d = model.heads, model.kv_heads, model.head_dim
    kv_elems = batch * kvh * span * d  # each KV head's keys (or values) read once, shared by its query group
    scores = batch * heads * t * span
    ops.add("attn.qk", "attention", "qk", t, span, d, batch * heads, macs=scores * d,
            act_in=batch * heads * t * d, act_out=scores, kv_read=kv_elems)
    ops.elementwise("attn.softmax", "softmax", batch * heads * t, span, VECTOR_OPS["softmax"])
    ops.add("attn.av", "attention", "av", t, d, span, batch * heads, macs=scores * d,
            act_in=scores, act_out=batch * heads * t * d, kv_read=kv_elems)
    if model.sub_norms:
        ops.elementwise("attn_sub_norm", "norm", M, model.q_dim, norm_ops, weight=model.q_dim * npe)
    k, n, bias = shapes["o_proj"]
    ops.linear("o_proj", "o_proj", M, k, n, bias=bias)
    ops.elementwise("attn_residual", "residual", M, h, VECTOR_OPS["residual"], inputs=2)
    ops.elementwise("post_attention_norm", "norm", M, h, norm_ops, weight=h * npe)

    inter = model.intermediate
    mlp_roles = [r for r in ("gate_proj", "up_proj") if r in shapes]
    if model.is_moe:
        E, top_k = model.num_experts, model.experts_per_token
        k, n, _ = shapes["router"]
        ops.linear("router", "router", M, k, n)
        assignments = M * top_k
        active = min(E, assignments)
        base, extra = divmod(assignments, active)
        # (name, experts, tokens each): with an uneven split, `extra` experts take one more token than the rest
        groups = ([("experts", extra, base + 1), ("experts_rest", active - extra, base)] if extra
                  else [("experts", active, base)])
    else:
        assignments, groups = M, [("mlp", 1, M)]
    for prefix, count, m_tok in groups:
        for role in mlp_roles:
            k, n, bias = shapes[role]
            ops.linear(f"{prefix}.{role}", role, m_tok, k, n, bias=bias, count=count)
    gate_in = 2 if model.gated_mlp else 1
    ops.elementwise("mlp.act", "act", assignments, inter, act_ops + (gate_in - 1) * VECTOR_OPS["gate_mul"],
                    inputs=gate_in)
    if model.sub_norms:
        ops.elementwise("ffn_sub_norm", "norm", assignments, inter, norm_ops, weight=inter * npe)
    for prefix, count, m_tok in groups:
        k, n, bias = shapes["down_proj"]
        ops.linear(f"{prefix}.down_proj", "down_proj", m_tok, k, n, bias=bias, count=count)
    ops.elementwise("mlp_residual", "residual", M, h, VECTOR_OPS["residual"], inputs=2)
    return ops


def _warn_beyond_trained_context(model: ModelConfig, span: int) -> None:
    limit = model.extra.get("max_position_embeddings")
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < span:
        import warnings

        from hwsim.errors import HwsimWarning

        warnings.warn(HwsimWarning(f"{model.name}: context + new tokens = {span:,} is beyond its "
                                   f"max_position_embeddings ({limit:,}); the figures are for a context the model "
                                   "was not built for"), stacklevel=3)


def trace(model: ModelConfig, phase: str, batch: int = 1, seq: int | None = None, context: int | None = None,
          logits: str = "last") -> Trace:
    """Build the op table for one prefill (seq new tokens) or decode (one new token) step."""
    if phase not in PHASES:
        raise HwsimError(f"must be one of {', '.join(PHASES)}, got {phase!r}", field="phase")
    if logits not in LOGITS:
        raise HwsimError(f"must be one of {', '.join(LOGITS)}, got {logits!r}", field="logits")
    batch = _check_count(batch, "batch")
    if model.encoder and phase != "prefill":
        raise HwsimError(f"{model.name} is an encoder-only model: it has a prefill (encode) phase only", field="phase")
    if phase == "prefill":
        t = _check_count(DEFAULT_SEQ if seq is None else seq, "seq")
        c = _check_count(0 if context is None else context, "context", allow_zero=True)
    else:
        if seq not in (None, 1):
            raise HwsimError(f"decode generates one token per sequence; use context for the cached length, "
                             f"got seq={seq!r}", field="seq")
        t = 1
        c = _check_count(DEFAULT_DECODE_CONTEXT if context is None else context, "context", allow_zero=True)
    span, M, h = c + t, batch * t, model.hidden

    head, tail = _Ops(), _Ops()
    norm_ops, norm_params = VECTOR_OPS[model.norm], h * model.norm_params_per_elem
    tables = 1 + (model.learned_positions > 0) + (model.token_types > 0)  # rows gathered per token, then summed
    head.add("embed_tokens", "embedding", "embed", M, h, 1, 1, vector_ops=(tables - 1) * M * h,
             weight=tables * M * h, act_out=M * h)
    if model.encoder:  # BERT: LayerNorm on the embeddings; the pooler reads the first token of each sequence
        head.elementwise("embed_norm", "norm", M, h, norm_ops, weight=norm_params)
        tail.linear("pooler", "pooler", batch, h, h, bias=True)
    else:
        tail.elementwise("final_norm", "norm", M, h, norm_ops, weight=norm_params)
        tail.linear("lm_head", "lm_head", M if logits == "all" else batch, h, model.vocab)

    layer_rows = _layer_template(model, batch, t, span).rows
    L, P = model.layers, len(layer_rows)
    check_magnitudes(head.rows + tail.rows)
    check_magnitudes(layer_rows, L)
    _warn_beyond_trained_context(model, span)  # after the checks: an error stays the only line
    layer_idx = np.repeat(np.arange(L, dtype=np.int64), P)
    layer_names = [f"layers.{i}.{row[0]}" for i in range(L) for row in layer_rows]
    tmpl = list(zip(*layer_rows))

    def column(j: int) -> np.ndarray:
        body = np.tile(np.asarray(tmpl[j], dtype=object if j < 3 else np.int64), L)
        edge = lambda rows: np.asarray([r[j] for r in rows], dtype=body.dtype)  # noqa: E731
        return np.concatenate([edge(head.rows), body, edge(tail.rows)])

    data = {"name": [r[0] for r in head.rows] + layer_names + [r[0] for r in tail.rows],
            "layer": np.concatenate([np.full(len(head.rows), -1), layer_idx, np.full(len(tail.rows), -1)])}
    for j, col in enumerate(COLUMNS[2:], start=1):
        data[col] = column(j)
    ops = pd.DataFrame(data, columns=COLUMNS)
    ops[_INT_COLUMNS] = ops[_INT_COLUMNS].astype(np.int64)
    ops["layer"] = ops["layer"].astype(np.int64)
    return Trace(model=model, phase=phase, batch=batch, seq=t, context=c, logits=logits, ops=ops)
