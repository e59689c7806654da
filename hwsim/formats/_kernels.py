"""numba kernels: one fused pass per group row, x / scale → element grid → × scale.

Every element kind is a scalar function (inlined) applied in one loop per kind over a row, with the
row's scale, zero point and the element's parameters held in locals: the loops then compile to
straight-line, vectorised code with no scratch buffers. Every format family gets the same grouping,
zero-point and stochastic-rounding machinery. Nearest rounding ties to even (on lookup grids ties go
to the lower value, as in BitMoD's reference quantizer); stochastic rounding takes a uniform draw
u ∈ [0, 1) per value (round up with probability equal to the fractional distance). Minifloat
rounding works on the float64 bit pattern of the scaled value (exact, no log/exp calls).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from hwsim.formats.kernels import KIND_GRID, KIND_INT, KIND_MINIFLOAT

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numba.core.base import BaseContext as TargetContext
    from numba.core.typing.context import BaseContext
    from numba.core.typing.templates import Signature

    #: an @intrinsic's code generator: (target context, IR builder, signature, argument values) → value
    Codegen = Callable[[TargetContext, ir.IRBuilder, Signature, Sequence[ir.Value]], ir.Value]

#: grid_lookup's result: (midpoints, bucket table, first grid value, buckets per unit)
GridLookup = tuple[np.ndarray, np.ndarray, float, float]

_F64_MANT = 52
_TWO52 = 2.0**52
_CHUNK = 2048  # values per tile of the grid kernel (fits L1 with its scratch)
_BUCKETS = 1024
_SMALL_GRID = 32  # grids up to this many values take the compare-and-select passes
_RNE_MAGIC = 1.5 * 2.0**52


@intrinsic
def _bits(typingctx: BaseContext, x: types.Float) -> tuple[Signature, Codegen]:
    """The IEEE bit pattern of a float64 as int64 (a register move, no memory round trip)."""

    def codegen(
        context: TargetContext, builder: ir.IRBuilder, signature: Signature, args: Sequence[ir.Value]
    ) -> ir.Value:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx: BaseContext, b: types.Integer) -> tuple[Signature, Codegen]:
    def codegen(
        context: TargetContext, builder: ir.IRBuilder, signature: Signature, args: Sequence[ir.Value]
    ) -> ir.Value:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, inline="always")
def _minifloat_consts(p: np.ndarray) -> tuple[int, int, int, float, float, float, bool]:
    """(mantissa shift, exponent field bounds, smallest normal, max, overflow value, subnormals) of p."""
    mbits = int(p[0])
    emin = int(p[1])
    maxv, sat, sub, has_inf = p[2], p[3] != 0.0, p[4] != 0.0, p[5] != 0.0
    top = maxv if sat else (np.inf if has_inf else np.nan)
    field_hi = 2046 - (_F64_MANT - mbits)  # Inf/NaN inputs: keep the quantum finite
    return _F64_MANT - mbits, emin + 1023, field_hi, math.ldexp(1.0, emin), maxv, top, sub


@njit(cache=True, inline="always")
def _minifloat(
    y: float,
    u: float,
    sr: bool,
    shift: int,
    field_lo: int,
    field_hi: int,
    tiny: float,
    maxv: float,
    top: float,
    sub: bool,
) -> float:
    """y rounded to the minifloat. The rounding quantum is 2^(max(e, emin) - M), found from the
    float64 exponent field of y; adding and subtracting C = quantum·2^52 rounds to that quantum,
    ties to even, for normals and subnormals alike."""
    # numba's @intrinsic hides its typing-context argument from callers, which pass values where the
    # definition takes their numba types; its stubs know neither
    f = min(max((_bits(y) >> _F64_MANT) & 0x7FF, field_lo), field_hi)  # type: ignore[call-arg, arg-type]
    c = _from_bits((f + shift) << _F64_MANT)
    a = abs(y)
    if sr:
        step = c * (1.0 / _TWO52)
        q = math.floor(a / step + u) * step
        if not sub and a < tiny:  # no subnormals: 0 or the smallest normal
            q = math.floor(a / tiny + u) * tiny
    else:
        q = (a + c) - c
        if not sub and a < tiny:
            q = np.rint(a / tiny) * tiny
    q = top if q > maxv else q
    return math.copysign(q, y)


@njit(cache=True, inline="always")
def _int(y: float, u: float, sr: bool, lo: float, hi: float, step: float) -> float:
    """q = clamp(round(y) + z, qmin, qmax) - z as round(y) clamped to [lo, hi] = [qmin - z, qmax - z]:
    the zero point is added after rounding (adding it before changes ties when z is odd)."""
    v = y * (1.0 / step)  # steps are powers of two: exact
    if v < lo:  # clamping to integer bounds first commutes with rounding
        v = lo
    elif v > hi:
        v = hi
    if sr:
        v = math.floor(v + u)
    else:
        v = (v + _RNE_MAGIC) - _RNE_MAGIC  # round half to even for |v| < 2^51, no libm call
    return v * step


@njit(cache=True)
def grid_lookup(grid: np.ndarray) -> GridLookup:
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
def _grid_nearest(y: float, g: np.ndarray, mids: np.ndarray, lut: np.ndarray, lo: float, inv_w: float) -> float:
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


@njit(cache=True)
def _grid_select_row(buf: np.ndarray, g: np.ndarray, mids: np.ndarray, q: np.ndarray) -> None:
    """Nearest value of a small grid (NF4, BitMoD) for each entry of buf, in place: one pass per
    midpoint k sets q = g[k + 1] where y > mids[k]. Midpoints ascend, so q ends as g[number of
    midpoints strictly below y] and a tie goes to the lower value, as in _grid_nearest. A pass of
    one compare-and-select over the buffer vectorises, where a per-value search cannot. NaN compares
    false everywhere and is kept. q is float64 scratch of buf's length."""
    n = buf.shape[0]
    g0 = g[0]
    for j in range(n):
        q[j] = g0
    for k in range(mids.shape[0]):
        m = mids[k]
        gk = g[k + 1]
        for j in range(n):
            q[j] = gk if buf[j] > m else q[j]
    for j in range(n):
        y = buf[j]
        buf[j] = q[j] if y == y else y


@njit(cache=True, inline="always")
def _grid_stochastic(y: float, u: float, g: np.ndarray) -> float:
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


@njit(cache=True)
def _grid_row(
    buf: np.ndarray, noise: np.ndarray, sr: bool, g: np.ndarray, look: GridLookup, scratch: np.ndarray
) -> None:
    """Round a buffer of scaled values to grid g in place (nearest, or stochastic with noise)."""
    if sr:
        for j in range(buf.shape[0]):
            buf[j] = _grid_stochastic(buf[j], noise[j], g)
    elif g.shape[0] <= _SMALL_GRID:
        _grid_select_row(buf, g, look[0], scratch)
    else:
        for j in range(buf.shape[0]):
            buf[j] = _grid_nearest(buf[j], g, look[0], look[1], look[2], look[3])


@njit(cache=True, inline="always")
def _signed(v: float, x: float) -> float:
    """A dequantized zero keeps the sign of its input (−0.0 stays −0.0)."""
    return v if v != 0.0 else math.copysign(0.0, x)


@njit(cache=True, inline="always")
def _sign(y: float) -> float:
    """Binary element: +1 for y >= 0, -1 otherwise; NaN kept."""
    return y if y != y else (1.0 if y >= 0.0 else -1.0)


@njit(cache=True)
def _quantize_grid(x: np.ndarray, scale: np.ndarray, g: np.ndarray, noise: np.ndarray, out: np.ndarray) -> np.ndarray:
    """quantize_rows for grid elements: values are scaled into a buffer of tiles (several whole rows,
    or one piece of a long row), rounded there by _grid_row, and scaled back."""
    rows, cols = x.shape
    total = rows * cols
    xf = x.reshape(total)
    of = out.reshape(total)
    sr = noise.shape[0] > 0
    nf = noise.reshape(noise.size)
    look = grid_lookup(g)
    width = min(cols, _CHUNK)  # columns per tile
    per_tile = max(1, _CHUNK // cols) if cols <= _CHUNK else 1  # rows per tile
    size = max(min(total, per_tile * width), 1)
    buf_all = np.empty(size)
    scratch = np.empty(size)
    for r0 in range(0, rows, per_tile):
        r1 = min(r0 + per_tile, rows)
        for c0 in range(0, cols, width):
            w = min(c0 + width, cols) - c0
            n = (r1 - r0) * w
            start = r0 * cols + c0  # a tile is contiguous: whole rows, or part of one row
            buf = buf_all[:n]
            for r in range(r0, r1):
                s = scale[r]
                src = r * cols + c0
                dst = (r - r0) * w
                for j in range(w):
                    buf[dst + j] = xf[src + j] / s
            _grid_row(buf, nf[start : start + n] if sr else nf, sr, g, look, scratch[:n])
            for r in range(r0, r1):
                s = scale[r]
                src = r * cols + c0
                dst = (r - r0) * w
                for j in range(w):
                    of[src + j] = _signed(buf[dst + j] * s, xf[src + j])
    return out


@njit(cache=True)
def _quantize_grid16(x: np.ndarray, scale: np.ndarray, g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """quantize_rows for nearest rounding to a grid of at most 16 values (NF4, 3-4-bit lookup grids), in
    one pass per value like the INT and minifloat loops: the midpoints and grid values sit in scalars
    (padded with +inf midpoints), and 15 compare-and-selects in ascending order leave q = g[number of
    midpoints strictly below y], the same value (ties to the lower, NaN kept) as _grid_select_row. Only
    straight-line selects on scalars vectorise here (a loop over an array or tuple of midpoints does not):
    1.5× the tiled passes."""
    rows, cols = x.shape
    mp = np.full(15, np.inf)
    gp = np.full(16, g[g.shape[0] - 1])
    mp[: g.shape[0] - 1] = (g[1:] + g[:-1]) * 0.5
    gp[: g.shape[0]] = g
    m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14 = (
        mp[0],
        mp[1],
        mp[2],
        mp[3],
        mp[4],
        mp[5],
        mp[6],
        mp[7],
        mp[8],
        mp[9],
        mp[10],
        mp[11],
        mp[12],
        mp[13],
        mp[14],
    )
    g0, g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11, g12, g13, g14, g15 = (
        gp[0],
        gp[1],
        gp[2],
        gp[3],
        gp[4],
        gp[5],
        gp[6],
        gp[7],
        gp[8],
        gp[9],
        gp[10],
        gp[11],
        gp[12],
        gp[13],
        gp[14],
        gp[15],
    )
    for i in range(rows):
        s = scale[i]
        for j in range(cols):
            xv = x[i, j]
            y = xv / s
            q = g0
            q = g1 if y > m0 else q
            q = g2 if y > m1 else q
            q = g3 if y > m2 else q
            q = g4 if y > m3 else q
            q = g5 if y > m4 else q
            q = g6 if y > m5 else q
            q = g7 if y > m6 else q
            q = g8 if y > m7 else q
            q = g9 if y > m8 else q
            q = g10 if y > m9 else q
            q = g11 if y > m10 else q
            q = g12 if y > m11 else q
            q = g13 if y > m12 else q
            q = g14 if y > m13 else q
            q = g15 if y > m14 else q
            q = q if y == y else y
            out[i, j] = _signed(q * s, xv)
    return out


@njit(cache=True)
def _quantize_minifloat(
    x: np.ndarray, scale: np.ndarray, p: np.ndarray, noise: np.ndarray, out: np.ndarray
) -> np.ndarray:
    rows, cols = x.shape
    shift, flo, fhi, tiny, maxv, top, sub = _minifloat_consts(p)
    for i in range(rows):
        s = scale[i]
        if noise.shape[0] == 0:
            for j in range(cols):
                q = _minifloat(x[i, j] / s, 0.0, False, shift, flo, fhi, tiny, maxv, top, sub)
                out[i, j] = _signed(q * s, x[i, j])
        else:
            for j in range(cols):
                q = _minifloat(x[i, j] / s, noise[i, j], True, shift, flo, fhi, tiny, maxv, top, sub)
                out[i, j] = _signed(q * s, x[i, j])
    return out


@njit(cache=True)
def _quantize_int(
    x: np.ndarray, scale: np.ndarray, zero: np.ndarray, p: np.ndarray, noise: np.ndarray, out: np.ndarray
) -> np.ndarray:
    rows, cols = x.shape
    qmin, qmax, step = p[0], p[1], p[2]
    for i in range(rows):
        s = scale[i]
        lo, hi = qmin - zero[i], qmax - zero[i]
        if noise.shape[0] == 0:
            for j in range(cols):
                out[i, j] = _signed(_int(x[i, j] / s, 0.0, False, lo, hi, step) * s, x[i, j])
        else:
            for j in range(cols):
                out[i, j] = _signed(_int(x[i, j] / s, noise[i, j], True, lo, hi, step) * s, x[i, j])
    return out


@njit(cache=True)
def quantize_rows(
    x: np.ndarray,
    scale: np.ndarray,
    zero: np.ndarray,
    kind: int,
    p: np.ndarray,
    grid: np.ndarray,
    noise: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """out[i, j] = scale[i] · element(x[i, j] / scale[i]; zero[i]) for a C-contiguous (groups ×
    group_size) array. The zero point (asymmetric INT) only moves the clamping bounds; noise (x's
    shape, or 0 × 0 for nearest rounding) holds the stochastic-rounding draws. A zero result keeps
    the sign of its input. One compiled loop per element kind (in one function, LLVM left the
    minifloat loop unvectorised, 4× slower); the loops pass only scalars to the element functions
    (an array argument costs reference counting per call, 20× the rounding itself)."""
    if kind == KIND_GRID and grid.shape[0] <= 16 and noise.shape[0] == 0:
        return _quantize_grid16(x, scale, grid, out)
    if kind == KIND_GRID:
        return _quantize_grid(x, scale, grid, noise, out)
    if kind == KIND_MINIFLOAT:
        return _quantize_minifloat(x, scale, p, noise, out)
    if kind == KIND_INT:
        return _quantize_int(x, scale, zero, p, noise, out)
    rows, cols = x.shape
    for i in range(rows):  # sign
        s = scale[i]
        for j in range(cols):
            out[i, j] = _signed(_sign(x[i, j] / s) * s, x[i, j])
    return out


@njit(cache=True)
def quantize_rows_best(
    x: np.ndarray, scales: np.ndarray, grids: np.ndarray, noise: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Mixture of grids (BitMoD): each row keeps the grid whose nearest-rounded row has the lowest
    squared error; scales[v, i] is row i's scale under grid v. Returns the chosen grid per row.
    With stochastic rounding the choice is still made on nearest rounding and only then the row is
    rounded stochastically on the chosen grid: choosing among noisy draws by their error would
    favour draws that fell toward zero (a bias of ~0.09 steps near amax)."""
    rows, cols = x.shape
    nvar = grids.shape[0]
    sr = noise.shape[0] > 0
    looks = [grid_lookup(grids[v]) for v in range(nvar)]
    buf = np.empty(cols)
    scratch = np.empty(cols)
    no_noise = np.empty(0)
    choice = np.zeros(rows, dtype=np.int64)
    for i in range(rows):
        best = np.inf
        for v in range(nvar):
            s = scales[v, i]
            for j in range(cols):
                buf[j] = x[i, j] / s
            _grid_row(buf, no_noise, False, grids[v], looks[v], scratch)
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
            _grid_row(buf, noise[i], True, grids[v], looks[v], scratch)
            for j in range(cols):
                out[i, j] = buf[j] * s
        for j in range(cols):
            out[i, j] = _signed(out[i, j], x[i, j])
    return choice


@njit(cache=True)
def row_stats(x: np.ndarray, mode: int) -> np.ndarray:
    """Per row: mode 0 → max|x|, 1 → min (≤ 0), 2 → max (≥ 0), 3 → Σ|x|; NaN anywhere → NaN.
    Modes 0-2 keep four independent running extremes (exact in any order, and four chains run in
    parallel where one waits on the previous compare); mode 3 sums in order."""
    rows, cols = x.shape
    res = np.empty(rows)
    head = cols - cols % 4
    for i in range(rows):
        if mode == 3:
            tot = 0.0
            for j in range(cols):
                tot += abs(float(x[i, j]))
            res[i] = tot
            continue
        lo0 = lo1 = lo2 = lo3 = 0.0
        hi0 = hi1 = hi2 = hi3 = 0.0
        nan = False
        for j in range(0, head, 4):  # NaN fails every comparison: flagged separately
            v0, v1, v2, v3 = float(x[i, j]), float(x[i, j + 1]), float(x[i, j + 2]), float(x[i, j + 3])
            lo0 = v0 if v0 < lo0 else lo0
            lo1 = v1 if v1 < lo1 else lo1
            lo2 = v2 if v2 < lo2 else lo2
            lo3 = v3 if v3 < lo3 else lo3
            hi0 = v0 if v0 > hi0 else hi0
            hi1 = v1 if v1 > hi1 else hi1
            hi2 = v2 if v2 > hi2 else hi2
            hi3 = v3 if v3 > hi3 else hi3
            nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
        for j in range(head, cols):
            v = float(x[i, j])
            lo0 = v if v < lo0 else lo0
            hi0 = v if v > hi0 else hi0
            nan |= v != v
        lo = min(min(lo0, lo1), min(lo2, lo3))
        hi = max(max(hi0, hi1), max(hi2, hi3))
        if nan:
            res[i] = np.nan
        elif mode == 0:
            res[i] = max(hi, -lo)
        elif mode == 1:
            res[i] = lo
        else:
            res[i] = hi
    return res


@njit(cache=True)
def gptq_block(
    wt: np.ndarray,
    u1: np.ndarray,
    qt: np.ndarray,
    et: np.ndarray,
    scale: np.ndarray,
    zero: np.ndarray,
    choice: np.ndarray,
    gidx: np.ndarray,
    kind: int,
    p: np.ndarray,
    grids: np.ndarray,
    mids: np.ndarray,
    luts: np.ndarray,
    los: np.ndarray,
    inv_ws: np.ndarray,
) -> None:
    """GPTQ's inner loop over one block of columns, transposed so a column of W is a contiguous row:
    wt (nb × out) holds the block's weights still to quantize, u1 (nb × nb) the block's part of the
    upper Cholesky factor of H⁻¹, scale/zero/choice (groups × out) the fixed scales, zero points and
    grid choices (BitMoD) per group, gidx[i] column i's group. Column i is rounded by the element
    functions into qt[i]; its error (w − q)/u1[i, i] goes to et[i] and onto the later columns of the block."""
    nb, rows = wt.shape
    shift, flo, fhi, tiny, maxv, top, sub = (
        _minifloat_consts(p) if kind == KIND_MINIFLOAT else (0, 0, 0, 1.0, 0.0, 0.0, True)
    )
    qmin, qmax, step = (p[0], p[1], p[2]) if kind == KIND_INT else (0.0, 0.0, 1.0)
    buf = np.empty(rows)
    tmp = np.empty(rows)
    scratch = np.empty(rows)
    no_noise = np.empty(0)
    for i in range(nb):
        d = u1[i, i]
        g = gidx[i]
        if kind == KIND_MINIFLOAT:
            for r in range(rows):
                s = scale[g, r]
                buf[r] = _minifloat(wt[i, r] / s, 0.0, False, shift, flo, fhi, tiny, maxv, top, sub) * s
        elif kind == KIND_INT:
            for r in range(rows):
                s = scale[g, r]
                buf[r] = _int(wt[i, r] / s, 0.0, False, qmin - zero[g, r], qmax - zero[g, r], step) * s
        elif kind == KIND_GRID:  # each grid over the whole column; BitMoD keeps each weight's own grid
            for v in range(grids.shape[0]):
                for r in range(rows):
                    tmp[r] = wt[i, r] / scale[g, r]
                _grid_row(tmp, no_noise, False, grids[v], (mids[v], luts[v], los[v], inv_ws[v]), scratch)
                for r in range(rows):
                    buf[r] = tmp[r] * scale[g, r] if choice[g, r] == v else buf[r]
        else:
            for r in range(rows):
                s = scale[g, r]
                y = wt[i, r] / s
                buf[r] = (y if y != y else (1.0 if y >= 0.0 else -1.0)) * s
        for r in range(rows):
            qt[i, r] = buf[r]
            et[i, r] = (wt[i, r] - buf[r]) / d  # the float64 value, before qt rounds it
        for j in range(i + 1, nb):
            c = u1[i, j]
            for r in range(rows):
                wt[j, r] -= et[i, r] * c


@njit(cache=True)
def transpose32(a: np.ndarray) -> np.ndarray:
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
def lowrank_inverse_cholesky(b: np.ndarray, m0: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper Cholesky factor of H⁻¹ = (I − B·M₀·Bᵀ)/λ (H = λI + low rank, B n × m) as
    U = diag(u) + strict_upper(P·Bᵀ): the Schur complement after k rows keeps the form
    (I − B_k M_k B_kᵀ)/λ with M_{k+1} = M_k + (M_k b_k)(M_k b_k)ᵀ/(λ σ_k), σ_k = (1 − b_k·M_k b_k)/λ,
    so row k of U beyond the diagonal is p_k·B with p_k = −M_k b_k/(λ √σ_k). O(n·m²) instead of O(n³).

    One pass over M per row k: M stays exactly symmetric (the update adds (v_i·v_j)·c to (i, j) and
    (j, i) alike), so M_{k+1}·b_{k+1} is summed as the updated rows of M scaled by b_{k+1}[i], in order
    of i, right after each row is updated: every entry gets the same terms in the same order as a
    row-by-row dot product (same bits), the loops vectorise, and M is read once instead of twice."""
    n, m = b.shape
    mk = m0.copy()
    u = np.empty(n)
    p = np.empty((n, m))
    v = np.zeros(m)
    nxt = np.empty(m)
    for j in range(m):
        bj = b[0, j]
        for i in range(m):
            v[i] += mk[j, i] * bj
    for k in range(n):
        bv = 0.0
        for i in range(m):
            bv += b[k, i] * v[i]
        sigma = (1.0 - bv) / lam
        uk = math.sqrt(sigma)
        u[k] = uk
        for i in range(m):
            p[k, i] = -v[i] / (lam * uk)
        c = 1.0 / (lam * sigma)
        more = k + 1 < n
        for j in range(m):
            nxt[j] = 0.0
        for i in range(m):
            vi = v[i]
            bi = b[k + 1, i] if more else 0.0
            for j in range(m):
                mk[i, j] += vi * v[j] * c
                nxt[j] += mk[i, j] * bi
        v, nxt = nxt, v
    return u, p


@njit(cache=True)
def q4_0_scales(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """llama.cpp's quantize_row_q4_0_ref, first half, in float32 arithmetic like ggml: per block of 32,
    d = (the value of largest magnitude, first on ties) / −8 and the codes q = min(15, (int)(x/d + 8.5))
    (x·(1/d), truncated toward zero, clamped at 0). Returns (d, q); the caller rounds d to fp16."""
    n, width = b.shape
    d = np.empty(n, np.float32)
    q = np.empty((n, width), np.float32)
    half = np.float32(8.5)
    for i in range(n):
        amax = np.float32(0.0)
        vmax = np.float32(0.0)
        for j in range(width):
            v = b[i, j]
            if abs(v) > amax:
                amax = abs(v)
                vmax = v
        di = vmax / np.float32(-8.0)
        inv = np.float32(1.0) / di if di != 0 else np.float32(0.0)
        d[i] = di
        for j in range(width):
            t = b[i, j] * inv + half
            # clamping before truncating equals ggml's clamp after it (the bounds are integers)
            t = min(max(t, np.float32(0.0)), np.float32(15.0)) if t == t else np.float32(0.0)
            q[i, j] = np.float32(int(t))
    return d, q


@njit(cache=True)
def q4_0_dequant(b: np.ndarray, d16: np.ndarray, q: np.ndarray, out: np.ndarray) -> np.ndarray:
    """x̂ = d·(q − 8) in float32 with the fp16-rounded d; a block holding NaN/Inf reads as NaN (no
    scale represents it); a zero keeps its input's sign."""
    n, width = b.shape
    for i in range(n):
        finite = True
        for j in range(width):
            v = b[i, j]
            finite &= (v == v) & (abs(v) != np.inf)
        for j in range(width):
            v = d16[i] * (q[i, j] - np.float32(8.0))
            out[i, j] = (v if v != 0 else math.copysign(np.float32(0.0), b[i, j])) if finite else np.nan
    return out
