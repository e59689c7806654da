"""Cycle-level model of a systolic array: output tiles of one array pass (os: rows × cols, ws: the
whole m × cols), input-stationary arrays stream K in blocks of `rows`."""

from __future__ import annotations

import numpy as np

from hwsim.sim.models import OpSim, SimContext, simulate_tiles, stream_op

MAX_K_STEPS = 64  # K blocks an input-stationary op is simulated in, at most (assumed: a cap on simulation cost)


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    c, ops = ctx.arch.compute, ctx.ops
    if not bool(ops.gemm[i]):
        return stream_op(ctx, i)
    if c["dataflow"] == "is":  # input-stationary folds walk K in blocks of `rows`
        return stream_op(ctx, i, int(np.clip(np.ceil(ops.k[i] / c["rows"]), 1, MAX_K_STEPS)))
    tile_m, tile_n = ctx.family.tile_shape(ctx.arch, ctx.row(i))  # os: rows × cols; ws: the whole m × cols
    return simulate_tiles(ctx, i, float(np.ravel(tile_m)[0]), float(np.ravel(tile_n)[0]))
