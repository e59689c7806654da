"""Shared memory model: off-chip traffic with tiling against buffer capacities, on-chip traffic,
and memory cycles per level.

Tiling rule (the BitMoD simulator's, which is the common two-operand blocking): each GEMM instance
streams its operands A and B from the backing store once if either fits its on-chip buffer (the
other then streams past it). If neither fits, one operand is re-fetched once per buffer-sized tile
of the other — A re-read ceil(B/cap_B) times or B re-read ceil(A/cap_A) times, whichever moves fewer
bytes. Outputs are written once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.arch.spec import Accelerator
from hwsim.engine.ops import OperandBytes, OpColumns


@dataclass(frozen=True)
class Traffic:
    levels: dict[str, np.ndarray]  # bytes moved per memory level, per op
    cycles: dict[str, np.ndarray]  # cycles each level needs for that traffic
    a_fetch: np.ndarray  # times A is fetched from the backing store (1 = once)
    b_fetch: np.ndarray


def backing_traffic(a, b, c, count, cap_a, cap_b):
    """Bytes read/written in the backing store per op, and fetch factors of A and B."""
    count = np.maximum(count, 1.0)
    a1, b1 = a / count, b / count  # one GEMM instance
    both = (a1 > cap_a) & (b1 > cap_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        refetch_b = np.where(both, np.ceil(a1 / cap_a), 1.0)  # B re-read per tile of A
        refetch_a = np.where(both, np.ceil(b1 / cap_b), 1.0)
    b_cost = b * refetch_b + a
    a_cost = a * refetch_a + b
    pick_b = b_cost <= a_cost
    a_fetch = np.where(pick_b, 1.0, refetch_a)
    b_fetch = np.where(pick_b, refetch_b, 1.0)
    return a * a_fetch + b * b_fetch + c, a_fetch, b_fetch


def traffic(arch: Accelerator, ops: OpColumns, ob: OperandBytes, a_reads, b_reads, memory_round,
            a_resident=False, b_resident=False) -> Traffic:
    """Bytes and cycles per memory level. On-chip levels move what they are filled with from the
    backing store plus what the compute array reads from them (A a_reads times, B b_reads times).
    Resident operands (masks from Family.resident) live on chip: no backing-store bytes, no fill."""
    att = ops.kind == "attention"
    lin_roles, att_roles = ("activations", "weights", "outputs"), ("activations", "kv", "outputs")
    cap_a = np.where(att, arch.buffer_capacity("activations", att_roles), arch.buffer_capacity("activations", lin_roles))
    cap_b = np.where(att, arch.buffer_capacity("kv", att_roles), arch.buffer_capacity("weights", lin_roles))
    dram, a_fetch, b_fetch = backing_traffic(ob.a, ob.b, ob.c, ops.count, cap_a, cap_b)
    a_fetch = np.where(a_resident, 0.0, a_fetch)
    b_fetch = np.where(b_resident, 0.0, b_fetch)
    dram = ob.a * a_fetch + ob.b * b_fetch + ob.c
    levels = {arch.backing.name: dram}
    for lv in arch.on_chip:
        held_b = np.where(att, "kv" in lv.holds, "weights" in lv.holds)
        moved = np.zeros(np.broadcast(dram).shape)
        if "activations" in lv.holds:
            moved = moved + ob.a * a_fetch + ob.a * a_reads
        moved = moved + np.where(held_b, ob.b * b_fetch + ob.b * b_reads, 0.0)
        if "outputs" in lv.holds:
            moved = moved + 2 * ob.c  # written by the array, then drained
        levels[lv.name] = moved
    cycles = {}
    for lv in arch.memory:
        bpc = lv.bytes_per_cycle(arch.clock_hz)
        with np.errstate(divide="ignore"):
            cycles[lv.name] = memory_round(levels[lv.name] / bpc)
    return Traffic(levels=levels, cycles=cycles, a_fetch=a_fetch, b_fetch=b_fetch)
