"""`hwsim sweep STUDY.yaml [--out DIR] [--workers N] [--executor local|dask] [--scheduler ADDR] [--resume]`."""

from __future__ import annotations

import argparse
import sys

from hwsim.cli import options, path_name
from hwsim.cli.output import emit_json, front_table, records

HELP = "Sweep a study (YAML) into a results table, its Pareto front and a plot"
EXAMPLES = ("hwsim sweep quickstart", "hwsim sweep studies/all-families.yaml --workers 2 --out results/all")

INTERRUPTED = "; the finished parts are kept: rerun with --resume to continue"  # after Ctrl-C (hwsim.cli.main)
# run_sweep's parameters → options
FLAGS = {**options("workers", "executor", "scheduler", "resume"), "out_dir": "--out"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study YAML (a path, or a name in studies/)")
    p.add_argument("--out", metavar="DIR", type=path_name, help="output folder (default: the study's outputs.dir)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local processes, or Dask distributed (embedded LocalCluster unless --scheduler)",
    )
    p.add_argument("--scheduler", metavar="ADDR", help="address of a running Dask scheduler (tcp://host:8786)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted sweep in the same folder (a finished one: nothing to run)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print the Pareto front's rows as one JSON list")


def run(args: argparse.Namespace) -> int:
    from hwsim.paths import resolve_preset
    from hwsim.study import load_study
    from hwsim.sweep import run_sweep

    study = load_study(resolve_preset(args.study, "studies", what="study"))
    res = run_sweep(
        study,
        args.out,
        workers=args.workers,
        executor=args.executor,
        scheduler=args.scheduler,
        resume=args.resume,
        progress=False if args.no_progress else None,
    )
    front = res.front_table()
    if res.recheck_summary is not None:  # stderr, so --json keeps stdout one JSON document
        from hwsim.sweep.recheck import summary_line

        print(summary_line(res.recheck_summary), file=sys.stderr)
    if args.json:
        emit_json(records(front))
        return 0
    objs = ", ".join(map(str, study.objectives))
    if res.already_complete:  # --resume on a finished run: its files, re-read
        print(f"{study.name}: already complete: {res.rows} rows → {res.results}, nothing to run")
    else:
        print(f"{study.name}: {res.rows} rows → {res.results}")
    if res.resumed_tasks and not res.already_complete:
        print(f"resumed an interrupted sweep: {res.resumed_tasks} chunks were already done, the rest ran")
    print(f"Pareto fronts per workload ({objs}, feasible rows): {res.front_rows} rows → {res.front}")
    if res.plot:
        print(f"plot: {res.plot}")
    if len(front):
        params = (c for d in study.designs for p in d.params for c in (p.path, p.si_column))
        print(front_table(front, params, [o.column for o in study.objectives], 30))
    return 0
