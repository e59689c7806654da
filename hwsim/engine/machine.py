"""The machine at one precision, configured once: what the analytical engine, the cycle engine,
roofline, allocation and sweeps all cost on (Family.configure runs here and nowhere else per call); and the
rows of a table that run at formats of their own whatever that precision (`fixed_groups`, `with_fixed_rows`:
DeepSeek-V3.2's lightning indexer), each costed on the machine at their formats by every one of those callers."""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from hwsim.core.ops import OpColumns, OperandBytes, operand_bytes, shape_of
from hwsim.core.precision import OPERANDS, Precision, ResolvedPrecision, is_kept, resolve_precision
from hwsim.core.spec import Accelerator
from hwsim.errors import HwsimError, HwsimWarning
from hwsim.engine.memory import Traffic, level_bytes_per_cycle, operand_capacities, traffic
from hwsim.families import get_family
from hwsim.families.base import Family
from hwsim.kept import kept_by
from hwsim.tech.components import sum_area_mm2
from hwsim.sim.blocking import held_pipeline_ends, k_slice_ends, pipeline_ends
from hwsim.workload.layer_ops import FIXED_OPERANDS


@dataclass(frozen=True)
class Machine:
    """`spec`/`asked`: the design and precision as given (area is priced on them); `arch`/`prec`: the
    machine as it runs at that precision (derated clock, channels in use, storage bits)."""

    spec: Accelerator
    asked: ResolvedPrecision
    family: Family
    arch: Accelerator
    prec: ResolvedPrecision

    @functools.cached_property
    def area_terms(self) -> list:
        """The design's area as components × instances (Family.area_terms), computed once per machine."""
        fam = type(self.family)
        if fam.area_terms is Family.area_terms and fam.area_mm2 is not Family.area_mm2:  # priced as one sum
            return self.family.area_terms_of_total(self.area_mm2)
        return self.family.area_terms(self.spec, self.asked)

    @functools.cached_property
    def area_mm2(self) -> float | np.ndarray:
        """mm² of the design as given (Family.area_mm2), computed once per machine: the sum of area_terms
        unless the family prices area as one sum."""
        if type(self.family).area_mm2 is Family.area_mm2:
            return sum_area_mm2(self.area_terms)
        return self.family.area_mm2(self.spec, self.asked)


def configure(arch: Accelerator, precision: Precision | ResolvedPrecision | None = None) -> Machine:
    """The machine `arch` at `precision`, kept per spec (a spec is not changed after it is built, as
    Accelerator.buffer_capacity assumes) and per (family model, resolved precision): its run spec and its
    area are derived once per design and precision, not on every engine call."""
    prec = resolve_precision(precision)
    fam = get_family(arch.family)
    last = arch.__dict__.get("_machine_last")  # the last one asked, by identity: no hash of the precision (~1 µs)
    if last is not None and last[0] is fam and last[1] is prec:
        return last[2]
    # an unhashable precision (arrays over design points) is configured every call
    got = kept_by(arch, "_machines", (fam, prec), lambda: Machine(arch, prec, fam, *fam.configure(arch, prec)))
    if is_kept(prec):  # hashable and held for good (resolve_precision): its identity stands for its value
        arch.__dict__["_machine_last"] = (fam, prec, got)
    return got


def fixed_groups(ops: OpColumns) -> tuple[tuple[dict[str, str], np.ndarray], ...]:
    """(operand formats, row mask) of each op role whose rows run at formats of their own whatever the caller's
    precision (hwsim.workload.layer_ops.FIXED_OPERANDS: DeepSeek-V3.2's indexer), kept per OpColumns; () for a
    table without such rows (every other model: nothing changes)."""
    got = ops.__dict__.get("_fixed_groups")
    if got is None:
        got = ()
        # only attention and elementwise rows have such roles: a table of linears and embeddings needs no look
        if ops.op is not None and not ops.only("linear", "embedding"):
            present = FIXED_OPERANDS.keys() & set(ops.op.tolist())
            got = tuple((FIXED_OPERANDS[role], ops.op == role) for role in sorted(present))
        ops.__dict__["_fixed_groups"] = got  # beside the frozen fields, as the kind masks
    return got


def fixed_precision(asked: ResolvedPrecision, formats: Mapping[str, str]) -> ResolvedPrecision:
    """`asked` with the operands `formats` names replaced by those formats."""
    return resolve_precision(Precision(**{o: formats.get(o, getattr(asked, o)) for o in OPERANDS}))


# cost(machine, rows, mask): per-op columns of `rows` (the table's rows at `mask`) on `machine`, each an array whose
# last axis is over those rows (or a value for all of them)
RowCost = Callable[[Machine, OpColumns, np.ndarray], Mapping[str, np.ndarray]]


def with_fixed_rows(m: Machine, ops: OpColumns, cols: Mapping[str, np.ndarray], cost: RowCost) -> dict:
    """`cols` (per-op columns of `ops` on `m`, every row at m's precision) with the rows of each fixed group
    (`fixed_groups`) replaced by `cost(the machine at the caller's precision with those operands replaced, those
    rows, their mask)`: the one way the analytical engine, the cycle engine, roofline and explain cost them, as a
    quantized checkpoint's per-op weights are (hwsim.engine.per_op). A design that cannot run a group's formats
    keeps those rows at the caller's precision, with a warning (never silently). `cols` itself for a table without
    such rows. Columns keep their dtype (numbers, labels, objects) and take the shape both sides broadcast to."""
    groups = fixed_groups(ops)
    if not groups:
        return cols if type(cols) is dict else dict(cols)
    out = dict(cols)
    n = len(ops)
    for formats, mask in groups:
        try:
            sub = cost(configure(m.spec, fixed_precision(m.asked, formats)), ops.take(mask), mask)
        except HwsimError as exc:  # a design that cannot run them: the caller's precision, said (never silently)
            shown = ", ".join(f"{o} {f}" for o, f in formats.items())
            warnings.warn(
                HwsimWarning(
                    f"{m.spec.name} cannot run {shown} ({exc.detail}): those rows costed at the given precision"
                ),
                stacklevel=3,
            )
            continue
        for key, col in out.items():
            col, part = np.asarray(col), np.asarray(sub[key])
            shape = np.broadcast_shapes(col.shape, part.shape[:-1] + (n,))
            full = np.array(np.broadcast_to(col, shape), dtype=np.result_type(col, part))
            full[..., mask] = part
            full.setflags(write=False)
            out[key] = full
    return out


@dataclass(frozen=True)
class OpTraffic:
    """The shared memory model of a machine on a set of ops: operand bytes, resident masks, traffic."""

    bytes: OperandBytes
    resident: tuple
    traffic: Traffic
    capacities: tuple  # on-chip bytes for A and B of each op (hwsim.engine.memory.operand_capacities)
    spill: np.ndarray | float = 0.0  # bytes per op written to the backing store and read back (Family.spill_bytes)
    array_reads: tuple = (1.0, 1.0)  # on-chip reads of A and B per op (Family.array_reads; explain splits by them)


def op_traffic(m: Machine, ops: OpColumns) -> OpTraffic:
    ob = operand_bytes(ops, m.prec)
    resident = m.family.resident(m.arch, ops, m.prec)
    caps = operand_capacities(m.arch, ops)
    a_reads, b_reads = m.family.array_reads(m.arch, ops)
    spill = m.family.spill_bytes(m.arch, ops, m.prec)
    tr = traffic(
        m.arch, ops, ob, a_reads, b_reads, m.family.memory_round, resident[0], resident[1], caps=caps, spill=spill
    )
    return OpTraffic(ob, resident, tr, caps, spill, (a_reads, b_reads))


def _plus_zero(x: object) -> bool:
    """Whether `x` is the Python float +0.0 (a part that is absent: np.maximum(x, 0.0), np.ceil(x) and y - x
    then give 0.0 and y without a numpy call)."""
    return type(x) is float and x == 0.0 and math.copysign(1.0, x) > 0


def exposed_cycles(
    m: Machine,
    ops: OpColumns,
    shared: OpTraffic,
    compute: float | np.ndarray,
    memory: float | np.ndarray,
    startup: float | np.ndarray,
) -> tuple:
    """What a double-buffered tile pipeline cannot overlap (the overlap rule both engines share:
    cycles = max(compute + to_compute, memory + to_memory)). Returns (to_compute, to_memory):

    - to_compute: the first tile's load, before any compute, and the last tile's store, after all of it
      (backing-store cycles, rounded as memory cycles are);
    - to_memory: the work every tile waits for before the first one (Family.startup_parts: LUT tables) and
      the last tile's compute, after the last load (its share of the op's outputs; the memory side's drain).

    Tiles are the family's (Family.tile_shape: the cycle engine's own tiles or pipeline batches), cut by
    hwsim.sim.blocking.pipeline_ends; GEMM ops only. Families without tiles (or with
    exposes_pipeline_ends off) expose only their start-up work. `startup`: the start-up work's cycles
    per op (the sum of Family.compute_parts' startup_parts); the part of it that moves spilled bytes
    through the backing store is in `memory` already."""
    bpc = level_bytes_per_cycle(m.arch)[0]  # the backing store's (memory[0])
    spill = shared.spill
    if type(spill) is float and spill == 0.0 and type(bpc) is float and bpc > 0.0:
        # no spill (Family.spill_bytes' default): x - 0.0 is x; no start-up work (+0.0): np.maximum's 0.0
        startup_left = 0.0 if _plus_zero(startup) else np.maximum(startup, 0.0)
    else:
        startup_left = np.maximum(startup - np.ceil(2 * np.asarray(spill) / bpc), 0.0)
    shape = m.family.tile_shape(m.arch, ops)
    if shape is None or not m.family.exposes_pipeline_ends:
        return 0.0, np.ceil(startup_left)
    ob, tr = shared.bytes, shared.traffic
    # every operand fetched once (fetch factors all 1.0, as the bytes are shaped): blocking takes the values
    # its fetch terms have then without computing them (hwsim.sim.blocking's `once`)
    once = tr.once and shape_of(tr.a_fetch) == shape_of(ob.a) == shape_of(ob.b)
    if m.family.batch_pipeline:  # one pipeline for all instances; re-reads stream (no super-blocks)
        if once:  # np.minimum(1.0, 1.0) is 1.0
            count, a_fetch, b_fetch = 1.0, tr.a_fetch, tr.b_fetch
        else:
            count, a_fetch, b_fetch = 1.0, np.minimum(tr.a_fetch, 1.0), np.minimum(tr.b_fetch, 1.0)
    else:
        count, a_fetch, b_fetch = np.maximum(ops.count, 1.0), tr.a_fetch, tr.b_fetch
    # one instance's compute and bytes; tile shares are of its outputs. Every op one instance (count all 1.0):
    # the values themselves (x / 1.0 is x, and x - 0.0 is x), without the divisions
    whole = ops.single and shape_of(count) == shape_of(ops.count)
    per_tile = (compute if _plus_zero(startup) else compute - startup) if whole else None
    if per_tile is None or shape_of(per_tile)[-1:] != shape_of(count):
        per_tile, whole = (compute - startup) / count, False
    a1, b1, c1 = (ob.a, ob.b, ob.c) if whole else (ob.a / count, ob.b / count, ob.c / count)
    ab = (ops.m, ops.n, shape[0], shape[1], a1, b1, c1, a_fetch, b_fetch)
    refills: float | np.ndarray = 0.0
    imbalance: float | np.ndarray = 0.0
    if len(shape) == 2 and not m.family.batch_pipeline:  # tile_grid's tiles: held super-blocks refill
        cap_a, cap_b = shared.capacities
        load, store, last, refills, imbalance = held_pipeline_ends(
            *ab, cap_a, cap_b, per_tile, memory if whole else memory / count, bpc, count, once
        )
    else:
        cap_a, cap_b = shared.capacities
        load, store, last = pipeline_ends(*ab, cap_a, cap_b, once)
    last_compute = per_tile * last
    if len(shape) > 2:  # the tile (the whole op) streams its reduction in slices, re-reads included
        a_bytes = ob.a * tr.a_fetch
        held = np.where(shape[3], a_bytes, 0.0)  # A that loads whole with the first slice
        ends, last_compute = k_slice_ends(
            shape[2], a_bytes + ob.b * tr.b_fetch, store, last_compute, bpc, held, m.family.memory_round
        )
    else:
        ends = m.family.memory_round((load + store) / bpc + refills)
    imbalance = 0.0 if _plus_zero(imbalance) else np.ceil(imbalance)  # np.ceil(0.0) is 0.0
    if ops.only("linear", "attention") and shape_of(ends)[-1:] == shape_of(last_compute)[-1:] == (len(ops),):
        # every op a GEMM: the values np.where(ops.gemm, ..., 0.0) picks, at its shape (each is over the ops)
        return ends + imbalance, np.ceil(startup_left + (last_compute + imbalance))
    gemm = ops.gemm
    return (
        np.where(gemm, ends + imbalance, 0.0),
        np.ceil(startup_left + np.where(gemm, last_compute + imbalance, 0.0)),
    )
