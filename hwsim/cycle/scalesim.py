"""SCALE-Sim's systolic-array timing, reproduced: stall-free cycles and USER-mode (finite interface
bandwidth) stalls for GEMMs on os | ws | is arrays.

Facts used (SCALE-Sim 3.0.0 behaviour, described in docs/cycle.md; no code is shared):
- Demand streams. Every fold (a tile of the mapped dimensions) is a block of one operand per PE
  edge, padded with idle slots and skewed one cycle per PE row/column; folds follow each other
  without overlap, column folds outermost. One demand row per cycle; a fold lasts K+H+W−2 (os),
  M+2H+W−2 (ws) or N+2H+W−2 (is) rows.
- Prefetch order. The ifmap and filter SRAMs are filled in the order of their folds stacked
  vertically, traversed by anti-diagonals where SCALE-Sim skews them (os: both; ws: ifmap; is:
  filter), row-major otherwise.
- Read buffers (double-buffered, half active): the fetch order is cut into lines of
  ceil(words/100) words; the active window holds ceil(half/line) lines and advances circularly by
  the prefetch half per refill. A refill takes ceil(half/bandwidth) + 1 cycles and refills are
  chained back to back from cycle −1 whatever the array does. A demanded word outside the window
  forces refills; a row that waits `p` cycles for one costs the array 2p cycles (SCALE-Sim adds
  the wait to its offset twice).
- Write buffer: the output SRAM drains half its size in ceil(half/bandwidth) cycles once more than
  half is occupied; the array waits only when the buffer is full during a drain.
- Total = last output row's service cycle; stalls = the sum over rows of the slowest operand's wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from hwsim.errors import HwsimError
from hwsim.families.systolic import stall_free_cycles

DATAFLOWS = ("os", "ws", "is")
WORD_BYTES = 1  # SCALE-Sim fixes one byte per word
LINES_PER_BUFFER = 100  # the read buffer's hashed lines: ceil(words / 100) words each


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def stall_free(dataflow: str, m: int, n: int, k: int, rows: int, cols: int) -> int:
    """SCALE-Sim's stall-free total cycles (the systolic family's closed forms)."""
    if dataflow not in DATAFLOWS:
        raise HwsimError(f"unknown dataflow {dataflow!r}; allowed: {', '.join(DATAFLOWS)}", field="compute.dataflow")
    return int(stall_free_cycles(dataflow, m, n, k, rows, cols))


# --- demand and prefetch streams ------------------------------------------------------------------


def _pad(block: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.full((rows, cols), -1, dtype=np.int64)
    out[: block.shape[0], : block.shape[1]] = block
    return out


def _gap(rows: int, cols: int) -> np.ndarray:
    return np.full((rows, cols), -1, dtype=np.int64)


def _skew(block: np.ndarray) -> np.ndarray:
    """Column c delayed by c cycles (the systolic wavefront)."""
    r, c = block.shape
    out = np.full((r + c - 1, c), -1, dtype=np.int64)
    for j in range(c):
        out[j : j + r, j] = block[:, j]
    return out


def _antidiagonal(mat: np.ndarray) -> np.ndarray:
    """Elements by anti-diagonal (r + c), bottom row first within one."""
    r, c = np.indices(mat.shape)
    order = np.lexsort((-r.ravel(), (r + c).ravel()))
    return mat.ravel()[order]


def _folds(size: int, width: int) -> list[tuple[int, int]]:
    return [(i * width, min((i + 1) * width, size)) for i in range(_cdiv(size, width))]


@dataclass(frozen=True)
class Streams:
    """Per-cycle demands (element ids, −1 idle) and SRAM fill orders of one GEMM."""

    ifmap: np.ndarray
    filter: np.ndarray
    ofmap: np.ndarray
    ifmap_fetch: np.ndarray
    filter_fetch: np.ndarray


def streams(dataflow: str, m: int, n: int, k: int, h: int, w: int) -> Streams:
    """Demand matrices and fill orders as SCALE-Sim lays them out (ids: ifmap m·K+k, filter n·K+k,
    ofmap m·N+n)."""
    A = np.arange(m * k, dtype=np.int64).reshape(m, k)  # ifmap M×K
    B = np.arange(k * n, dtype=np.int64).reshape(n, k).T  # filter K×N, stored by columns
    C = np.arange(m * n, dtype=np.int64).reshape(m, n)  # ofmap M×N
    At = A.T
    dm_i, dm_f, dm_o = [], [], []
    if dataflow == "os":  # M on rows, N on columns, K streamed
        rf, cf = _folds(m, h), _folds(n, w)
        fetch_i = _antidiagonal(np.vstack([_pad(At[:, a:b], k, h) for a, b in rf]))
        fetch_f = _antidiagonal(np.vstack([_pad(B[:, a:b], k, w) for a, b in cf]))
        for c0, c1 in cf:
            for r0, r1 in rf:
                dm_i.append(_skew(np.vstack([_pad(At[:, r0:r1], k, h), _gap(w - 1, h)])))
                dm_f.append(_skew(np.vstack([_pad(B[:, c0:c1], k, w), _gap(h - 1, w)])))
                dm_o.append(_skew(np.vstack([_gap(k - 1, w), _pad(C[r0:r1, c0:c1], h, w)[::-1]])))
    elif dataflow == "ws":  # K on rows, N on columns, M streamed
        rf, cf = _folds(k, h), _folds(n, w)
        fetch_i = _antidiagonal(np.vstack([_pad(A[:, a:b], m, h) for a, b in rf]))
        fetch_f = np.vstack([_pad(B[:, a:b], k, w) for a, b in cf]).ravel()
        for c0, c1 in cf:
            for r0, r1 in rf:
                dm_i.append(_skew(np.vstack([_gap(h, h), _pad(A[:, r0:r1], m, h), _gap(w - 1, h)])))
                dm_f.append(np.vstack([_pad(B[r0:r1, c0:c1], h, w)[::-1], _gap(h + w + m - 2, w)]))
                dm_o.append(_skew(np.vstack([_gap(2 * h - 1, w), _pad(C[:, c0:c1], m, w)])))
    elif dataflow == "is":  # K on rows, M on columns, N streamed
        rf, cf = _folds(k, h), _folds(m, w)
        fetch_i = np.vstack([_pad(At[:, a:b], k, w) for a, b in cf]).ravel()
        fetch_f = _antidiagonal(np.vstack([_pad(B[a:b, :].T, n, h) for a, b in rf]))
        for c0, c1 in cf:
            for r0, r1 in rf:
                dm_i.append(np.vstack([_pad(At[r0:r1, c0:c1], h, w)[::-1], _gap(h + w + n - 2, w)]))
                dm_f.append(_skew(np.vstack([_gap(h, h), _pad(B[r0:r1, :].T, n, h), _gap(w - 1, h)])))
                dm_o.append(_skew(np.vstack([_gap(2 * h - 1, w), _pad(C[c0:c1, :].T, n, w)])))
    else:
        stall_free(dataflow, m, n, k, h, w)  # raises
    return Streams(np.vstack(dm_i), np.vstack(dm_f), np.vstack(dm_o), fetch_i, fetch_f)


def _lines(fetch: np.ndarray, n_ids: int, words_per_line: int) -> tuple[np.ndarray, int]:
    """Line of every element id in the fill order, and the number of lines (SCALE-Sim counts one
    more, empty, line when the words divide evenly)."""
    valid = fetch[fetch >= 0]
    line = np.full(n_ids, -1, dtype=np.int64)
    line[valid] = np.arange(valid.size, dtype=np.int64) // words_per_line
    return line, valid.size // words_per_line + 1


# --- the memory system --------------------------------------------------------------------------


@numba.njit(cache=True)
def _read_row(lines: np.ndarray, row: int, cycle: int, st: np.ndarray) -> int:
    """Serve one demand row from a read buffer; st = [window start, active lines, prefetch lines,
    lines, last refill cycle, refill cycles, initial window end]. Returns the row's wait."""
    offset = 1
    for j in range(lines.shape[1]):
        ln = lines[row, j]
        if ln < 0:
            continue
        while True:
            s, a, n, end = st[0], st[1], st[3], st[6]
            hit = (s <= ln < end) if s < end else (ln >= s or ln < end)
            if hit:
                break
            st[0] = (s + st[2]) % n
            st[6] = (st[0] + a) % n
            st[4] += st[5]
            pot = st[4] - (cycle + offset)
            offset += pot
            if pot > 0:
                offset += pot
    return offset - 1


@numba.njit(cache=True)
def _simulate(
    lines_i: np.ndarray,
    lines_f: np.ndarray,
    out_counts: np.ndarray,
    st_i: np.ndarray,
    st_f: np.ndarray,
    ob_total: int,
    ob_drain: int,
    ob_bw: int,
) -> tuple[int, int]:
    """Row by row: SCALE-Sim's double-buffered scratchpad. Returns (total, stalls)."""
    rows = lines_i.shape[0]
    stalls = 0
    total = 0
    # write buffer state
    free = ob_total
    drain_end = 0
    line_fill = 0
    trace_valid = np.zeros(out_counts.sum() + rows + 1, dtype=np.int64)
    n_trace = 0
    drained_to = 0
    drain_lines = (ob_drain + ob_bw - 1) // ob_bw
    for i in range(rows):
        cycle = i + stalls
        wi = _read_row(lines_i, i, cycle, st_i)
        wf = _read_row(lines_f, i, cycle, st_f)
        current = cycle
        for _ in range(out_counts[i]):
            line_fill += 1
            free -= 1
            if line_fill == ob_bw:
                trace_valid[n_trace] = ob_bw
                n_trace += 1
                line_fill = 0
            if current < drain_end:
                if free <= 0:
                    current = drain_end
            elif free < ob_total - ob_drain:
                if line_fill > 0:  # the partial line is flushed padded
                    trace_valid[n_trace] = line_fill
                    n_trace += 1
                    line_fill = 0
                stop = min(drained_to + drain_lines, n_trace)
                k = stop - drained_to
                free += k * ob_bw - (ob_bw - trace_valid[stop - 1])
                drained_to = stop
                drain_end = current + k - 1
        wo = current - cycle
        total = max(total, current)
        stalls += max(wi, wf, wo)
    return total, stalls


def _read_state(fetch: np.ndarray, n_ids: int, kib: int, bw: int) -> tuple[np.ndarray, np.ndarray]:
    words = 1024 * kib // WORD_BYTES
    active = math.ceil(words * 0.5)
    prefetch = words - active
    per_line = math.ceil(words / LINES_PER_BUFFER)
    line, n_lines = _lines(fetch, n_ids, per_line)
    a = min(math.ceil(active / per_line), n_lines)
    p = min(math.ceil(prefetch / per_line), n_lines - a)
    st = np.array([0, a, p, n_lines, -1, math.ceil(prefetch / bw) + 1, a], dtype=np.int64)
    return line, st


def _as_lines(demand: np.ndarray, line: np.ndarray) -> np.ndarray:
    return np.where(demand >= 0, line[np.maximum(demand, 0)], -1)


@dataclass(frozen=True)
class ScaleSimResult:
    total_cycles: int
    stall_cycles: int
    compute_cycles: int  # the stall-free count


def scalesim_cycles(
    dataflow: str,
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    bandwidth: int | None = None,
    sram_kib: tuple[int, int, int] = (64, 64, 64),
) -> ScaleSimResult:
    """SCALE-Sim's total and stall cycles for one GEMM; bandwidth None = CALC (stall-free) mode,
    else USER mode with `bandwidth` words per cycle on every interface and SRAMs of sram_kib
    (ifmap, filter, ofmap) KiB."""
    free = stall_free(dataflow, m, n, k, rows, cols)
    if bandwidth is None:
        return ScaleSimResult(free, 0, free)
    if bandwidth < 1:
        raise HwsimError(f"bandwidth must be ≥ 1 word/cycle, got {bandwidth}", field="bandwidth")
    s = streams(dataflow, m, n, k, rows, cols)
    li, st_i = _read_state(s.ifmap_fetch, m * k, sram_kib[0], bandwidth)
    lf, st_f = _read_state(s.filter_fetch, k * n, sram_kib[1], bandwidth)
    out_words = 1024 * sram_kib[2] // WORD_BYTES
    drain = out_words - math.ceil(out_words * 0.5)
    counts = (s.ofmap >= 0).sum(axis=1).astype(np.int64)
    total, stalls = _simulate(
        _as_lines(s.ifmap, li), _as_lines(s.filter, lf), counts, st_i, st_f, out_words, drain, int(bandwidth)
    )
    return ScaleSimResult(int(total), int(stalls), free)
