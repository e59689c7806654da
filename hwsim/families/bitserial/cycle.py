"""Cycle-level model of the bit-serial array: output tiles of `cols` rows of A × `rows` columns of B
(one pass of the PE array, BitSerial.tile_shape), each tile's cycles from the family's closed form."""

from __future__ import annotations

import numpy as np

from hwsim.sim.models import OpSim, SimContext, simulate_tiles


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    tile_m, tile_n = ctx.family.tile_shape(ctx.arch, ctx.row(i))
    return simulate_tiles(ctx, i, float(np.ravel(tile_m)[0]), float(np.ravel(tile_n)[0]))
