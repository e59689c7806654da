"""Fold unfused attention (qk, softmax, av rows) into one fused-attention kernel per layer.

A family that runs attention as one FlashAttention-style kernel (`Family.attention = "fused"`, e.g.
the GPU) is costed on the fused form of docs/interfaces.md ("Fused attention"): Q in, K and V read
once per (sequence, KV head), O out, the score matrix never leaves the chip. Traces that already carry
`attn_fused` rows pass unchanged. Unfused traces are rewritten *row for row*: the `qk` row becomes
the fused kernel and the `softmax` and `av` rows become empty (no work, no bytes, no kernel), so
per-op results stay aligned with the trace's rows (allocation sums them by row).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwsim.core.ops import INT_COLUMNS

ROLES = ("qk", "softmax", "av")


def fold_attention(df: pd.DataFrame) -> pd.DataFrame:
    """The ops table with every layer's qk/softmax/av triple folded into its qk row (module docstring);
    a table without unfused attention (or without `op`/`layer` columns) is returned as is."""
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
        occ = pd.Series(list(zip(layer[idx], prefix[idx]))).groupby(lambda i: (layer[idx][i], prefix[idx][i])).cumcount()
        key[role] = pd.Series(np.arange(len(idx)), index=pd.MultiIndex.from_arrays([layer[idx], prefix[idx], occ.to_numpy()]))
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
        "weight_elems": cols["weight_elems"][qk] + cols["weight_elems"][av],
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
    op_col[qk] = "attn_fused"
    out["op"] = op_col
    return out
