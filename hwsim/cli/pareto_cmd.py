"""`hwsim pareto RESULTS --objectives col:min,col:max [--by COLS|none] [--plot out.png] [--json]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from hwsim.cli import path_name
from hwsim.cli.output import emit_json, front_table, records
from hwsim.errors import HwsimError

HELP = "Pareto front of a results table (Parquet, CSV or a sweep output directory)"
EXAMPLES = (
    "hwsim pareto results/quickstart --objectives tokens_per_s:max,area_mm2:min",
    "hwsim pareto results/quickstart/results.parquet --objectives energy_per_token_j:min,tokens_per_s:max --plot front.png",
)

FLAGS = {"path": "--plot"}  # the plot's parameter → its option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results.parquet / results.csv, or a sweep output directory")
    p.add_argument("--objectives", required=True, help="comma-separated column:min|max, e.g. energy_j:min,seconds:min")
    p.add_argument(
        "--by",
        metavar="COLS",
        help="one front per group of these comma-separated columns (default: the workload columns "
        "model,phase,batch,seq,context,ops the table has; 'none' for one global front)",
    )
    p.add_argument(
        "--plot",
        metavar="OUT",
        type=path_name,
        help="write a plot of the front (first two objectives; one panel per group, at most 6)",
    )
    p.add_argument(
        "--color-by",
        metavar="COLUMN",
        help="column that colours the plot (default: family/format); rows without a value in it are 'n/a'",
    )
    p.add_argument(
        "--feasible-only", action="store_true", help="drop rows whose 'feasible' column is false before filtering"
    )
    p.add_argument("--json", action="store_true", help="print the front's rows as one JSON list")


def _group_columns(spec: str | None, columns: Iterable[str], file: object) -> list[str]:
    from hwsim.errors import closest
    from hwsim.sweep.evaluate import workload_columns

    if spec is None:
        return workload_columns(columns)
    if spec.strip().lower() == "none":
        return []
    by = [c.strip() for c in spec.split(",")]
    for c in by:
        if c not in columns:
            raise HwsimError(f"unknown column {c!r}{closest(c, columns)} (or 'none')", file=file, field="--by")
    return list(dict.fromkeys(by))


def run(args: argparse.Namespace) -> int:
    from hwsim.pareto import front_mask, group_ids, nan_rows, order_front, parse_objectives, plot_front
    from hwsim.pareto.plot import MAX_PANELS, check_color_column
    from hwsim.sweep.io import read_table

    objs = parse_objectives(args.objectives, field="--objectives")
    df = read_table(args.results)
    if not len(df):
        raise HwsimError("the results table has no rows", file=args.results)
    if args.feasible_only and "feasible" in df.columns:
        rows = len(df)
        df = df[df["feasible"].astype(bool)].reset_index(drop=True)
        if not len(df):
            raise HwsimError(
                f"none of the {rows} rows is feasible (the study's constraints reject them all): "
                "leave --feasible-only out to see the front of every row",
                file=args.results,
                field="--feasible-only",
            )
    by = _group_columns(args.by, df.columns, args.results)
    mask = front_mask(df, objs, by=by, file=args.results)
    gid = group_ids(df, by)
    if args.color_by is not None:
        check_color_column(args.color_by, df.columns, file=args.results, field="--color-by")
    if args.plot:
        if len(objs) < 2:
            raise HwsimError("a plot needs two objectives", field="--objectives")
        plot_front(df, mask, objs[0], objs[1], args.plot, color_by=args.color_by, by=by)
    front = order_front(df[mask], objs, group=gid[mask])
    if args.json:
        emit_json(records(front))
        return 0
    groups = int(gid.max()) + 1 if len(gid) else 0
    per = f" per {', '.join(by)} ({groups} group{'s' if groups != 1 else ''})" if by else ""
    excluded = nan_rows(df, objs)
    nan_note = f"; {excluded} row{'s' if excluded != 1 else ''} with NaN in an objective excluded" if excluded else ""
    print(f"{len(front)} of {len(df)} rows on the front of {', '.join(map(str, objs))}{per}{nan_note}")
    if len(front):  # swept parameters are the dotted columns (compute.rows), as a study writes them
        params = [c for c in front.columns if "." in c]
        print(front_table(front, params, [*by, *(o.column for o in objs)], 60))
    if args.plot:
        note = f" (first {MAX_PANELS} of {groups} groups)" if groups > MAX_PANELS else ""
        print(f"plot: {args.plot}{note}", file=sys.stderr)
    return 0
