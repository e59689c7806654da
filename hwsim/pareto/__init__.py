"""Pareto fronts: N-objective non-dominated filtering, table helpers (per-group fronts) and plots."""

from hwsim.pareto.front import brute_force_mask, pareto_mask
from hwsim.pareto.objectives import Objective, parse_objective, parse_objectives
from hwsim.pareto.plot import plot_front
from hwsim.pareto.table import front_mask, group_ids, nan_rows, order_front, pareto_front

__all__ = [
    "Objective",
    "brute_force_mask",
    "front_mask",
    "group_ids",
    "nan_rows",
    "order_front",
    "pareto_front",
    "pareto_mask",
    "parse_objective",
    "parse_objectives",
    "plot_front",
]
