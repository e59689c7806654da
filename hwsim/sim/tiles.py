"""Tile-level execution of one op on an array: per tile DMA in, compute, DMA out, with `slots`
tile buffers (2 = double buffering) and one DMA channel to the backing store shared by loads
and stores. The hot loop is numba; tiles are built with numpy (no Python loop per tile).

Tiling (`tile_grid`): a GEMM instance is cut into output tiles of tile_m × tile_n over the whole
reduction, blocked as the shared memory model's fetch rule says (hwsim.engine.memory): one operand
held in buffer-sized super-blocks, the other streamed once per super-block. So the backing-store
bytes the tiles load are the analytical engine's, and what differs is timing.
"""

from __future__ import annotations

import numba
import numpy as np

from hwsim.sim.blocking import streams_b


@numba.njit(cache=True)
def pipeline(
    load_cycles: np.ndarray, compute: np.ndarray, store_cycles: np.ndarray, slots: int, n_bins: int, span_hint: float
) -> tuple[float, float, float, float, np.ndarray, np.ndarray]:
    """Simulate the tiles in order. Returns (end cycle, compute busy, dma busy, first compute start,
    compute busy per bin, dma busy per bin) with bins of span_hint/n_bins cycles (the last bin
    takes any overflow).

    A tile with no load computes on the buffer of the tile before it (parts of one tile, see
    tile_grid): a buffer holds a loading tile and the load-free tiles after it, and the next load
    into it waits for the last of them. Loads run up to slots − 1 buffers ahead of the compute."""
    n = load_cycles.shape[0]
    starts_buffer = load_cycles > 0
    starts_buffer[0] = True
    first_of = np.nonzero(starts_buffer)[0]  # first tile of each buffer fill
    n_fill = first_of.shape[0]
    fill_of = np.cumsum(starts_buffer) - 1  # buffer fill each tile computes on
    ce = np.zeros(n)  # compute end per tile
    le = np.zeros(n_fill)  # load end per buffer fill
    dma = 0.0
    comp_bins = np.zeros(n_bins)
    dma_bins = np.zeros(n_bins)
    width = max(span_hint / n_bins, 1.0)
    busy_c = 0.0
    busy_d = 0.0
    first = -1.0
    issued = 0
    for i in range(n):
        while issued < n_fill and issued <= fill_of[i] + slots - 1:  # prefetch into free buffers
            h = issued
            ready = ce[first_of[h - slots + 1] - 1] if h - slots >= 0 else 0.0  # fill h − slots done
            start = max(dma, ready)
            le[h] = start + load_cycles[first_of[h]]
            bin_interval(dma_bins, start, le[h], width)
            busy_d += load_cycles[first_of[h]]
            dma = le[h]
            issued += 1
        cs = max(le[fill_of[i]], ce[i - 1] if i > 0 else 0.0)
        if first < 0:
            first = cs
        ce[i] = cs + compute[i]
        bin_interval(comp_bins, cs, ce[i], width)
        busy_c += compute[i]
        if store_cycles[i] > 0:
            ss = max(dma, ce[i])
            dma = ss + store_cycles[i]
            bin_interval(dma_bins, ss, dma, width)
            busy_d += store_cycles[i]
    end = max(ce[n - 1], dma)
    return end, busy_c, busy_d, first, comp_bins, dma_bins


@numba.njit(cache=True)
def bin_interval(bins: np.ndarray, start: float, end: float, width: float) -> None:
    """Add the interval [start, end) to fixed-width bins (overflow lands in the last bin)."""
    nb = bins.shape[0]
    t = start
    while t < end:
        b = int(t / width)
        if (b + 1) * width <= t:  # float rounding at a bin edge
            b += 1
        b = min(b, nb - 1)
        stop = end if b == nb - 1 else min(end, (b + 1) * width)
        bins[b] += stop - t
        t = stop


def tile_grid(
    m: float,
    n: float,
    tile_m: float,
    tile_n: float,
    a_bytes: float,
    b_bytes: float,
    c_bytes: float,
    a_fetch: float = 1.0,
    b_fetch: float = 1.0,
    cap_a: float = np.inf,
    cap_b: float = np.inf,
) -> tuple[np.ndarray, ...]:
    """Tiles of one GEMM instance in execution order: arrays (rows, cols, share, a_bytes, b_bytes,
    c_bytes); rows × cols is the array pass a tile makes (its compute is the family's closed form on
    that sub-GEMM, times `share`) and the byte arrays are what the tile loads and stores.

    a_bytes, b_bytes, c_bytes are the instance's operand bytes; a_fetch, b_fetch the shared memory
    model's fetch factors (hwsim.engine.memory.traffic: 0 = resident on chip, 1 = once, f > 1 =
    re-read once per buffer tile of the other operand), cap_a, cap_b their buffers. The blocking is
    that rule's: the side read once (R) is cut into f equal super-blocks, one buffer each; for each
    super-block the other side (S) streams past once, tile by tile, and within one S tile the array
    passes over the super-block's part of R. With no re-read (f = 1), R is an operand that fits its
    buffer (the smaller if both do), so the other streams evenly under the whole computation. An R tile that straddles two super-blocks is computed in two parts
    (share = the part's fraction of its rows), as the rule cuts R by bytes, not by tiles.
    So backing-store bytes are exactly a_bytes·a_fetch + b_bytes·b_fetch + c_bytes.
    """
    tm, tn = int(min(tile_m, m)), int(min(tile_n, n))
    b_streamed = bool(streams_b(a_bytes, b_bytes, a_fetch, b_fetch, cap_a, cap_b))
    f = int(b_fetch if b_streamed else max(a_fetch, 1))
    (lr, tr, r_bytes, r_fetch), (ls, ts, s_bytes, s_fetch) = (
        ((m, tm, a_bytes, a_fetch), (n, tn, b_bytes, b_fetch))
        if b_streamed
        else ((n, tn, b_bytes, b_fetch), (m, tm, a_bytes, a_fetch))
    )
    nr, ns = -(-lr // tr), -(-ls // ts)
    # pieces: (super-block j, R tile r) with their overlap in rows of R
    edges = np.arange(f + 1) * (lr / f)
    j, r = np.meshgrid(np.arange(f), np.arange(nr), indexing="ij")
    lo = np.maximum(r * tr, edges[j])
    hi = np.minimum(np.minimum((r + 1) * tr, lr), edges[j + 1])
    keep = hi > lo
    j, r, part = j[keep], r[keep], (hi - lo)[keep]  # sorted by j, then r
    r_size = np.minimum(tr, lr - tr * np.arange(nr))  # rows of each R tile, by tile index
    first_piece = np.r_[True, j[1:] != j[:-1]]
    # execution order: super-block, then S tile, then the super-block's pieces
    p_idx, s = np.meshgrid(np.arange(j.size), np.arange(ns), indexing="ij")
    order = np.lexsort((p_idx.ravel(), s.ravel(), j[p_idx].ravel()))
    p, s = p_idx.ravel()[order], s.ravel()[order]
    s_size = np.minimum(ts, ls - ts * s)
    r_load = np.where(s == 0, r_bytes * min(r_fetch, 1.0) * part[p] / lr, 0.0)  # R: once (0 if resident)
    s_load = np.where(first_piece[p], s_bytes * min(s_fetch, 1.0) * s_size / ls, 0.0)  # S: once per block
    c_b = c_bytes * part[p] * s_size / (lr * ls)
    share = part[p] / r_size[r[p]]
    r_rows = r_size[r[p]]
    rows, cols, a_b, b_b = (r_rows, s_size, r_load, s_load) if b_streamed else (s_size, r_rows, s_load, r_load)
    return tuple(np.asarray(x, dtype=np.float64) for x in (rows, cols, share, a_b, b_b, c_b))
