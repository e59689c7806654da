"""Run a study: plan tasks, evaluate them (any executor), write parts, consolidate, Pareto, plot."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import pandas as pd

from hwsim.errors import HwsimError, HwsimWarning
from hwsim.study.samplers import design_points
from hwsim.paths import resolve_preset
from hwsim.study.schema import Study, load_study
from hwsim.sweep.accuracy import accuracy_table
from hwsim.sweep.evaluate import Context, Evaluator, engine_evaluator, workload_columns
from hwsim.sweep.executors import execute
from hwsim.fileio import atomic_write_table
from hwsim.sweep.io import FORMATS, RESULTS_STEM, read_table
from hwsim.sweep.recheck import RECHECK_STEM, run_recheck
from hwsim.sweep.store import RESUME_HINT, Store
from hwsim.sweep.tasks import check_size, Task, plan, total_rows

FRONT_STEM = "front"


@dataclass(frozen=True)
class SweepResult:
    dir: Path
    results: Path
    front: Path
    plot: Path | None
    rows: int
    front_rows: int
    resumed_tasks: int  # tasks found finished on disk when resuming
    recheck: Path | None = None  # the cycle-engine recheck of sampled rows (study key `recheck`)
    recheck_summary: dict | None = None  # rows, median_abs_rel_diff, max_abs_rel_diff, file
    already_complete: bool = False  # resume found a finished run of the same study: no task ran

    def table(self) -> pd.DataFrame:
        return read_table(self.results)

    def front_table(self) -> pd.DataFrame:
        return read_table(self.front)


def _items(study: Study, tasks: Iterable[Task]) -> Iterator[tuple[Task, dict[str, np.ndarray]]]:
    """(task, its slice of design points); each design's points are sampled once."""
    cache: dict[int, dict] = {}
    for t in tasks:
        if t.design not in cache:
            cache = {t.design: design_points(study.designs[t.design], study.sampler)}
        pts = cache[t.design]
        yield t, {k: v[t.start : t.stop] for k, v in pts.items()}


def run_sweep(
    study: Study | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    workers: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    resume: bool = False,
    evaluator: Evaluator | None = None,
    progress: bool | None = None,
) -> SweepResult:
    """Evaluate every task of `study` into `out_dir` (default: the study's outputs.dir).

    With resume=True, parts already on disk from an interrupted run of the *same* study are kept
    and only the missing tasks run. `evaluator` replaces the analytical engine (tests).
    `progress=None` shows a tqdm bar on stderr when it is a terminal.
    """
    from hwsim.sweep.executors import check_executor

    if not isinstance(study, Study):  # a study file or preset name, as `hwsim sweep` takes
        if not isinstance(study, (str, os.PathLike)):
            raise HwsimError(f"expected a Study or a study file, got {type(study).__name__}", field="study")
        study = load_study(resolve_preset(study, "studies", what="study"))
    check_executor(workers, executor, scheduler)  # before anything in the output folder is touched
    check_size(study)
    if out_dir is None and study.outputs.dir_error is not None:
        raise study.outputs.dir_error
    store = Store(out_dir if out_dir is not None else study.outputs.dir)
    store.lock()
    try:
        return _run(study, store, workers, executor, scheduler, resume, evaluator, progress)
    except OSError as exc:  # the disk filled up or the folder went read-only between two checked writes
        from hwsim.fileio import os_reason

        raise HwsimError(f"sweep stopped: {os_reason(exc)}{RESUME_HINT}", file=store.root) from None
    finally:
        store.unlock()


def _changed_inputs(manifest: dict, made_by: dict) -> list[str]:
    """The input files (arch presets; every file a model is read from: config.json, a ModelOpt hf_quant_config.json)
    whose SHA-256 differs from the one the manifest recorded, or that appeared or went since: their rows would
    differ, though the study's fingerprint does not. The study file itself is left to the fingerprint, which ignores
    what decides no row. A manifest written before provenance was recorded checks nothing here."""
    provenance = manifest.get("provenance")
    old = provenance.get("inputs") if isinstance(provenance, dict) else None  # a damaged one: as if never recorded
    if not isinstance(old, dict):
        return []
    new = made_by["inputs"]
    keys = sorted((set(old) | set(new)) - {"study"})
    sha = lambda d, k: (d.get(k) or {}).get("sha256")  # noqa: E731
    return [str((new.get(k) or old[k])["path"]) for k in keys if sha(old, k) != sha(new, k)]


def _run(
    study: Study,
    store: Store,
    workers: int,
    executor: str,
    scheduler: str | None,
    resume: bool,
    evaluator: Evaluator | None,
    progress: bool | None,
) -> SweepResult:
    fmt = study.outputs.format
    results = store.root / f"{RESULTS_STEM}.{fmt}"
    fingerprint = study.fingerprint()
    tasks = plan(study)
    manifest = store.read_manifest() if resume else None
    complete = manifest is not None and bool(manifest.get("complete")) and results.exists()
    from hwsim.sweep.provenance import provenance

    made_by = provenance(study)
    was = "finished" if complete else "interrupted"
    if manifest is not None and manifest.get("fingerprint") != fingerprint:
        raise HwsimError(
            f"the study changed since the {was} sweep in this folder (different fingerprint); run without "
            "`resume` to start over",
            file=store.root / "manifest.json",
        )
    changed = _changed_inputs(manifest, made_by) if manifest is not None else []
    if changed:
        raise HwsimError(
            f"{changed[0]} changed since the {was} sweep in this folder (its SHA-256 in the manifest's provenance "
            "differs); run without `resume` to start over",
            file=store.root / "manifest.json",
        )
    if complete and manifest is not None:
        store.drop_temporaries()  # killed while it wrote the front or the plot, or
        store.drop_parts()  # while it dropped the parts the results already hold
        return replace(_finish(study, store, results, len(tasks), rows=manifest.get("rows", 0)), already_complete=True)

    ctx = Context(study, accuracy_table(study), evaluator or engine_evaluator)
    _check_objectives(study, ctx, tasks)  # before the folder is touched: a refused study leaves it as it was
    store.prepare(fresh=manifest is None)
    plot = [store.root / study.outputs.plot] if study.outputs.plot else []  # a study with no feasible row draws none
    # every format's results: a results.parquet left by an earlier study beside this one's results.csv was the
    # table `hwsim pareto DIR` read (it prefers parquet)
    old_results = [store.root / f"{RESULTS_STEM}.{f}" for f in FORMATS]
    for stale in (*old_results, *store.root.glob(f"{FRONT_STEM}.*"), *store.root.glob(f"{RECHECK_STEM}.*"), *plot):
        if manifest is None and stale.exists():
            stale.unlink()
    store.write_manifest(
        {
            "study": study.name,
            "file": study.file,
            "fingerprint": fingerprint,
            "tasks": len(tasks),
            "rows": total_rows(tasks),
            "format": fmt,
            "complete": False,
            "provenance": made_by,
        }
    )
    done = store.done() if manifest is not None else set()

    from tqdm import tqdm

    todo = [t for t in tasks if t.id not in done]
    with tqdm(
        total=total_rows(tasks),
        initial=total_rows([t for t in tasks if t.id in done]),
        unit="row",
        desc=study.name,
        file=sys.stderr,
        disable=(None if progress is None else not progress),
        dynamic_ncols=True,
    ) as bar:
        if todo:
            for task, table in execute(
                ctx, _items(study, todo), workers=workers, executor=executor, scheduler=scheduler
            ):
                _check_columns(study, table)
                store.write_part(task.id, table)
                bar.update(task.points)

    missing = {t.id for t in tasks} - store.done()
    if missing:  # pragma: no cover - an executor that lost tasks must not yield a silently short table
        raise RuntimeError(f"{len(missing)} tasks produced no part")
    table = store.read_parts(t.id for t in tasks)
    atomic_write_table(table, results, fmt)
    store.write_manifest(
        {
            "study": study.name,
            "file": study.file,
            "fingerprint": fingerprint,
            "tasks": len(tasks),
            "rows": len(table),
            "format": fmt,
            "complete": True,
            "provenance": made_by,
        }
    )
    store.drop_parts()
    return _finish(study, store, results, len(done), rows=len(table), table=table)


def _check_objectives(study: Study, ctx: Context, tasks: list[Task]) -> None:
    """Every objective is a numeric column of every design's rows, judged on one design point of each design and
    workload kind (step, serving) before any task runs. A column some designs lack (a parameter one design
    sweeps, a family's own total, a serving metric) used to stop the sweep at the first chunk without it, after
    the others had run, as an "unknown column"; its rows would never be on a front, so it is refused here, naming
    the designs that lack it (docs/studies.md, Pareto fronts)."""
    from hwsim.pareto.objectives import check_columns
    from hwsim.sweep.evaluate import evaluate_task

    probes: dict[tuple[int, str], pd.DataFrame] = {}
    for t in tasks:
        key = (t.design, study.workloads[t.workload].kind)
        if key not in probes:
            one = replace(t, stop=t.start + 1)
            probes[key] = evaluate_task(ctx, one, next(_items(study, [one]))[1])
    kinds = {k for _, k in probes}

    def label(key: tuple[int, str]) -> str:
        name = study.designs[key[0]].name
        return f"{name} ({key[1]} workloads)" if len(kinds) > 1 else name

    columns = list(dict.fromkeys(c for t in probes.values() for c in t.columns))
    check_columns(study.objectives, columns, file=study.file, field="objectives")  # in no design's rows
    for o in study.objectives:
        lack = [label(k) for k, t in probes.items() if o.column not in t.columns]
        if lack:
            have = [label(k) for k, t in probes.items() if o.column in t.columns]
            raise HwsimError(
                f"objective column {o.column!r} is in the rows of {', '.join(dict.fromkeys(have))} but not of "
                f"{', '.join(dict.fromkeys(lack))}: fronts compare the designs of a workload on every objective, so "
                "those rows could never be on one; give objectives every design has, or sweep those designs apart",
                file=study.file,
                field="objectives",
            )
        text = next((label(k) for k, t in probes.items() if t[o.column].dtype.kind not in "iufb"), None)
        if text is not None:
            raise HwsimError(
                f"objective column {o.column!r} is not numeric in the rows of {text}",
                file=study.file,
                field="objectives",
            )


def _check_columns(study: Study, table: pd.DataFrame) -> None:
    """Objectives must name result columns (fail on the first part). The plot's colour column is checked on the
    whole table (`_finish`): a column of some designs only (FPGA `util_*`, a parameter one design sweeps) is
    fine, its other rows are drawn as "n/a"."""
    from hwsim.pareto.objectives import check_columns

    check_columns(study.objectives, table.columns, file=study.file, field="objectives")


def _finish(
    study: Study, store: Store, results: Path, resumed: int, *, rows: int, table: pd.DataFrame | None = None
) -> SweepResult:
    """Per-workload fronts of the feasible rows under the study's objectives, their plot, and the recheck if asked.

    Prefill and decode rows differ by orders of magnitude in tokens/s, so one front across workloads
    would only compare workloads; each workload gets its own, written in order of first appearance.
    """
    from hwsim.pareto import front_mask, group_ids, order_front, plot_front

    if table is None:
        table = read_table(results)
    fmt = study.outputs.format
    feasible = table[table["feasible"].astype(bool)] if "feasible" in table.columns else table
    feasible = feasible.reset_index(drop=True)
    if len(table) and not len(feasible):
        cols = ", ".join(c.column for c in study.constraints)
        why = (
            f"constraints: none of the {len(table)} rows meets them ({cols})"
            if cols
            else (f"none of the {len(table)} rows is feasible (their `feasible` column is false)")
        )
        warnings.warn(f"{study.file}: {why}, so the front is empty", HwsimWarning, stacklevel=2)
    by = workload_columns(feasible.columns)
    mask = front_mask(feasible, study.objectives, by=by, file=results)
    front = order_front(feasible[mask], study.objectives, group=group_ids(feasible, by)[mask])
    front_path = store.root / f"{FRONT_STEM}.{fmt}"
    atomic_write_table(front, front_path, fmt)
    if study.outputs.color_by is not None:  # known only now: a column some designs lack is fine (drawn "n/a")
        from hwsim.pareto.plot import check_color_column

        # color_by is not in the study's fingerprint: a corrected study resumes at the plot
        hint = "; the results and front are written: fix it and rerun with `resume` to draw the plot"
        check_color_column(study.outputs.color_by, table.columns, file=study.file, field="outputs.color_by", hint=hint)
    plot_path = None
    if study.outputs.plot and len(study.objectives) >= 2 and len(feasible):
        plot_path = store.root / study.outputs.plot
        import matplotlib.pyplot as plt

        fig = plot_front(
            feasible,
            mask,
            study.objectives[0],
            study.objectives[1],
            os.fspath(plot_path),
            color_by=study.outputs.color_by,
            title=study.name,
            by=by,
        )
        plt.close(fig.canvas.figure)  # the Figure itself (plot_front made it: no Axes was given)
    rc_path = rc_summary = None
    if study.recheck is not None:
        rc_path, rc_summary = run_recheck(study, store.root, table)
    return SweepResult(store.root, results, front_path, plot_path, rows, len(front), resumed, rc_path, rc_summary)
