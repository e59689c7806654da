"""Tile-level execution of one op on an array: per tile DMA in, compute, DMA out, with `slots`
tile buffers (2 = double buffering) and one DMA channel to the backing store shared by loads
and stores. The hot loop is numba; tiles are built with numpy (no Python loop per tile).

Tiling (hwsim.cycle.plan builds the tiles): a GEMM instance is cut into output tiles of
tile_m × tile_n over the whole reduction. One operand is kept resident in super-blocks that fit
its buffer (the one the shared memory model re-fetches less); the other is streamed once per
super-block. So backing-store bytes follow the tiles actually loaded.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def pipeline(load_cycles, compute, store_cycles, slots, n_bins, span_hint):
    """Simulate the tiles in order. Returns (end cycle, compute busy, dma busy, first compute start,
    compute busy per bin, dma busy per bin) with bins of span_hint/n_bins cycles (the last bin
    takes any overflow)."""
    n = load_cycles.shape[0]
    ce = np.zeros(n)  # compute end per tile
    le = np.zeros(n)  # load end per tile
    dma = 0.0
    comp_bins = np.zeros(n_bins)
    dma_bins = np.zeros(n_bins)
    width = max(span_hint / n_bins, 1.0)
    busy_c = 0.0
    busy_d = 0.0
    first = -1.0
    # load of tile 0
    le[0] = load_cycles[0]
    dma = le[0]
    bin_interval(dma_bins, 0.0, le[0], width)
    busy_d += load_cycles[0]
    for i in range(n):
        if i + 1 < n:  # prefetch the next tile into a free slot
            ready = ce[i + 1 - slots] if i + 1 - slots >= 0 else 0.0
            start = max(dma, ready)
            le[i + 1] = start + load_cycles[i + 1]
            bin_interval(dma_bins, start, le[i + 1], width)
            busy_d += load_cycles[i + 1]
            dma = le[i + 1]
        cs = max(le[i], ce[i - 1] if i > 0 else 0.0)
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
def bin_interval(bins, start, end, width):
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


def tile_grid(m, n, k, tile_m, tile_n, a_elem_bytes, b_elem_bytes, c_elem_bytes, cap_a, cap_b,
              a_resident=False, b_resident=False):
    """Tiles of one GEMM instance in execution order: arrays (rows, cols, a_bytes, b_bytes,
    c_bytes) where rows × cols is the tile's output block.

    The resident side R (B if re-fetching A costs less, as in hwsim.engine.memory) is grouped in
    super-blocks of g tiles that fit its buffer; for each super-block the streamed side S walks
    its tiles, and within one S tile the g tiles of R: S is loaded once per super-block, R once.
    """
    tm, tn = int(min(tile_m, m)), int(min(tile_n, n))
    nm, nn = -(-m // tm), -(-n // tn)
    rows_of = np.minimum(tm, m - tm * np.arange(nm))
    cols_of = np.minimum(tn, n - tn * np.arange(nn))
    a_full, b_full = m * k * a_elem_bytes, k * n * b_elem_bytes
    # choose the resident side like the shared memory model: fewer bytes re-fetched
    refetch_if_b_res = 1 if (a_full <= cap_a or b_full <= cap_b) else -(-b_full // cap_b)
    refetch_if_a_res = 1 if (a_full <= cap_a or b_full <= cap_b) else -(-a_full // cap_a)
    b_is_resident = a_full * refetch_if_b_res + b_full <= b_full * refetch_if_a_res + a_full
    if b_is_resident:
        nr, ns, r_size, s_size = nn, nm, cols_of, rows_of
        g = nn if (b_full <= cap_b or a_full <= cap_a) else max(1, int(cap_b // (k * tn * b_elem_bytes)))
    else:
        nr, ns, r_size, s_size = nm, nn, rows_of, cols_of
        g = nm if (a_full <= cap_a or b_full <= cap_b) else max(1, int(cap_a // (k * tm * a_elem_bytes)))
    blocks = -(-nr // g)
    jb, s, rr = np.meshgrid(np.arange(blocks), np.arange(ns), np.arange(g), indexing="ij")
    r = jb * g + rr
    keep = r < nr
    r, s, rr, jb = r[keep], s[keep], rr[keep], jb[keep]
    first_r = rr == 0  # streamed block loaded at the first resident tile of its super-block
    first_s = s == 0  # resident block loaded on the first streamed tile
    if b_is_resident:
        rows, cols = s_size[s], r_size[r]
        a_b = np.where(first_r, rows * k * a_elem_bytes, 0.0)
        b_b = np.where(first_s, cols * k * b_elem_bytes, 0.0)
    else:
        rows, cols = r_size[r], s_size[s]
        a_b = np.where(first_s, rows * k * a_elem_bytes, 0.0)
        b_b = np.where(first_r, cols * k * b_elem_bytes, 0.0)
    if a_resident:
        a_b = np.zeros_like(a_b)
    if b_resident:
        b_b = np.zeros_like(b_b)
    return (rows.astype(np.float64), cols.astype(np.float64), a_b.astype(np.float64),
            b_b.astype(np.float64), (rows * cols * c_elem_bytes).astype(np.float64))
