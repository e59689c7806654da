"""How a GEMM instance is blocked over the backing store (no numba: the analytical engine uses it too).

The held side R is cut into super-blocks (one buffer each) and the streamed side S passes R once per
super-block (hwsim.engine.memory's fetch rule); hwsim.sim.tiles.tile_grid builds every tile of that
blocking, `pipeline_ends` only its first and last tiles.
"""
from __future__ import annotations

import numpy as np

K_STEP, MAX_K_STEPS = 64, 64  # GPU GEMMs: CTAs step through k 64 at a time (assumed: cuBLAS-like k tile)


def k_slices(k):
    """Slices a streamed GEMM's reduction is cut into (GPU CTAs stepping through k): k // K_STEP, 1 to
    MAX_K_STEPS. Broadcasts over arrays."""
    return np.clip(np.asarray(k, dtype=np.float64) // K_STEP, 1, MAX_K_STEPS)


def streams_b(a_bytes, b_bytes, a_fetch, b_fetch, cap_a, cap_b):
    """Whether A is the operand held per super-block and B the one streamed past it (else the reverse):
    B re-read, or nothing re-read and A the operand to hold (it fits, and B does not or is larger).
    Fetch 0 = resident on chip. Broadcasts over arrays."""
    a_bytes, b_bytes, a_fetch, b_fetch = (np.asarray(x, dtype=np.float64) for x in (a_bytes, b_bytes, a_fetch, b_fetch))
    fits_a = (a_bytes <= cap_a) | (a_fetch == 0)
    fits_b = (b_bytes <= cap_b) | (b_fetch == 0)
    return (b_fetch > 1) | ((a_fetch <= 1) & fits_a & (np.logical_not(fits_b) | (a_bytes <= b_bytes)))


def pipeline_ends(m, n, tile_m, tile_n, a_bytes, b_bytes, c_bytes, a_fetch=1.0, b_fetch=1.0,
                  cap_a=np.inf, cap_b=np.inf, k_slices=1.0):
    """(first tile's load, last tile's store) in bytes, and the last tile's share of the outputs: what a
    double-buffered tile pipeline cannot overlap (the load before the first tile computes, the store after
    the last; the last tile's compute after the last load). The same blocking as tile_grid (its first and
    last tiles), vectorised over ops and design points; arguments as tile_grid's, per GEMM instance.
    `k_slices`: each tile streams its reduction in that many slices (GPU CTAs step through k), so its
    load and compute come in slices and only the first load and the last compute are exposed."""
    m, n = np.asarray(m, dtype=np.float64), np.asarray(n, dtype=np.float64)
    tm, tn = np.minimum(tile_m, m), np.minimum(tile_n, n)
    b_streamed = streams_b(a_bytes, b_bytes, a_fetch, b_fetch, cap_a, cap_b)
    f = np.maximum(np.floor(np.where(b_streamed, b_fetch, np.maximum(a_fetch, 1))), 1)

    def pick(x, y) -> np.ndarray:  # held side R, streamed side S
        return np.where(b_streamed, x, y)

    lr, tr, r_bytes, r_fetch = pick(m, n), pick(tm, tn), pick(a_bytes, b_bytes), pick(a_fetch, b_fetch)
    ls, ts, s_bytes, s_fetch = pick(n, m), pick(tn, tm), pick(b_bytes, a_bytes), pick(b_fetch, a_fetch)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.minimum(tr, lr / f)  # rows of R in the first piece (first R tile ∩ first super-block)
        last = np.minimum(lr - tr * (np.ceil(lr / tr) - 1), lr / f)  # last R tile ∩ last super-block
        s_last = ls - ts * (np.ceil(ls / ts) - 1)
        load = r_bytes * np.minimum(r_fetch, 1) * first / lr + s_bytes * np.minimum(s_fetch, 1) * ts / ls
        share = last * s_last / (lr * ls)
        store = c_bytes * share
    return _finite(load) / k_slices, _finite(store), _finite(share) / k_slices


def _finite(x):
    """x with NaN and inf (empty ops: 0 / 0) as 0 (np.nan_to_num, without its cost on this hot path)."""
    return np.where(np.isfinite(x), x, 0.0)
