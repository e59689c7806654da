"""Mixed-precision allocation by integer programming (docs/allocate.md)."""
from hwsim.allocate.problem import QUANTITIES, Problem
from hwsim.allocate.solve import OBJECTIVES, InfeasibleBudget, Solution, Solver, solve

__all__ = ["OBJECTIVES", "QUANTITIES", "InfeasibleBudget", "Problem", "Solution", "Solver", "solve"]
