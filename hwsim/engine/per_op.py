"""A checkpoint's own per-op weight formats, and costing a trace whose ops store their weights in different
formats (a quantized checkpoint keeps lm_head and the embeddings in fp16/bf16; GPTQ `dynamic`, ignored layers or a
GGUF file mix formats per layer).

One mechanism for every command (simulate, roofline, allocate, sweep): `own_formats` gives each op's format,
`split` groups the ops by format (the format most ops use first), and each command costs every group at its
format with its own engine call and puts the rows back in trace order. Area and the family's point totals (a
design property, not a per-op one) are those at the main format. A format the design cannot run is costed at the
main format instead, with a warning that names the ops (never silently).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, replace

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, TypeVar

import numpy as np

from hwsim.engine.attention import as_run
from hwsim.engine.cost import CostTable, evaluate, ops_frame
from hwsim.core.precision import Precision
from hwsim.errors import HwsimError, HwsimWarning

if TYPE_CHECKING:  # pandas loads with the first table, not with the engine
    import pandas as pd

    from hwsim.core.precision import ResolvedPrecision
    from hwsim.core.spec import Accelerator
    from hwsim.engine.cost import TraceLike

T = TypeVar("T")


def own_formats(trace: TraceLike) -> list[str] | None:
    """The weight format of each op of a quantized checkpoint's trace, as the checkpoint stores it (None: a plain
    model, whose weights take the precision the caller gives, or a bare ops table). Ops that read no weights
    (attention, elementwise) take the main format, so they never split a group."""
    model = getattr(trace, "model", None)
    if model is None or model.weight_formats is None:  # a plain model: no table needed
        return None
    fmts = model.op_weight_formats(trace.ops["name"])
    if fmts is None:
        return None
    weighted = trace.ops["weight_elems"].to_numpy() > 0
    main = Counter(f for f, w in zip(fmts, weighted) if w).most_common(1)
    main = main[0][0] if main else model.default_weight_format
    return [f if w else main for f, w in zip(fmts, weighted)]


@dataclass(frozen=True)
class Split:
    """Ops grouped by weight format: `main` (most ops) and a row mask for each other format, most ops first."""

    main: str
    others: tuple[tuple[str, np.ndarray], ...]

    def label(self) -> str:
        """'int4_g128' or 'int4_g128+fp16': the formats of a mixed series, main first."""
        return "+".join([self.main, *(f for f, _ in self.others)])


def split(formats: list[str]) -> Split:
    fmts = np.asarray(formats, dtype=object)
    (main, _), *rest = Counter(formats).most_common()  # ties: first seen first
    return Split(main, tuple((f, fmts == f) for f, _ in rest))


def main_format(formats: Iterable[str] | None) -> str:
    """The one weight format `weights: model` stands for where a whole model is costed at one (a study's
    `weights` column, a serving replay): the format most of a checkpoint's ops use (`own_formats`); fp16 for a
    plain model (None)."""
    return "fp16" if formats is None else split(list(formats)).main


def align(formats: list[str], source: TraceLike, ran: TraceLike) -> list[str]:
    """`formats` (one per op of `source`, a Trace or ops table) for the ops of `ran`, the same trace as a
    machine runs it (hwsim.engine.attention.as_run re-expresses only weight-free attention rows): by op
    name, rows `source` does not have at the main format."""
    src, dst = ops_frame(source), ops_frame(ran)
    listed = list(formats) if isinstance(formats, Iterable) and not isinstance(formats, str) else None
    if listed is None or len(listed) != len(src):
        got = f"{len(listed)}" if listed is not None else repr(formats)
        raise HwsimError(f"expected one weight format per op ({len(src)} ops), got {got:.60}", field="weight_formats")
    formats = listed
    if len(src) == len(dst) and src["name"].to_numpy().tolist() == dst["name"].to_numpy().tolist():
        return list(formats)
    by_name = dict(zip(src["name"].astype(str), formats))
    main = split(formats).main
    return [by_name.get(str(n), main) for n in dst["name"]]


def as_run_formats(arch: Accelerator, trace: TraceLike, formats: list[str]) -> tuple[TraceLike, list[str]]:
    """(`trace` as `arch` runs it, the weight format of each of its ops)."""
    ran = as_run(arch, trace)
    return ran, align(formats, trace, ran)


def with_weights(precision: Precision | ResolvedPrecision | None, fmt: str) -> Precision:
    """`precision` (a Precision, a ResolvedPrecision or None: fp16) with its weights replaced by `fmt`."""
    precision = precision or Precision()
    return Precision(weights=fmt, activations=precision.activations, kv=precision.kv)


def part(trace: TraceLike, mask: np.ndarray) -> TraceLike:
    """The ops of `trace` (a Trace or its ops table) selected by `mask`, as the same kind of object."""
    sub = ops_frame(trace)[mask].reset_index(drop=True)
    return replace(trace, ops=sub) if hasattr(trace, "ops") else sub


def try_format(
    arch: Accelerator, fmt: str, main: str, names: Iterable[object], cost: Callable[..., T], *args: Any, **kwargs: Any
) -> T | None:
    """`cost(*args, **kwargs)` at `fmt`, or None (with a warning naming the ops) when the design cannot run it."""
    try:
        return cost(*args, **kwargs)
    except HwsimError as exc:
        shown = ", ".join(list(map(str, names))[:3])
        warnings.warn(
            HwsimWarning(
                f"{arch.name} cannot run {fmt} weights ({shown}): costed at {main} "
                f"instead ({exc.detail}); one weight format for the whole model "
                "costs every op at it"
            ),
            stacklevel=3,
        )
        return None


def main_format_cost(
    fmt: str, names: Callable[[], Iterable[object]], cost: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """`cost(*args, **kwargs)` at the checkpoint's main format `fmt`. A refusal of the weights names the
    checkpoint's ops that store `fmt`, not the precision's weights: the checkpoint gave that format, the caller
    did not (a CLI would otherwise name an option the user never passed). `names` lists them, asked only then."""
    try:
        return cost(*args, **kwargs)
    except HwsimError as exc:
        if exc.field != "precision.weights":
            raise
        listed = list(map(str, names()))
        shown = ", ".join(listed[:3]) + (f" and {len(listed) - 3} more" if len(listed) > 3 else "")
        raise HwsimError(exc.detail, file=exc.file, field=f"the checkpoint's {fmt} weights ({shown})") from None


def weighted_names(names: np.ndarray, linear: np.ndarray | bool, at: np.ndarray) -> list[object]:
    """The `names` of the ops `at` a format: its linear layers (the tensors a checkpoint quantizes), else all."""
    pick = at & linear
    return list(names[pick if pick.any() else at])


def _frame_names(ops: pd.DataFrame, formats: list[str], fmt: str) -> list[object]:
    linear = ops["kind"].to_numpy() == "linear" if "kind" in ops else True
    return weighted_names(ops["name"].to_numpy(), linear, np.asarray(formats, dtype=object) == fmt)


def evaluate_per_op(
    arch: Accelerator,
    trace: TraceLike,
    precision: Precision,
    formats: list[str],
    engine: Callable[..., CostTable] = evaluate,
) -> CostTable:
    """`formats[i]` is the weight format of op i; activations and KV come from `precision`."""
    if len(formats) != len(ops_frame(trace)):
        raise ValueError("one weight format per op")
    trace, formats = as_run_formats(arch, trace, formats)
    ops = ops_frame(trace)
    groups = split(formats)
    base = main_format_cost(
        groups.main,
        lambda: _frame_names(ops, formats, groups.main),
        engine,
        arch,
        trace,
        with_weights(precision, groups.main),
    )
    if not groups.others:
        return base
    frame = base.ops.copy()
    for fmt, mask in groups.others:
        sub = part(trace, mask)
        got = try_format(arch, fmt, groups.main, ops.loc[mask, "name"], engine, arch, sub, with_weights(precision, fmt))
        if got is None:
            continue
        for col in got.ops.columns:
            frame.loc[mask, col] = got.ops[col].to_numpy()
    import pandas as pd

    frame.insert(2, "weights", np.asarray(formats, dtype=object))
    additive = [k for k in base.totals if k in frame.columns]
    totals = {**base.totals, **{k: float(pd.to_numeric(frame[k]).sum()) for k in additive}}
    return CostTable(arch=base.arch, ops=frame, totals=totals, extra_keys=base.extra_keys)


def sweep_cost_per_op(
    arch: Accelerator,
    grid: Mapping[str, object],
    trace: TraceLike,
    precision: Precision,
    formats: list[str],
    *,
    product: bool = True,
) -> pd.DataFrame:
    """hwsim.engine.sweep_cost with `formats[i]` the weight format of op i: the whole trace at the main format,
    plus, for each other format, (its ops at that format − the same ops at the main format) on every summed
    column; area and the family's point totals stay those of the main format."""
    from hwsim.engine.sweep import sweep_cost

    trace, formats = as_run_formats(arch, trace, formats)
    groups = split(formats)
    ops = ops_frame(trace)
    out = main_format_cost(
        groups.main,
        lambda: _frame_names(ops, formats, groups.main),
        sweep_cost,
        arch,
        grid,
        trace,
        with_weights(precision, groups.main),
        product=product,
    )
    for fmt, mask in groups.others:
        sub = part(trace, mask)
        got = try_format(
            arch,
            fmt,
            groups.main,
            ops.loc[mask, "name"],
            sweep_cost,
            arch,
            grid,
            sub,
            with_weights(precision, fmt),
            product=product,
        )
        if got is None:
            continue
        at_main = sweep_cost(arch, grid, sub, with_weights(precision, groups.main), product=product)
        for col in summed_columns(out):
            out[col] = out[col].to_numpy() + got[col].to_numpy() - at_main[col].to_numpy()
    return out


def summed_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a sweep_cost table that are sums over ops (cycles, seconds, energy, bytes per level)."""
    from hwsim.engine.cost import TOTAL_KEYS

    return [c for c in frame.columns if (c in TOTAL_KEYS and c != "area_mm2") or c.startswith(("bytes_", "energy_"))]
