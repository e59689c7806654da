"""Per-family cycle models: how one op of a family is simulated.

- Array families (systolic, bitserial, gpu): tiles (hwsim.cycle.tiles). A tile's compute cycles
  are the family's own closed form applied to the tile's sub-GEMM, so per-fold fill and drain
  are counted per tile; the tile DMA is simulated against the backing store.
- lut, fpga, pim: simpy pipelines (hwsim.cycle.pipelines) with the stages that overlap and compete.

Every model returns an OpSim for the whole op (all `count` instances).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.cycle import pipelines as P
from hwsim.cycle.tiles import bin_interval, pipeline, tile_grid
from hwsim.engine.ops import OpColumns
from hwsim.families import lut_core as L
from hwsim.families.host_cpu import host_cycles

N_BINS = 4           # timeline bins per op and resource
MAX_INSTANCES = 4    # instances simulated; beyond, the steady-state increment is extrapolated
HBM_GROUPS = 4       # FPGA HBM pseudo-channels simulated as this many equal groups
CHUNKS = 8           # slices of a streamed elementwise op
K_STEP, MAX_K_STEPS = 64, 64  # GPU GEMMs: CTAs step through k 64 at a time (assumed: cuBLAS-like k tile)


@dataclass
class OpSim:
    cycles: float
    busy: dict            # resource → busy cycles (whole op)
    compute: float        # busy cycles of the compute resources
    memory: float         # busy cycles of the memory channels
    backing_bytes: float  # bytes moved to/from the backing store
    bins: dict            # resource → busy cycles per bin of cycles/N_BINS


def sub_ops(m, n, k, count=1.0, kind="linear") -> OpColumns:
    """OpColumns of GEMM sub-problems (vectorised over tiles) for a family's closed form."""
    m, n, k = (np.asarray(x, dtype=np.float64) for x in np.broadcast_arrays(m, n, k))
    z = np.zeros_like(m)
    cnt = np.broadcast_to(np.asarray(count, dtype=np.float64), m.shape)
    act_in = m * k * cnt
    return OpColumns(name=np.array(["tile"] * m.size), kind=np.array([kind] * m.size), m=m, n=n, k=k,
                     count=cnt, macs=m * n * k * cnt, vector_ops=z, weight_elems=np.where(kind == "linear", n * k, 0.0),
                     act_in_elems=act_in, act_out_elems=m * n * cnt,
                     kv_read_elems=np.where(kind == "attention", n * k * cnt, 0.0), kv_write_elems=z)


def _row(ops: OpColumns, i: int) -> OpColumns:
    return OpColumns(**{f: getattr(ops, f)[i:i + 1] for f in OpColumns.__dataclass_fields__})


# --- tile families -------------------------------------------------------------------------------

def tile_shape(arch, ops_row):
    """(tile_m, tile_n) of an array family: the output block one pass of the array covers."""
    c, fam = arch.compute, arch.family
    m = float(ops_row.m[0])
    if fam == "systolic":
        return {"os": (c["rows"], c["cols"]), "ws": (m, c["cols"])}[c["dataflow"]]  # is: k-chunks
    if fam == "bitserial":
        return c["cols"], c["rows"]
    if fam == "gpu":  # a wave of CTAs along n
        return c["tile_m"], c["tile_n"] * c["sms"]
    raise KeyError(fam)


def _instances(load, comp, store, count, slots):
    """Run `count` instances back to back (extrapolating beyond MAX_INSTANCES)."""
    sim = min(int(count), MAX_INSTANCES)
    rep = lambda x, r: np.tile(x, r)  # noqa: E731
    end, bc, bd, _, cb, db = pipeline(rep(load, sim), rep(comp, sim), rep(store, sim), slots, N_BINS,
                                      float((comp.sum() + load.sum()) * sim))
    if count > sim:
        end1 = pipeline(rep(load, sim - 1), rep(comp, sim - 1), rep(store, sim - 1), slots, 1, 1.0)[0] if sim > 1 else 0.0
        scale = count / sim
        end = end + (count - sim) * (end - end1)
        bc, bd, cb, db = bc * scale, bd * scale, cb * scale, db * scale
    return end, bc, bd, cb, db


def _is_dataflow(arch):
    return arch.family == "systolic" and arch.compute["dataflow"] == "is"


def _chunked(arch, fam, row, prec, io, i, onchip, bpc):
    """Streamed ops cut into CHUNKS equal slices along the reduction (elementwise and embedding
    ops; GPU GEMMs, whose CTAs stream k while a wave runs): each slice loads its share of the
    operands and computes its share of the family's cycles; results leave with the last slice."""
    comp = float(np.asarray(fam.compute_cycles(arch, row, prec), dtype=np.float64).reshape(-1)[0])
    comp = max(comp, float(onchip))
    if not bool(row.gemm[0]):
        chunks = CHUNKS
    elif _is_dataflow(arch):  # input-stationary folds walk K in blocks of `rows`
        chunks = int(np.clip(np.ceil(row.k[0] / arch.compute["rows"]), 1, MAX_K_STEPS))
    else:
        chunks = int(np.clip(row.k[0] // K_STEP, 1, MAX_K_STEPS))
    load = np.full(chunks, (io["a"][i] + io["b"][i]) / bpc / chunks)
    store = np.zeros(chunks)
    store[-1] = io["c"][i] / bpc
    end, bc, bd, _, cb, db = pipeline(load, np.full(chunks, comp / chunks), store, 2, N_BINS,
                                      float(load.sum() + comp + store.sum()))
    moved = float((load.sum() + store.sum()) * bpc)
    return OpSim(end, {"compute": bc, "dma": bd}, bc, bd, moved, {"compute": cb, "dma": db})


def simulate_tiles(arch, fam, ops, prec, i, io, blocking, onchip_cycles, backing_bpc):
    """One op of an array family through the tile pipeline (blocking: per-instance operand bytes
    and the shared memory model's fetch factors, see tile_grid)."""
    row = _row(ops, i)
    count = max(float(ops.count[i]), 1.0)
    if not bool(ops.gemm[i]) or arch.family == "gpu" or _is_dataflow(arch):
        return _chunked(arch, fam, row, prec, io, i, onchip_cycles[i], backing_bpc)
    m, n, k = (int(getattr(ops, f)[i]) for f in ("m", "n", "k"))
    tm, tn = tile_shape(arch, row)
    rows, cols, share, a_b, b_b, c_b = tile_grid(m, n, tm, tn, *(float(blocking[x][i]) for x in
                                                                  ("a", "b", "c", "a_fetch", "b_fetch", "cap_a", "cap_b")))
    sub = sub_ops(rows, cols, np.full(rows.shape, float(k)), kind=str(ops.kind[i]))
    comp = np.asarray(fam.compute_cycles(arch, sub, prec), dtype=np.float64) * share
    comp = np.maximum(comp, onchip_cycles[i] / count * share / share.sum())  # on-chip level bandwidth, spread
    load, store = (a_b + b_b) / backing_bpc, c_b / backing_bpc
    end, bc, bd, cb, db = _instances(load, comp, store, count, 2)
    moved = float((a_b.sum() + b_b.sum() + c_b.sum()) * count)
    return OpSim(end, {"compute": bc, "dma": bd}, bc, bd, moved, {"compute": cb, "dma": db})


# --- pipeline families ---------------------------------------------------------------------------

def _batches(ops, i):
    return int(min(P.MAX_BATCHES, max(1.0, ops.n[i]))) if bool(ops.gemm[i]) else P.MAX_BATCHES


def _result(res: P.PipelineResult, compute_names, memory_names, backing_bytes) -> OpSim:
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


def _io_stages(nb, a_bytes, b_bytes, c_bytes, bpc, channel="dram"):
    """Operand loads (activations with the first batch, B spread) and result stores."""
    load = P.split(a_bytes / bpc, nb, first_only=True) + P.split(b_bytes / bpc, nb)
    return P.Stage(channel, load), P.Stage(channel, P.split(c_bytes / bpc, nb))


def simulate_lut(arch, fam, ops, prec, i, io, bpc):
    """LUT-GEMM: table precompute (vector lanes) → lookups (LUT units) → combine/dequantise
    (vector lanes on CPUs); with `precompute: separate` the tables go out to DRAM and come back
    on the same channel as the weights."""
    row, c = _row(ops, i), arch.compute
    nb = _batches(ops, i)
    load, store = _io_stages(nb, io["a"][i], io["b"][i], io["c"][i], bpc)
    # attention / elementwise, and float weights a CPU runs densely (float_weights: host), on the host lanes
    if not bool(L.lut_mask(row)[0]) or fam.host_dense(arch, prec):
        host = float(np.asarray(fam.compute_cycles(arch, row, prec)).reshape(-1)[0])
        res = P.run([load, P.Stage("vector", P.split(host, nb)), store], nb)
        return _result(res, ("vector",), ("dram",), io["a"][i] + io["b"][i] + io["c"][i])
    planes = L.weight_planes(arch, prec)
    lut = float(L.lut_unit_cycles(arch, row, planes)[0])
    pre = float(L.precompute_cycles(arch, row)[0]) + float(np.asarray(L.precompute_launch_cycles(arch, row)).reshape(-1)[0])
    post = float(L.output_stage_cycles(arch, row, prec, planes)[0])
    tables = float(L.arch_table_bytes(arch, row)[0]) if c["precompute"] == "separate" else 0.0
    # activations (table inputs) first, then precompute, while the weights stream per batch
    stages = [P.Stage("dram", P.split(io["a"][i] / bpc, nb, first_only=True)),
              P.Stage("vector", P.split(pre, nb, first_only=True)),
              P.Stage("dram", P.split(2 * tables / bpc, nb, first_only=True)),  # write out, read back
              P.Stage("dram", P.split(io["b"][i] / bpc, nb)), P.Stage("lut", P.split(lut, nb)), P.Stage("vector", P.split(post, nb)), store]
    res = P.run(stages, nb)
    return _result(res, ("vector", "lut"), ("dram",), io["a"][i] + io["b"][i] + io["c"][i] + 2 * tables)


def simulate_fpga(arch, fam, ops, prec, i, io, bpc):
    """DSP-chain pipeline fed by HBM pseudo-channels: each batch's operands are spread over the
    channels in parallel (each at bandwidth/channels), then the chains compute, then results go out.
    Channels are simulated in at most HBM_GROUPS groups (each the summed bandwidth of its share):
    identical channels fed evenly behave alike, and fewer simpy resources keep it fast."""
    c = arch.compute
    row = _row(ops, i)
    nb = _batches(ops, i)
    ch = min(int(c["hbm_channels"] or c["device_hbm_channels"]), HBM_GROUPS)
    names = tuple(f"hbm{j}" for j in range(ch))
    per = bpc / ch
    load = P.split(io["a"][i] / per / ch, nb, first_only=True) + P.split(io["b"][i] / per / ch, nb)
    comp = float(np.asarray(fam.compute_cycles(arch, row, prec)).reshape(-1)[0])
    stages = [P.Stage(names, load), P.Stage("dsp", P.split(comp, nb)),
              P.Stage(names, P.split(io["c"][i] / per / ch, nb))]
    res = P.run(stages, nb)
    return _result(res, ("dsp",), names, io["a"][i] + io["b"][i] + io["c"][i])


def simulate_pim(arch, fam, ops, prec, i, io, bpc):
    """In-SRAM PIM: command sequences on the shared sub-arrays (weight transposes and bit-serial
    compute, or table writes, lookups and conversion) and the host cores, fed by DRAM."""
    row, c = _row(ops, i), arch.compute
    nb = _batches(ops, i)
    load, store = _io_stages(nb, io["a"][i], io["b"][i], io["c"][i], bpc)
    host = float(host_cycles(arch, row, prec)[0])
    pim = float(np.asarray(fam.pim_cycles(arch, row, prec)).reshape(-1)[0]) if bool(L.lut_mask(row)[0]) else 0.0
    once_host = once_arrays = 0.0
    unit = "host" if c["mode"] == "host" else "arrays"
    if c["mode"] == "lut" and pim > 0:  # tables: built on the host once, written into the arrays once
        once_host = float(np.ceil(L.precompute_cycles(arch, row))[0])
        once_arrays = float(fam.table_write_cycles(arch, row)[0])
        pim -= once_host + once_arrays
    stages = [load, P.Stage("host", P.split(once_host, nb, first_only=True)),
              P.Stage("arrays", P.split(once_arrays, nb, first_only=True)),
              P.Stage(unit, P.split(pim, nb)), P.Stage("host", P.split(host, nb)), store]
    res = P.run(stages, nb)
    return _result(res, ("host", "arrays"), ("dram",), io["a"][i] + io["b"][i] + io["c"][i])


PIPELINES = {"lut": simulate_lut, "fpga": simulate_fpga, "pim": simulate_pim}
TILED = ("systolic", "bitserial", "gpu")
