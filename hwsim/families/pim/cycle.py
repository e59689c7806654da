"""Cycle-level model of in-SRAM PIM: command sequences on the shared sub-arrays (weight transposes and
bit-serial compute, or table writes, lookups and conversion) and the host cores, fed by DRAM."""

from __future__ import annotations

from hwsim.families import lut_core as L
from hwsim.families.host_cpu import host_cycles
from hwsim.sim import pipelines as P
from hwsim.sim.models import OpSim, SimContext, backing_bytes, batches, io_stages, pipeline_result, scalar


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    arch, fam, prec = ctx.arch, ctx.family, ctx.prec
    row, c = ctx.row(i), arch.compute
    nb = batches(ctx.ops, i)
    first, weights, store = io_stages(ctx, i, nb)
    host = scalar(host_cycles(arch, row, prec))
    # lut mode: the tables (built on the host, written into the arrays), which every batch waits for
    parts = fam.startup_parts(arch, row, prec, ctx.spilled(i))
    if not bool(L.lut_mask(row)[0]):
        pim = 0.0
    elif c["mode"] == "bitserial":  # the table's row operations, shared with its energy (weights kept on chip
        # are decided on the whole trace, as the shared memory model's resident weights are)
        pim = scalar(fam.shared_rowops(arch, ctx.ops, prec).at(i).cycles(*fam.row_times(arch)))
    else:
        pim = scalar(fam.pim_cycles(arch, row, prec, parts))
    startup = {name: scalar(cycles) for name, cycles in parts.items()}
    pim -= sum(startup.values())
    unit = "host" if c["mode"] == "host" else "arrays"
    stages = [
        first,
        *(P.once(name, cycles, nb) for name, cycles in startup.items()),
        weights,
        P.Stage(unit, P.split(pim, nb), streams=True),
        P.Stage("host", P.split(host, nb), streams=True),
        store,
    ]
    return pipeline_result(P.run(stages, nb), ("host", "arrays"), ("dram",), backing_bytes(ctx, i))
