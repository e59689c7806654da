"""Per-op cycle vs analytical gaps (cycle / analytical − 1) on every preset × {decode, prefill} of a model:
the totals' gap, the worst row of each op kind, and every row past a threshold (issue 12: within 5%).

    python benchmarks/cycle_gaps.py                        # every preset, llama-3-8b, int4_g128, 5%
    python benchmarks/cycle_gaps.py --presets tmac-m2-ultra,tpu-like --model llama-2-7b --over 0.01
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from hwsim.arch import load_arch
from hwsim.cycle import evaluate as cycle
from hwsim.engine import Precision
from hwsim.engine.cost import evaluate as analytical
from hwsim.paths import preset_names
from hwsim.workload import load_model, trace


def gaps(arch, tr, prec):
    """(ops frame of the analytical engine with a `gap` column, the totals' gap)."""
    a, c = analytical(arch, tr, prec), cycle(arch, tr, prec)
    ops = a.ops.assign(cycle=c.ops["cycles"].to_numpy())
    ops["gap"] = ops["cycle"] / ops["cycles"] - 1
    return ops, c.totals["cycles"] / a.totals["cycles"] - 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="", help="comma-separated (default: every preset in archs/)")
    p.add_argument("--model", default="llama-3-8b")
    p.add_argument("--weights", default="int4_g128", help="weight format (runs on every shipped preset)")
    p.add_argument("--context", type=int, default=256, help="decode: cached tokens")
    p.add_argument("--seq", type=int, default=256, help="prefill: tokens")
    p.add_argument("--over", type=float, default=0.05, help="list the rows whose |gap| exceeds this")
    args = p.parse_args()
    names = args.presets.split(",") if args.presets else preset_names("archs")
    model, prec = load_model(args.model), Precision(weights=args.weights)
    phases = {
        "decode": trace(model, "decode", context=args.context),
        "prefill": trace(model, "prefill", seq=args.seq),
    }
    print(f"{args.model}, {args.weights}; gap = cycle / analytical − 1; worst row per kind; rows past ±{args.over:.0%}")
    for name in names:
        arch = load_arch(name)
        for phase, tr in phases.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ops, total = gaps(arch, tr, prec)
            worst = ops.loc[ops["gap"].abs().groupby(ops["kind"]).idxmax()]
            kinds = " ".join(f"{r.kind} {r.gap:+.2%}" for r in worst.itertuples())
            print(f"{name:<18} {arch.family:<9} {phase:<7} total {total:+.3%} | {kinds}")
            past = ops[np.abs(ops["gap"]) > args.over]
            for (op, kind), g in past.groupby([past["name"].str.split(".").str[-1], "kind"]):
                r = g.loc[g["gap"].abs().idxmax()]
                print(f"    {op} ({kind}, {len(g)} rows) {r.gap:+.1%}: {r.cycles:,.0f} → {r.cycle:,.0f} cycles")


if __name__ == "__main__":
    main()
