"""hwsim trace: the op table of a prefill or decode step."""

from __future__ import annotations

import argparse

from hwsim.cli import WORKLOAD_FLAGS, path_name
from hwsim.cli.output import emit_json, records
from hwsim.cli.workload_args import add_workload_arguments, trace_from_args

FLAGS = WORKLOAD_FLAGS  # trace()'s parameters → their options

HELP = "print the op trace (one row per op) of a model's prefill or decode step"
EXAMPLES = (
    "hwsim trace --model llama-2-7b --phase decode --batch 8 --context 4096",
    "hwsim trace --model mixtral-8x7b --phase prefill --seq 512 --csv ops.csv",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_workload_arguments(parser)
    parser.add_argument("--kv-bits", type=float, default=16.0, help="KV precision for kv_cache_bytes (default 16)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--csv", metavar="PATH", type=path_name, help="also write the op table as CSV")


def run(args: argparse.Namespace) -> int:
    from hwsim.core.precision import check_bits

    check_bits(args.kv_bits, "--kv-bits")  # the bounds --weights / --kv numbers have
    tr = trace_from_args(args)
    totals = tr.totals(kv_bits=args.kv_bits)
    if args.csv:
        from hwsim.fileio import atomic_write_table, prepare_output

        inputs = (tr.model.path,) if tr.model.path else ()  # `--model DIR --csv DIR/config.json` replaced the config
        atomic_write_table(tr.ops, prepare_output(args.csv, field="--csv", inputs=inputs), "csv", field="--csv")
    if args.json:
        emit_json(
            {
                "model": tr.model.name,
                "phase": tr.phase,
                "batch": tr.batch,
                "seq": tr.seq,
                "context": tr.context,
                "default_weight_format": tr.model.default_weight_format,
                "ops": records(tr.ops),
                "totals": totals,
            }
        )
        return 0
    import pandas as pd

    with pd.option_context("display.max_rows", 60, "display.width", 200):
        print(tr.ops.drop(columns=["layer"]).to_string(index=False, max_rows=60))
    print(f"\n{tr.model.name} {tr.phase}: batch {tr.batch}, {tr.seq} new token(s)/seq, context {tr.context}")
    for key, value in totals.items():
        print(f"  {key:>24}: {value:,.0f}")
    return 0
