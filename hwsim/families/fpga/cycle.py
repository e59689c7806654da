"""Cycle-level model of the FPGA: a DSP-chain pipeline fed by HBM pseudo-channels. Operands are spread
over the channels in parallel (each at bandwidth/channels): activations first, then each batch's weights
stream into the chains; results go out. Channels are simulated in at most HBM_GROUPS groups (each the summed
bandwidth of its share): identical channels fed evenly behave alike, and fewer simpy resources keep
it fast."""

from __future__ import annotations

from hwsim.sim import pipelines as P
from hwsim.sim.models import OpSim, SimContext, backing_bytes, batches, io_stages, pipeline_result

HBM_GROUPS = 4  # FPGA HBM pseudo-channels simulated as this many equal groups


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    c = ctx.arch.compute
    nb = batches(ctx.ops, i)
    ch = min(int(c["hbm_channels"] or c["device_hbm_channels"]), HBM_GROUPS)
    names = tuple(f"hbm{j}" for j in range(ch))
    first, weights, store = io_stages(ctx, i, nb, names)
    stages = [first, weights, P.Stage("dsp", P.split(ctx.compute_cycles(i), nb), streams=True), store]
    return pipeline_result(P.run(stages, nb), ("dsp",), names, backing_bytes(ctx, i))
