"""Phase-level roofline bounds: the time no design can beat, and the decode tokens/s ceiling.

- compute_time_s = Σ ops / compute roof of each op's kind; memory_time_s_<level> = Σ bytes / bandwidth
  (memory_time_s: the slowest level).
- time_lower_bound_s = max(compute time, every level's memory time): the physical bound of the phase
  (work may overlap across ops); op_by_op_lower_bound_s = Σ per-op max (ops run one after another).
- bytes per token = (weight bytes + KV bytes read in this step) / tokens produced in this step
  (batch × new tokens per sequence), compulsory backing-store bytes at the storage widths of the
  formats (scales included; operands a family keeps resident on chip move none); tokens_per_s_ceiling = backing bandwidth / bytes per token — for decode
  the limit every design is measured against (activations and KV writes, a few kB per token, are left
  out of this ceiling as is customary; they are in the time bounds).
- attained: cost() totals; fraction_of_roof = time_lower_bound_s / attained_s.
"""

from __future__ import annotations

import math

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # analysis imports this module
    import pandas as pd

    from hwsim.roofline.analysis import Roofs
    from hwsim.workload.trace import Trace


def _tokens(trace: Trace | pd.DataFrame) -> float:
    """Tokens produced by one pass (batch × new tokens per sequence), or NaN for a bare ops table."""
    if hasattr(trace, "batch") and hasattr(trace, "tokens"):
        return float(trace.batch * trace.tokens)
    return math.nan


def phase_summary(
    roofs: Roofs, base: Mapping[str, Any] | pd.DataFrame, levels: dict, b_moved: np.ndarray, trace: Trace | pd.DataFrame
) -> dict:
    """`base`: the per-op columns (a mapping of arrays or a DataFrame); `b_moved`: backing-store bytes of each
    op's B operand (weights or KV read), one pass each."""
    work = np.asarray(base["ops"])
    compute_s = float(np.sum(work / np.asarray(base["compute_roof_ops_per_s"])))
    memory_s = {lv: float(levels[lv].sum() / bw) for lv, bw in roofs.bandwidth.items()}
    bound_s = max(compute_s, *memory_s.values())
    attained_s = float(np.sum(np.asarray(base["attained_s"])))
    att = np.asarray(base["kind"]) == "attention"
    weight_bytes, kv_bytes = float(b_moved[~att].sum()), float(b_moved[att].sum())
    tokens = _tokens(trace)
    bytes_per_token = (weight_bytes + kv_bytes) / tokens
    total_ops = float(work.sum())
    out = {
        "arch": roofs.arch,
        "family": roofs.family,
        "precision": roofs.precision,
        "phase": getattr(trace, "phase", None),
        "batch": getattr(trace, "batch", None),
        "tokens": tokens,
        "ops": total_ops,
        "linear_roof_ops_per_s": roofs.linear_ops_per_s,
        "backing_level": roofs.backing,
        "backing_bandwidth_Bps": roofs.bandwidth[roofs.backing],
        "ridge_intensity": roofs.ridge(roofs.backing),
        "intensity": total_ops / float(levels[roofs.backing].sum()),
        "compute_time_s": compute_s,
        "memory_time_s": max(memory_s.values()),
        **{f"memory_time_s_{lv}": t for lv, t in memory_s.items()},
        "time_lower_bound_s": bound_s,
        "bound": "compute" if compute_s >= max(memory_s.values()) else "memory",
        "op_by_op_lower_bound_s": float(np.sum(np.asarray(base["time_lower_bound_s"]))),
        "attained_s": attained_s,
        "attainable_ops_per_s": total_ops / bound_s,
        "attained_ops_per_s": total_ops / attained_s,
        "fraction_of_roof": bound_s / attained_s,
        "weight_bytes": weight_bytes,
        "kv_read_bytes": kv_bytes,
        "bytes_per_token": bytes_per_token,
        "tokens_per_s_ceiling": roofs.bandwidth[roofs.backing] / bytes_per_token,
        "tokens_per_s_bound": tokens / bound_s,
        "tokens_per_s_attained": tokens / attained_s,
    }
    return out
