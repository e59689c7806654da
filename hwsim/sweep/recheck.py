"""Re-check sampled rows of a finished sweep with the cycle-level engine (study key `recheck`).

Rows of the results follow the task order of `plan(study)`, so row i names its task and design
point exactly; each sampled row is rebuilt from the study (engine_inputs, design_points,
engine_grid: the sweep's own helpers), not parsed back from the table, and costed by
hwsim.cycle.evaluate. The sample depends only on the table and the seed, never on workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from hwsim.engine.per_op import evaluate_per_op
from hwsim.engine.sweep import arch_at
from hwsim.errors import HwsimError
from hwsim.study.samplers import design_points
from hwsim.study.schema import Study
from hwsim.sweep.evaluate import (
    PRECISION_COLUMNS,
    WORKLOAD_COLUMNS,
    concrete,
    engine_formats,
    engine_grid,
    engine_inputs,
    engine_model,
)
from hwsim.fileio import atomic_write_table
from hwsim.sweep.tasks import Task, plan

RECHECK_STEM = "recheck"
ID_COLUMNS = ("design", "family", "point", *WORKLOAD_COLUMNS, *PRECISION_COLUMNS)


def _locate(study: Study, rows: np.ndarray) -> Iterator[tuple[Task, int]]:
    """(task, design point index) of each results row."""
    tasks = plan(study)
    ends = np.cumsum([t.points for t in tasks])
    for r in rows:
        t = tasks[int(np.searchsorted(ends, r, side="right"))]
        yield t, t.stop - int(ends[t.id] - r)


def recheck_table(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """The sampled rows' identifying columns, analytical `cycles`, `cycles_cycle` and `rel_diff`.
    Rows whose analytical cycles are not finite and positive have nothing to compare and are not drawn."""
    from hwsim.cycle import evaluate
    from hwsim.cycle.recheck import sample_rows

    spec = study.recheck
    if spec is None:
        raise ValueError(f"study {study.name} asks for no recheck")
    cycles = table["cycles"].to_numpy(dtype=float)
    eligible = np.flatnonzero(np.isfinite(cycles) & (cycles > 0))
    rows = eligible[sample_rows(len(eligible), spec.sample, spec.seed)]
    params = [c for c in table.columns if "." in c]
    out = table.iloc[rows][[c for c in (*ID_COLUMNS, *params, "cycles") if c in table.columns]].copy()
    got = []
    for r, (task, point) in zip(rows, _locate(study, rows)):
        design = study.designs[task.design]
        if table["design"].iat[r] != design.name or table["point"].iat[r] != point:  # pragma: no cover
            raise RuntimeError(f"results row {r} is not design {design.name!r} point {point}: table out of order")
        workload = study.workloads[task.workload]
        precision = concrete(study.precisions[task.precision], workload)
        arch, trace, prec = engine_inputs(design, workload, precision)
        fmts = engine_formats(workload, precision)
        grid = engine_grid(design, design_points(design, study.sampler, point, point + 1))
        try:
            arch = arch_at(arch, {k: v[0] for k, v in grid.items()})
            cost = evaluate_per_op(arch, trace, prec, fmts, evaluate, engine_model(workload))
            got.append(cost.totals["cycles"])
        except HwsimError as exc:
            raise HwsimError(
                f"{design.name} point {point}: cycle engine: {exc}", file=study.file, field="recheck"
            ) from None
    out.insert(0, "row", rows.astype(np.int64))
    out["cycles_cycle"] = np.asarray(got, dtype=np.float64)
    out["rel_diff"] = (out["cycles_cycle"] - out["cycles"]) / out["cycles"]
    return out.reset_index(drop=True)


def summary(rc: pd.DataFrame, path: Path) -> dict:
    a = rc["rel_diff"].abs()
    return {
        "rows": len(rc),
        "median_abs_rel_diff": float(a.median()) if len(a) else None,
        "max_abs_rel_diff": float(a.max()) if len(a) else None,
        "file": str(path),
    }


def summary_line(s: dict) -> str:
    if not s["rows"]:
        return f"recheck (cycle engine): 0 rows (no row with finite cycles) → {s['file']}"
    return (
        f"recheck (cycle engine): {s['rows']} rows, |rel_diff| median {s['median_abs_rel_diff']:.2%}, "
        f"max {s['max_abs_rel_diff']:.2%} → {s['file']}"
    )


def run_recheck(study: Study, root: Path, table: pd.DataFrame) -> tuple[Path, dict]:
    """Write recheck.<format> atomically next to the results; returns (path, summary)."""
    path = Path(root) / f"{RECHECK_STEM}.{study.outputs.format}"
    rc = recheck_table(study, table)
    atomic_write_table(rc, path, study.outputs.format)
    return path, summary(rc, path)
