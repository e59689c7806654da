"""Cycle-level model of in-SRAM PIM: command sequences on the shared sub-arrays (weight transposes and
bit-serial compute, or table writes, lookups and conversion) and the host cores, fed by DRAM."""
from __future__ import annotations

import numpy as np

from hwsim.families import lut_core as L
from hwsim.families.host_cpu import host_cycles
from hwsim.sim import pipelines as P
from hwsim.sim.models import OpSim, SimContext, backing_bytes, batches, io_stages, pipeline_result


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    arch, fam, prec = ctx.arch, ctx.family, ctx.prec
    row, c = ctx.row(i), arch.compute
    nb = batches(ctx.ops, i)
    load, store = io_stages(ctx, i, nb)
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
    return pipeline_result(P.run(stages, nb), ("host", "arrays"), ("dram",), backing_bytes(ctx, i))
