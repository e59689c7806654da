"""numba kernels: one fused pass per group row, x / scale → element grid → × scale.

Element kinds share one row loop so every format family gets the same grouping, zero-point and
stochastic-rounding machinery. `u < 0` means round to nearest (ties to even; on lookup grids ties go
to the lower value, as in BitMoD's reference quantizer); `u ∈ [0, 1)` is the
uniform draw of stochastic rounding (round up with probability equal to the fractional distance).
Minifloat rounding works on the float64 bit pattern of the scaled value (exact, no log/exp calls).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from hwsim.formats.kernels import KIND_GRID, KIND_INT, KIND_MINIFLOAT

_F64_MANT = 52
_TWO52 = 2.0**52
_CHUNK = 2048
_BUCKETS = 1024
_RNE_MAGIC = 1.5 * 2.0**52


@njit(cache=True, inline="always")
def _round(a, u):
    if u < 0.0:
        return np.rint(a)
    return math.floor(a + u)


@njit(cache=True, inline="always")
def _minifloat_row(buf, noise_row, sr, p, cbits):
    """Round buf (float64, scaled values) in place to the minifloat described by p.

    Branch-free: the rounding quantum of each value is 2^(max(e, emin) - M), found from the float64
    exponent field; adding and subtracting C = quantum·2^52 rounds to that quantum, ties to even,
    for normals and subnormals alike. cbits is int64 scratch of buf's length."""
    mbits = int(p[0])
    emin = int(p[1])
    maxv, sat, sub, has_inf = p[2], p[3] != 0.0, p[4] != 0.0, p[5] != 0.0
    overflow = np.inf if has_inf else np.nan
    tiny = math.ldexp(1.0, emin)
    field_lo = emin + 1023
    field_hi = 2046 - (_F64_MANT - mbits)  # Inf/NaN inputs: keep C finite
    ib = buf.view(np.int64)
    cf = cbits.view(np.float64)
    n = buf.shape[0]
    for j in range(n):
        f = min(max((ib[j] >> _F64_MANT) & 0x7FF, field_lo), field_hi)
        cbits[j] = (f + _F64_MANT - mbits) << _F64_MANT
    for j in range(n):
        y = buf[j]
        a = abs(y)
        c = cf[j]
        if sr:
            step = c * (1.0 / _TWO52)
            q = math.floor(a / step + noise_row[j]) * step
        else:
            q = (a + c) - c
        if not sub and a < tiny:  # no subnormals: nearest of 0 and the smallest normal
            q = _round(a / tiny, noise_row[j] if sr else -1.0) * tiny
        if q > maxv:
            q = maxv if sat else overflow
        buf[j] = math.copysign(q, y)


@njit(cache=True)
def grid_lookup(grid):
    """Midpoints of a sorted grid and a bucket table over [grid[0], grid[-1]]: bucket b starts at
    code lut[b], so the nearest-code search needs at most a step or two from there."""
    mids = (grid[1:] + grid[:-1]) * 0.5
    lo = grid[0]
    width = (grid[-1] - lo) / _BUCKETS if grid.shape[0] > 1 else 1.0
    lut = np.zeros(_BUCKETS + 1, dtype=np.int64)
    c = 0
    for b in range(_BUCKETS + 1):
        edge = lo + b * width
        while c < mids.shape[0] and mids[c] < edge:
            c += 1
        lut[b] = c
    return mids, lut, lo, 1.0 / width


@njit(cache=True, inline="always")
def _grid_nearest(y, g, mids, lut, lo, inv_w):
    """Nearest grid value; a tie (y exactly on a midpoint) goes to the lower value. NaN → NaN.
    Written without early returns: they stop LLVM from keeping this loop tight (5× slower)."""
    nm = mids.shape[0]
    t = (y - lo) * inv_w
    t = min(max(t, 0.0), lut.shape[0] - 1.0) if y == y else 0.0
    c = max(lut[int(t)] - 1, 0)  # the bucket edge may sit just above y after rounding
    while c < nm and y > mids[c]:
        c += 1
    q = g[c]
    return q if y == y else y


@njit(cache=True, inline="always")
def _grid_stochastic(y, u, g):
    n = g.shape[0]
    if y != y:
        return y
    if y <= g[0]:
        return g[0]
    if y >= g[n - 1]:
        return g[n - 1]
    lo = 0
    while g[lo + 1] <= y:
        lo += 1
    a = g[lo]
    b = g[lo + 1]
    return b if u < (y - a) / (b - a) else a


@njit(cache=True, inline="always")
def _int_row(buf, zbuf, noise_row, sr, p):
    """q = clamp(round(y) + z, qmin, qmax) - z, i.e. round(y) clamped to [qmin - z, qmax - z]: the
    zero point is added after rounding (adding it before changes ties when z is odd)."""
    qmin, qmax, step = p[0], p[1], p[2]
    inv = 1.0 / step  # steps are powers of two: exact
    for j in range(buf.shape[0]):
        v = buf[j] * inv
        lo = qmin - zbuf[j]
        hi = qmax - zbuf[j]
        if v < lo:  # clamping to integer bounds first commutes with rounding
            v = lo
        elif v > hi:
            v = hi
        if sr:
            v = math.floor(v + noise_row[j])
        else:
            v = (v + _RNE_MAGIC) - _RNE_MAGIC  # round half to even for |v| < 2^51, no libm call
        buf[j] = v * step


@njit(cache=True, inline="always")
def _element_row(buf, zbuf, noise_row, sr, kind, p, grid, look, cbits):
    """Round one row of scaled values in place (one tight loop per element kind)."""
    if kind == KIND_MINIFLOAT:
        _minifloat_row(buf, noise_row, sr, p, cbits)
    elif kind == KIND_INT:
        _int_row(buf, zbuf, noise_row, sr, p)
    elif kind == KIND_GRID and sr:
        for j in range(buf.shape[0]):
            buf[j] = _grid_stochastic(buf[j], noise_row[j], grid)
    elif kind == KIND_GRID:
        for j in range(buf.shape[0]):
            buf[j] = _grid_nearest(buf[j], grid, look[0], look[1], look[2], look[3])
    else:
        for j in range(buf.shape[0]):
            y = buf[j]
            if y == y:
                buf[j] = 1.0 if y >= 0.0 else -1.0


@njit(cache=True)
def quantize_rows(x, scale, zero, kind, p, grid, noise, out):
    """out[i, j] = scale[i] · element(x[i, j] / scale[i]; zero[i]) for a (groups × group_size)
    array, streamed in cache-sized chunks that may span rows. The zero point (asymmetric INT) only
    moves the clamping bounds. A zero result keeps the sign of its input (−0.0 stays −0.0)."""
    rows, cols = x.shape
    total = rows * cols
    xf = x.reshape(total)
    of = out.reshape(total)
    sr = noise.shape[0] > 0
    nf = noise.reshape(noise.size)
    look = grid_lookup(grid)
    buf_all = np.empty(min(total, _CHUNK))
    zbuf_all = np.empty(buf_all.shape[0])
    cbits = np.empty(buf_all.shape[0], dtype=np.int64)
    i_in = j_in = i_out = j_out = 0
    for k0 in range(0, total, _CHUNK):
        n = min(_CHUNK, total - k0)
        buf = buf_all[:n]
        zbuf = zbuf_all[:n]
        for k in range(n):
            buf[k] = xf[k0 + k] / scale[i_in]
            zbuf[k] = zero[i_in]
            j_in += 1
            if j_in == cols:
                j_in = 0
                i_in += 1
        _element_row(buf, zbuf, nf[k0:k0 + n] if sr else nf, sr, kind, p, grid, look, cbits[:n])
        for k in range(n):
            v = buf[k] * scale[i_out]
            of[k0 + k] = v if v != 0.0 else math.copysign(0.0, xf[k0 + k])
            j_out += 1
            if j_out == cols:
                j_out = 0
                i_out += 1
    return out


@njit(cache=True)
def quantize_rows_best(x, scales, grids, noise, out):
    """Mixture of grids (BitMoD): each row keeps the grid whose nearest-rounded row has the lowest
    squared error; scales[v, i] is row i's scale under grid v. Returns the chosen grid per row.
    With stochastic rounding the choice is still made on nearest rounding and only then the row is
    rounded stochastically on the chosen grid: choosing among noisy draws by their error would
    favour draws that fell toward zero (a bias of ~0.09 steps near amax)."""
    rows, cols = x.shape
    nvar = grids.shape[0]
    sr = noise.shape[0] > 0
    p = np.zeros(1)
    looks = [grid_lookup(grids[v]) for v in range(nvar)]
    buf = np.empty(cols)
    zbuf = np.zeros(cols)
    nrow = np.empty(0)
    cbits = np.empty(0, dtype=np.int64)
    choice = np.zeros(rows, dtype=np.int64)
    for i in range(rows):
        best = np.inf
        for v in range(nvar):
            s = scales[v, i]
            for j in range(cols):
                buf[j] = x[i, j] / s
            _element_row(buf, zbuf, nrow, False, KIND_GRID, p, grids[v], looks[v], cbits)
            err = 0.0
            for j in range(cols):
                d = buf[j] * s - x[i, j]
                err += d * d
            if err < best or v == 0:
                best = err
                choice[i] = v
                for j in range(cols):
                    out[i, j] = buf[j] * s
        if sr:
            v = choice[i]
            s = scales[v, i]
            for j in range(cols):
                buf[j] = x[i, j] / s
            _element_row(buf, zbuf, noise[i], True, KIND_GRID, p, grids[v], looks[v], cbits)
            for j in range(cols):
                out[i, j] = buf[j] * s
        for j in range(cols):
            if out[i, j] == 0.0:
                out[i, j] = math.copysign(0.0, x[i, j])
    return choice


@njit(cache=True)
def row_stats(x, mode):
    """Per row: mode 0 → max|x|, 1 → min (≤ 0), 2 → max (≥ 0), 3 → Σ|x|; NaN anywhere → NaN."""
    rows, cols = x.shape
    res = np.empty(rows)
    for i in range(rows):
        lo = 0.0
        hi = 0.0
        tot = 0.0
        for j in range(cols):  # NaN fails every comparison, so it survives only in the sum
            v = float(x[i, j])
            lo = v if v < lo else lo
            hi = v if v > hi else hi
            tot += abs(v)
        if tot != tot:
            res[i] = np.nan
        elif mode == 0:
            res[i] = max(hi, -lo)
        elif mode == 1:
            res[i] = lo
        elif mode == 2:
            res[i] = hi
        else:
            res[i] = tot
    return res


@njit(cache=True)
def gptq_block(wt, u1, qt, et, scale, zero, choice, gidx, kind, p, grids, mids, luts, los, inv_ws):
    """GPTQ's inner loop over one block of columns, transposed so a column of W is a contiguous row:
    wt (nb × out) holds the block's weights still to quantize, u1 (nb × nb) the block's part of the
    upper Cholesky factor of H⁻¹, scale/zero/choice (groups × out) the fixed scales, zero points and
    grid choices (BitMoD) per group, gidx[i] column i's group. Column i is rounded by the element
    kernel into qt[i]; its error (w − q)/u1[i, i] goes to et[i] and onto the later columns of the block."""
    nb, rows = wt.shape
    one_grid = grids.shape[0] == 1
    buf = np.empty(rows)
    zb = np.empty(rows)
    cb = np.empty(rows, dtype=np.int64)
    nrow = np.empty(0)
    look0 = (mids[0], luts[0], los[0], inv_ws[0])
    for i in range(nb):
        d = u1[i, i]
        g = gidx[i]
        for r in range(rows):
            buf[r] = wt[i, r] / scale[g, r]
            zb[r] = zero[g, r]
        if one_grid:  # the whole column through the element kernel at once
            _element_row(buf, zb, nrow, False, kind, p, grids[0], look0, cb)
        else:  # BitMoD: each weight on its group's grid
            for r in range(rows):
                v = choice[g, r]
                _element_row(buf[r:r + 1], zb[r:r + 1], nrow, False, kind, p, grids[v],
                             (mids[v], luts[v], los[v], inv_ws[v]), cb[r:r + 1])
        for r in range(rows):
            q = buf[r] * scale[g, r]
            qt[i, r] = q
            et[i, r] = (wt[i, r] - q) / d
        for j in range(i + 1, nb):
            c = u1[i, j]
            for r in range(rows):
                wt[j, r] -= et[i, r] * c


@njit(cache=True)
def transpose32(a):
    """a.T as a new C-contiguous float32 array, copied in 16 × 16 tiles (rows of the output written
    contiguously): numpy's strided copy of a 4096 × 4096 transpose is 3-4× slower on the 2-core sandbox
    (a power-of-two stride maps every row to the same cache sets)."""
    n, m = a.shape
    out = np.empty((m, n), np.float32)
    for i0 in range(0, n, 16):
        for j0 in range(0, m, 16):
            for j in range(j0, min(j0 + 16, m)):
                for i in range(i0, min(i0 + 16, n)):
                    out[j, i] = a[i, j]
    return out


@njit(cache=True)
def lowrank_inverse_cholesky(b, m0, lam):
    """Upper Cholesky factor of H⁻¹ = (I − B·M₀·Bᵀ)/λ (H = λI + low rank, B n × m) as
    U = diag(u) + strict_upper(P·Bᵀ): the Schur complement after k rows keeps the form
    (I − B_k M_k B_kᵀ)/λ with M_{k+1} = M_k + (M_k b_k)(M_k b_k)ᵀ/(λ σ_k), σ_k = (1 − b_k·M_k b_k)/λ,
    so row k of U beyond the diagonal is p_k·B with p_k = −M_k b_k/(λ √σ_k). O(n·m²) instead of O(n³)."""
    n, m = b.shape
    mk = m0.copy()
    u = np.empty(n)
    p = np.empty((n, m))
    v = np.empty(m)
    for k in range(n):
        for i in range(m):
            acc = 0.0
            for j in range(m):
                acc += mk[i, j] * b[k, j]
            v[i] = acc
        bv = 0.0
        for i in range(m):
            bv += b[k, i] * v[i]
        sigma = (1.0 - bv) / lam
        uk = math.sqrt(sigma)
        u[k] = uk
        for i in range(m):
            p[k, i] = -v[i] / (lam * uk)
        c = 1.0 / (lam * sigma)
        for i in range(m):
            for j in range(m):
                mk[i, j] += v[i] * v[j] * c
    return u, p
