"""GPTQ (Frantar et al., ICLR 2023; REFERENCES.md "Quantization methods") for any format with a
fixed per-group scale: INT (sym/asym), minifloats, MX, NVFP4, NF4, BitMoD.

For a linear layer W (out × in) and calibration inputs X (tokens × in): H = 2·XᵀX, dampened by
`damp` × mean(diag H) on the diagonal; columns are quantized one at a time (in order of decreasing
diag(H) with act-order), and each column's rounding error is spread onto the columns not yet
quantized through the upper Cholesky factor U of H⁻¹ (lazy batch updates in blocks of 128 columns).

Scales: per-tensor and per-channel scales are fixed from W before the first column, as GPTQ does.
Group scales are fixed from the original W for every group before any column is quantized (the
"static groups" variant of GPTQ implementations): the stored groups stay contiguous in the original
column order while columns are visited in act-order, and two-level scales (u8, NVFP4's E4M3 under a
per-tensor fp32) keep their true second level. Formats whose scale depends on the rounded values
(ternary/binary absmean) or llama.cpp block types are refused.

Cost: one n × n Cholesky of H⁻¹ (via the Woodbury identity when there are fewer calibration tokens
than input channels, so no n × n inverse is factorised twice) plus out·n²/2 multiply-adds of updates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg

from hwsim.errors import HwsimError
from hwsim.formats import kernels

if TYPE_CHECKING:
    from hwsim.formats import Format

DAMP = 0.01  # fraction of mean(diag H) added to the diagonal (GPTQ's percdamp)
BLOCK = 128  # lazy-batch block of columns


def hessian(x: np.ndarray) -> np.ndarray:
    """H = 2·XᵀX / tokens (float64) from calibration inputs X (tokens × in)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
    return 2.0 * (x.T @ x) / max(x.shape[0], 1)


def _inverse_cholesky(h: np.ndarray, damp: float) -> np.ndarray:
    """Upper Cholesky factor U of (H + λI)⁻¹ (H⁻¹ = UᵀU), λ = damp·mean(diag H)."""
    n = h.shape[0]
    lam = damp * float(np.mean(np.diag(h)))
    c = scipy.linalg.cho_factor(h + (lam if lam > 0 else 1.0) * np.eye(n), lower=True)
    hinv = scipy.linalg.cho_solve(c, np.eye(n))
    hinv = ((hinv + hinv.T) * 0.5).astype(np.float32)  # float32 from here on, as GPTQ's reference
    return scipy.linalg.cholesky(hinv, lower=False, overwrite_a=True, check_finite=False)


def _lowrank_factor(x: np.ndarray, damp: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, P, B) with U = diag(u) + strict_upper(P·Bᵀ) the upper Cholesky factor of (H + λI)⁻¹ for
    H = 2XᵀX/m (Woodbury: H⁻¹ = (I − B(λI + BᵀB)⁻¹Bᵀ)/λ with B = Xᵀ·√(2/m))."""
    m = x.shape[0]
    a = x * np.sqrt(2.0 / m)
    lam = damp * float(np.mean(np.einsum("ij,ij->j", a, a)))
    lam = lam if lam > 0 else 1.0
    m0 = np.linalg.inv(lam * np.eye(m) + a @ a.T)
    b = np.ascontiguousarray(a.T)
    u, p = kernels.lowrank_inverse_cholesky(b, (m0 + m0.T) * 0.5, lam)
    return u.astype(np.float32), p.astype(np.float32), b.astype(np.float32)


@dataclass(frozen=True)
class _Factor:
    """What GPTQ needs from the calibration inputs alone: the column order, the never-active
    channels, and the upper Cholesky factor of H⁻¹ in that order (dense, or low-rank (u, P, B))."""

    perm: np.ndarray
    dead: np.ndarray
    dense: np.ndarray | None
    lowrank: tuple[np.ndarray, np.ndarray, np.ndarray] | None


_LAST: dict = {}  # the last factor by a digest of its inputs: q/k/v projections share one input


def _factor(x: np.ndarray | None, h: np.ndarray | None, n: int, act_order: bool, damp: float) -> _Factor:
    if x is not None:
        x = np.asarray(x, dtype=np.float64).reshape(-1, n)
    src = x if x is not None else (None if h is None else np.ascontiguousarray(h, dtype=np.float64))
    key = None
    if src is not None:
        key = (hashlib.sha256(np.ascontiguousarray(src).data).digest(), src.shape, x is not None, act_order, damp)
        if key in _LAST:
            return _LAST[key]
    if x is not None and x.shape[0] >= n // 2:  # else H⁻¹ comes from x by Woodbury and H itself is never formed
        h, x = hessian(x), None
    if x is not None:
        diag = 2.0 * np.einsum("ij,ij->j", x, x) / x.shape[0]
    elif h is None or np.shape(h) != (n, n):
        raise HwsimError(f"GPTQ needs calibration inputs with {n} channels", field="calibration")
    else:
        diag = np.diag(h).copy()
    dead = diag == 0
    if dead.any():
        h = hessian(x) if x is not None else np.array(h, dtype=np.float64)
        h[dead, dead] = 1.0
        diag[dead] = 1.0
        x = None
    perm = np.argsort(-diag, kind="stable") if act_order else np.arange(n)
    if act_order:
        if x is not None:
            x = x[:, perm]
        else:
            h = np.asarray(h)[np.ix_(perm, perm)]
    if x is not None:
        f = _Factor(perm, dead, None, _lowrank_factor(x, damp))
    else:
        assert h is not None, "without x the Hessian was given or formed above"
        f = _Factor(perm, dead, _inverse_cholesky(h, damp), None)
    for a in (f.perm, f.dead, f.dense, *(f.lowrank or ())):
        if a is not None:
            a.flags.writeable = False  # shared by later calls with the same inputs
    _LAST.clear()
    if key is not None:
        _LAST[key] = f
    return f


def gptq(
    w: np.ndarray,
    fmt: str | Format,
    x: np.ndarray | None = None,
    *,
    h: np.ndarray | None = None,
    act_order: bool = True,
    damp: float = DAMP,
    block: int = BLOCK,
) -> np.ndarray:
    """Quantized (dequantized) copy of W (out × in) after GPTQ with calibration inputs x (tokens × in)
    or a precomputed Hessian h (in × in). Same dtype as W (float32 stays float32)."""
    from hwsim.formats import get_format

    fmt = get_format(fmt)
    w = np.asarray(w)
    if w.ndim != 2:
        raise HwsimError(f"GPTQ quantizes a 2-D out × in weight, got shape {w.shape}", field="method")
    if fmt.stochastic:
        raise HwsimError(f"GPTQ rounds to nearest; {fmt.name} rounds stochastically", field="method")
    fixed = fmt.fit(w)  # refuses formats without a fixed per-group scale
    n = w.shape[1]
    f = _factor(x, h, n, act_order, damp)
    Wt = kernels.transpose32(np.ascontiguousarray(w, dtype=np.float32))  # in × out: a column of W is a row
    Wt[f.dead] = 0.0  # channels never active: any value works, GPTQ zeroes them
    perm = f.perm
    if act_order:
        Wt = Wt[perm]
    Qt = np.empty_like(Wt)
    Et = np.empty((min(block, n), Wt.shape[1]), np.float32)
    gidx = (perm // fixed.width).astype(np.int64)
    scale = np.ascontiguousarray(fixed.scale.T)
    zero = np.zeros_like(scale) if fixed.zero is None else np.ascontiguousarray(fixed.zero.T)
    choice = np.zeros(scale.shape, np.int64) if fixed.choice is None else np.ascontiguousarray(fixed.choice.T)
    tables = fmt.kernel_tables()
    lowrank = f.lowrank is not None
    if f.lowrank is not None:  # H = λI + 2XᵀX/m with m < n/2: U = diag(u) + strict_upper(P·Bᵀ), never n × n
        u, P, B = f.lowrank
        G = np.zeros((P.shape[1], Wt.shape[1]), np.float32)  # Σ over done columns of p_kᵀ·err_k
    else:
        assert f.dense is not None, "a factor is low-rank or dense"
        U = f.dense
    for i1 in range(0, n, block):
        i2 = min(i1 + block, n)
        e = Et[: i2 - i1]
        if lowrank:
            Wt[i1:i2] -= B[i1:i2] @ G  # every earlier block's error, applied when the block is reached
            U1 = np.triu(P[i1:i2] @ B[i1:i2].T, 1)
            U1[np.diag_indices(i2 - i1)] = u[i1:i2]
        else:
            U1 = np.ascontiguousarray(U[i1:i2, i1:i2])
        kernels.gptq_block(Wt[i1:i2], U1, Qt[i1:i2], e, scale, zero, choice, gidx[i1:i2], *tables)
        if lowrank:
            G += P[i1:i2].T @ e
        elif i2 < n:  # lazy batch update of every later column
            Wt[i2:] -= U[i1:i2, i2:].T @ e
    if act_order:
        Qt = Qt[np.argsort(perm)]
    Q = kernels.transpose32(Qt)
    return Q if w.dtype == np.float32 else Q.astype(np.float64)
