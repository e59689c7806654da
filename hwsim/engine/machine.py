"""The machine at one precision, configured once: what the analytical engine, the cycle engine,
roofline, allocation and sweeps all cost on (Family.configure runs here and nowhere else per call)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hwsim.core.ops import OpColumns, OperandBytes, operand_bytes
from hwsim.core.precision import ResolvedPrecision, resolve_precision
from hwsim.core.spec import Accelerator
from hwsim.engine.memory import Traffic, operand_capacities, traffic
from hwsim.families import get_family
from hwsim.families.base import Family
from hwsim.sim.blocking import pipeline_ends


@dataclass(frozen=True)
class Machine:
    """`spec`/`asked`: the design and precision as given (area is priced on them); `arch`/`prec`: the
    machine as it runs at that precision (derated clock, channels in use, storage bits)."""

    spec: Accelerator
    asked: ResolvedPrecision
    family: Family
    arch: Accelerator
    prec: ResolvedPrecision


def configure(arch: Accelerator, precision=None) -> Machine:
    prec = resolve_precision(precision)
    fam = get_family(arch.family)
    run_arch, run_prec = fam.configure(arch, prec)
    return Machine(arch, prec, fam, run_arch, run_prec)


@dataclass(frozen=True)
class OpTraffic:
    """The shared memory model of a machine on a set of ops: operand bytes, resident masks, traffic."""

    bytes: OperandBytes
    resident: tuple
    traffic: Traffic


def op_traffic(m: Machine, ops: OpColumns) -> OpTraffic:
    ob = operand_bytes(ops, m.prec)
    resident = m.family.resident(m.arch, ops, m.prec)
    tr = traffic(m.arch, ops, ob, *m.family.array_reads(m.arch, ops), m.family.memory_round, *resident)
    return OpTraffic(ob, resident, tr)


def memory_cycles(tr: Traffic) -> np.ndarray:
    """Memory cycles of an op: the slowest level."""
    return functools.reduce(np.maximum, tr.cycles.values())


def exposed_cycles(m: Machine, ops: OpColumns, shared: OpTraffic):
    """Backing-store cycles a double-buffered tile pipeline cannot overlap with compute: the first tile's
    load and the last tile's store (hwsim.sim.blocking.pipeline_ends on the family's tiles, Family.tile_shape:
    the cycle engine's own tiles), once per op, rounded as memory cycles are. 0 for families that do not tile
    GEMMs and for other ops."""
    shape = m.family.tile_shape(m.arch, ops)
    if shape is None or not m.family.exposes_pipeline_ends:
        return 0.0
    ob, tr = shared.bytes, shared.traffic
    count = np.maximum(ops.count, 1.0)
    tile_m, tile_n = shape
    load, store = pipeline_ends(ops.m, ops.n, tile_m, tile_n, ob.a / count, ob.b / count, ob.c / count,
                                tr.a_fetch, tr.b_fetch, *operand_capacities(m.arch, ops))
    cycles = m.family.memory_round((load + store) / m.arch.backing.bytes_per_cycle(m.arch.clock_hz))
    return np.where(ops.gemm, cycles, 0.0)
