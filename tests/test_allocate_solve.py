"""The ILP core against brute force on small injected problems (hypothesis), budgets, infeasibility."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.allocate import InfeasibleBudget, Problem, Solver, solve
from hwsim.errors import HwsimError

HW = ("seconds", "energy_j", "memory_bytes")


def make_problem(seed: int, U: int, F: int, *, integer: bool = False, holes: bool = False) -> Problem:
    rng = np.random.default_rng(seed)
    draw = (lambda: rng.integers(0, 6, (U, F)).astype(float)) if integer else (lambda: rng.random((U, F)))
    allowed = np.ones((U, F), bool)
    if holes:  # some units lack some formats (e.g. KV units with their own candidate set)
        allowed = rng.random((U, F)) < 0.7
        allowed[np.arange(U), rng.integers(0, F, U)] = True
    return Problem(
        units=tuple(f"u{i}" for i in range(U)),
        formats=tuple(f"f{j}" for j in range(F)),
        allowed=allowed,
        costs={
            "error": draw(),
            "seconds": draw(),
            "energy_j": draw(),
            "memory_bytes": draw(),
            "bits": rng.integers(2, 17, F).astype(float),
        },
        elems=rng.integers(1, 100, U),
        fixed={"seconds": 0.5, "energy_j": 0.25},
    )


def brute_force(p: Problem, objective: str, budgets: dict):
    best = None
    cands = [np.flatnonzero(p.allowed[u]) for u in range(len(p.units))]
    for c in itertools.product(*cands):
        t = p.totals(c)
        # the solver's contract: a budget holds to 1e-9 relative (float rounding of the totals)
        if all(t[k] <= v + 1e-9 * abs(v) for k, v in budgets.items()) and (best is None or t[objective] < best):
            best = t[objective]
    return best


@st.composite
def instances(draw):
    U, F = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    p = make_problem(draw(st.integers(0, 2**32 - 1)), U, F, integer=draw(st.booleans()), holes=draw(st.booleans()))
    objective = draw(st.sampled_from(["error", "seconds", "energy_j"]))
    keys = draw(st.lists(st.sampled_from(["error", *HW, "avg_bits"]), max_size=3, unique=True))
    budgets = {}
    for k in keys:  # budgets between each quantity's own floor and ceiling, so some bind
        lo, hi = p.min_total(k), p.fixed[k] + float(np.where(p.allowed, p.matrix(k), -np.inf).max(1).sum())
        budgets[k] = lo + draw(st.floats(-0.1, 1.0)) * (hi - lo)
    return p, objective, budgets


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_ilp_matches_brute_force_and_respects_budgets(case):
    p, objective, budgets = case
    best = brute_force(p, objective, budgets)
    if best is None:
        with pytest.raises(InfeasibleBudget) as exc:
            solve(p, objective, budgets)
        assert set(exc.value.tightest) <= set(budgets)
        return
    sol = solve(p, objective, budgets)
    assert sol.status == "optimal"
    assert sol.objective_value == pytest.approx(best, rel=1e-7, abs=1e-9)
    assert sol.objective_value == pytest.approx(sol.totals[objective])
    for k, v in budgets.items():
        assert sol.totals[k] <= v + 1e-9 * max(abs(v), 1e-300)
    assert all(p.allowed[u, j] for u, j in enumerate(sol.choice))


def test_budget_below_floor_reports_tightest_value():
    p = make_problem(1, 4, 3)
    floor = p.min_total("seconds")
    with pytest.raises(InfeasibleBudget) as exc:
        solve(p, "error", {"seconds": 0.9 * floor})
    assert exc.value.tightest == {"seconds": pytest.approx(floor)}
    assert f"{floor:.6g}" in str(exc.value)
    # exactly at the floor is feasible, and every unit then sits at its fastest format
    sol = solve(p, "error", {"seconds": floor})
    assert sol.totals["seconds"] <= floor * (1 + 1e-9)


# two units, two formats: fast-and-big (f0) or slow-and-small (f1)
TWO_BY_TWO = Problem(
    units=("a", "b"),
    formats=("f0", "f1"),
    allowed=np.ones((2, 2), bool),
    costs={
        "error": np.zeros((2, 2)),
        "seconds": np.array([[1.0, 3.0], [1.0, 3.0]]),
        "energy_j": np.zeros((2, 2)),
        "memory_bytes": np.array([[4.0, 1.0], [4.0, 1.0]]),
        "bits": np.array([8.0, 2.0]),
    },
    elems=[1, 1],
)


def test_joint_infeasibility_reports_each_budget_with_the_others_kept():
    with pytest.raises(InfeasibleBudget) as exc:
        solve(TWO_BY_TWO, "error", {"seconds": 3.0, "memory_bytes": 3.0})  # each alone is reachable (2 and 2)
    # seconds ≤ 3 forces both at f0 → memory 8; memory ≤ 3 forces both at f1 → seconds 6
    assert exc.value.tightest == {"seconds": pytest.approx(6.0), "memory_bytes": pytest.approx(8.0)}


def test_solves_leave_no_files_behind(monkeypatch, tmp_path):
    """CBC's model and solution files are removed after every solve, an infeasible one included (PuLP
    deletes its own only on success: each infeasible model used to leave two files in the temp folder)."""
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where PuLP and tempfile put their files
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    solve(make_problem(3, 4, 3), "error", {"seconds": 100.0})  # feasible
    # each budget reachable alone, not both: CBC without preprocessing writes no solution, PuLP raises
    with pytest.raises(InfeasibleBudget):
        solve(make_problem(4, 3, 3), "error", {"seconds": 2.0140643974323926, "memory_bytes": 1.2857574136152627})
    assert not list(tmp_path.iterdir())


def test_a_killed_solve_s_folder_goes_with_the_next_solve(monkeypatch, tmp_path):
    """SIGKILL skips the removal of a solve's folder; the next solve removes the folders of processes that are
    gone, and leaves a live process's (a solve running beside it)."""
    import os
    import subprocess
    import sys
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"hwsim-cbc-{int(gone.stdout)}-x1"
    live = tmp_path / f"hwsim-cbc-{os.getppid()}-x2"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "model.mps").write_text("left by a killed solve")
    solve(make_problem(3, 4, 3), "error", {"seconds": 100.0})
    assert sorted(tmp_path.iterdir()) == [live]


def test_minimise_seconds_under_error_budget():
    p = Problem(
        units=("a", "b"),
        formats=("lo", "hi"),
        allowed=np.ones((2, 2), bool),
        costs={
            "error": np.array([[0.5, 0.0], [0.1, 0.0]]),
            "seconds": np.array([[1.0, 2.0], [1.0, 5.0]]),
            "energy_j": np.zeros((2, 2)),
            "memory_bytes": np.zeros((2, 2)),
            "bits": np.array([4.0, 8.0]),
        },
        elems=[10, 30],
    )
    sol = solve(p, "seconds", {"error": 0.2})
    assert list(sol.formats) == ["hi", "lo"]  # a is too sensitive for lo; b takes lo
    assert sol.objective_value == pytest.approx(3.0)
    assert sol.totals["avg_bits"] == pytest.approx((10 * 8 + 30 * 4) / 40)
    assert sol.assignment() == {"a": "hi", "b": "lo"}


def test_solver_is_reused_across_budget_values_and_matches_fresh_solves():
    p = make_problem(7, 6, 4)
    solver = Solver(p, "error", ("avg_bits",))
    for b in np.linspace(p.min_total("avg_bits"), 12, 5):
        assert solver.solve({"avg_bits": b}).objective_value == pytest.approx(
            solve(p, "error", {"avg_bits": b}).objective_value
        )


def test_bad_names_are_user_errors():
    p = make_problem(0, 2, 2)
    with pytest.raises(HwsimError, match="unknown budget 'latency'"):
        solve(p, "error", {"latency": 1.0})
    with pytest.raises(HwsimError, match="unknown objective"):
        solve(p, "accuracy", {})
    with pytest.raises(HwsimError, match="finite"):
        solve(p, "error", {"seconds": float("nan")})


def test_json_shape():
    sol = solve(make_problem(3, 3, 3), "error", {"avg_bits": 9.0})
    out = sol.to_json()
    assert out["status"] == "optimal" and set(out) == {"status", "objective", "assignment", "totals"}
    assert list(sol.to_json(timing=True)) == ["status", "objective", "solve_seconds", "assignment", "totals"]
    assert set(out["totals"]) == {"avg_bits", "memory_bytes", "seconds", "energy_j", "error"}
    assert list(out["assignment"]) == ["u0", "u1", "u2"]


def test_cbc_preprocessing_does_not_cut_off_the_optimum():
    """An instance hypothesis found (issue 18's helper): with CBC's preprocessing on, CBC 2.10.3 fixed
    variables wrongly and returned error 10 as 'optimal'; brute force finds 7 within both budgets."""
    error = np.array([[4.0, 5, 5, 3], [5, 5, 5, 0], [2, 3, 1, 2], [3, 4, 3, 1]])
    seconds = np.array([[4.0, 5, 1, 3], [2, 5, 0, 2], [5, 2, 0, 4], [5, 5, 5, 2]])
    energy = np.array([[4.0, 5, 3, 5], [3, 1, 2, 3], [1, 4, 2, 5], [1, 3, 0, 0]])
    memory = np.array([[3.0, 2, 2, 2], [5, 3, 2, 5], [5, 2, 1, 1], [0, 3, 3, 3]])
    p = Problem(
        units=("u0", "u1", "u2", "u3"),
        formats=("f0", "f1", "f2", "f3"),
        allowed=np.ones((4, 4), bool),
        costs={
            "error": error,
            "seconds": seconds,
            "energy_j": energy,
            "memory_bytes": memory,
            "bits": np.array([15.0, 16, 10, 10]),
        },
        elems=np.array([8.0, 27, 99, 93]),
        fixed={"error": 0.0, "seconds": 0.5, "energy_j": 0.25, "memory_bytes": 0.0, "avg_bits": 0.0},
        members=(("u0",), ("u1",), ("u2",), ("u3",)),
    )
    budgets = {"seconds": 5.625, "energy_j": 16.25}
    assert brute_force(p, "error", budgets) == 7.0
    assert solve(p, "error", budgets).objective_value == 7.0
