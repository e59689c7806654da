"""`hwsim allocate`: the optimal mixed-precision assignment under budgets (docs/allocate.md).

Exit codes: 0 solved to optimality; 2 a user error (bad name, file or value); 3 the budgets
cannot be met — one line on stderr gives the tightest feasible value of each budget (with --json
the same facts also go to stdout as {"status": "infeasible", ...}).
"""

from __future__ import annotations

import argparse
import sys

from hwsim.cli import WORKLOAD_FLAGS
from hwsim.cli.output import emit_json, records
from hwsim.errors import HwsimError

HELP = "mixed-precision allocation by integer programming, costs from the arch model"
EXAMPLES = (
    "hwsim allocate --arch bitmod --model llama-2-7b --phase decode --formats int3_g128,int4_g128,int8 --budget avg_bits=4.5",
    'hwsim allocate --arch bitmod --model llama-2-7b --phase decode --formats int4_g128,int8 --budget "seconds=5 ms" --json',
)
EXIT_INFEASIBLE = 3
# allocate's library parameters (hwsim.allocate.build_problem) → its options, and what each option sets
FLAGS = {
    **WORKLOAD_FLAGS,
    "formats": "--formats",
    "kv_formats": "--kv-formats",
    "fixed_weights": "--fixed-weights",
    "activations": "--activations",
    "kv": "--kv",
    "checkpoint": "--checkpoint",
    "model": "--model",
    "method": "--method",
    "group": "--group",
    "groups": "--group",
    "granularity": "--granularity",
    "objective": "--objective",
    "sensitivity": "--sensitivity",
    "text": "--text",
    "calibration": "--calibration",
    "proxy": "--proxy",
    "max_tokens": "--max-tokens",
    "window": "--window",
    "seed": "--seed",
    "budget": "--budget",
    "points": "--frontier",
}
FLAG_HINTS = {
    "--fixed-weights": "; --fixed-weights (default fp16) is the format of the weights outside the units "
    "(embeddings, lm_head)",
    "--formats": "; drop it from --formats",
    "--kv-formats": "; drop it from --kv-formats",
}
# budget key → the quantity kind its value is parsed as ("5 ms", "2 GiB", "0.3 J" …)
BUDGET_KINDS = {
    "seconds": "time",
    "energy_j": "energy",
    "memory_bytes": "bytes",
    "avg_bits": "dimensionless",
    "error": "dimensionless",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hwsim.allocate.errors import PROXIES
    from hwsim.allocate.solve import OBJECTIVES
    from hwsim.allocate.units import GRANULARITIES
    from hwsim.cli.workload_args import add_workload_arguments

    p.add_argument("--arch", required=True, help="preset name (archs/) or a YAML path")
    add_workload_arguments(p, model_required=False)
    p.add_argument("--formats", required=True, help="candidate weight formats F1,F2,…")
    p.add_argument("--kv-formats", help="also choose a KV-cache format per layer among these")
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"repeatable; KEY one of {', '.join(BUDGET_KINDS)} (units allowed: '5 ms', '4 GiB')",
    )
    p.add_argument("--objective", choices=OBJECTIVES, default="error")
    p.add_argument("--granularity", choices=GRANULARITIES, default="op", help="one format per op (default) or layer")
    p.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME=ROLE,ROLE",
        help="roles sharing one format in each layer, e.g. qkv=q_proj,k_proj,v_proj (repeatable)",
    )
    p.add_argument("--checkpoint", help="safetensors file/folder for real weights, or 'minilm' (runs MiniLM)")
    p.add_argument(
        "--proxy",
        choices=PROXIES,
        help="sensitivity proxy (default: measured for minilm or a decoder "
        "checkpoint with --text, else output); hessian: layer-local diag(XᵀX)-weighted error",
    )
    p.add_argument(
        "--text",
        metavar="FILE",
        help="with a decoder checkpoint folder: text the measured proxy's KL runs on (its first --max-tokens tokens)",
    )
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="with a decoder checkpoint folder: calibration text for methods and real activations (default: --text)",
    )
    p.add_argument("--max-tokens", type=int, help="tokens of --text used (default 1024)")
    p.add_argument("--window", type=int, help="tokens per window (default min(128, max_position_embeddings))")
    p.add_argument(
        "--method",
        default="rtn",
        metavar="M",
        help="quantization method the weights get before their error is measured: rtn (default), "
        "gptq, awq, smoothquant, rotate, or '+'-joined (rotate+gptq)",
    )
    p.add_argument("--sensitivity", metavar="FILE", help="sensitivity table, CSV name,sensitivity or JSON")
    p.add_argument(
        "--activations",
        help="activation format name or bits (default: the checkpoint's own, where its quantization_config states one "
        "(ModelOpt NVFP4 / FP8, compressed-tensors input_activations, fp8 activation_scheme); else fp16)",
    )
    p.add_argument(
        "--kv",
        help="KV-cache format when not allocated (default: the checkpoint's own, from its quantization_config; "
        "else fp16)",
    )
    p.add_argument(
        "--fixed-weights",
        help="format of weights outside the units (default: as a quantized checkpoint stores them, per op, else fp16)",
    )
    p.add_argument("--set", action="append", default=[], metavar="dotted.key=value", help="arch override")
    p.add_argument("--seed", type=int, default=0, help="seed of synthetic tensors and stochastic rounding")
    p.add_argument(
        "--frontier",
        metavar="KEY[:N]",
        help="instead of one solve, sweep N (default 20, at most 1000) budgets on KEY; uniform points beside",
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument(
        "--timing",
        action="store_true",
        help="also report each solve's wall time (solve_seconds), which changes run to run; off: same inputs, same bytes",
    )


def parse_budgets(items: list[str]) -> dict[str, float]:
    from hwsim.units import parse_quantity

    out = {}
    for text in items:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or key not in BUDGET_KINDS:
            raise HwsimError(
                f"expected KEY=VALUE with KEY one of {', '.join(BUDGET_KINDS)}, got {text!r}", field="--budget"
            )
        if key in out:
            raise HwsimError(f"{key} is given twice: keep one budget per key", field="--budget")
        out[key] = parse_quantity(value.strip(), BUDGET_KINDS[key], field=f"--budget {key}")
    return out


def _parse_frontier(text: str) -> tuple[str, int]:
    key, _, n = text.partition(":")
    if key not in BUDGET_KINDS:
        raise HwsimError(f"KEY must be one of {', '.join(BUDGET_KINDS)}, got {key!r}", field="--frontier")
    from hwsim.allocate.frontier import MAX_POINTS

    try:
        points = int(n) if n else 20
    except ValueError:
        points = 0
    if not 1 <= points <= MAX_POINTS:  # before the problem is built (hwsim.allocate.frontier checks it too)
        raise HwsimError(
            f"N must be an integer in 1..{MAX_POINTS:,} (budgets on the frontier), got {n!r}", field="--frontier"
        )
    return key, points


def run(args: argparse.Namespace) -> int:
    from hwsim.allocate import InfeasibleBudget, build_problem, resolve_trace, solve
    from hwsim.allocate.frontier import frontier
    from hwsim.arch import load_arch, parse_overrides

    budgets = parse_budgets(args.budget)
    sweep = _parse_frontier(args.frontier) if args.frontier is not None else None  # '' was no frontier, silently
    arch = load_arch(args.arch, parse_overrides(args.set))
    tr = resolve_trace(
        args.model, args.phase, batch=args.batch, seq=args.seq, context=args.context, checkpoint=args.checkpoint
    )
    problem = build_problem(
        arch,
        tr,
        args.formats,
        granularity=args.granularity,
        groups=args.group,
        kv_formats=args.kv_formats,
        checkpoint=args.checkpoint,
        proxy=args.proxy,
        sensitivity=args.sensitivity,
        activations=args.activations,
        kv=args.kv,
        fixed_weights=args.fixed_weights,
        seed=args.seed,
        method=args.method,
        text=args.text,
        calibration=args.calibration,
        max_tokens=args.max_tokens,
        window=args.window,
    )
    if sweep:
        table = frontier(problem, sweep[0], args.objective, sweep[1], budgets, timing=args.timing)
        if args.json:
            emit_json({"sweep": sweep[0], "objective": args.objective, "points": records(table)})
        else:
            print(table.to_string(index=False, na_rep="-"))  # a mixed point has no one format: '-', not NaN
        return 0
    try:
        sol = solve(problem, args.objective, budgets)
    except InfeasibleBudget as exc:
        if args.json:
            emit_json({"status": "infeasible", "message": exc.detail, "tightest": exc.tightest})
        print(f"hwsim allocate: infeasible: {exc.detail}", file=sys.stderr)
        return EXIT_INFEASIBLE
    out = sol.to_json(timing=args.timing)
    if problem.stored is not None:  # the quantized checkpoint as it ships, beside the optimum
        out["checkpoint"] = {k: problem.totals(problem.stored)[k] for k in out["totals"]}
    if args.json:
        emit_json(out)
        return 0
    width = max(len(k) for k in out["assignment"])
    for op, fmt in out["assignment"].items():
        print(f"{op:<{width}}  {fmt}")
    solved = f"solved in {out['solve_seconds'] * 1e3:.0f} ms, " if args.timing else ""
    print(
        f"\nstatus {out['status']}: {args.objective} = {out['objective']:.6g} "
        f"({solved}{len(problem.units)} units × {len(problem.formats)} formats)"
    )
    for key, value in out["totals"].items():
        limit = f"  (budget {budgets[key]:.6g})" if key in budgets else ""
        stored = f"  (checkpoint as stored: {out['checkpoint'][key]:.6g})" if "checkpoint" in out else ""
        print(f"  {key:>12}: {value:.6g}{limit}{stored}")
    return 0
