"""Cycle-level model of LUT-GEMM: table start-up (precompute on the vector lanes, then the tables out and back:
through DRAM with `precompute: separate`, the bytes the shared memory model spilled (SimContext.spill), on chip
when fused; Lut.startup_parts), which every batch waits for → weights per batch → lookups (LUT units) →
combine/dequantise (vector lanes on CPUs), as simpy stages."""

from __future__ import annotations

from hwsim.families import lut_core as L
from hwsim.sim import pipelines as P
from hwsim.sim.models import OpSim, SimContext, backing_bytes, batches, io_stages, pipeline_result, scalar


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    arch, fam, prec = ctx.arch, ctx.family, ctx.prec
    row = ctx.row(i)
    nb = batches(ctx.ops, i)
    first, weights, store = io_stages(ctx, i, nb)
    # attention / elementwise, and float weights a CPU runs densely (float_weights: host), on the host lanes
    if not bool(L.lut_mask(row)[0]) or fam.host_dense(arch, prec):
        vector = P.Stage("vector", P.split(ctx.compute_cycles(i), nb), streams=True)
        return pipeline_result(
            P.run([first, weights, vector, store], nb), ("vector",), ("dram",), backing_bytes(ctx, i)
        )
    planes = L.weight_planes(arch, prec)
    lut, post = scalar(L.lut_unit_cycles(arch, row, planes)), scalar(L.output_stage_cycles(arch, row, prec, planes))
    spill = ctx.spilled(i)  # the tables through DRAM (separate precompute), as the shared memory model counted them
    startup = {name: scalar(cycles) for name, cycles in fam.startup_parts(arch, row, prec, spill).items()}
    # activations (table inputs) first, then the tables every batch looks up; weights stream into the lookups
    stages = [
        first,
        *(P.once(name, c, nb) for name, c in startup.items()),
        weights,
        P.Stage("lut", P.split(lut, nb), streams=True),
        P.Stage("vector", P.split(post, nb), streams=True),
        store,
    ]
    table_bytes = 2 * scalar(spill)  # out and back (separate)
    return pipeline_result(
        P.run(stages, nb), ("vector", "lut", "tables"), ("dram",), backing_bytes(ctx, i) + table_bytes
    )
