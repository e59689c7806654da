"""Non-dominated (Pareto) filtering of N objectives over millions of rows.

Conventions (tested in tests/test_pareto.py):
- Every objective is minimised internally; maximised columns are negated first.
- Row p is dominated when some row q is <= p in every objective and < in at least one.
- Exact duplicates do not dominate each other, so duplicates of a front point are **all kept**.
- A row with NaN in any objective is never on the front and dominates nothing.

Algorithms (all start by collapsing exact duplicates and sorting the unique rows
lexicographically, so that any dominator of a row precedes it):
- 2-D: one vectorised sweep; a row is dominated iff an earlier row has y' <= y. O(n log n).
- 3-D: a sweep in x keeping a Fenwick tree of prefix minima of z indexed by the rank of y;
  a row is dominated iff an earlier row has y' <= y and z' <= z. O(n log n).
- N-D: sweep against the growing front (block-nested-loop with early exit), compiled with
  numba, visiting rows by the sum of normalised objectives. O(n · |front|) worst case, far less
  in practice since most rows fall to the first front members they meet.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from numba import njit


def pareto_mask(values: ArrayLike, maximize: ArrayLike | None = None) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an (n, d) array.

    `maximize` is a sequence of d booleans (default: minimise every column).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2:
        raise ValueError("values must be a 2-D array (rows × objectives)")
    n, d = v.shape
    if maximize is not None:
        flip = np.asarray(maximize, dtype=bool)
        if flip.shape != (d,):
            raise ValueError(f"maximize needs {d} entries, got {flip.shape}")
        v = np.where(flip, -v, v)
    mask = np.zeros(n, dtype=bool)
    ok = ~np.isnan(v).any(axis=1)
    if n == 0 or d == 0 or not ok.any():
        return mask
    rows = np.flatnonzero(ok)
    uniq, inverse = _unique_rows(v[rows] + 0.0)  # + 0.0 folds -0.0 into 0.0
    keep = _front_sorted_unique(uniq)
    mask[rows] = keep[inverse]
    return mask


def _unique_rows(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows in lexicographic order and each input row's index among them.

    Exact duplicates share one verdict; lexsort + diff is much faster than np.unique(axis=0).
    """
    order = np.lexsort(v.T[::-1])  # lexsort's primary key is its last
    s = v[order]
    new = np.ones(len(s), dtype=bool)
    new[1:] = (s[1:] != s[:-1]).any(axis=1)
    group = np.cumsum(new) - 1
    inverse = np.empty(len(s), dtype=np.int64)
    inverse[order] = group
    return s[new], inverse


def _front_sorted_unique(u: np.ndarray) -> np.ndarray:
    """Front of unique rows already in lexicographic order."""
    d = u.shape[1]
    if d == 1:
        keep = np.zeros(len(u), dtype=bool)
        keep[0] = True
        return keep
    if d == 2:
        return _front2(u)
    if d == 3:
        return _front3(u[:, 1], u[:, 2])
    # visit rows by the sum of per-objective ranks scaled to [0, 1] (ties: lexicographic). A
    # dominator has a smaller sum (rounding is monotone), so it still comes first, and strong rows
    # enter the front early, where they knock out most of the rest at the first comparison.
    score = np.zeros(len(u))
    for j in range(d):
        vals, rank = np.unique(u[:, j], return_inverse=True)
        score += rank.reshape(-1) / max(len(vals) - 1, 1)
    order = np.lexsort((np.arange(len(u)), score))
    keep = np.empty(len(u), dtype=bool)
    keep[order] = _front_nd(np.ascontiguousarray(u[order]))
    return keep


def _front2(u: np.ndarray) -> np.ndarray:
    y = u[:, 1]
    best_before = np.empty_like(y)
    best_before[0] = np.inf
    np.minimum.accumulate(y[:-1], out=best_before[1:])
    keep = y < best_before
    keep[0] = True  # the lexicographic minimum is never dominated, even at y = inf
    return keep


def _front3(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    # rank y so the Fenwick tree is indexed 1..m; equal y share a rank (y' <= y counts ties).
    # z is ranked too, so "empty" (m_z) is larger than any value, infinities included.
    ys, ry = np.unique(y, return_inverse=True)
    zs, rz = np.unique(z, return_inverse=True)
    return _fenwick_sweep(ry.reshape(-1).astype(np.int64) + 1, rz.reshape(-1).astype(np.int64), len(ys), len(zs))


@njit(cache=True)
def _fenwick_sweep(rank: np.ndarray, z: np.ndarray, m: int, empty: int) -> np.ndarray:  # pragma: no cover - compiled
    tree = np.full(m + 1, empty, dtype=np.int64)
    keep = np.zeros(rank.shape[0], dtype=np.bool_)
    for i in range(rank.shape[0]):
        r = rank[i]
        # prefix minimum of z over y-ranks <= r, i.e. over earlier rows with y' <= y
        j = r
        best = empty
        while j > 0:
            if tree[j] < best:
                best = tree[j]
            j -= j & (-j)
        if best <= z[i]:
            continue  # dominated: earlier row is <= in x (sorted), y and z, and not equal
        keep[i] = True
        j = r
        while j <= m:
            if z[i] < tree[j]:
                tree[j] = z[i]
            j += j & (-j)
    return keep


@njit(cache=True)
def _front_nd(u: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    n, d = u.shape
    front = np.empty(n, dtype=np.int64)
    nf = 0
    keep = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        dominated = False
        for f in range(nf):
            q = front[f]
            le = True
            for k in range(d):
                if u[q, k] > u[i, k]:
                    le = False
                    break
            if le:  # unique rows, so <= everywhere means strictly better somewhere
                dominated = True
                break
        if not dominated:
            keep[i] = True
            front[nf] = i
            nf += 1
    return keep


def brute_force_mask(values: ArrayLike, maximize: ArrayLike | None = None) -> np.ndarray:
    """O(n²) reference used by the tests; same conventions as pareto_mask."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if maximize is not None:
        v = np.where(np.asarray(maximize, dtype=bool), -v, v)
    ok = np.asarray(~np.isnan(v).any(axis=1))
    n = len(v)
    mask = np.zeros(n, dtype=bool)
    for i in range(n):
        if not ok[i]:
            continue
        le = (v[ok] <= v[i]).all(axis=1)
        lt = (v[ok] < v[i]).any(axis=1)
        mask[i] = not (le & lt).any()
    return mask
