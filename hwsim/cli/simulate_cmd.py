"""`hwsim simulate`: the cost of a model trace or one GEMM on an accelerator."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from hwsim.arch import load_arch, parse_overrides
from hwsim.cli import WORKLOAD_FLAGS
from hwsim.cli.output import emit_json
from hwsim.engine.attention import as_run
from hwsim.engine import Precision
from hwsim.engine.per_op import acts_per_op, evaluate_per_op, own_formats
from hwsim.core.ops import gemm_ops
from hwsim.errors import HwsimError

if TYPE_CHECKING:  # pandas and numpy are loaded lazily (cold start)
    import numpy as np
    import pandas as pd

    from hwsim.core.spec import Accelerator
    from hwsim.engine.cost import CostTable
    from hwsim.engine.explain import Explanation
    from hwsim.workload.trace import Trace

HELP = "cycles, seconds, energy and area of a model (or one GEMM) on an accelerator"
EXAMPLES = (
    "hwsim simulate --arch bitmod --model llama-2-7b --phase decode --weights int4_g128",
    "hwsim simulate --arch tpu-like --gemm 256,4096,4096 --phase prefill --set compute.dataflow=ws --json",
)
ENGINES = ("analytical", "cycle")
KINDS_ONLY = ("linear", "attention")
FLAGS = {**WORKLOAD_FLAGS, "shapes": "--gemm", "method": "--method"}  # library parameters → their options


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hwsim.cli.workload_args import add_workload_arguments

    p.add_argument("--arch", required=True, help="preset name (archs/) or a YAML path")
    add_workload_arguments(p, model_required=False)
    p.add_argument("--gemm", help="one linear op M,N,K (M tokens, N outputs, K inputs) instead of --model")
    p.add_argument(
        "--weights",
        help="weight format name or bits (default: the checkpoint's own formats, per op, "
        "from its quantization_config or GGUF tensor types; else fp16)",
    )
    p.add_argument(
        "--activations",
        help="activation format name or bits (default: the checkpoint's own, where its quantization_config states one "
        "(ModelOpt NVFP4 / FP8, compressed-tensors input_activations, fp8 activation_scheme); else fp16)",
    )
    p.add_argument(
        "--kv",
        help="KV-cache format name or bits (default: the checkpoint's own, from its quantization_config's "
        "kv_cache_quant_algo or kv_cache_scheme; else fp16)",
    )
    p.add_argument(
        "--method",
        default="rtn",
        metavar="M",
        help="quantization method: one that rotates (rotate, rotate+gptq) adds QuaRot's online Hadamards "
        "(before down_proj; on q/k when --kv is quantized) as ops",
    )
    p.add_argument("--only", choices=KINDS_ONLY, help="keep only linear or attention ops")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="dotted.key=value",
        help="override a field of the arch spec (repeatable)",
    )
    p.add_argument("--engine", choices=ENGINES, default="analytical")
    p.add_argument(
        "--explain",
        action="store_true",
        help="itemise energy and area by component: per-action energy, count, source (sums to the totals)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")


def parse_gemm(text: str) -> pd.DataFrame:
    parts = text.split(",")
    try:
        m, n, k = (int(x) for x in parts)
    except ValueError:
        raise HwsimError(f"expected three positive integers M,N,K, got {text!r}", field="--gemm") from None
    return gemm_ops([("gemm", m, n, k)])


def _ops(args: argparse.Namespace) -> tuple[Trace | pd.DataFrame, object, object]:
    """(the workload: a Trace, so model-level totals such as the memory footprint are known, or a GEMM table; the
    activation format: --activations, else the checkpoint's own, hwsim.engine.per_op.model_activations; the
    KV-cache format: --kv, else the checkpoint's own, hwsim.engine.per_op.model_kv)."""
    from dataclasses import replace

    from hwsim.cli.workload_args import trace_from_args
    from hwsim.engine.per_op import model_activations, model_kv

    if (args.model is None) == (args.gemm is None):
        raise HwsimError("give exactly one of --model or --gemm M,N,K", field="--model")
    work = parse_gemm(args.gemm) if args.gemm else trace_from_args(args)
    kv = model_kv(getattr(work, "model", None), args.kv)
    acts = model_activations(getattr(work, "model", None), args.activations)
    from hwsim.accuracy.methods import parse_method

    if parse_method(args.method).rotates and args.model is not None:
        from hwsim.workload.rotation import kv_quantized, with_online_hadamard

        work = with_online_hadamard(work, kv=kv_quantized(kv))
    if args.only:
        from hwsim.workload.trace import Trace

        ops = work.ops if isinstance(work, Trace) else work
        ops = ops[ops["kind"] == args.only].reset_index(drop=True)
        if ops.empty:
            raise HwsimError(f"no {args.only} ops in this workload", field="--only")
        work = replace(work, ops=ops) if isinstance(work, Trace) else ops
    return work, acts, kv


def _warn_if_it_does_not_fit(arch: Accelerator, work: Trace, prec: Precision) -> None:
    """The cost models assume the model and KV cache live in the backing store; say so when they cannot."""
    import sys

    from hwsim.engine.cost import memory_footprint
    from hwsim.core.precision import resolve_precision

    fp = memory_footprint(arch, work, resolve_precision(prec))
    if fp and not fp["fits_memory"]:
        print(
            f"hwsim simulate: warning: {work.model.name} needs {fp['footprint_bytes'] / 1e9:.1f} GB (weights, KV "
            f"cache and {fp['activation_bytes'] / 1e9:.1f} GB of activations) but {arch.backing.name} holds "
            f"{arch.backing.capacity / 1e9:.1f} GB; the figures assume it "
            f"fits (more devices, fewer bits or a shorter context would)",
            file=sys.stderr,
        )


def _engine(name: str) -> Callable[..., CostTable]:
    if name == "analytical":
        from hwsim.engine.cost import evaluate

        return evaluate
    from hwsim.cycle import evaluate as cycle_evaluate  # its own name: a different signature

    return cycle_evaluate


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _explain(
    args: argparse.Namespace, arch: Accelerator, ops: Trace | pd.DataFrame, prec: Precision, per_op: list[str] | None
) -> Explanation:
    """The analytical engine's cost with energy and area itemised (one weight format for every op)."""
    from hwsim.engine.explain import explain

    if args.engine != "analytical":
        raise HwsimError("itemises the analytical engine's energy: drop --engine cycle", field="--explain")
    if per_op is not None and len(set(per_op)) > 1:
        raise HwsimError(
            "needs one weight format for every op, and this checkpoint mixes "
            f"{', '.join(sorted(set(per_op)))}: give --weights FORMAT",
            field="--explain",
        )
    if acts_per_op(prec):  # the checkpoint's own activations go per op (hwsim.engine.per_op.op_activations)
        raise HwsimError(
            "needs one activation format for every op, and this checkpoint's take "
            f"{prec.activations} on its quantized linears, 16 bits elsewhere: give --activations FORMAT",
            field="--explain",
        )
    if per_op is not None:
        prec = Precision(weights=per_op[0], activations=prec.activations, kv=prec.kv)
    return explain(arch, ops, prec)


def run(args: argparse.Namespace) -> int:
    evaluate = _engine(args.engine)
    arch = load_arch(args.arch, parse_overrides(args.set))
    work, acts, kv = _ops(args)
    ops = as_run(arch, work)  # attention fused or not, as this accelerator runs it
    prec = Precision(weights="fp16" if args.weights is None else args.weights, activations=acts, kv=kv)
    per_op = own_formats(ops) if args.weights is None else None
    explanation = None
    if args.explain:
        explanation = _explain(args, arch, ops, prec, per_op)
        table = explanation.table
    else:  # per op: a checkpoint's own weight formats, or its activations (hwsim.engine.per_op.op_activations)
        table = evaluate_per_op(arch, ops, prec, per_op, engine=evaluate)
        if per_op is not None:
            prec = Precision(weights=ops.model.default_weight_format, activations=acts, kv=kv)
    _warn_if_it_does_not_fit(arch, ops, prec)
    if args.json:
        emit_json({**table.to_json(), **({"explain": explanation.to_json()} if explanation else {})})
        return 0
    t = table.totals
    kinds = table.column("kind")
    print(f"{arch.name} ({arch.family}), {len(kinds)} ops")
    print(f"{'kind':<12}{'cycles':>18}{'compute':>18}{'memory':>18}{'energy J':>12}")
    for kind, r in _by_kind(table, kinds).items():
        print(
            f"{kind:<12}{_fmt(r['cycles']):>18}{_fmt(r['compute_cycles']):>18}{_fmt(r['memory_cycles']):>18}"
            f"{r['energy_j']:>12.4g}"
        )
    area = "area n/a" if math.isnan(t["area_mm2"]) else f"{t['area_mm2']:.4g} mm²"  # NaN: FPGAs report utilisation
    print(f"total: {_fmt(t['cycles'])} cycles, {t['seconds'] * 1e3:.4g} ms, {t['energy_j']:.4g} J, {area}")
    if table.extra_keys:  # family point totals, e.g. FPGA feasibility, limiting resource, achieved clock
        print("  " + ", ".join(f"{k}: {_plain(t[k])}" for k in table.extra_keys))
    if explanation is not None:
        print()
        print(explanation.format())
    return 0


def _by_kind(table: CostTable, kinds: np.ndarray) -> dict[str, dict[str, float]]:
    """Cycles and energy summed per op kind, kinds in order of first appearance (from the table's columns:
    a text run never builds the per-op DataFrame, nor loads pandas). Sums are exactly rounded (fsum)."""
    import math

    import numpy as np

    cols = {c: table.column(c) for c in ("cycles", "compute_cycles", "memory_cycles", "energy_j")}
    out = {}
    for kind in dict.fromkeys(kinds.tolist()):
        rows = np.asarray(kinds) == kind
        out[str(kind)] = {c: math.fsum(v[rows]) for c, v in cols.items()}
    return out


def _plain(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(getattr(value, "item", lambda: value)())
