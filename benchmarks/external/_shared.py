"""Pieces shared by the comparisons with external tools (compare_zigzag.py, compare_scalesim.py).

The external tools live in their own virtual environments (their pinned dependencies clash with
hwsim's), so each comparison runs hwsim in this process and the other tool in a worker process
started with that tool's Python; the worker times the tool's own call and hands back JSON.
This module imports only the standard library at import time, so the workers share it too.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # used in annotations only
    import numpy as np

from hwsim.engine import evaluate

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def fail(message: str) -> None:
    """Stop with one clear line (no traceback) and exit status 2."""
    print(f"{Path(sys.argv[0]).name}: {message}", file=sys.stderr)
    sys.exit(2)


def require_hwsim() -> None:
    """These scripts run under hwsim's own Python; say so instead of failing on an import."""
    try:
        import hwsim  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as exc:
        fail(f"run this script with hwsim's Python (e.g. /work/venv/bin/python): {exc}")


def external_python(env_var: str, default: str, tool: str, module: str, setup: str) -> str:
    """The external tool's interpreter (env_var overrides the default venv); exits when it is missing
    or cannot import the tool."""
    python = os.environ.get(env_var, default)
    if not Path(python).is_file():
        fail(
            f"{tool} is not set up: {python} does not exist (set {env_var} to its Python). Set it up with:\n"
            f"    {setup}\n(see benchmarks/external/README.md)"
        )
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no message)"])[-1]
        fail(f"{python} cannot import {module} ({last}). Set it up with:\n    {setup}")
    return python


def run_worker(python: str, script: Path, payload: dict, timeout_s: float) -> dict:
    """Run `script` under `python` with `payload` as JSON on stdin; return the JSON it prints last."""
    try:
        # stderr passes through: the worker's progress lines and, on failure, its error show as they come
        proc = subprocess.run(
            [python, str(script)],
            input=json.dumps(payload),
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout_s,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        fail(f"{script.name} did not finish within {timeout_s:.0f} s")
    if proc.returncode != 0:
        fail(f"{script.name} failed (exit {proc.returncode}; its messages are above)")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        fail(f"{script.name} printed no result")
    return json.loads(lines[-1])


def report_progress(
    tool: str, i: int, total: int, m: int, n: int, k: int, rows: int, cols: int, cycles: float, wall_s: float
) -> None:
    """Workers: one progress line per design point on stderr."""
    print(
        f"{tool} [{i}/{total}] {m}x{n}x{k} on {rows}x{cols}: {cycles:,.0f} cycles, {wall_s:.2f} s",
        file=sys.stderr,
        flush=True,
    )


def emit_rows(distribution: str, rows: list[dict]) -> None:
    """Workers: the one JSON line run_worker reads (tool version, Python version, one row per point)."""
    from importlib.metadata import version

    print(json.dumps({"version": version(distribution), "python": platform.python_version(), "rows": rows}))


def best_time(fn, repeat: int) -> float:
    """Shortest of `repeat` wall times of fn() in seconds (the usual estimate of a call's own cost)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def hwsim_gemm(
    arch, m: int, n: int, k: int, arrays: list[tuple[int, int]], precision, dense_side: np.ndarray, repeat: int = 20
) -> dict:
    """hwsim's systolic family on one GEMM over several (rows, cols) arrays, two ways:

    - the systolic closed form alone (`stall_free_cycles` on plain integers), per array;
    - `Accelerator.cost` of the single-GEMM op table, one call per array (time per call);
    - `sweep_cost` vectorised: over the listed arrays (zipped, one call), and over a dense
      rows × cols grid (`dense_side` values per axis) to show the per-point cost of a real sweep.
    Returns per-array cycles (both paths) and the timings in seconds."""
    from hwsim.engine import gemm_ops, sweep_cost
    from hwsim.families.systolic import stall_free_cycles

    ops = gemm_ops([("gemm", m, n, k)])
    per_call, closed_form, cycles, compute_cycles, memory_cycles = [], [], [], [], []
    dataflow = arch.compute["dataflow"]
    for rows, cols in arrays:
        closed_form.append(best_time(lambda: stall_free_cycles(dataflow, m, n, k, rows, cols), repeat * 50))
        point = arch.with_values({"compute.rows": rows, "compute.cols": cols})
        table = evaluate(point, ops, precision)
        per_call.append(best_time(lambda: evaluate(point, ops, precision), repeat))
        cycles.append(int(table.totals["cycles"]))
        compute_cycles.append(int(table.totals["compute_cycles"]))
        memory_cycles.append(int(table.totals["memory_cycles"]))
    listed = {"compute.rows": [r for r, _ in arrays], "compute.cols": [c for _, c in arrays]}
    swept = sweep_cost(arch, listed, ops, precision, product=False)
    sweep_listed = best_time(lambda: sweep_cost(arch, listed, ops, precision, product=False), 5)
    dense = {"compute.rows": dense_side, "compute.cols": dense_side}
    dense_points = len(dense_side) ** 2
    sweep_dense = best_time(lambda: sweep_cost(arch, dense, ops, precision), 3)
    return {
        "cycles": cycles,
        "compute_cycles": compute_cycles,
        "memory_cycles": memory_cycles,
        "sweep_cycles": swept["cycles"].astype(int).tolist(),
        "sweep_compute_cycles": swept["compute_cycles"].astype(int).tolist(),
        "closed_form_s": closed_form,
        "cost_s": per_call,
        "sweep_listed_s_per_point": sweep_listed / len(arrays),
        "sweep_dense_s_per_point": sweep_dense / dense_points,
        "dense_points": dense_points,
    }


def markdown_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(out)


def ratio_summary(what: str, ratios: list[float]) -> str:
    return f"Ratio {what}: median {statistics.median(ratios):,.0f}×, range {min(ratios):,.0f}–{max(ratios):,.0f}×."


def seconds(s: float) -> str:
    """A wall time with a unit that keeps three significant figures readable."""
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def machine_line() -> str:
    return (
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}"
    )
