"""`hwsim.cycle.evaluate`: the cycle-level engine, with the analytical engine's inputs and outputs.

Ops run one after another (as in the analytical engine, which sums ops); inside an op the family
model (Family.simulate_op, built from hwsim.sim.models) simulates tiles or pipeline batches. Identical ops (same kind and
shape) are simulated once. Bytes: the backing store's bytes are what the simulated DMA moved;
on-chip levels take the shared memory model's fills and array reads (hwsim.engine.memory), whose
bandwidth limits each tile's compute. Energy follows the analytical rule (family compute energy
of the simulated compute cycles + bytes × energy per level + static power × time).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hwsim.sim import models as M
from hwsim.cycle.timeline import build_timeline, plot_timeline
from hwsim.engine.attention import as_run, family_view, fold
from hwsim.engine.cost import CostTable, bound_of, energy_parts, kv_row_columns, ops_frame, table_totals
from hwsim.engine.machine import Machine, configure, fixed_groups, op_traffic, with_fixed_rows
from hwsim.engine.memory import operand_capacities
from hwsim.core.ops import INT_COLUMNS, OpColumns
from hwsim.errors import HwsimError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from hwsim.core.precision import Precision, ResolvedPrecision
    from hwsim.core.spec import Accelerator
    from hwsim.engine.cost import TraceLike
    from hwsim.engine.memory import Traffic


class CycleTable(CostTable):
    """A CostTable plus the per-resource utilisation timeline (resource, start, end, busy, op)."""

    def __init__(
        self,
        arch: str,
        ops: pd.DataFrame | None = None,
        totals: dict | None = None,
        extra_keys: tuple = (),
        *,
        columns: dict | None = None,
        timeline: pd.DataFrame | None = None,
    ) -> None:
        super().__init__(arch, ops, totals, extra_keys, columns=columns)
        self.timeline = timeline

    def plot(self, ax: Axes | None = None, seconds: bool = False, by: str = "auto") -> Axes:
        """Busy fraction per resource over time (matplotlib Axes), per op or, for a whole model, per layer."""
        return plot_timeline(
            self.timeline,
            ax=ax,
            clock_hz=self.totals["cycles"] / self.totals["seconds"] if seconds and self.totals["seconds"] else None,
            by=by,
        )


def simulate_ops(m: Machine, ops: OpColumns) -> tuple[list[M.OpSim], Traffic]:
    """Simulate every op on a configured machine; returns (list of OpSim per op, the shared traffic)."""
    fam, arch, prec = m.family, m.arch, m.prec
    if any(np.ndim(v) for v in arch.compute.values() if not isinstance(v, str)):
        raise HwsimError("the cycle engine simulates one design point at a time", field="arch")
    shared = op_traffic(m, ops)
    ob, tr = shared.bytes, shared.traffic
    bpc = float(np.asarray(arch.backing.bytes_per_cycle(arch.clock_hz)))
    onchip = np.zeros(len(ops))
    for lv in arch.on_chip:
        onchip = np.maximum(onchip, np.asarray(tr.cycles[lv.name], dtype=np.float64))
    # what the backing store serves per op (the shared model's fetch factors; 0 for resident operands)
    io = {"a": ob.a * tr.a_fetch, "b": ob.b * tr.b_fetch, "c": ob.c}
    count = np.maximum(ops.count, 1.0)
    cap_a, cap_b = (np.broadcast_to(c, ops.m.shape) for c in operand_capacities(arch, ops))
    blocking = {
        "a": ob.a / count,
        "b": ob.b / count,
        "c": ob.c / count,  # one GEMM instance
        "a_fetch": tr.a_fetch,
        "b_fetch": tr.b_fetch,
        "cap_a": cap_a,
        "cap_b": cap_b,
    }
    frame = pd.DataFrame({c: getattr(ops, c) for c in INT_COLUMNS}).assign(kind=ops.kind)
    codes = pd.MultiIndex.from_frame(frame).factorize()[0] if len(frame) else np.array([], dtype=int)
    spill = np.broadcast_to(np.asarray(shared.spill, dtype=np.float64), (len(ops),))  # computed once, with the traffic
    ctx = M.SimContext(arch, fam, ops, prec, io, blocking, onchip, bpc, spill)
    sims, cache = [], {}
    for i, code in enumerate(codes):
        if code not in cache:
            cache[code] = fam.simulate_op(ctx, i)
        sims.append(cache[code])
    return sims, tr


def evaluate(arch: Accelerator, trace: TraceLike, precision: Precision | ResolvedPrecision | None = None) -> CycleTable:
    """Cycle-level cost of a trace (a Trace or its ops DataFrame): a CycleTable. Rows that run at formats of their
    own (hwsim.engine.machine.fixed_groups: DeepSeek-V3.2's indexer) are simulated on the machine at those formats
    and put back in place, as the analytical engine costs them (with_fixed_rows)."""
    m = configure(arch, precision)
    ran = as_run(arch, trace)  # attention fused or not, as this accelerator runs it
    df = ops_frame(ran)
    table = OpColumns.from_frame({**df, **kv_row_columns(ran)})
    cols, ops = _columns(m, table)
    if fixed_groups(table):
        cols = with_fixed_rows(m, table, cols, lambda pm, rows, _: _columns(pm, rows)[0])
    spans = cols.pop(_SPANS)
    out = pd.DataFrame({"name": df["name"].to_numpy(), "kind": df["kind"].to_numpy(), **cols})
    out["bound"] = bound_of(cols["compute_cycles"], cols["memory_cycles"])
    totals, extra = table_totals(m, out, cols, ops, trace)
    # the timeline in the compute view's order: each row (a fused row's qk part), then the av parts appended
    view = [s[0] for s in spans] + [s[1] for s in spans if len(s) > 1]
    names, view_cycles, sims = (list(x) for x in zip(*view)) if view else ([], [], [])
    timeline = build_timeline(names, view_cycles, sims, M.N_BINS, m.arch.backing.name)
    return CycleTable(arch=arch.name, ops=out, totals=totals, extra_keys=extra, timeline=timeline)


_SPANS = "_spans"  # the column of each row's simulated parts (the timeline's), beside the cost columns


def _columns(m: Machine, table: OpColumns) -> tuple[dict[str, np.ndarray], OpColumns]:
    """The per-op cost columns of `table` on `m` (every row at m's precision) and its compute view, with a column
    `_SPANS` of each row's (name, cycles, OpSim) in the view: its own, then its av part's (a fused row)."""
    fam, run_arch, prec = m.family, m.arch, m.prec
    # a fused attention row runs as its qk and av GEMMs chained on chip (unless the family has its own
    # fused kernel model); their columns fold back onto it
    ops, fused = family_view(fam, table)
    n_ops = len(table)
    sims, tr = simulate_ops(m, ops)
    zero = np.zeros(len(ops))
    overhead = np.broadcast_to(np.asarray(fam.latency(run_arch, ops, zero, zero), dtype=np.float64), zero.shape)
    cycles = np.ceil(np.array([s.cycles for s in sims]) + overhead)
    compute = np.array([s.compute for s in sims])
    memory = functools.reduce(
        np.maximum,
        [np.array([s.memory for s in sims])]
        + [np.asarray(tr.cycles[lv.name], dtype=np.float64) for lv in run_arch.on_chip],
    )
    seconds = cycles / float(np.asarray(run_arch.clock_hz))
    cols = {"cycles": cycles, "compute_cycles": compute, "memory_cycles": memory, "seconds": seconds}
    moved = {
        lv.name: np.array([s.backing_bytes for s in sims]) if lv is run_arch.backing else tr.levels[lv.name]
        for lv in run_arch.memory
    }
    cols.update({f"bytes_{name}": np.broadcast_to(b, zero.shape).astype(np.float64) for name, b in moved.items()})
    cols.update(energy_parts(run_arch, moved, fam.compute_energy(run_arch, ops, prec, compute), seconds))
    cols = {k: fold(np.broadcast_to(v, zero.shape), n_ops, fused) for k, v in cols.items()}
    spans = np.empty(n_ops, dtype=object)  # the timeline shows the qk and av parts of a fused row separately
    for i in range(n_ops):
        spans[i] = ((ops.name[i], cycles[i], sims[i]),)
    for j, i in enumerate(fused):
        spans[i] += ((ops.name[n_ops + j], cycles[n_ops + j], sims[n_ops + j]),)
    cols[_SPANS] = spans
    return cols, ops
