"""Cycle-level model of a GPU: a wave of CTAs (tile_m × tile_n·sms) streams k in K_STEP slices while
the HBM feeds it, so every op streams (hwsim.sim.models.stream_op)."""

from __future__ import annotations

from hwsim.sim.models import OpSim, SimContext, stream_op


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    return stream_op(ctx, i)
