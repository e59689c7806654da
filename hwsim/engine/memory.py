"""Shared memory model: off-chip traffic with tiling against buffer capacities, on-chip traffic,
and memory cycles per level.

Tiling rule (the BitMoD simulator's, which is the common two-operand blocking): each GEMM instance
streams its operands A and B from the backing store once if either fits its on-chip buffer (the
other then streams past it). If neither fits, one operand is re-fetched once per buffer-sized tile
of the other — A re-read ceil(B/cap_B) times or B re-read ceil(A/cap_A) times. Of the two loop
orders the engine takes the one with the shorter memory time (the slowest level's cycles), and on a
tie the one that moves fewer backing-store bytes. With unbounded on-chip bandwidth that is exactly
BitMoD's "whichever moves fewer bytes"; with a bandwidth-limited buffer it avoids saving a few DRAM
bytes at the price of many more buffer fills. Outputs are written once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from hwsim.core.spec import Accelerator
from hwsim.core.ops import OperandBytes, OpColumns, shape_of
from hwsim.errors import HwsimError
from hwsim.kept import kept

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Traffic:
    levels: dict[str, np.ndarray]  # bytes moved per memory level, per op
    cycles: dict[str, np.ndarray]  # cycles each level needs for that traffic
    a_fetch: np.ndarray  # times A is fetched from the backing store (1 = once)
    b_fetch: np.ndarray
    slowest: np.ndarray  # the op's memory cycles: the slowest level's (the maximum over `cycles`)
    once: bool = False  # every operand fetched once (no re-fetch, none resident): a_fetch and b_fetch all 1.0


def fetch_orders(
    a: np.ndarray,
    b: np.ndarray,
    count: np.ndarray,
    cap_a: float | np.ndarray,
    cap_b: float | np.ndarray,
    single: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fetch factors (a_fetch, b_fetch) of the two loop orders: B re-read per buffer tile of A, or A re-read
    per buffer tile of B. Both are (1, 1) when either operand of one GEMM instance fits its buffer.
    `single`: every op runs one instance (OpColumns.single): a and b are one instance's (x / 1.0 is x)."""
    if single and shape_of(a)[-1:] == shape_of(b)[-1:] == shape_of(count):
        a1, b1 = a, b
    else:
        count = np.maximum(count, 1.0)
        a1, b1 = a / count, b / count  # one GEMM instance
    both = (a1 > cap_a) & (b1 > cap_b)
    if not np.count_nonzero(both):  # no op re-fetches: the two orders are one (the same pair, so traffic costs it once)
        one = np.empty(both.shape)  # np.ones' values (np.ones is np.empty then a copy: ~0.6 µs against ~0.25)
        one.fill(1.0)
        one.setflags(write=False)  # shared by both operands and orders
        pair = (one, one)
        return pair, pair
    with np.errstate(divide="ignore", invalid="ignore"):
        refetch_b = np.where(both, np.ceil(a1 / cap_a), 1.0)
        refetch_a = np.where(both, np.ceil(b1 / cap_b), 1.0)
    return (np.ones_like(refetch_b), refetch_b), (refetch_a, np.ones_like(refetch_a))


def level_reads_writes(
    arch: Accelerator,
    att: np.ndarray,
    ob: OperandBytes,
    a_fetch: float | np.ndarray,
    b_fetch: float | np.ndarray,
    a_reads: float | np.ndarray,
    b_reads: float | np.ndarray,
    spill: float | np.ndarray = 0.0,
    once: bool = False,
) -> dict:
    """(bytes read, bytes written) per level: the backing store is read for the fetches and written with the
    outputs, and `spill` bytes are written to it and read back (Family.spill_bytes); an on-chip level is
    written with what it holds (fills, and outputs) and read by the array (A a_reads times, B b_reads times)
    and for the outputs' drain. `once`: a_fetch and b_fetch are all 1.0 (Traffic.once), so a fill is the
    operand's bytes (x * 1.0 is x) where the shapes agree."""
    once = once and shape_of(a_fetch) == shape_of(ob.a) and shape_of(b_fetch) == shape_of(ob.b)
    a_fill, b_fill = (ob.a, ob.b) if once else (ob.a * a_fetch, ob.b * b_fetch)
    back, out = a_fill + b_fill, ob.c
    if getattr(spill, "ndim", 0) or spill:  # Family.spill_bytes' default 0.0: nothing to add (np.ndim, cheaper)
        back, out = back + spill, out + spill
    levels = {arch.backing.name: (back, out)}
    zero = np.zeros(shape_of(back))
    zero.setflags(write=False)  # a level holding nothing moves these (shared)
    a_read, b_read = ob.a * a_reads, ob.b * b_reads
    att = np.asarray(att)
    n_att = int(np.count_nonzero(att))  # attention ops: none, all or some (_held), counted once for every level
    for lv in arch.on_chip:
        reads, writes = zero, zero
        if "activations" in lv.holds:
            reads, writes = reads + a_read, writes + a_fill
        held_b = _held(att, "kv" in lv.holds, "weights" in lv.holds, n_att)  # B: KV for attention, weights otherwise
        if held_b is True:
            reads, writes = reads + b_read, writes + b_fill
        elif held_b is False:  # + 0.0: the values stay (no -0.0 here: every sum starts at +0.0), the shape grows
            reads, writes = _grown(reads, b_read), _grown(writes, b_fill)
        else:
            reads = reads + np.where(held_b, b_read, 0.0)
            writes = writes + np.where(held_b, b_fill, 0.0)
        if "outputs" in lv.holds:
            reads, writes = reads + ob.c, writes + ob.c
        levels[lv.name] = (reads, writes)
    return levels


def _held(att: np.ndarray, kv: bool, weights: bool, n_att: int) -> bool | np.ndarray:
    """Whether a level holds each op's B operand: one bool when that is the same for every op, else a mask.
    `n_att`: np.count_nonzero(att) (any() and all() in one count, ~0.2 µs where each method costs ~0.6 µs)."""
    if kv == weights:
        return kv
    if not n_att:
        return weights
    return kv if n_att == att.size else np.where(att, kv, weights)


def _grown(total: np.ndarray, other: ArrayLike) -> np.ndarray:
    """`total + 0.0 * other`'s broadcast: total itself when `other` adds no dimension."""
    return total if shape_of(other) == shape_of(total) else total + np.zeros(shape_of(other))


def _level_bytes(
    arch: Accelerator,
    att: np.ndarray,
    ob: OperandBytes,
    a_fetch: float | np.ndarray,
    b_fetch: float | np.ndarray,
    a_reads: float | np.ndarray,
    b_reads: float | np.ndarray,
    spill: float | np.ndarray = 0.0,
    once: bool = False,
) -> dict:
    """Bytes moved per level: reads + writes of level_reads_writes."""
    split = level_reads_writes(arch, att, ob, a_fetch, b_fetch, a_reads, b_reads, spill, once)
    return {k: r + w for k, (r, w) in split.items()}


def _level_cycles(arch: Accelerator, levels: dict, memory_round: Callable[..., Any]) -> dict:
    """Cycles each level needs for its bytes. A level with unbounded bandwidth (the schema default
    when omitted) takes 0 cycles; any other non-finite result is a spec error, never hidden
    (_check_finite, once over all levels)."""
    cycles = {}
    for lv, bpc in zip(arch.memory, level_bytes_per_cycle(arch)):
        moved = levels[lv.name]
        if type(bpc) is float and 0.0 < bpc:  # one design point's bandwidth: nothing to mask
            cycles[lv.name] = memory_round(moved / bpc) if bpc < math.inf else np.zeros(shape_of(moved))
            continue
        bpc = np.asarray(bpc, dtype=np.float64)
        unbounded = np.isposinf(bpc)
        with np.errstate(divide="ignore", invalid="ignore"):
            cycles[lv.name] = np.where(unbounded, 0.0, memory_round(moved / np.where(unbounded, 1.0, bpc)))
    return cycles


def level_bytes_per_cycle(arch: Accelerator) -> tuple:
    """Each memory level's bytes per cycle at the spec's clock (MemoryLevel.bytes_per_cycle), in spec order:
    per design, so kept beside the spec (hwsim.kept; a spec is not changed after it is built)."""
    return kept(arch, "_level_bytes_per_cycle", lambda: tuple(lv.bytes_per_cycle(arch.clock_hz) for lv in arch.memory))


def _check_finite(arch: Accelerator, levels: dict, cycles: dict, slowest: ArrayLike) -> None:
    """Raise for the first level (in spec order) whose cycles are not finite; `slowest` (their maximum,
    NaN-propagating) tells whether any is, in one test."""
    finite = np.isfinite(slowest)
    if np.count_nonzero(finite) == finite.size:  # .all(), cheaper on the one-op path
        return
    for lv in arch.memory:
        if not np.all(np.isfinite(cycles[lv.name])):
            bpc = np.asarray(lv.bytes_per_cycle(arch.clock_hz), dtype=np.float64)
            raise HwsimError(
                f"memory level {lv.name!r} needs non-finite cycles (bandwidth "
                f"{np.min(bpc):g} B/cycle, up to {np.max(levels[lv.name]):g} bytes): "
                "check its bandwidth, efficiency and the capacities of the buffers",
                file=arch.file,
                field=f"memory.{lv.name}.bandwidth",
            )


def operand_capacities(arch: Accelerator, ops: OpColumns) -> tuple:
    """On-chip bytes for A and B of each op (B = weights for linear ops, KV for attention),
    each role sharing its buffer with the other roles of its op (Accelerator.buffer_capacity)."""
    lin_roles, att_roles = ("activations", "weights", "outputs"), ("activations", "kv", "outputs")
    cap_a = _by_role(
        ops, arch.buffer_capacity("activations", att_roles), arch.buffer_capacity("activations", lin_roles)
    )
    cap_b = _by_role(ops, arch.buffer_capacity("kv", att_roles), arch.buffer_capacity("weights", lin_roles))
    return cap_a, cap_b


def _by_role(ops: OpColumns, attention: float | np.ndarray, other: float | np.ndarray) -> float | np.ndarray:
    """np.where(ops.is_attention, attention, other); one design point's capacity (a float) as itself when
    every op takes it: every user compares or divides by it, broadcasting it over the ops."""
    if type(attention) in _FLOATS and type(other) in _FLOATS:
        if not ops.has("attention"):
            return other
        if ops.only("attention") or attention == other:
            return attention
    return np.where(ops.is_attention, attention, other)


_FLOATS = (float, np.float64)


def traffic(
    arch: Accelerator,
    ops: OpColumns,
    ob: OperandBytes,
    a_reads: float | np.ndarray,
    b_reads: float | np.ndarray,
    memory_round: Callable[..., Any],
    a_resident: bool | np.ndarray = False,
    b_resident: bool | np.ndarray = False,
    caps: tuple | None = None,
    spill: float | np.ndarray = 0.0,
) -> Traffic:
    """Bytes and cycles per memory level, for the better of the two loop orders (module docstring).
    Resident operands (masks from Family.resident) live on chip: no backing-store bytes, no fill.
    `caps`: operand_capacities(arch, ops) when the caller has them already; `spill`: bytes per op written
    to the backing store and read back besides the operands (Family.spill_bytes)."""
    att = ops.is_attention
    cap_a, cap_b = operand_capacities(arch, ops) if caps is None else caps
    options = []
    orders = fetch_orders(ob.a, ob.b, ops.count, cap_a, cap_b, ops.single)
    same = orders[0] is orders[1] or (
        np.array_equal(orders[0][0], orders[1][0]) and np.array_equal(orders[0][1], orders[1][1])
    )
    once = orders[0] is orders[1] and a_resident is False and b_resident is False  # fetch_orders' ones
    for a_fetch, b_fetch in orders[:1] if same else orders:  # no op re-fetches an operand: one order, costed once
        a_fetch = a_fetch if a_resident is False else np.where(a_resident, 0.0, a_fetch)
        b_fetch = b_fetch if b_resident is False else np.where(b_resident, 0.0, b_fetch)
        levels = _level_bytes(arch, att, ob, a_fetch, b_fetch, a_reads, b_reads, spill, once)
        cycles = _level_cycles(arch, levels, memory_round)
        slowest = functools.reduce(np.maximum, cycles.values())
        _check_finite(arch, levels, cycles, slowest)
        options.append((levels, cycles, slowest, a_fetch, b_fetch))
    # the pick below also gives every result the shape of the comparison (points × ops in sweeps)
    (l1, c1, t1, af1, bf1), (l2, c2, t2, af2, bf2) = options * 2 if same else options
    back = arch.backing.name
    if same:  # both options are one: the pick is its values at the comparison's shape
        shape = shape_of(t1)
        if shape_of(l1[back]) != shape:
            shape = np.broadcast_shapes(shape, shape_of(l1[back]))

        def pick(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            if type(x) is np.ndarray and x.shape == shape:  # np.shape costs ~0.15 µs: asked only otherwise
                return x
            return x if shape_of(x) == shape else np.broadcast_to(x, shape).copy()
    else:
        first = (t1 < t2) | ((t1 == t2) & (l1[back] <= l2[back]))

        def pick(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.where(first, x, y)

    return Traffic(
        levels={k: pick(l1[k], l2[k]) for k in l1},
        cycles={k: pick(c1[k], c2[k]) for k in c1},
        a_fetch=pick(af1, af2),
        b_fetch=pick(bf1, bf2),
        slowest=pick(t1, t2),  # the maximum over the picked levels: the picked option's maximum
        once=once,
    )
