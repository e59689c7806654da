"""Solve an allocation Problem to proven optimality with PuLP's bundled CBC.

Model: binary x[u, f] for each unit's candidates, Σ_f x[u, f] = 1, one row per budget,
objective Σ A_obj[u, f] x[u, f]. Before CBC sees it:
- dominated candidates are dropped (f is dominated in unit u when another candidate is no worse in
  the objective and every budgeted quantity: swapping it in never breaks a budget nor raises the
  objective, so the optimum is unchanged);
- each row is shifted by the per-unit minima and scaled to coefficients in [0, 1], so CBC's absolute
  tolerances (1e-7) are relative to the spread of that quantity, not to its unit (seconds vs bytes).
The chosen formats are read back as integers and every total is recomputed exactly in float64; a
budget overrun within CBC's tolerance is cut off and the model re-solved, so budgets hold exactly.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwsim.allocate.problem import QUANTITIES, Problem
from hwsim.errors import HwsimError
from hwsim.fileio import scratch_folder

OBJECTIVES = QUANTITIES
_REL_TOL = 1e-9  # budgets compare with this relative slack (float rounding of the totals only)


class InfeasibleBudget(HwsimError):
    """No assignment meets the budgets; `tightest` maps each budget key to its least feasible value."""

    def __init__(self, message: str, budgets: dict, tightest: dict):
        super().__init__(message, field="budget")
        self.budgets = dict(budgets)
        self.tightest = dict(tightest)


@dataclass(frozen=True)
class Solution:
    status: str
    objective: str
    objective_value: float
    solve_seconds: float  # wall time: kept out of to_json() unless asked (the same study gives the same bytes)
    choice: np.ndarray  # format index per unit
    totals: dict
    budgets: dict
    problem: Problem = field(repr=False)

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(self.problem.formats[int(j)] for j in self.choice)

    def assignment(self) -> dict[str, str]:
        return self.problem.assignment(self.choice)

    def to_json(self, timing: bool = False) -> dict:
        """The result as JSON; `timing` adds the solve's wall time (`solve_seconds`), which changes run to run."""
        out: dict = {"status": self.status, "objective": self.objective_value}
        if timing:
            out["solve_seconds"] = self.solve_seconds
        out["assignment"] = self.assignment()
        out["totals"] = {k: self.totals[k] for k in ("avg_bits", "memory_bytes", "seconds", "energy_j", "error")}
        return out


def check_budgets(budgets: dict | None) -> dict[str, float]:
    out = {}
    for key, value in (budgets or {}).items():
        if key not in QUANTITIES:
            raise HwsimError(f"unknown budget {key!r}; one of {', '.join(QUANTITIES)}", field="budget")
        v = float(value)
        if not np.isfinite(v):
            raise HwsimError(f"{key} budget must be a finite number, got {value!r}", field="budget")
        out[key] = v
    return out


def _slack(value: float, scale: float) -> float:
    return _REL_TOL * max(abs(value), scale, 1e-300)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


class Solver:
    """A CBC model for one (problem, objective, set of budget keys), re-solvable with new budget values
    (a frontier sweep changes right-hand sides only)."""

    def __init__(self, problem: Problem, objective: str = "error", keys: Iterable[str] = ()) -> None:
        if objective not in OBJECTIVES:
            raise HwsimError(f"unknown objective {objective!r}; one of {', '.join(OBJECTIVES)}", field="objective")
        self.problem, self.objective, self.keys = problem, objective, tuple(keys)
        check_budgets({k: 0.0 for k in self.keys})
        quantities = list(dict.fromkeys((objective, *self.keys)))
        mats = {q: problem.matrix(q) for q in quantities}
        self.mats = mats
        keep = _undominated(np.stack([mats[q] for q in quantities], axis=-1))
        self.units, self.cols = np.nonzero(keep)
        self.base = {q: mats[q].min(axis=1) for q in quantities}  # per-unit minima
        coef = {q: mats[q][self.units, self.cols] - self.base[q][self.units] for q in quantities}
        self.scale = {q: float(coef[q].max()) if coef[q].size and coef[q].max() > 0 else 1.0 for q in quantities}

        import pulp  # imported when a problem is built: the CLI's other commands start without it

        m = pulp.LpProblem("allocate", pulp.LpMinimize)
        xs = [m.add_variable(f"x{i}", 0, 1, cat=pulp.LpBinary) for i in range(self.units.size)]
        self.xs = xs
        m += pulp.LpAffineExpression(list(zip(xs, (coef[objective] / self.scale[objective]).tolist())))
        order = np.argsort(self.units, kind="stable")
        bounds = np.searchsorted(self.units[order], np.arange(len(problem.units) + 1))
        for u in range(len(problem.units)):
            m += pulp.LpAffineExpression([(xs[i], 1.0) for i in order[bounds[u] : bounds[u + 1]]]) == 1, f"one_{u}"
        for k in self.keys:
            m += pulp.LpAffineExpression(list(zip(xs, (coef[k] / self.scale[k]).tolist()))) <= 0.0, f"budget_{k}"
        self.model = m

    def _set_rhs(self, key: str, budget: float) -> None:
        rhs = (budget - self.problem.fixed[key] - self.base[key].sum()) / self.scale[key]
        rhs = max(rhs, 0.0)  # budgets passed the floor check: a negative rhs is rounding, not infeasibility
        self.model.get_constraint_by_name(f"budget_{key}").constant = -rhs

    def _run(self) -> str:
        import pulp

        # CBC's model and solution files go to a folder of this solve, removed after it: PuLP deletes its own
        # files only when the solve succeeds, so every infeasible model left two in the system's temp folder
        with warnings.catch_warnings(), scratch_folder("hwsim-cbc-") as files:
            # PuLP 3.3 flags its bundled-CBC class for 4.0; it is what we ship with
            warnings.simplefilter("ignore", DeprecationWarning)

            def cbc(**options: Any) -> Any:
                solver = pulp.PULP_CBC_CMD(msg=False, gapRel=0.0, gapAbs=1e-10, threads=1, **options)
                solver.tmpDir = files
                return solver

            # CBC 2.10.3's preprocessing (Cgl) can fix variables wrongly and report a worse assignment as
            # optimal (tests/test_allocate_solve.py pins one such 4-unit instance: 10 vs brute force 7), so
            # it is off; without it CBC exits with no solution file on an infeasible model, and the run
            # with preprocessing then reports the status
            try:
                self.model.solve(cbc(options=["preprocess off"]))
            except pulp.PulpSolverError:
                self.model.solve(cbc())
        return pulp.LpStatus[self.model.status]

    def solve(self, budgets: dict | None = None) -> Solution:
        budgets = check_budgets(budgets)
        if set(budgets) != set(self.keys):
            raise ValueError(f"this model has budgets {self.keys}, got {tuple(budgets)}")
        t0 = time.perf_counter()
        p = self.problem
        for k, b in budgets.items():  # a single budget below its own floor: no solve needed
            floor = p.min_total(k)
            if floor > b + _slack(b, 0.0):  # the same slack as the overrun check below
                raise InfeasibleBudget(
                    f"{k}={_fmt(b)} is infeasible: the tightest feasible {k} is {_fmt(floor)}", budgets, {k: floor}
                )
        tight = dict(budgets)
        for _ in range(8):
            for k, b in tight.items():
                self._set_rhs(k, b)
            status = self._run()
            if status != "Optimal":
                if status == "Infeasible":
                    raise _joint_infeasible(p, self.objective, budgets)
                raise HwsimError(f"CBC stopped with status {status!r}", field="solver")  # pragma: no cover
            choice = self._choice()
            totals = p.totals(choice)
            over = {k: totals[k] - b for k, b in budgets.items() if totals[k] > b + _slack(b, 0.0)}
            if not over:
                break
            for k, excess in over.items():  # a CBC-tolerance overrun: cut just below and re-solve
                tight[k] -= excess + _slack(budgets[k], 0.0)
        else:  # pragma: no cover
            raise HwsimError("CBC kept returning assignments over budget", field="solver")
        return Solution(
            status="optimal",
            objective=self.objective,
            objective_value=totals[self.objective],
            solve_seconds=time.perf_counter() - t0,
            choice=choice,
            totals=totals,
            budgets=budgets,
            problem=p,
        )

    def _choice(self) -> np.ndarray:
        vals = np.array([v.varValue or 0.0 for v in self.xs])
        choice = np.full(len(self.problem.units), -1, dtype=np.int64)
        hit = vals > 0.5
        choice[self.units[hit]] = self.cols[hit]
        if (choice < 0).any():  # pragma: no cover
            raise HwsimError("CBC returned a solution without a format for some unit", field="solver")
        return choice


def _undominated(stack: np.ndarray) -> np.ndarray:
    """U × F mask of candidates not dominated by another candidate of the same unit.
    stack: U × F × Q values (inf = not a candidate). Ties keep the lowest column."""
    a, b = stack[:, :, None, :], stack[:, None, :, :]  # a: candidate j, b: rival i  (U × F × F × Q)
    no_worse = (b <= a).all(-1)
    better = (b < a).any(-1)
    F = stack.shape[1]
    earlier = np.tri(F, k=-1, dtype=bool)  # [j, i] true when i < j
    dominated = (no_worse & (better | earlier[None])).any(-1)
    return np.isfinite(stack).all(-1) & ~dominated


def _joint_infeasible(p: Problem, objective: str, budgets: dict) -> InfeasibleBudget:
    """Budgets that are each reachable but not together: for each, its least value with the others kept."""
    tightest = {}
    for k in budgets:
        others = {o: v for o, v in budgets.items() if o != k}
        try:
            tightest[k] = Solver(p, k, tuple(others)).solve(others).objective_value
        except InfeasibleBudget:
            continue
    given = ", ".join(f"{k}={_fmt(v)}" for k, v in budgets.items())
    if tightest:
        parts = "; ".join(f"{k} ≥ {_fmt(v)}" for k, v in tightest.items())
        why = f"with the other budgets kept, the tightest feasible values are {parts}"
    else:
        tightest = {k: p.min_total(k) for k in budgets}
        why = "each alone could reach " + "; ".join(f"{k} = {_fmt(v)}" for k, v in tightest.items())
    return InfeasibleBudget(f"{given} cannot all be met: {why}", budgets, tightest)


def solve(problem: Problem, objective: str = "error", budgets: dict | None = None) -> Solution:
    """Minimise `objective` subject to `budgets` {quantity: max total}, to proven optimality."""
    budgets = check_budgets(budgets)
    return Solver(problem, objective, tuple(budgets)).solve(budgets)
