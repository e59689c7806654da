"""`hwsim pareto RESULTS --objectives col:min,col:max [--plot out.png] [--json]`."""
from __future__ import annotations

import sys

from hwsim.cli.output import emit_json, records
from hwsim.errors import HwsimError

HELP = "Pareto front of a results table (Parquet, CSV or a sweep output directory)"


def add_arguments(p) -> None:
    p.add_argument("results", help="results.parquet / results.csv, or a sweep output directory")
    p.add_argument("--objectives", required=True,
                   help="comma-separated column:min|max, e.g. energy_j:min,seconds:min")
    p.add_argument("--plot", metavar="OUT", help="write a plot of the front (first two objectives)")
    p.add_argument("--color-by", metavar="COLUMN", help="column that colours the plot (default: family/format)")
    p.add_argument("--feasible-only", action="store_true",
                   help="drop rows whose 'feasible' column is false before filtering")
    p.add_argument("--json", action="store_true", help="print the front's rows as one JSON list")


def run(args) -> int:
    from hwsim.pareto import front_mask, order_front, parse_objectives, plot_front
    from hwsim.sweep.io import read_table

    objs = parse_objectives(args.objectives, field="--objectives")
    df = read_table(args.results)
    if args.feasible_only and "feasible" in df.columns:
        df = df[df["feasible"].astype(bool)].reset_index(drop=True)
    mask = front_mask(df, objs, file=args.results)
    if args.color_by is not None and args.color_by not in df.columns:
        raise HwsimError(f"unknown column {args.color_by!r}", file=args.results, field="--color-by")
    if args.plot:
        if len(objs) < 2:
            raise HwsimError("a plot needs two objectives", field="--objectives")
        plot_front(df, mask, objs[0], objs[1], args.plot, color_by=args.color_by)
    front = order_front(df[mask], objs)
    if args.json:
        emit_json(records(front))
        return 0
    print(f"{len(front)} of {len(df)} rows on the front of {', '.join(map(str, objs))}")
    if len(front):
        import pandas as pd

        with pd.option_context("display.max_columns", 12, "display.width", 160, "display.max_rows", 60):
            print(front.to_string(index=False, max_rows=60))
    if args.plot:
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0
