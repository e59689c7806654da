"""How a GEMM instance is blocked over the backing store (no numba: the analytical engine uses it too).

The held side R is cut into super-blocks (one buffer each) and the streamed side S passes R once per
super-block (hwsim.engine.memory's fetch rule); hwsim.sim.tiles.tile_grid builds every tile of that
blocking, `pipeline_ends` only its first and last tiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.ops import shape_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    #: the blocking's two sides (_sides): rows, tile rows, bytes and fetch of the held side R, the same of
    #: the streamed side S, and R's super-blocks f
    Sides = tuple[
        np.ndarray,
        np.ndarray,
        float | np.ndarray,
        float | np.ndarray,
        np.ndarray,
        np.ndarray,
        float | np.ndarray,
        float | np.ndarray,
        np.ndarray,
    ]

K_STEP = 64  # GPU GEMMs: CTAs step through k 64 at a time (assumed: cuBLAS-like k tile)


def k_slice_depths(k: float) -> np.ndarray:
    """Depths of the slices a streamed reduction of depth k is cut into (GPU CTAs stepping through k):
    K_STEP deep each, the last one partial (ceil(k / K_STEP) slices; one slice when k <= K_STEP)."""
    n = max(int(np.ceil(k / K_STEP)), 1)
    depths = np.full(n, float(K_STEP))
    depths[-1] = k - K_STEP * (n - 1) if k > 0 else 0.0
    return depths


def k_slice_ends(
    k: float | np.ndarray,
    load: float | np.ndarray,
    store: float | np.ndarray,
    compute: float | np.ndarray,
    bpc: float | np.ndarray,
    held: float | np.ndarray = 0.0,
    rnd: Callable[..., np.ndarray] = np.ceil,
) -> tuple[np.ndarray, np.ndarray]:
    """What a tile whose reduction streams in k_slice_depths(k) (each slice's load one buffer ahead of
    its compute, double buffered; results stored after the last) cannot overlap, in cycles, as the
    shared rule's (to_compute, to_memory). `load`, `store`: the tile's bytes, of which `held` load whole
    with the first slice (an operand that does not run along k: fused attention's queries), the rest
    spread evenly over the reduction as `compute` (the tile's cycles) is; `rnd`: the memory rounding.

    The pipeline of slices ends at the latest of its cut points j (loads of slices 1..j, then compute of
    slices j..n, then the store). Full slices load and compute alike, so the latest is j = 1 (the first
    slice's load exposed), j = n (the last slice's compute exposed: to_memory) or j = n − 1 (all loads but
    the last slice's, then the last two slices' compute: it wins when a short partial last slice leaves
    the full one before it exposed). Exact for that pipeline (to a cycle of rounding), and so monotone in k: a deeper reduction
    lengthens the last slice or appends one. (One slice's share of the whole alone is not: the exposed
    drain would shrink each time a slice is appended.) Vectorised."""
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = _finite(np.minimum(k, K_STEP) / k)
        n = np.maximum(np.ceil(k / K_STEP), 1.0)
        last = _finite((k - K_STEP * (n - 1)) / k)
        prev = np.where(n > 1, _finite(K_STEP / k), 0.0)  # the full slice before the last one
    sliced = load - held
    first_load = rnd((held + sliced * first + store) / bpc)
    but_last = rnd((load - sliced * last + store) / bpc) - compute * (1.0 - last - prev)
    # the drain rounded down: the engine rounds to_memory up, which would put the j = n cut above the
    # unrounded j = 1 and j = n − 1 cuts it meets when a slice is appended (k = K_STEP·i + 1)
    return np.maximum(first_load, but_last), np.floor(compute * last)


def streams_b(
    a_bytes: float | np.ndarray,
    b_bytes: float | np.ndarray,
    a_fetch: float | np.ndarray,
    b_fetch: float | np.ndarray,
    cap_a: float | np.ndarray,
    cap_b: float | np.ndarray,
    once: bool = False,
) -> np.ndarray:
    """Whether A is the operand held per super-block and B the one streamed past it (else the reverse):
    B re-read, or nothing re-read and A the operand to hold (it fits, and B does not or is larger).
    Fetch 0 = resident on chip. Broadcasts over arrays. `once`: every fetch factor is 1.0 (nothing re-read,
    nothing resident), so the terms on them are constants: the same mask from fewer numpy calls."""
    a_bytes, b_bytes = np.asarray(a_bytes, dtype=np.float64), np.asarray(b_bytes, dtype=np.float64)
    a_fetch, b_fetch = np.asarray(a_fetch, dtype=np.float64), np.asarray(b_fetch, dtype=np.float64)
    if once:  # b_fetch > 1 and a_fetch == 0 are all False, a_fetch <= 1 all True
        got = (a_bytes <= cap_a) & (np.logical_not(b_bytes <= cap_b) | (a_bytes <= b_bytes))
        if got.shape == a_fetch.shape == b_fetch.shape:  # the shape the fetch factors give the full rule
            return got
    fits_a = (a_bytes <= cap_a) | (a_fetch == 0)
    fits_b = (b_bytes <= cap_b) | (b_fetch == 0)
    return (b_fetch > 1) | ((a_fetch <= 1) & fits_a & (np.logical_not(fits_b) | (a_bytes <= b_bytes)))


def pipeline_ends(
    m: float | np.ndarray,
    n: float | np.ndarray,
    tile_m: float | np.ndarray,
    tile_n: float | np.ndarray,
    a_bytes: float | np.ndarray,
    b_bytes: float | np.ndarray,
    c_bytes: float | np.ndarray,
    a_fetch: float | np.ndarray = 1.0,
    b_fetch: float | np.ndarray = 1.0,
    cap_a: float | np.ndarray = np.inf,
    cap_b: float | np.ndarray = np.inf,
    once: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first tile's load, last tile's store) in bytes, and the last tile's share of the compute: what a
    double-buffered tile pipeline cannot overlap (the load before the first tile computes, the store after
    the last; the last tile's compute after the last load). The same blocking as tile_grid (its first and
    last tiles), vectorised over ops and design points; arguments as tile_grid's, per GEMM instance.
    A tile that streams its reduction in slices exposes less (k_slice_ends). `once`: every fetch factor is
    1.0 (hwsim.engine.memory.Traffic.once): the same values from fewer numpy calls."""
    sides = _sides(m, n, tile_m, tile_n, a_bytes, b_bytes, a_fetch, b_fetch, cap_a, cap_b, once)
    lr, tr, f = sides[0], sides[1], sides[8]
    with np.errstate(divide="ignore", invalid="ignore"):
        return _ends(sides, c_bytes, _pieces(lr, tr, _per_block(lr, f, once)), once)


def _pieces(lr: np.ndarray, tr: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows of R in the first piece: first R tile ∩ first super-block, rows in the last piece: last R tile ∩
    last super-block, R tiles, the last R tile's rows) of R's `lr` rows in tiles of `tr`, `h` rows per
    super-block. Called inside the callers' np.errstate."""
    nr = np.ceil(lr / tr)
    r_last = lr - tr * (nr - 1)
    return np.minimum(tr, h), np.minimum(r_last, h), nr, r_last


def _per_block(lr: np.ndarray, f: np.ndarray, once: bool) -> np.ndarray:
    """lr / f (rows of R per super-block); with every fetch 1.0 (`once`: f is all 1.0) lr itself where that
    has f's shape (x / 1.0 is x)."""
    return lr if once and shape_of(lr) == shape_of(f) else lr / f


def _ends(
    sides: Sides,
    c_bytes: float | np.ndarray,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    once: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pipeline_ends of the blocking's sides and `pieces`: (first piece's rows of R, last piece's, R tiles,
    the last R tile's rows). Called inside the callers' np.errstate (one context a call: ~0.8 µs each).
    `once`: the fetch factors are all 1.0, so np.minimum(fetch, 1.0) is 1.0 and the product by it the value."""
    lr, tr, r_bytes, r_fetch, ls, ts, s_bytes, s_fetch, f = sides
    first, last, nr, r_last = pieces
    ns = np.ceil(ls / ts)
    s_last = ls - ts * (ns - 1)
    if once and shape_of(r_bytes) == shape_of(r_fetch) and shape_of(s_bytes) == shape_of(s_fetch):
        load = r_bytes * first / lr + s_bytes * ts / ls  # x * 1.0 is x
    else:
        load = r_bytes * np.minimum(r_fetch, 1.0) * first / lr + s_bytes * np.minimum(s_fetch, 1.0) * ts / ls
    store = c_bytes * last * s_last / (lr * ls)  # the last piece's outputs
    # its compute: every tile is one array pass, ragged or not (the closed forms round passes up)
    share = last / r_last / (nr * ns)
    return _finite(load), _finite(store), _finite(share)


def held_pipeline_ends(
    m: float | np.ndarray,
    n: float | np.ndarray,
    tile_m: float | np.ndarray,
    tile_n: float | np.ndarray,
    a_bytes: float | np.ndarray,
    b_bytes: float | np.ndarray,
    c_bytes: float | np.ndarray,
    a_fetch: float | np.ndarray,
    b_fetch: float | np.ndarray,
    cap_a: float | np.ndarray,
    cap_b: float | np.ndarray,
    compute: float | np.ndarray,
    memory: float | np.ndarray,
    bpc: float | np.ndarray,
    count: float | np.ndarray = 1.0,
    once: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | np.ndarray, float | np.ndarray]:
    """pipeline_ends of `count` GEMM instances run back to back through tile_grid's tiles (whole reductions:
    no k slices), and what their held super-blocks add, in cycles: (load, store, last share, refills,
    imbalance). Operands as pipeline_ends' (one instance); `compute`, `memory`: one instance's cycles;
    `bpc`: backing-store bytes per cycle. Vectorised.

    - refills (compute side): each super-block's part of R loads with the first S tile of its walk
      (tile_grid), piece by piece, each piece one buffer ahead of the compute, so only one S column of
      compute overlaps it: the first super-block's load after the first tile's (under that column less its
      last piece, whose compute overlaps the next S tile) and every later one's R part plus first S tile,
      the next instance's first included (under the previous column), where the loads exceed that compute.
    - imbalance (both sides): super-blocks carry equal bytes but not always equal compute: a ragged last R
      tile costs a full array pass (the families' closed forms round each pass up) over fewer rows, so the
      super-blocks over it compute more per byte. The pipeline runs each super-block at its own bound:
      sum over super-blocks of max(compute, memory), less max of the sums.
    `once`: every fetch factor is 1.0 (as pipeline_ends)."""
    sides = _sides(m, n, tile_m, tile_n, a_bytes, b_bytes, a_fetch, b_fetch, cap_a, cap_b, once)
    lr, tr, r_bytes, r_fetch, ls, ts, s_bytes, s_fetch, f = sides
    refills: float | np.ndarray = 0.0
    imbalance: float | np.ndarray = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        h = _per_block(lr, f, once)  # rows of R per super-block
        pieces = first, _, nr, r_last = _pieces(lr, tr, h)
        many = (count > 1) if once else (count * f > 1)  # once: f is all 1.0 (count * 1.0 is count)
        if np.count_nonzero(many | (first < h)):  # .any(), cheaper on the one-op path
            r_block = r_bytes * np.minimum(r_fetch, 1.0) / f  # one super-block's part of R
            col = compute * ts / (f * ls)  # one S column of a super-block
            rest = np.maximum((r_block / bpc - col) * (1 - first / h), 0.0)
            block = (r_block + s_bytes * np.minimum(s_fetch, 1.0) * ts / ls) / bpc
            refills = rest + (count * f - 1) * np.maximum(block - col, 0.0)
        # compute per super-block: rows / tr in full R tiles, rows / r_last in the last (each tile one pass)
        # several super-blocks and a ragged last R tile: unequal compute (once: one super-block everywhere)
        ragged = False if once else (f > 1) & (r_last < tr)
        if ragged is not False and np.count_nonzero(ragged):
            edge = lr - r_last  # where the last R tile starts
            jb = np.minimum(np.floor(edge / h), f - 1)  # the super-block the edge falls in
            x = edge - jb * h  # its rows in full tiles
            per_row = compute / nr
            mem = memory / f
            phased = (
                jb * np.maximum(per_row * h / tr, mem)
                + np.maximum(per_row * (x / tr + (h - x) / r_last), mem)
                + (f - 1 - jb) * np.maximum(per_row * h / r_last, mem)
            )
            # only where ragged: elsewhere the phases sum to the op's own bound up to rounding, and a
            # rounding residue (rounded up to a cycle) must not depend on which other ops share the table
            imbalance = _finite(np.where(ragged, count * np.maximum(phased - np.maximum(compute, memory), 0.0), 0.0))
        return (
            *_ends(sides, c_bytes, pieces, once),
            _finite(refills) if getattr(refills, "ndim", 0) else refills,  # np.ndim, cheaper
            imbalance,
        )


def _sides(
    m: float | np.ndarray,
    n: float | np.ndarray,
    tile_m: float | np.ndarray,
    tile_n: float | np.ndarray,
    a_bytes: float | np.ndarray,
    b_bytes: float | np.ndarray,
    a_fetch: float | np.ndarray,
    b_fetch: float | np.ndarray,
    cap_a: float | np.ndarray,
    cap_b: float | np.ndarray,
    once: bool = False,
) -> Sides:
    """The blocking's two sides: (rows, tile rows, bytes, fetch) of the held side R, the same of the
    streamed side S, and the super-blocks f of R (tile_grid's, vectorised). `once`: every fetch factor is
    1.0, so f is 1.0 everywhere: a_fetch itself where it has the mask's shape."""
    m, n = np.asarray(m, dtype=np.float64), np.asarray(n, dtype=np.float64)
    tm, tn = np.minimum(tile_m, m), np.minimum(tile_n, n)
    b_streamed = streams_b(a_bytes, b_bytes, a_fetch, b_fetch, cap_a, cap_b, once)
    if once and type(a_fetch) is np.ndarray and a_fetch.dtype == np.float64 and a_fetch.shape == b_streamed.shape:
        f = a_fetch
    else:
        f = np.maximum(np.floor(np.where(b_streamed, b_fetch, np.maximum(a_fetch, 1))), 1)

    streamed = np.count_nonzero(b_streamed)  # .all() and .any() in one call
    if streamed == b_streamed.size:  # every op holds A (R = A, S = B): the values np.where would pick (f has its shape)
        return m, tm, a_bytes, a_fetch, n, tn, b_bytes, b_fetch, f
    if not streamed:  # every op holds B
        return n, tn, b_bytes, b_fetch, m, tm, a_bytes, a_fetch, f

    def pick(x: ArrayLike, y: ArrayLike) -> np.ndarray:  # held side R, streamed side S
        return np.where(b_streamed, x, y)

    return (
        pick(m, n),
        pick(tm, tn),
        pick(a_bytes, b_bytes),
        pick(a_fetch, b_fetch),
        pick(n, m),
        pick(tn, tm),
        pick(b_bytes, a_bytes),
        pick(b_fetch, a_fetch),
        f,
    )


def _finite(x: ArrayLike) -> np.ndarray:
    """x with NaN and inf (empty ops: 0 / 0) as 0 (np.nan_to_num, without its cost on this hot path)."""
    fin = np.isfinite(x)
    if type(x) is np.ndarray and x.dtype == np.float64 and np.count_nonzero(fin) == fin.size:
        return x  # every value finite: np.where's values (one count where np.where costs ~0.6 µs)
    return np.where(fin, x, 0.0)
