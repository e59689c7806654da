"""How an accelerator runs attention, and the ops table in that form.

**The setting.** Attention runs fused (one FlashAttention-style `attn_fused` op per layer: Q in, K and V
read once per (sequence, KV head), O out, the score matrix never leaves the chip; docs/interfaces.md
"Fused attention") or unfused (qk, softmax and av as separate ops with the scores through memory). The
setting is per accelerator: the spec's top-level `attention:` field, else the family's sourced default
(`Family.attention`: the GPU fuses, the seed accelerators' papers map attention as separate GEMMs).

**The ops in that form** (`as_run`). A Trace is re-expressed exactly by the trace builder
(`Trace.with_attention`: it knows, e.g., that MLA's absorbed decode reads the latent once for both K and
V). A bare ops table cannot be rebuilt, so its unfused triples are folded *row for row* (`fold_attention`):
the `qk` row becomes the fused kernel and its `softmax` and `av` rows become empty, so per-op results stay
aligned with the caller's rows (the allocator sums them by row). A table already fused passes unchanged.

**Costing a fused row.** A family with its own fused-attention kernel model (`Family.fused_attention_kernel`,
the GPU's FlashAttention-2 model) costs `attn_fused` rows itself. Every other family computes a fused row
as the two GEMMs it fuses, chained on chip (`compute_view`): qk (m × keys by d_qk) then av (m × d_v by keys),
each costed by the family as an attention GEMM; their cycles and energy fold back onto the fused row
(`fold`). Its memory traffic is the engine's two-operand tiling (Q = A, K/V = B, O = C): when neither one
instance's Q nor its K/V fits the buffers, K/V stream once per buffer-sized tile of Q, the FlashAttention
loop order (Dao et al., NeurIPS 2022, Alg. 1).
"""

from __future__ import annotations

from dataclasses import replace

from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.ops import ATTN_FUSED as FUSED, INT_COLUMNS, OpColumns

if TYPE_CHECKING:  # pandas loads with the first table (fold_attention is given one)
    import pandas as pd
    from numpy.typing import ArrayLike

    from hwsim.core.spec import Accelerator
    from hwsim.families.base import Family
    from hwsim.workload.trace import Trace

ROLES = ("qk", "softmax", "av")


def attention_form(arch: Accelerator) -> str:
    """ "fused" or "unfused": the spec's `attention` field, else the family's sourced default."""
    from hwsim.families import get_family

    return getattr(arch, "attention", None) or get_family(arch.family).attention


def as_run(arch: Accelerator, trace: Trace | pd.DataFrame) -> Trace | pd.DataFrame:
    """`trace` (a Trace or an ops DataFrame) with attention in the form `arch` runs it (module docstring).
    An unfused-form machine costs a table as given: rows a caller already fused stay fused."""
    form = attention_form(arch)
    if getattr(type(trace), "with_attention", None) is not None:  # a Trace (a DataFrame's own lookup is slow)
        return trace.with_attention(form) if form == "fused" else trace
    return fold_attention(trace) if form == "fused" else trace


def fold_attention(df: pd.DataFrame) -> pd.DataFrame:
    """The ops table with every layer's qk/softmax/av triple folded into its qk row (module docstring);
    a table without unfused attention (or without `op`/`layer` columns) is returned as is. The fused row
    reads what the qk and av rows read: exact where K and V are separate tensors; for a cache whose V is a
    slice of K (MLA absorbed decode) it over-counts, which is why Traces are rebuilt instead."""
    import pandas as pd

    if "op" not in df.columns or "layer" not in df.columns:
        return df
    op = df["op"].to_numpy()
    if not (op == "qk").any():
        return df
    prefix = df["name"].astype(str).str.rsplit(".", n=1).str[0].to_numpy()
    layer = df["layer"].to_numpy()
    pos = {role: np.flatnonzero(op == role) for role in ROLES}
    # a triple is the i-th qk, softmax and av of one (layer, name prefix): repeated blocks (tables that
    # stack several step shapes) pair in order
    key = {}
    for role, idx in pos.items():
        occ = (
            pd.Series(list(zip(layer[idx], prefix[idx]))).groupby(lambda i: (layer[idx][i], prefix[idx][i])).cumcount()
        )
        key[role] = pd.Series(
            np.arange(len(idx)), index=pd.MultiIndex.from_arrays([layer[idx], prefix[idx], occ.to_numpy()])
        )
    qk = pos["qk"]
    where = key["qk"].index
    found = [key[r].reindex(where).to_numpy() for r in ("av", "softmax")]
    if any(np.isnan(f).any() for f in found):  # a qk row without its softmax/av: not an unfused triple
        return df
    av, sm = (pos[r][f.astype(np.int64)] for r, f in zip(("av", "softmax"), found))
    out = df.copy()
    cols = {c: out[c].to_numpy(dtype=np.int64).copy() for c in INT_COLUMNS}
    span, d_qk = cols["n"][qk], cols["k"][qk]
    count = cols["kv_read_elems"][qk] // np.maximum(span * d_qk, 1)  # batch · kv_heads
    new = {
        "count": np.maximum(count, 1),  # the kernel launches even for an empty step shape; folded rows: 0
        "m": cols["m"][qk] * cols["count"][qk] // np.maximum(count, 1),  # query rows per (sequence, KV head)
        "k": span,
        "n": cols["n"][av],
        "macs": cols["macs"][qk] + cols["macs"][av],
        "vector_ops": cols["vector_ops"][sm],
        "weight_elems": cols["weight_elems"][qk] + cols["weight_elems"][sm] + cols["weight_elems"][av],  # sinks
        "act_in_elems": cols["act_in_elems"][qk],
        "act_out_elems": cols["act_out_elems"][av],
        "kv_read_elems": cols["kv_read_elems"][qk] + cols["kv_read_elems"][av],
        "kv_write_elems": cols["kv_write_elems"][qk] + cols["kv_write_elems"][av],
    }
    gone = np.concatenate([av, sm])
    for c in INT_COLUMNS:
        cols[c][gone] = 0
        cols[c][qk] = new[c]
        out[c] = cols[c]
    op_col = out["op"].to_numpy().copy()
    op_col[qk] = FUSED
    out["op"] = op_col
    return out


def compute_view(ops: OpColumns) -> tuple[OpColumns, np.ndarray]:
    """Ops as the compute units see them: each fused row becomes its qk GEMM (in place) plus its av GEMM
    (appended), chained on chip. Returns the view and the indices of the fused rows the appended rows
    belong to. (MLA absorbed: V is a slice of the latent K already read, so the av part reads nothing new
    when kv_read covers K only; the split then follows d_v/(d_qk + d_v) of what is read.)"""
    mask = ops.fused_attention()
    if not np.count_nonzero(mask):  # no fused row (np.flatnonzero's empty result, without its cost)
        return ops, _NO_ROWS
    fused = np.flatnonzero(mask)
    m, k, cnt = ops.m[fused], ops.k[fused], ops.count[fused]
    d_v = ops.n[fused]
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty op (zero rows) has no width to recover
        d_qk = np.where(cnt * m * k > 0, ops.macs[fused] / (cnt * m * k) - d_v, 0.0)
    cols = {f: np.array(getattr(ops, f), copy=True) for f in INT_COLUMNS}
    # qk in place: m × keys by d_qk, reads Q and K, its scores stay on chip (no output bytes);
    # av appended: m × d_v by keys, reads V, writes O. Bytes of the two add up to the fused row's.
    kv = ops.kv_read_elems[fused]
    v_part = np.where(kv > 0, np.floor(kv * d_v / (d_qk + d_v)), 0.0)
    cols["n"][fused], cols["k"][fused], cols["macs"][fused] = k, d_qk, cnt * m * k * d_qk
    cols["kv_read_elems"][fused], cols["act_out_elems"][fused] = kv - v_part, 0.0
    av = {
        "m": m,
        "n": d_v,
        "k": k,
        "count": cnt,
        "macs": cnt * m * k * d_v,
        "vector_ops": 0 * m,
        "weight_elems": 0 * m,
        "act_in_elems": 0 * m,
        "act_out_elems": ops.act_out_elems[fused],
        "kv_read_elems": v_part,
        "kv_write_elems": 0 * m,
    }
    merged = {f: np.concatenate([cols[f], av[f]]) for f in cols}
    view = replace(
        ops,
        name=np.concatenate([ops.name, ops.name[fused]]),
        kind=np.concatenate([ops.kind, ops.kind[fused]]),
        op=np.concatenate([ops.op, np.full(fused.size, "av")]),
        **merged,
    )
    return view, fused


_NO_ROWS = np.flatnonzero(np.zeros(0, dtype=bool))  # no fused rows: read-only, shared
_NO_ROWS.flags.writeable = False


def family_view(family: Family, ops: OpColumns) -> tuple[OpColumns, np.ndarray]:
    """`compute_view` for a family without its own fused-attention kernel model; the ops as given otherwise."""
    if getattr(family, "fused_attention_kernel", False):
        return ops, np.zeros(0, dtype=np.int64)
    return compute_view(ops)


def fold(values: ArrayLike, n_ops: int, fused: np.ndarray) -> np.ndarray:
    """Per-op values of a compute view back onto the original ops (av parts added to their fused row)."""
    values = np.asarray(values, dtype=np.float64)
    if fused.size == 0:
        return values
    out = np.array(values[..., :n_ops], copy=True)
    out[..., fused] += values[..., n_ops:]
    return out


def unfold(values: ArrayLike, n_ops: int, fused: np.ndarray) -> np.ndarray | float:
    """Per-op values of the original ops on their compute view, for values that belong to an op as a whole (its
    spilled bytes, Family.spill_bytes): a fused row's value goes to its qk part (in place: the part that runs
    first), its appended av part takes none, so `fold` gives the values back. Without fused rows, or for a
    scalar 0, the values as given."""
    if fused.size == 0 or (np.ndim(values) == 0 and not values):
        return values  # type: ignore[return-value]  # a scalar stays a scalar (ArrayLike is wider than float)
    arr = np.asarray(values, dtype=np.float64)
    arr = np.broadcast_to(arr, np.broadcast_shapes(arr.shape, (n_ops,)))
    return np.concatenate([arr, np.zeros(arr.shape[:-1] + (fused.size,))], axis=-1)
