"""`hwsim roofline`: is each op compute- or memory-bound on this machine at this precision, and how far
below its roof does the cost model put it? Several --arch (and several --weights/--activations/--kv)
give one series each, in one table and one plot."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hwsim.arch import load_arch, parse_overrides
from hwsim.cli import WORKLOAD_FLAGS, path_name
from hwsim.cli.output import emit_json
from hwsim.engine import Precision
from hwsim.engine.per_op import checkpoint_refusal, model_activations, model_kv, own_formats
from hwsim.roofline.plot import si
from hwsim.errors import HwsimError

if TYPE_CHECKING:
    from hwsim.roofline import Roofline
    from hwsim.workload.config import ModelConfig
    from hwsim.workload.trace import Trace

HELP = "roofline per op and phase: intensity per memory level, compute roofs per precision, bounds, tokens/s ceiling"
EXAMPLES = (
    "hwsim roofline --arch h100-sxm --model llama-2-7b --phase decode --weights int4_g128",
    "hwsim roofline --arch h100-sxm --arch a100-sxm --model llama-2-7b --phase prefill --plot rl.png",
)

# roofline's and the plot's parameters → options
FLAGS = {**WORKLOAD_FLAGS, "arch": "--arch", "path": "--plot", "precision": "--weights/--activations/--kv"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hwsim.cli.workload_args import add_workload_arguments

    p.add_argument(
        "--arch", action="append", required=True, help="preset name (archs/) or a YAML path; repeat to compare machines"
    )
    add_workload_arguments(p)
    for operand in ("weights", "activations", "kv"):
        p.add_argument(
            f"--{operand}",
            action="append",
            default=None,
            help=f"{operand} format name or bits (default fp16"
            + ("; weights: a quantized checkpoint's own format" if operand == "weights" else "")
            + ("; kv: the checkpoint's own KV-cache format" if operand == "kv" else "")
            + ("; activations: the checkpoint's own where it states them" if operand == "activations" else "")
            + "); repeat to compare precisions",
        )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="dotted.key=value",
        help="override a field of every arch spec (repeatable)",
    )
    p.add_argument("--plot", metavar="OUT.png", type=path_name, help="write the roofline plot (.png, .pdf or .svg)")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _precisions(args: argparse.Namespace, model: ModelConfig) -> list[Precision]:
    """Without --weights a quantized checkpoint's ops keep their own formats (roofline(weight_formats=…)); without
    --activations / --kv its activations and cache are in its own formats (hwsim.engine.per_op.model_activations,
    model_kv)."""
    w = args.weights or ["fp16"]
    a = args.activations or [model_activations(model)]
    kv = args.kv or [model_kv(model)]
    return [Precision(weights=x, activations=y, kv=z) for x in w for y in a for z in kv]


def _title(tr: Trace) -> str:
    span = f"seq {tr.seq}" if tr.phase == "prefill" else f"context {tr.context}"
    ctx = f", context {tr.context}" if tr.phase == "prefill" and tr.context else ""
    return f"{tr.model.name} {tr.phase} · batch {tr.batch} · {span}{ctx}"


def _print_text(rl: Roofline) -> None:
    backing = {m.arch: m.backing for m in rl.machines}
    for s, m in zip(rl.summary.itertuples(), rl.machines):
        print(f"{s.arch} ({s.family}) · {s.precision}")
        print(
            f"  roofs: linear {si(m.linear_ops_per_s, 'op/s')}, attention {si(m.attention_ops_per_s, 'op/s')}, "
            f"vector {si(m.vector_ops_per_s, 'op/s')}; "
            + ", ".join(f"{lv} {si(bw, 'B/s')} (ridge {m.ridge(lv):.4g} op/B)" for lv, bw in m.bandwidth.items())
        )
        print(
            f"  {s.phase}: lower bound {si(s.time_lower_bound_s, 's')} ({s.bound}-bound), attained "
            f"{si(s.attained_s, 's')} ({s.fraction_of_roof:.1%} of roof); "
            f"{si(s.bytes_per_token, 'B')}/token → ceiling {s.tokens_per_s_ceiling:.4g} tokens/s, "
            f"bound {s.tokens_per_s_bound:.4g}, attained {s.tokens_per_s_attained:.4g}"
        )
        ops = rl.ops[
            (rl.ops["arch"] == s.arch)
            & (rl.ops["precision"] == s.precision)
            & (rl.ops["level"] == backing[s.arch])
            & (rl.ops["ops"] > 0)
        ]
        by = ops.groupby(["kind", "op"], sort=False).agg(
            n=("name", "size"),
            intensity=("intensity", "median"),
            attainable=("attainable_ops_per_s", "median"),
            attained=("attained_ops_per_s", "median"),
            fraction=("fraction_of_roof", "median"),
            bound=("bound", lambda b: b.mode().iat[0]),
        )
        print(f"  {'op':<12}{'n':>5}{'op/B':>10}{'attainable':>14}{'attained':>14}{'of roof':>9}  bound")
        for (_kind, op), r in by.iterrows():
            print(
                f"  {op:<12}{r.n:>5}{r.intensity:>10.4g}{si(r.attainable, 'op/s'):>14}"
                f"{si(r.attained, 'op/s'):>14}{r.fraction:>9.1%}  {r.bound}"
            )


def run(args: argparse.Namespace) -> int:
    from hwsim.cli.workload_args import trace_from_args
    from hwsim.roofline import roofline
    from hwsim.plotting import check_plot_path

    if args.plot:
        check_plot_path(args.plot)  # fail before any work
    overrides = parse_overrides(args.set)
    archs = [load_arch(a, overrides) for a in args.arch]
    tr = trace_from_args(args)
    precisions = _precisions(args, tr.model)
    try:
        rl = roofline(archs, tr, precisions, weight_formats=own_formats(tr) if args.weights is None else None)
    except HwsimError as exc:  # activations the checkpoint chose: name its field, not --activations
        refused = checkpoint_refusal(exc, precisions[0].activations)
        if refused is exc:
            raise
        raise refused from None
    if args.plot:
        rl.plot(args.plot, title=_title(tr))
    if args.json:
        doc = rl.to_json()
        doc["plot"] = args.plot
        emit_json(doc)
        return 0
    _print_text(rl)
    if args.plot:
        print(f"plot: {args.plot}")
    return 0
