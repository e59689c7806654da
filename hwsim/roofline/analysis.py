"""Roofline of every op of a trace on an accelerator at a precision.

Work: a GEMM op (linear, attention) does 2 × MACs operations (one multiply, one add); an
elementwise op does its `vector_ops`; an embedding lookup does none (pure data movement).

Compute roofs, per op kind, come from the family at the precision the op runs at:
- linear and embedding ops: 2 × `peak_macs_per_cycle(arch, prec)` × clock, weights as the B operand;
- attention: the same with the KV format as the B operand (QKᵀ and PV multiply by the cache), so a
  bit-serial array is slower on 16-bit KV than on 3-bit weights;
- elementwise: the vector roof, probed from the family's own `compute_cycles` on one huge
  elementwise op (operations per cycle as its cycle count approaches the asymptote), so any family
  — present or future — gets one without an interface change.

Memory roofs: every level with a finite bandwidth, at its peak (datasheet) bandwidth — the
achievable-bandwidth `efficiency` belongs to the cost model, not to the bound. Bytes per level are
those of the shared memory model (hwsim.engine.memory.traffic) at the storage widths of the formats,
scales included: for the backing store the compulsory A, B, C bytes (plus re-fetches when neither
operand fits its buffer); for an on-chip level its fills plus the array's re-reads.

Per op: intensity_L = ops / bytes_L, attainable = min(compute roof, min_L bandwidth_L × intensity_L),
time lower bound = max(ops / compute roof, max_L bytes_L / bandwidth_L), ridge_L = roof / bandwidth_L.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from hwsim.arch import Accelerator
from hwsim.arch.loader import as_accelerator
from hwsim.engine.attention import as_run
from hwsim.engine.cost import bound_of, cost_rows, op_columns, op_table
from hwsim.engine.machine import Machine, configure, fixed_groups, op_traffic, with_fixed_rows
from hwsim.engine.per_op import (
    Split,
    acts_per_op,
    align,
    caller_cost,
    main_format_cost,
    op_activations,
    own_formats,
    precision_groups,
    split,
    try_format,
    weighted_names,
    weights_name,
    with_weights,
)

from hwsim.core.ops import OpColumns, column_array as _array
from hwsim.core.precision import Precision, ResolvedPrecision, resolve_precision
from hwsim.errors import HwsimError, HwsimWarning
from hwsim.records import records
from hwsim.families import get_family
from hwsim.roofline.summary import phase_summary
from hwsim.workload.trace import Trace

if TYPE_CHECKING:  # matplotlib is imported only when plotting
    from matplotlib.figure import Figure, SubFigure

#: size of the elementwise probe op (a power of two: cycle counts stay exact in float64)
_PROBE_ELEMS = 2**50


@dataclass(frozen=True)
class Roofs:
    """The roofs of one machine at one precision (ops/s and B/s, SI)."""

    arch: str
    family: str
    precision: str
    linear_ops_per_s: float
    attention_ops_per_s: float
    vector_ops_per_s: float
    bandwidth: dict  # level name → peak bytes/s (finite levels only, backing store first)

    @property
    def backing(self) -> str:
        return next(iter(self.bandwidth))

    def ridge(self, level: str, kind: str = "linear") -> float:
        """Intensity (ops/byte) where the `kind` compute roof meets the `level` memory roof."""
        return self.compute_roof(kind) / self.bandwidth[level]

    def compute_roof(self, kind: str) -> float:
        return {"attention": self.attention_ops_per_s, "elementwise": self.vector_ops_per_s}.get(
            kind, self.linear_ops_per_s
        )

    def rows(self) -> list[dict]:
        """One row per memory level: bandwidth, each compute roof and its ridge point."""
        out = []
        for lv, bw in self.bandwidth.items():
            row = dict(arch=self.arch, family=self.family, precision=self.precision, level=lv, bandwidth_Bps=bw)
            for kind in ("linear", "attention", "elementwise"):
                row[f"{kind}_roof_ops_per_s"] = self.compute_roof(kind)
                row[f"{kind}_ridge_intensity"] = self.ridge(lv, kind)
            out.append(row)
        return out


def precision_label(prec: ResolvedPrecision) -> str:
    return f"W {prec.weights.name} / A {prec.activations.name} / KV {prec.kv.name}"


def _finite_positive(x: ArrayLike) -> bool:
    x = np.asarray(x, dtype=np.float64)
    return x.shape == () and bool(np.isfinite(x)) and bool(x > 0)


def _peak_ops(arch: Accelerator, prec: ResolvedPrecision, operand: str = "weights") -> float:
    """2 × the family's peak MACs per cycle × clock, `operand` (weights or kv) as the B operand."""
    fam = get_family(arch.family)
    b_prec = prec if operand == "weights" else ResolvedPrecision(prec.kv, prec.activations, prec.kv)
    peak = fam.peak_macs_per_cycle(arch, b_prec)
    if not _finite_positive(peak):
        raise HwsimError(
            f"the {fam.name} family cannot execute {operand} in {getattr(prec, operand).name} "
            f"(peak MACs per cycle = {peak!r})",
            file=arch.file,
            field=f"precision.{operand}",
        )
    return float(2 * peak * arch.clock_hz)


def _probe(kind: str, m: float, n: float, k: float) -> OpColumns:
    """One large op of `kind` (A: m×k activations, B: k×n weights or KV, C: m×n)."""
    a = lambda v: np.full(1, float(v))  # noqa: E731
    gemm = kind != "elementwise"
    return OpColumns(
        name=np.array(["probe"]),
        kind=np.array([kind]),
        m=a(m),
        n=a(n),
        k=a(k),
        count=a(1),
        macs=a(m * n * k if gemm else 0),
        vector_ops=a(0 if gemm else n),
        weight_elems=a(0),
        act_in_elems=a(m * k),
        act_out_elems=a(m * n),
        kv_read_elems=a(n * k if gemm else 0),
        kv_write_elems=a(0),
    )


def _probe_rate(arch: Accelerator, prec: ResolvedPrecision, probe: OpColumns, work: float) -> float:
    """Work per cycle of the family's compute cycles on a probe op (its asymptotic rate)."""
    cycles = np.asarray(get_family(arch.family).compute_cycles(arch, probe, prec), dtype=np.float64)
    if cycles.shape not in ((), (1,)) or not _finite_positive(cycles.reshape(())):
        raise HwsimError(
            f"the {arch.family} family gives no finite {probe.kind[0]} throughput", file=arch.file, field="compute"
        )
    rate = work / float(cycles.reshape(()))
    # ceil() in the family's cycle count makes work/cycles low by < rate²/work; snap integer rates back
    nearest = round(rate)
    return float(nearest) if abs(rate - nearest) <= 2 * rate * rate / work else rate


def vector_ops_per_cycle(arch: Accelerator, prec: ResolvedPrecision) -> float:
    """Elementwise operations per cycle, from the family's compute cycles of one huge elementwise op."""
    return _probe_rate(arch, prec, _probe("elementwise", 1, _PROBE_ELEMS, 1), _PROBE_ELEMS)


def _attention_ops(arch: Accelerator, prec: ResolvedPrecision) -> float:
    """Attention multiplies by the KV cache: the family's peak with KV as the B operand. A family whose
    GEMM datapath cannot take the KV format (LUT and PIM run attention on a host) is probed instead:
    its own compute cycles of a large attention op (power-of-two sides: no tile remainder)."""
    try:
        return _peak_ops(arch, prec, "kv")
    except HwsimError:
        side = 2.0**12
        return 2 * _probe_rate(arch, prec, _probe("attention", side, side, side), side**3) * float(arch.clock_hz)


def machine_roofs(arch: Accelerator, precision: Precision | ResolvedPrecision | None = None) -> Roofs:
    """Compute roofs per op kind and peak bandwidth per memory level of `arch` at `precision`
    (the machine as the family configures it for that precision: Family.configure)."""
    return roofs_of(configure(arch, precision))


def roofs_of(m: Machine) -> Roofs:
    """machine_roofs of an already configured machine."""
    label = precision_label(m.asked)
    arch, prec = m.arch, m.prec
    bandwidth = {}
    for lv in arch.memory:
        bw = lv.bandwidth * arch.clock_hz if lv.per_cycle else lv.bandwidth
        if np.ndim(bw):
            raise HwsimError("roofline takes one design point, not swept arrays", field=f"memory.{lv.name}.bandwidth")
        if np.isfinite(bw):
            bandwidth[lv.name] = float(bw)
    if not bandwidth:
        raise HwsimError(
            "no memory level has a bandwidth: the roofline needs at least one", file=arch.file, field="memory"
        )
    return Roofs(
        arch=arch.name,
        family=arch.family,
        precision=label,
        linear_ops_per_s=_peak_ops(arch, prec),
        attention_ops_per_s=_attention_ops(arch, prec),
        vector_ops_per_s=vector_ops_per_cycle(arch, prec) * float(arch.clock_hz),
        bandwidth=bandwidth,
    )


def op_work(ops: OpColumns) -> np.ndarray:
    """Operations per op: 2 × MACs on GEMMs, vector_ops on elementwise ops, 0 on embedding lookups."""
    return np.where(ops.gemm, 2.0 * ops.macs, np.where(ops.is_kind("elementwise"), ops.vector_ops, 0.0))


def _labels(table: pd.DataFrame | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The identifying columns of each op (name, op role, layer) as the long table shows them, from an ops
    table (a DataFrame, or a Trace's own arrays: hwsim.engine.cost.op_table)."""
    name = _array(table["name"])
    return {
        "name": name,
        "op": _array(table["op"]) if "op" in table else name,
        "layer": _array(table["layer"]) if "layer" in table else np.full(len(name), -1, dtype=np.int64),
    }


def _series(
    arch: Accelerator, ops: OpColumns, labels: dict[str, np.ndarray], prec: ResolvedPrecision
) -> tuple[Roofs, dict[str, Any], dict[str, np.ndarray], np.ndarray]:
    """Per-op roofline columns of one (machine, precision) as arrays (`base`, in table order), bytes per level
    and the B operand's bytes crossing the backing store. Rows that run at formats of their own
    (hwsim.engine.machine.fixed_groups: DeepSeek-V3.2's indexer) take their columns from the machine at those
    formats (their compute roof, bytes, engine cost and operand format columns), as the engines cost them
    (with_fixed_rows); the
    series' roofs are the machine's at `prec`."""
    m = configure(arch, prec)  # once: roofs, traffic and the engine's cost all use it
    roofs = roofs_of(m)
    cols = {**_formats(m), **_op_series(m, roofs, ops)}
    if fixed_groups(ops):  # their operand columns too: the formats they are costed at, not the caller's
        cols = with_fixed_rows(m, ops, cols, lambda pm, rows, _: {**_formats(pm), **_op_series(pm, roofs_of(pm), rows)})
    base: dict[str, Any] = {
        "arch": roofs.arch,
        "family": roofs.family,
        "precision": roofs.precision,  # the series' label, one value for every op (as in summary and roofs)
        **{o: _one_or_rows(cols.pop(o)) for o in _OPERAND_COLUMNS},
        "name": labels["name"],
        "kind": ops.kind,
        "op": labels["op"],
        "layer": labels["layer"],
        **{k: v for k, v in cols.items() if not k.startswith(_PER_LEVEL)},
    }
    levels = {lv: cols[_PER_LEVEL + lv] for lv in roofs.bandwidth}
    return roofs, base, levels, base.pop(_B_MOVED)


_PER_LEVEL = "bytes:"  # _op_series' bytes per level, beside the base columns
_OPERAND_COLUMNS = ("weights", "activations", "kv")


def _formats(m: Machine) -> dict[str, np.ndarray]:
    """The operand format columns of rows costed on `m`: the formats it was asked to run (one value each, as
    with_fixed_rows takes them; _series gives a column that stayed one value back as that value)."""
    return {o: np.asarray(getattr(m.asked, o).name) for o in _OPERAND_COLUMNS}


def _one_or_rows(col: np.ndarray) -> str | np.ndarray:
    return str(col) if col.ndim == 0 else col


_B_MOVED = "b_moved"


def _op_series(m: Machine, roofs: Roofs, ops: OpColumns) -> dict[str, np.ndarray]:
    """_series' per-op columns of `ops` on `m` (every row at its precision), with `roofs` its roofs: the base
    columns from `ops` (work) on, the bytes of each level (_PER_LEVEL + name) and of the B operand (_B_MOVED)."""
    shared = op_traffic(m, ops)  # once: the engine's cost below takes the same traffic
    ob, resident, tr = shared.bytes, shared.resident, shared.traffic
    b_moved = np.where(np.broadcast_to(resident[1], ops.m.shape), 0.0, ob.b)  # B bytes crossing the backing store
    work = op_work(ops)
    roof = np.where(
        ops.is_attention,
        roofs.attention_ops_per_s,
        np.where(ops.is_kind("elementwise"), roofs.vector_ops_per_s, roofs.linear_ops_per_s),
    )
    compute_s = work / roof
    mem_s = {lv: np.asarray(tr.levels[lv], dtype=np.float64) / bw for lv, bw in roofs.bandwidth.items()}
    slowest = np.vstack([compute_s, *mem_s.values()])
    time_lb = slowest.max(axis=0)
    limiter = np.array(["compute", *mem_s])[slowest.argmax(axis=0)]
    cost = cost_rows(m, ops, shared)  # the fixed rows too: _series re-costs them on their own machine
    attained_s = np.asarray(cost["seconds"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        attainable = np.where(work > 0, work / time_lb, 0.0)
        attained = np.where(work > 0, work / attained_s, 0.0)
        fraction = time_lb / attained_s
    return {
        "ops": work,
        "compute_roof_ops_per_s": roof,
        "attainable_ops_per_s": attainable,
        "bound": np.where(limiter == "compute", "compute", "memory"),
        "bound_level": limiter,
        "time_lower_bound_s": time_lb,
        "attained_s": attained_s,
        "attained_ops_per_s": attained,
        "fraction_of_roof": fraction,
        "engine_bound": bound_of(cost["compute_cycles"], cost["memory_cycles"]),
        **{_PER_LEVEL + lv: np.asarray(tr.levels[lv], dtype=np.float64) for lv in roofs.bandwidth},
        _B_MOVED: b_moved,
    }


def _rows(values: object, n: int) -> np.ndarray:
    """A base column as one value per op (a series' label columns hold one value for all of them)."""
    return values if isinstance(values, np.ndarray) else np.full(n, values, dtype=object)


def _mixed_series(
    arch: Accelerator,
    ops: OpColumns,
    labels: dict[str, np.ndarray],
    prec: Precision | ResolvedPrecision,
    formats: list[str] | None,
    acts: list[object] | None,
) -> tuple[Roofs, dict[str, Any], dict[str, np.ndarray], np.ndarray]:
    """_series with `formats[i]` the weight format of op i (a quantized checkpoint's own formats; None: every op
    at the precision's, the caller's) and `acts[i]` its activation format where they are the checkpoint's
    (hwsim.engine.per_op.op_activations, as simulate costs them): each group of ops at its (weights, activations)
    pair (hwsim.engine.per_op.precision_groups: its own compute roof and bytes), rows back in trace order; the
    machine's roofs are those of the main group (the format most ops use, the precision's activations), its label
    names every weight format."""
    resolved = resolve_precision(prec)
    costed = [weights_name(prec)] * len(ops) if formats is None else formats
    groups = Split(costed[0], ()) if formats is None else split(formats)
    main_rows = np.ones(len(ops), dtype=bool)
    parts, used = [], [groups.main if formats is not None else resolved.weights.name]

    def rows(mask: np.ndarray) -> tuple[OpColumns, dict[str, np.ndarray]]:
        return ops.take(mask), {k: v[mask] for k, v in labels.items()}

    # the warnings about formats the design cannot run are said once the main format has run: if it cannot run
    # either, its error is the one line the user sees (not a warning that the ops are costed at it, then the error)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", HwsimWarning)
        for fmt, group_prec, mask in precision_groups(groups, costed, acts, prec):
            got = try_format(
                arch, fmt, groups.main, labels["name"][mask], _series, arch, *rows(mask), resolve_precision(group_prec)
            )
            if got is not None:
                parts.append((mask, got))
                used.append(fmt)
                main_rows &= ~mask
    main_prec = resolve_precision(with_weights(prec, groups.main))
    if formats is None:
        got = caller_cost(_series, arch, *rows(main_rows), main_prec)
    else:
        got = main_format_cost(
            groups.main,
            lambda: weighted_names(
                labels["name"], ops.is_kind("linear"), main_rows & (np.asarray(formats, dtype=object) == groups.main)
            ),
            _series,
            arch,
            *rows(main_rows),
            main_prec,
        )
    parts.insert(0, (main_rows, got))
    for w in said:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    label = f"W {'+'.join(dict.fromkeys(map(str, used)))} / A {resolved.activations.name} / KV {resolved.kv.name}"
    roofs = replace(parts[0][1][0], precision=label)
    back = np.argsort(np.concatenate([np.flatnonzero(m) for m, _ in parts]), kind="stable")
    base: dict[str, np.ndarray | str] = {
        c: np.concatenate([_rows(got[1][c], int(m.sum())) for m, got in parts])[back] for c in parts[0][1][1]
    }
    base["precision"] = label
    levels = {
        lv: np.concatenate([got[2].get(lv, np.zeros(int(m.sum()))) for m, got in parts])[back] for lv in roofs.bandwidth
    }
    b_moved = np.concatenate([np.broadcast_to(got[3], (int(m.sum()),)) for m, got in parts])[back]
    return roofs, base, levels, b_moved


def _long(roofs: Roofs, base: dict[str, Any], levels: dict) -> pd.DataFrame:
    """One row per op × memory level (levels that move nothing for an op set it no roof: left out)."""
    work, roof = base["ops"], base["compute_roof_ops_per_s"]
    parts = []
    for lv, bw in roofs.bandwidth.items():
        moved = levels[lv]
        keep = moved > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            intensity = (work / moved)[keep]
        cols: dict[str, object] = {}
        for col, values in base.items():
            cols[col] = values[keep] if isinstance(values, np.ndarray) else values
            if col == "ops":  # the level's columns follow the op's work
                cols.update(
                    level=lv,
                    bytes=moved[keep],
                    intensity=intensity,
                    bandwidth_Bps=bw,
                    ridge_intensity=roof[keep] / bw,
                    level_roof_ops_per_s=np.minimum(roof[keep], bw * intensity),
                )
        parts.append(pd.DataFrame(cols))
    return pd.concat(parts, ignore_index=True)


def _as_list(x: object) -> list:
    if x is None or isinstance(x, (str, Accelerator, Precision, ResolvedPrecision)):
        return [x]
    if isinstance(x, Iterable):
        return list(x)
    return [x]


class Roofline:
    """Roofline of a trace on one or more (machine, precision) series.

    `ops`: one row per series × op × memory level (see the module docstring for the columns' meaning);
    `roofs`: one row per series × memory level; `summary`: one row per series (phase bounds,
    tokens/s ceiling, attained point) — see hwsim.roofline.summary; `machines`: Roofs per series, in order.
    The three tables are built from the analysis' arrays on first use (a caller that reads one pays for one).
    """

    def __init__(self, series: list[tuple[Roofs, dict, dict]], summaries: list[dict]) -> None:
        self.machines = tuple(roofs for roofs, _, _ in series)
        self._series = series
        self._summaries = summaries

    @cached_property
    def ops(self) -> pd.DataFrame:
        return pd.concat([_long(roofs, base, levels) for roofs, base, levels in self._series], ignore_index=True)

    @cached_property
    def roofs(self) -> pd.DataFrame:
        return pd.DataFrame([r for m in self.machines for r in m.rows()])

    @cached_property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(self._summaries)

    def plot(self, path: str | os.PathLike[str] | None = None, **kw: Any) -> Figure | SubFigure:
        from hwsim.roofline.plot import plot_roofline

        return plot_roofline(self, path, **kw)

    def to_json(self) -> dict:
        return {"summary": records(self.summary), "roofs": records(self.roofs), "ops": records(self.ops)}


def roofline(
    arch: Accelerator | str | Path | Iterable[Accelerator | str | Path],
    trace: Trace | pd.DataFrame,
    precision: Precision | ResolvedPrecision | Iterable[Precision | ResolvedPrecision] | None = None,
    *,
    weight_formats: list[str] | None = None,
) -> Roofline:
    """Roofline analysis of `trace` (a Trace or its ops DataFrame) on `arch` at `precision`.

    `arch`: an Accelerator, a preset name or a YAML path — or a list of them; `precision`: a
    Precision (default fp16 everywhere), a ResolvedPrecision — or a list of them. Every machine is
    analysed at every precision (one series each). `weight_formats`: one weight format per op (a quantized
    checkpoint's own, hwsim.engine.per_op.own_formats(trace)); it replaces the precisions' weights. A precision
    whose activations are the checkpoint's (hwsim.engine.per_op.model_activations) has them per op as simulate
    costs them (hwsim.engine.per_op.op_activations: the one rule), whichever weights the ops take.
    """
    archs = [as_accelerator(a) for a in _as_list(arch)]
    given = _as_list(precision)
    precs = [resolve_precision(p) for p in given]
    if not archs or not precs:
        raise HwsimError("give at least one", field="arch" if not archs else "precision")
    if len(set(precs)) < len(precs):
        twice = next(p for p in precs if precs.count(p) > 1)
        raise HwsimError(f"{precision_label(twice)} is given twice", field="precision")
    given = [p if p is not None else Precision() for p in given]
    series, summaries = [], []
    for a in archs:
        ran = as_run(a, trace)  # attention as this machine runs it (its intensity)
        ops, labels = op_columns(ran), _labels(op_table(ran))
        if not len(ops):
            raise HwsimError("has no ops: a roofline needs at least one", field="trace")
        formats = None if weight_formats is None else align(weight_formats, trace, ran)
        own: list[str] | None = formats
        for p, raw in zip(precs, given):
            if formats is None and acts_per_op(raw) and own is None:
                own = own_formats(ran)  # the checkpoint decides where its activations go, whatever the weights
            acts = op_activations(ran, own, raw)  # the checkpoint's activations per op, as simulate costs them
            roofs, base, levels, b_moved = (
                _series(a, ops, labels, p)
                if formats is None and acts is None
                else _mixed_series(a, ops, labels, raw, formats, acts)
            )
            series.append((roofs, base, levels))
            summaries.append(phase_summary(roofs, base, levels, b_moved, trace))
    keys = [(m.arch, m.precision) for m, _, _ in series]
    if len(set(keys)) < len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise HwsimError(f"two series are both {dup[0]!r} at {dup[1]}: give each machine a distinct name", field="arch")
    return Roofline(series, summaries)
