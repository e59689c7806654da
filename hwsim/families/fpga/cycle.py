"""Cycle-level model of the FPGA: a DSP-chain pipeline fed by HBM pseudo-channels. Each batch's
operands are spread over the channels in parallel (each at bandwidth/channels), then the chains
compute, then results go out. Channels are simulated in at most HBM_GROUPS groups (each the summed
bandwidth of its share): identical channels fed evenly behave alike, and fewer simpy resources keep
it fast."""
from __future__ import annotations

from hwsim.sim import pipelines as P
from hwsim.sim.models import OpSim, SimContext, backing_bytes, batches, pipeline_result

HBM_GROUPS = 4  # FPGA HBM pseudo-channels simulated as this many equal groups


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    c, io = ctx.arch.compute, ctx.io
    nb = batches(ctx.ops, i)
    ch = min(int(c["hbm_channels"] or c["device_hbm_channels"]), HBM_GROUPS)
    names = tuple(f"hbm{j}" for j in range(ch))
    per = ctx.bpc / ch
    load = P.split(io["a"][i] / per / ch, nb, first_only=True) + P.split(io["b"][i] / per / ch, nb)
    stages = [P.Stage(names, load), P.Stage("dsp", P.split(ctx.compute_cycles(ctx.row(i)), nb)),
              P.Stage(names, P.split(io["c"][i] / per / ch, nb))]
    return pipeline_result(P.run(stages, nb), ("dsp",), names, backing_bytes(ctx, i))
