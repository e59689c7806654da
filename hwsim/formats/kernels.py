"""numba kernels: one fused pass per group row, x / scale → element grid → × scale.

Element kinds share one row loop so every format family gets the same grouping, zero-point and
stochastic-rounding machinery. `u < 0` means round to nearest (ties to even); `u ∈ [0, 1)` is the
uniform draw of stochastic rounding (round up with probability equal to the fractional distance).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

KIND_INT = 0  # params: qmin, qmax, step (codes on a uniform grid, optional zero point)
KIND_MINIFLOAT = 1  # params: mantissa bits, emin, max value, saturate, subnormals, has_inf
KIND_GRID = 2  # an arbitrary sorted grid (NF4, BitMoD variants)
KIND_SIGN = 3  # binary: +1 for y >= 0, -1 otherwise


@njit(cache=True, inline="always")
def _round(a, u):
    if u < 0.0:
        return np.rint(a)
    return math.floor(a + u)


@njit(cache=True, inline="always")
def _int(y, u, z, qmin, qmax, step):
    v = _round(y / step, u) + z
    if v < qmin:
        v = qmin
    elif v > qmax:
        v = qmax
    return (v - z) * step


@njit(cache=True, inline="always")
def _minifloat(y, u, mbits, emin, maxv, sat, sub, has_inf):
    if y != y:
        return y
    a = abs(y)
    if a == np.inf:
        if sat:
            return math.copysign(maxv, y)
        return y if has_inf else np.nan
    m, e = math.frexp(a)  # a = m·2^e with m in [0.5, 1)
    ex = e - 1
    if ex < emin:
        if not sub:  # no subnormals: nearest of 0 and the smallest normal
            tiny = math.ldexp(1.0, emin)
            return math.copysign(_round(a / tiny, u) * tiny, y)
        ex = emin
    inv_step = math.ldexp(1.0, mbits - ex)  # powers of two: exact scaling
    q = _round(a * inv_step, u) / inv_step
    if q > maxv:
        if sat:
            q = maxv
        elif has_inf:
            q = np.inf
        else:
            q = np.nan
    return math.copysign(q, y)


@njit(cache=True, inline="always")
def _grid(y, u, g):
    n = g.shape[0]
    if y != y:
        return y
    if y <= g[0]:
        return g[0]
    if y >= g[n - 1]:
        return g[n - 1]
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if g[mid] <= y:
            lo = mid
        else:
            hi = mid
    a = g[lo]
    b = g[hi]
    if u < 0.0:
        d = (y - a) - (b - y)
        if d < 0.0:
            return a
        if d > 0.0:
            return b
        return a if lo % 2 == 0 else b  # tie: the even code
    return b if u < (y - a) / (b - a) else a


@njit(cache=True)
def quantize_rows(x, scale, zero, kind, p, grid, noise, out):
    """out[i, j] = scale[i] · element(x[i, j] / scale[i]) for a (groups, group_size) array."""
    rows, cols = x.shape
    sr = noise.shape[0] > 0
    for i in range(rows):
        s = scale[i]
        z = zero[i]
        for j in range(cols):
            u = noise[i, j] if sr else -1.0
            y = x[i, j] / s
            if kind == KIND_INT:
                q = _int(y, u, z, p[0], p[1], p[2])
            elif kind == KIND_MINIFLOAT:
                q = _minifloat(y, u, p[0], p[1], p[2], p[3] != 0.0, p[4] != 0.0, p[5] != 0.0)
            elif kind == KIND_GRID:
                q = _grid(y, u, grid)
            else:
                q = y if y != y else (1.0 if y >= 0.0 else -1.0)
            out[i, j] = q * s
    return out


@njit(cache=True)
def row_sq_error(a, b):
    """Σ_j (a[i, j] - b[i, j])² per row, accumulated in float64."""
    rows, cols = a.shape
    err = np.zeros(rows)
    for i in range(rows):
        acc = 0.0
        for j in range(cols):
            d = float(a[i, j]) - float(b[i, j])
            acc += d * d
        err[i] = acc
    return err
