"""numba kernels of the accuracy methods, imported on first use (hwsim.accuracy.hadamard.rotate)."""

from __future__ import annotations

import numpy as np
from numba import njit

_LANES = 8  # rows transformed together: every butterfly and core step is one operation on 8 rows


@njit(cache=True)
def hadamard_rows(x: np.ndarray, core: np.ndarray, pre: np.ndarray, post: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[r] = ((x[r] · pre) @ (H2^{⊗k} ⊗ core)) · post for every row r, in float64: the Sylvester
    part as k butterfly passes (a, b) → (a + b, a − b), the core (m × m, the fastest-varying index) as a
    small product per m-slice: n·(log2(n/m) + m) operations instead of n². Rows go through in blocks of
    8 held column by column (buf[j, t] = row t's column j), so each step is one vector operation over
    the block's rows whatever the butterfly's stride. pre/post: per-column factors (pre empty: none)."""
    rows, n = x.shape
    m = core.shape[0]
    p = n // m
    if p * m != n or p & (p - 1) != 0 or out.shape[0] != rows or out.shape[1] != n:
        raise ValueError("hadamard_rows: n must be a power of two times the core order, out shaped like x")
    buf = np.zeros((n, _LANES))
    tmp = np.empty((m, _LANES))
    has_pre = pre.shape[0] > 0
    for r0 in range(0, rows, _LANES):
        nr = min(_LANES, rows - r0)
        for t in range(nr):
            if has_pre:
                for j in range(n):
                    buf[j, t] = x[r0 + t, j] * pre[j]
            else:
                for j in range(n):
                    buf[j, t] = x[r0 + t, j]
        h = 1
        while h < p:  # pairs (j, j + h·m) within blocks of 2·h·m columns
            span = h * m
            for b0 in range(0, n, 2 * span):
                for j in range(b0, b0 + span):
                    for t in range(_LANES):
                        a = buf[j, t]
                        c = buf[j + span, t]
                        buf[j, t] = a + c
                        buf[j + span, t] = a - c
            h *= 2
        if m > 1:
            for b0 in range(0, n, m):
                for c in range(m):
                    for t in range(_LANES):
                        tmp[c, t] = 0.0
                for i in range(m):
                    for c in range(m):
                        f = core[i, c]
                        for t in range(_LANES):
                            tmp[c, t] += buf[b0 + i, t] * f
                for c in range(m):
                    for t in range(_LANES):
                        buf[b0 + c, t] = tmp[c, t]
        for t in range(nr):
            for j in range(n):
                out[r0 + t, j] = buf[j, t] * post[j]
    return out
