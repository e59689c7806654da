"""Cycle-level building blocks shared by the families' cycle models (hwsim/families/<name>/cycle.py).

- Array families (systolic, bitserial, gpu): `simulate_tiles` — a tile's compute cycles are the
  family's own closed form applied to the tile's sub-GEMM, so per-fold fill and drain are counted per
  tile; the tile DMA is simulated against the backing store. The family says its tile shape.
- Pipeline families (lut, fpga, pim): simpy stages (hwsim.sim.pipelines) that overlap and compete;
  `pipeline_result` turns a run into an OpSim.

The cycle engine (hwsim.cycle) prepares a SimContext once per trace and calls
`family.simulate_op(ctx, i)` for each distinct op; every model returns an OpSim for the whole op
(all `count` instances).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwsim.core.ops import OpColumns
from hwsim.core.precision import ResolvedPrecision
from hwsim.core.spec import Accelerator
from hwsim.sim import pipelines as P
from hwsim.sim.blocking import k_slice_depths
from hwsim.sim.tiles import bin_interval, pipeline, tile_grid

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import ArrayLike

N_BINS = 4  # timeline bins per op and resource
MAX_INSTANCES = 4  # instances simulated; beyond, the steady-state increment is extrapolated
CHUNKS = 8  # slices of a streamed elementwise op
MAX_TILES = 1 << 22  # tiles simulated per op (instances included); beyond, tiles merge (coarsened)


@dataclass
class OpSim:
    cycles: float
    busy: dict  # resource → busy cycles (whole op)
    compute: float  # busy cycles of the compute resources
    memory: float  # busy cycles of the memory channels
    backing_bytes: float  # bytes moved to/from the backing store
    bins: dict  # resource → busy cycles per bin of cycles/N_BINS


@dataclass(frozen=True)
class SimContext:
    """What every op's simulation reads, prepared once per trace by the cycle engine.

    `arch`/`prec`: the machine as it runs at this precision (Family.configure applied); `io`: bytes the
    backing store serves per op ("a", "b", "c"; the shared memory model's fetch factors applied);
    `blocking`: per-instance operand bytes, fetch factors and buffer capacities (see tile_grid);
    `onchip`: cycles of the slowest on-chip level per op; `bpc`: backing-store bytes per cycle; `spill`: bytes
    per op written to the backing store and read back besides the operands (Family.spill_bytes, as the shared
    memory model computed them: the cycle models take them from here, not from the family again)."""

    arch: Accelerator
    family: Any
    ops: OpColumns
    prec: ResolvedPrecision
    io: dict
    blocking: dict
    onchip: np.ndarray
    bpc: float
    spill: np.ndarray

    def row(self, i: int) -> OpColumns:
        return _row(self.ops, i)

    def spilled(self, i: int) -> np.ndarray:
        """`spill` of op i as a one-op column (the `spill` argument of Family.startup_parts on `row(i)`)."""
        return self.spill[i : i + 1]

    def compute_cycles(self, i: int) -> float:
        """The family's closed-form compute cycles of op i (Family.compute_parts on its one-op table), as a float."""
        return scalar(self.family.compute_parts(self.arch, self.row(i), self.prec, self.spilled(i))[0])


def scalar(x: ArrayLike) -> float:
    """The value of a one-op column (or a scalar) as a float."""
    return float(np.asarray(x, dtype=np.float64).reshape(-1)[0])


def sub_ops(m: ArrayLike, n: ArrayLike, k: ArrayLike, count: ArrayLike = 1.0, kind: str = "linear") -> OpColumns:
    """OpColumns of GEMM sub-problems (vectorised over tiles) for a family's closed form."""
    m, n, k = (np.asarray(x, dtype=np.float64) for x in np.broadcast_arrays(m, n, k))
    z = np.zeros_like(m)
    cnt = np.broadcast_to(np.asarray(count, dtype=np.float64), m.shape)
    act_in = m * k * cnt
    return OpColumns(
        name=np.array(["tile"] * m.size),
        kind=np.array([kind] * m.size),
        m=m,
        n=n,
        k=k,
        count=cnt,
        macs=m * n * k * cnt,
        vector_ops=z,
        weight_elems=np.where(kind == "linear", n * k, 0.0),
        act_in_elems=act_in,
        act_out_elems=m * n * cnt,
        kv_read_elems=np.where(kind == "attention", n * k * cnt, 0.0),
        kv_write_elems=z,
    )


def _row(ops: OpColumns, i: int) -> OpColumns:
    return ops.take(slice(i, i + 1))


# --- tile families -------------------------------------------------------------------------------


def _instances(
    load: np.ndarray, comp: np.ndarray, store: np.ndarray, count: float, slots: int
) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """Run `count` instances back to back (extrapolating beyond MAX_INSTANCES)."""
    sim = min(int(count), MAX_INSTANCES)
    rep = lambda x, r: np.tile(x, r)  # noqa: E731
    end, bc, bd, _, cb, db = pipeline(
        rep(load, sim), rep(comp, sim), rep(store, sim), slots, N_BINS, float((comp.sum() + load.sum()) * sim)
    )
    if count > sim:
        end1 = (
            pipeline(rep(load, sim - 1), rep(comp, sim - 1), rep(store, sim - 1), slots, 1, 1.0)[0] if sim > 1 else 0.0
        )
        scale = count / sim
        end = end + (count - sim) * (end - end1)
        bc, bd, cb, db = bc * scale, bd * scale, cb * scale, db * scale
    return end, bc, bd, cb, db


def stream_op(ctx: SimContext, i: int, chunks: int | None = None) -> OpSim:
    """Streamed ops cut into slices along the reduction (`chunks` equal slices; by default elementwise
    and embedding ops in CHUNKS, GEMMs whose units stream k while a wave runs in K_STEP-deep slices,
    the last partial: hwsim.sim.blocking.k_slice_depths): each slice loads its share of the operands and
    computes its share of the family's cycles; results leave with the last slice."""
    row, io, bpc = ctx.row(i), ctx.io, ctx.bpc
    comp = max(ctx.compute_cycles(i), float(ctx.onchip[i]))
    sliced = chunks is None and bool(row.gemm[0])
    shape = ctx.family.tile_shape(ctx.arch, row) if sliced else None
    if sliced:  # the depth each unit streams: the family's tile's (Family.tile_shape), else the op's k
        k = float(np.ravel(shape[2])[0]) if shape is not None and len(shape) > 2 else float(row.k[0])
        share = k_slice_depths(k) / k if k > 0 else np.ones(1)
    else:
        share = np.full(CHUNKS if chunks is None else chunks, 1.0 / (CHUNKS if chunks is None else chunks))
    load = (io["a"][i] + io["b"][i]) / bpc * share
    if sliced and shape is not None and len(shape) > 3 and bool(np.ravel(shape[3])[0]):
        # A loads whole with the first slice (the family's tiles hold it: Family.tile_shape)
        load += io["a"][i] / bpc * (np.arange(len(share)) == 0) - io["a"][i] / bpc * share
    store = np.zeros(len(share))
    store[-1] = io["c"][i] / bpc
    end, bc, bd, _, cb, db = pipeline(load, comp * share, store, 2, N_BINS, float(load.sum() + comp + store.sum()))
    moved = float((load.sum() + store.sum()) * bpc)
    return OpSim(end, {"compute": bc, "dma": bd}, bc, bd, moved, {"compute": cb, "dma": db})


def coarsened(m: int, n: int, tile_m: float, tile_n: float, instances: float, fetch: float) -> tuple[float, float]:
    """Tiles of at most MAX_TILES in all the simulated instances (with the parts of tiles that straddle one of
    `fetch` super-blocks, tile_grid): the dimension cut into more tiles takes tiles twice as large until they
    fit. Whole tiles merge, so each sub-GEMM's passes (ceil per array dimension) sum as before, and the bytes
    are the same; only the overlap of loads and compute is coarser."""
    f = max(int(np.ceil(fetch)), 1) - 1
    cut = lambda size, tile: -(-size // int(min(tile, size)))  # noqa: E731
    while (cm := cut(m, tile_m)) * (cn := cut(n, tile_n)) + f * max(cm, cn) > MAX_TILES / instances and cm * cn > 1:
        if cm >= cn:
            tile_m *= 2
        else:
            tile_n *= 2
    return tile_m, tile_n


def simulate_tiles(ctx: SimContext, i: int, tile_m: float, tile_n: float) -> OpSim:
    """One GEMM of an array family through the tile pipeline: output blocks of tile_m × tile_n (one
    pass of the array), cut further by the shared memory model's fetch factors (see tile_grid);
    non-GEMM ops stream (stream_op)."""
    ops, blocking = ctx.ops, ctx.blocking
    if not bool(ops.gemm[i]):
        return stream_op(ctx, i)
    count = max(float(ops.count[i]), 1.0)
    m, n, k = (int(getattr(ops, f)[i]) for f in ("m", "n", "k"))
    fetch = max(float(blocking["a_fetch"][i]), float(blocking["b_fetch"][i]))
    tile_m, tile_n = coarsened(m, n, tile_m, tile_n, min(count, MAX_INSTANCES), fetch)
    rows, cols, share, a_b, b_b, c_b = tile_grid(
        m, n, tile_m, tile_n, *(float(blocking[x][i]) for x in ("a", "b", "c", "a_fetch", "b_fetch", "cap_a", "cap_b"))
    )
    sub = sub_ops(rows, cols, np.full(rows.shape, float(k)), kind=str(ops.kind[i]))
    comp = np.asarray(ctx.family.compute_cycles(ctx.arch, sub, ctx.prec), dtype=np.float64) * share
    comp = np.maximum(comp, ctx.onchip[i] / count * share / share.sum())  # on-chip level bandwidth, spread
    load, store = (a_b + b_b) / ctx.bpc, c_b / ctx.bpc
    end, bc, bd, cb, db = _instances(load, comp, store, count, 2)
    moved = float((a_b.sum() + b_b.sum() + c_b.sum()) * count)
    return OpSim(end, {"compute": bc, "dma": bd}, bc, bd, moved, {"compute": cb, "dma": db})


# --- pipeline families ---------------------------------------------------------------------------


def batches(ops: OpColumns, i: int) -> int:
    """Pipeline batches of op i: one per output column of a GEMM, at most P.MAX_BATCHES."""
    return int(min(P.MAX_BATCHES, max(1.0, ops.n[i]))) if bool(ops.gemm[i]) else P.MAX_BATCHES


def pipeline_result(
    res: P.PipelineResult, compute_names: Iterable[str], memory_names: Iterable[str], backing_bytes: float
) -> OpSim:
    """An OpSim from a simpy pipeline run: compute = summed busy time of the compute resources,
    memory = the busiest memory channel, busy time binned for the timeline."""
    width = max(res.end / N_BINS, 1e-12)
    bins = {}
    for name, ivs in res.intervals.items():
        b = np.zeros(N_BINS)
        for s, e in ivs:
            bin_interval(b, s, e, width)
        bins[name] = b
    compute = sum(res.busy.get(n, 0.0) for n in compute_names)
    memory = max([res.busy.get(n, 0.0) for n in memory_names] + [0.0])
    return OpSim(res.end, dict(res.busy), compute, memory, backing_bytes, bins)


def io_stages(ctx: SimContext, i: int, nb: int, channel: str | tuple = "dram") -> tuple[P.Stage, P.Stage, P.Stage]:
    """A GEMM's activations loaded once first (every batch of outputs reduces over all of them: the shared
    rule's first load, with BatchedFamily's one-column tile), B streamed into the batch's compute (with any
    re-reads of activations that do not fit on chip), results stored. An elementwise or embedding op's batches
    are slices of its elements, each needing only its own slice of A: A streams with B (the shared rule exposes
    no load of a non-GEMM op, hwsim.engine.machine.exposed_cycles). With a tuple of channels the bytes are spread
    over them (each carries its share at bpc / channels: x / bpc cycles)."""
    io, bpc = ctx.io, ctx.bpc
    a_once = io["a"][i] / max(float(ctx.blocking["a_fetch"][i]), 1.0) if bool(ctx.ops.gemm[i]) else 0.0
    stream = io["b"][i] + io["a"][i] - a_once
    return (
        P.once(channel, a_once / bpc, nb),
        P.Stage(channel, P.split(stream / bpc, nb), streams=True),
        P.Stage(channel, P.split(io["c"][i] / bpc, nb)),
    )


def backing_bytes(ctx: SimContext, i: int) -> float:
    """Bytes op i moves through the backing store (loads and stores)."""
    return float(ctx.io["a"][i] + ctx.io["b"][i] + ctx.io["c"][i])
