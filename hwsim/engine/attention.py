"""How an accelerator runs attention: fused (one `attn_fused` op per layer, scores on chip) or unfused
(qk, softmax, av through memory), and the compute view of a fused op.

The setting is per accelerator: the arch spec's top-level `attention:` field, else the family's default
(`Family.attention`, sourced in its class; docs/engine.md lists them). A Trace is re-expressed in that
form before costing; a bare ops table is costed as given.

A fused row's memory traffic is the engine's usual two-operand tiling (Q = A, K/V = B, O = C): when
neither one instance's Q nor its K/V fits the buffers, K/V stream once per buffer-sized tile of Q, the
FlashAttention loop order (Dao et al., NeurIPS 2022, Alg. 1). Its compute is the two GEMMs it fuses,
qk (m × keys by d_qk) and av (m × d_v by keys), each costed by the family as an attention GEMM.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from hwsim.core.ops import OpColumns

FUSED = "attn_fused"


def attention_form(arch) -> str:
    """"fused" or "unfused": the spec's `attention` field, else the family's sourced default."""
    from hwsim.families import get_family

    return getattr(arch, "attention", None) or getattr(get_family(arch.family), "attention", "unfused")


def as_run(arch, trace):
    """The trace with attention in the form `arch` runs it (a bare ops table is returned as given)."""
    if hasattr(trace, "with_attention"):
        return trace.with_attention(attention_form(arch))
    return trace


def fused_rows(ops: OpColumns) -> np.ndarray:
    if ops.op is None:
        return np.zeros(len(ops), dtype=bool)
    return ops.op == FUSED


def compute_view(ops: OpColumns) -> tuple[OpColumns, np.ndarray]:
    """Ops as the compute units see them: each fused row becomes its qk GEMM (in place) plus its av GEMM
    (appended), chained on chip. Returns the view and the indices of the fused rows the appended rows
    belong to. (MLA absorbed: V is a slice of the latent K already read, so the av part reads nothing new
    when kv_read covers K only; the split then follows d_v/(d_qk + d_v) of what is read.)"""
    fused = np.flatnonzero(fused_rows(ops))
    if fused.size == 0:
        return ops, fused
    m, k, cnt = ops.m[fused], ops.k[fused], ops.count[fused]
    d_v = ops.n[fused]
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty op (zero rows) has no width to recover
        d_qk = np.where(cnt * m * k > 0, ops.macs[fused] / (cnt * m * k) - d_v, 0.0)
    cols = {f: np.array(getattr(ops, f), copy=True) for f in ("m", "n", "k", "count", "macs", "vector_ops",
                                                              "weight_elems", "act_in_elems", "act_out_elems",
                                                              "kv_read_elems", "kv_write_elems")}
    # qk in place: m × keys by d_qk, reads Q and K, its scores stay on chip (no output bytes);
    # av appended: m × d_v by keys, reads V, writes O. Bytes of the two add up to the fused row's.
    kv = ops.kv_read_elems[fused]
    v_part = np.where(kv > 0, np.floor(kv * d_v / (d_qk + d_v)), 0.0)
    cols["n"][fused], cols["k"][fused], cols["macs"][fused] = k, d_qk, cnt * m * k * d_qk
    cols["kv_read_elems"][fused], cols["act_out_elems"][fused] = kv - v_part, 0.0
    av = {"m": m, "n": d_v, "k": k, "count": cnt, "macs": cnt * m * k * d_v, "vector_ops": 0 * m,
          "weight_elems": 0 * m, "act_in_elems": 0 * m, "act_out_elems": ops.act_out_elems[fused],
          "kv_read_elems": v_part, "kv_write_elems": 0 * m}
    merged = {f: np.concatenate([cols[f], av[f]]) for f in cols}
    view = replace(ops, name=np.concatenate([ops.name, ops.name[fused]]),
                   kind=np.concatenate([ops.kind, ops.kind[fused]]),
                   op=np.concatenate([ops.op, np.full(fused.size, "av")]), **merged)
    return view, fused


def fold(values, n_ops: int, fused: np.ndarray) -> np.ndarray:
    """Per-op values of a compute view back onto the original ops (av parts added to their fused row)."""
    values = np.asarray(values, dtype=np.float64)
    if fused.size == 0:
        return values
    out = np.array(values[..., :n_ops], copy=True)
    out[..., fused] += values[..., n_ops:]
    return out
