"""Cycle-level model of LUT-GEMM: table precompute (vector lanes) → lookups (LUT units) →
combine/dequantise (vector lanes on CPUs), as simpy stages; with `precompute: separate` the tables
go out to DRAM and come back on the same channel as the weights."""
from __future__ import annotations

import numpy as np

from hwsim.families import lut_core as L
from hwsim.sim import pipelines as P
from hwsim.sim.models import OpSim, SimContext, backing_bytes, batches, io_stages, pipeline_result


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    arch, fam, prec, io, bpc = ctx.arch, ctx.family, ctx.prec, ctx.io, ctx.bpc
    row, c = ctx.row(i), arch.compute
    nb = batches(ctx.ops, i)
    load, store = io_stages(ctx, i, nb)
    # attention / elementwise, and float weights a CPU runs densely (float_weights: host), on the host lanes
    if not bool(L.lut_mask(row)[0]) or fam.host_dense(arch, prec):
        res = P.run([load, P.Stage("vector", P.split(ctx.compute_cycles(row), nb)), store], nb)
        return pipeline_result(res, ("vector",), ("dram",), backing_bytes(ctx, i))
    planes = L.weight_planes(arch, prec)
    lut = float(L.lut_unit_cycles(arch, row, planes)[0])
    pre = float(L.precompute_cycles(arch, row)[0]) + float(np.asarray(L.precompute_launch_cycles(arch, row)).reshape(-1)[0])
    post = float(L.output_stage_cycles(arch, row, prec, planes)[0])
    tables = float(L.arch_table_bytes(arch, row)[0]) if c["precompute"] == "separate" else 0.0
    # activations (table inputs) first, then precompute, while the weights stream per batch
    stages = [P.Stage("dram", P.split(io["a"][i] / bpc, nb, first_only=True)),
              P.Stage("vector", P.split(pre, nb, first_only=True)),
              P.Stage("dram", P.split(2 * tables / bpc, nb, first_only=True)),  # write out, read back
              P.Stage("dram", P.split(io["b"][i] / bpc, nb)), P.Stage("lut", P.split(lut, nb)),
              P.Stage("vector", P.split(post, nb)), store]
    res = P.run(stages, nb)
    return pipeline_result(res, ("vector", "lut"), ("dram",), backing_bytes(ctx, i) + 2 * tables)
