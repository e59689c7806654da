"""Mixed-precision allocation by integer programming, with the hardware model in the loop (docs/allocate.md)."""

from hwsim.allocate.api import allocate, build_problem, resolve_trace
from hwsim.allocate.problem import QUANTITIES, Problem
from hwsim.allocate.solve import OBJECTIVES, InfeasibleBudget, Solution, Solver, solve

__all__ = [
    "OBJECTIVES",
    "QUANTITIES",
    "InfeasibleBudget",
    "Problem",
    "Solution",
    "Solver",
    "allocate",
    "build_problem",
    "resolve_trace",
    "solve",
]
