"""Cycle-level model of the bit-serial array: output tiles of `cols` rows of A × `rows` columns of B
(one pass of the PE array), each tile's cycles from the family's closed form."""
from __future__ import annotations

from hwsim.sim.models import OpSim, SimContext, simulate_tiles


def simulate_op(ctx: SimContext, i: int) -> OpSim:
    c = ctx.arch.compute
    return simulate_tiles(ctx, i, c["cols"], c["rows"])
