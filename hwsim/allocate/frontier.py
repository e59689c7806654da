"""The accuracy–cost frontier of mixed precision: a budget sweep, with uniform-precision points beside it.

Budgets run evenly from the least reachable value of the swept quantity to its value at the
unconstrained optimum of the objective (beyond that the budget no longer binds). One CBC model is
built and re-solved with new right-hand sides; optimality makes the frontier monotone (a looser
budget keeps every earlier solution feasible, so the objective never gets worse).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from hwsim.allocate.problem import QUANTITIES, Problem
from hwsim.allocate.solve import InfeasibleBudget, Solver, check_budgets
from hwsim.errors import HwsimError

COLUMNS = ["kind", "format", "budget", "status", "objective", *QUANTITIES]
TIMING = "solve_seconds"  # wall time of each solve: a column only when asked (it changes run to run)
# most budgets one frontier solves: each is one CBC re-solve (about 0.15 s for Llama-2-7B decode × 3 formats on
# the 2-core sandbox under load, so ~2.5 min at the limit); 100,000 ran past 2 minutes before this bound
MAX_POINTS = 1000


def uniform_points(problem: Problem) -> pd.DataFrame:
    """Every unit at one format (formats that every unit may take), then a quantized checkpoint's own
    assignment (kind `checkpoint`) when its formats are all candidates."""
    rows = []
    for f in problem.formats:
        choice = problem.uniform_choice(f)
        if choice is not None:
            rows.append({"kind": "uniform", "format": f, "status": "optimal", **problem.totals(choice)})
    if problem.stored is not None:
        fmts = "+".join(dict.fromkeys(problem.formats[j] for j in problem.stored))
        rows.append({"kind": "checkpoint", "format": fmts, "status": "as stored", **problem.totals(problem.stored)})
    return pd.DataFrame(rows, columns=COLUMNS)


def check_points(points: object) -> int:
    """The number of budgets of a frontier: an integer in 1..MAX_POINTS."""
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or not 1 <= points <= MAX_POINTS:
        raise HwsimError(
            f"must be an integer in 1..{MAX_POINTS:,} (budgets on the frontier), got {points!r}", field="points"
        )
    return int(points)


def frontier(
    problem: Problem,
    sweep: str = "avg_bits",
    objective: str = "error",
    points: int = 20,
    budgets: dict | None = None,
    values: Iterable[float] | None = None,
    timing: bool = False,
) -> pd.DataFrame:
    """Mixed-precision optima over `points` budgets on `sweep` (or the given `values`), other
    `budgets` held, followed by the uniform-precision points. One row per point (COLUMNS, then
    `solve_seconds` when `timing`: the wall time of each solve, which changes run to run)."""
    fixed = check_budgets(budgets)
    check_budgets({sweep: 0.0})
    if sweep in fixed:  # it was dropped silently: the frontier sets this budget itself at every point
        raise HwsimError(
            f"a budget on {sweep} and a frontier over {sweep}: the frontier sets that budget at each point; drop one",
            field="budget",
        )
    if values is None:
        check_points(points)
    solver = Solver(problem, objective, (sweep, *fixed))
    if values is None:
        top = Solver(problem, objective, tuple(fixed)).solve(fixed).totals[sweep]
        values = np.linspace(problem.min_total(sweep), top, int(points))
    rows = []
    for b in np.asarray(values, dtype=np.float64):
        try:
            sol = solver.solve({sweep: float(b), **fixed})
        except InfeasibleBudget:
            rows.append({"kind": "mixed", "budget": float(b), "status": "infeasible"})
            continue
        rows.append(
            {
                "kind": "mixed",
                "budget": float(b),
                "status": "optimal",
                "objective": sol.objective_value,
                TIMING: sol.solve_seconds,
                **sol.totals,
            }
        )
    columns = [*COLUMNS, TIMING] if timing else COLUMNS
    mixed = pd.DataFrame(rows, columns=columns)
    return pd.concat([mixed, uniform_points(problem).reindex(columns=columns)], ignore_index=True)
