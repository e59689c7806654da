"""One task → one tidy table: inputs as columns, the evaluator's metrics, derived metrics,
per-format accuracy joined in, and constraint checks.

An evaluator is `f(design, points, workload, precision) -> DataFrame` with one row per design
point (`points` maps each swept path to its values; empty for a design with nothing swept →
one row). The default one runs hwsim's analytical engine; tests inject small pure functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError, closest
from hwsim.study.schema import MODEL_WEIGHTS, AnyWorkload, Design, PrecisionChoice, Study, Workload
from hwsim.study.serving import ServingWorkload
from hwsim.sweep.accuracy import PREFIX as ACC_PREFIX
from hwsim.sweep.tasks import Task
from hwsim.core.spec import Accelerator
from hwsim.engine import Precision
from hwsim.workload.trace import Trace

if TYPE_CHECKING:
    from hwsim.workload.config import ModelConfig

# the columns naming a workload (a step's shape, or a serving workload's request load): one front each
WORKLOAD_COLUMNS = ("model", "phase", "batch", "seq", "context", "ops", "requests")
PRECISION_COLUMNS = ("weights", "activations", "kv", "method")


def workload_columns(columns: Iterable[str]) -> list[str]:
    """The workload columns a table has: its rows' Pareto fronts are taken per workload."""
    return [c for c in WORKLOAD_COLUMNS if c in columns]


@lru_cache(maxsize=64)
def _arch(preset: str, overrides: tuple) -> Accelerator:
    from hwsim.arch import load_arch

    return load_arch(preset, dict(overrides) or None)


@lru_cache(maxsize=64)
def _full_trace(w: AnyWorkload) -> Trace:
    from hwsim.workload import load_model, trace

    if isinstance(w, ServingWorkload):  # only its ops' weight formats are read (concrete): any step shows them
        return trace(load_model(w.model), "decode")
    return trace(load_model(w.model), w.phase, batch=w.batch, seq=w.seq, context=w.context)


def _kept(w: AnyWorkload) -> np.ndarray | None:
    """Rows of the full trace the workload costs (None: all)."""
    return None if w.ops == "all" else _full_trace(w).ops["kind"].isin(w.ops.split("+")).to_numpy()


@lru_cache(maxsize=64)
def _trace(w: AnyWorkload) -> Trace | pd.DataFrame:
    tr, keep = _full_trace(w), _kept(w)
    return tr if keep is None else tr.ops[keep].reset_index(drop=True)


@lru_cache(maxsize=64)
def _own_formats(w: AnyWorkload) -> tuple[str, ...] | None:
    """The checkpoint's own weight format of each op of the workload's trace (None: a plain model)."""
    from hwsim.engine.per_op import own_formats

    fmts, keep = own_formats(_full_trace(w)), _kept(w)
    if fmts is None:
        return None
    return tuple(fmts) if keep is None else tuple(f for f, k in zip(fmts, keep) if k)


def _checkpoint_formats(w: AnyWorkload) -> list[str]:
    """_own_formats of a workload whose precision was resolved per op (concrete() sets per_op only then)."""
    fmts = _own_formats(w)
    assert fmts is not None, f"{w.model}: per-op weights without a checkpoint's own formats"
    return list(fmts)


def concrete(precision: PrecisionChoice, workload: AnyWorkload) -> PrecisionChoice:
    """`weights: model` (the default) → the format most of a quantized checkpoint's ops use (the results'
    weights column), marked per_op so the engine costs each op at its own format; fp16 for a plain model.
    `activations: model` and `kv: model` (the defaults) → the checkpoint's activation and KV-cache formats, else
    fp16 (hwsim.engine.per_op.model_activations, model_kv)."""
    precision = _concrete_own(precision, workload)
    if precision.weights != MODEL_WEIGHTS:
        return precision
    from hwsim.engine.per_op import main_format

    fmts = _own_formats(workload)
    return replace(precision, weights=main_format(fmts), per_op=fmts is not None)


def _concrete_own(precision: PrecisionChoice, workload: AnyWorkload) -> PrecisionChoice:
    """`activations: model` / `kv: model` → the checkpoint's activation / KV-cache format, else fp16; any other
    value as given."""
    if precision.activations != MODEL_WEIGHTS and precision.kv != MODEL_WEIGHTS:
        return precision
    acts, kv = _own_activations_kv(workload.model)
    return replace(
        precision,
        activations=acts if precision.activations == MODEL_WEIGHTS else precision.activations,
        kv=kv if precision.kv == MODEL_WEIGHTS else precision.kv,
    )


@lru_cache(maxsize=64)
def _own_activations_kv(model: str) -> tuple[object, object]:
    from hwsim.engine.per_op import model_activations, model_kv
    from hwsim.workload import load_model

    own = load_model(model)
    return model_activations(own), model_kv(own)


def weight_mix(precision: PrecisionChoice, workload: AnyWorkload) -> str:
    """The `weight_mix` column: every weight format the row's ops use, main first ('int4_g128+fp16' for a
    GPTQ checkpoint costed as it ships; the `weights` column alone when every op uses it)."""
    if not precision.per_op:
        return str(precision.weights)
    from hwsim.engine.per_op import split

    return split(_checkpoint_formats(workload)).label()


def engine_inputs(
    design: Design, workload: AnyWorkload, precision: PrecisionChoice
) -> tuple[Accelerator, Trace | pd.DataFrame, Precision]:
    """(base arch, trace, Precision) of one task, exactly as the analytical evaluator costs them (the
    cycle-engine recheck, hwsim.sweep.recheck, rebuilds sampled rows through this too, and engine_formats)."""
    from hwsim.workload.rotation import kv_quantized, needs_online_hadamard, with_online_hadamard

    precision = _concrete_own(precision, workload)  # as concrete() does (a caller may give the study's own entry)
    prec = Precision(weights=precision.weights, activations=precision.activations, kv=precision.kv)
    tr = _trace(workload)
    if needs_online_hadamard(precision.method) and workload.ops == "all":  # rotations that cannot be fused
        from hwsim.workload import load_model

        tr = with_online_hadamard(tr, kv=kv_quantized(precision.kv), head_dim=load_model(workload.model).head_dim)
    return _arch(design.preset, design.overrides), tr, prec


def engine_formats(workload: AnyWorkload, precision: PrecisionChoice) -> list[str] | None:
    """The weight format of each op of the task's trace when `weights: model` keeps a checkpoint's own
    formats (hwsim.engine.per_op), else None (every op at the precision's weights)."""
    return _checkpoint_formats(workload) if precision.per_op else None


def engine_model(workload: AnyWorkload) -> ModelConfig:
    """The task's model: the checkpoint whose own activations go per op where they are its own
    (hwsim.engine.per_op.op_activations), whatever weights the precision gives (a kept-ops trace is a bare table)."""
    return _full_trace(workload).model


def engine_grid(design: Design, points: dict) -> dict:
    """Swept values as the engine takes them: SI, parsed once from the study (hwsim.core.schema.SIValues)."""
    params = {p.path: p for p in design.params}
    return {k: params[k].engine_values(np.asarray(v)) for k, v in points.items()}


def engine_evaluator(design: Design, points: dict, workload: Workload, precision: PrecisionChoice) -> pd.DataFrame:
    """hwsim's analytical engine (hwsim.engine.sweep_cost), vectorised over a chunk of design points:
    the chunk's points (grid or samples, hwsim.study.samplers) are zipped columns, one sweep_cost call
    (sweep_cost_per_op when a checkpoint's ops keep their own formats)."""
    from hwsim.engine.per_op import evaluate_per_op, sweep_cost_per_op

    arch, tr, prec = engine_inputs(design, workload, precision)
    fmts, model = engine_formats(workload, precision), engine_model(workload)
    if not points:
        df = pd.DataFrame([evaluate_per_op(arch, tr, prec, fmts, model=model).totals])
    else:
        df = sweep_cost_per_op(arch, engine_grid(design, points), tr, prec, fmts, product=False, model=model)
        df = df.drop(columns=[c for c in points if c in df.columns])
    df.insert(0, "family", arch.family)
    df["price_usd"] = np.nan if arch.price_usd is None else float(arch.price_usd)
    return df


# (design, chunk of points, workload, precision) -> one row per point; the workload is a Workload for the
# analytical evaluator and a ServingWorkload for the serving one
Evaluator = Callable[[Design, dict, Any, PrecisionChoice], pd.DataFrame]


@dataclass(frozen=True)
class Context:
    """What every task needs besides its own slice: shipped once per worker."""

    study: Study
    accuracy: pd.DataFrame | None  # one row per join key (see hwsim.sweep.accuracy)
    evaluator: Evaluator = engine_evaluator
    serving: Evaluator | None = None  # evaluator of serving workloads (None: hwsim.sweep.serving.serving_evaluator)


def evaluate_task(ctx: Context, task: Task, points: dict) -> pd.DataFrame:
    study = ctx.study
    design = study.designs[task.design]
    workload = study.workloads[task.workload]
    precision = concrete(study.precisions[task.precision], workload)
    evaluator = ctx.evaluator
    if workload.kind == "serving":
        from hwsim.sweep.serving import serving_evaluator

        evaluator = ctx.serving or serving_evaluator
    try:
        metrics = evaluator(design, points, workload, precision)
    except HwsimError as exc:  # say which study entry and combination hit it
        combo = (
            f"{workload.model} {workload.phase}, weights={precision.weights}, "
            f"activations={precision.activations}, kv={precision.kv}"
        )
        raise HwsimError(
            f"{design.name} ({combo}): {exc}", file=study.file, field=f"architectures[{design.index}]"
        ) from None
    n = task.points
    if len(metrics) != n:
        raise RuntimeError(f"evaluator returned {len(metrics)} rows for {n} design points")
    cols: dict[str, object] = {
        "design": np.full(n, design.name, dtype=object),
        "point": np.arange(task.start, task.stop, dtype=np.int64),
    }
    cols.update({k: np.full(n, v) for k, v in design.override_columns().items()})
    params = {p.path: p for p in design.params}
    for k, v in points.items():
        cols.update(params[k].result_columns(np.asarray(v)) if k in params else {k: np.asarray(v)})
    cols.update({k: np.full(n, v) for k, v in workload.columns().items()})
    cols.update({k: np.full(n, str(getattr(precision, k)), dtype=object) for k in PRECISION_COLUMNS})
    cols["weight_mix"] = np.full(n, weight_mix(precision, workload), dtype=object)
    table = pd.DataFrame(cols)
    metrics = metrics.reset_index(drop=True)
    extra = [c for c in metrics.columns if c not in table.columns]
    if "family" in extra:  # keep family next to design
        table.insert(1, "family", metrics["family"].to_numpy())
        extra.remove("family")
    table = pd.concat([table, metrics[extra]], axis=1)
    _derive(table)
    if ctx.accuracy is not None:
        table = _join_accuracy(table, ctx.accuracy)
    ok = feasibility(table, study)
    if "feasible" in table.columns:  # a family's own verdict (e.g. FPGA resources fit the device)
        ok &= table["feasible"].fillna(True).astype(bool).to_numpy()
    table["feasible"] = ok
    return table


def _derive(t: pd.DataFrame) -> None:
    """Per-token and power figures every study wants, when the evaluator did not give them."""
    if "seconds" not in t.columns:
        return
    secs = t["seconds"].to_numpy(dtype=float)
    tokens = (t["batch"] * t["seq"]).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if "tokens_per_s" not in t.columns:
            t["tokens_per_s"] = tokens / secs
        if "energy_j" in t.columns:
            energy = t["energy_j"].to_numpy(dtype=float)
            if "power_w" not in t.columns:
                t["power_w"] = energy / secs
            if "energy_per_token_j" not in t.columns:
                t["energy_per_token_j"] = energy / tokens
            if "tokens_per_joule" not in t.columns:
                t["tokens_per_joule"] = tokens / energy
        if "price_usd" in t.columns and "tokens_per_s_per_usd" not in t.columns:  # hwsim.metrics
            t["tokens_per_s_per_usd"] = t["tokens_per_s"].to_numpy(dtype=float) / t["price_usd"].to_numpy(dtype=float)


def _join_accuracy(t: pd.DataFrame, acc: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in PRECISION_COLUMNS if c in acc.columns]
    out = t.merge(acc, on=keys, how="left", sort=False, validate="many_to_one")
    return out


# how a design gets a metric its family leaves undefined (NaN) unless given an input
MISSING_METRIC_HINTS = {
    "area_mm2": 'give the entry a sourced die area (fpga: `set: {compute.die_area: "... mm^2"}`)',
}


def _require_defined(t: pd.DataFrame, column: str, study: Study, served: np.ndarray) -> None:
    """A constraint on a metric that is NaN (undefined) for a design is an error, not 'infeasible'.
    A serving point that could not serve its stream (`served` false: a reason in `serve_error`) has NaN
    metrics by design (docs/studies.md): no evidence that the design lacks the metric."""
    missing = t[column].isna().to_numpy() & served
    if not missing.any():
        return
    row = t.iloc[int(np.argmax(missing))]
    if column.startswith(ACC_PREFIX):  # accuracy is measured per format; a plain bit width has none
        raise HwsimError(
            f"{column} is undefined for weights={row.get('weights', '?')} (a plain bit width names no "
            "format to quantize with) so it cannot be constrained; name a format (e.g. int4_g128) "
            "or drop the constraint",
            file=study.file,
            field=f"constraints.{column}",
        )
    family = f"the {row['family']} family" if "family" in t.columns else "its model"
    hint = MISSING_METRIC_HINTS.get(column, "give it the inputs this metric needs or drop the constraint")
    raise HwsimError(
        f"design {row.get('design', '?')!r}: {family} does not provide {column} (undefined) so it "
        f"cannot be constrained; {hint}",
        file=study.file,
        field=f"constraints.{column}",
    )


def _check_kind(col: pd.Series, true: bool, study: Study) -> None:
    """`column: true` needs a true/false column, `{min, max}` a numeric one: a bound on a text column ended in a
    ValueError traceback, and `true` on a number held wherever it was not 0."""
    values = col.dropna()
    if not len(values):  # nothing to judge (a serving point that could not serve): _require_defined says more
        return
    boolean = col.dtype.kind == "b" or all(isinstance(v, (bool, np.bool_)) for v in values)
    if true and not boolean:
        holds = "numbers" if col.dtype.kind in "iuf" else "text"
        raise HwsimError(
            f"the column holds {holds}, not true/false: bound it with {{min: …, max: …}}",
            file=study.file,
            field=f"constraints.{col.name}",
        )
    if not true and not boolean and col.dtype.kind not in "iuf":  # true/false bounds as 1/0, as before
        raise HwsimError(
            "the column holds text, which min/max cannot bound (constraints bound numbers, or require a "
            "true/false column with `true`)",
            file=study.file,
            field=f"constraints.{col.name}",
        )


def feasibility(t: pd.DataFrame, study: Study) -> np.ndarray:
    ok = np.ones(len(t), dtype=bool)
    served = t["serve_error"].fillna("").eq("").to_numpy() if "serve_error" in t.columns else ok
    for c in study.constraints:
        if c.column not in t.columns:  # a column of some designs only (one sweeps it): say which design lacks it
            whose = f" in the rows of design {t['design'].iat[0]!r}" if "design" in t.columns and len(t) else ""
            raise HwsimError(
                f"no such result column{whose}{closest(c.column, t.columns)}; columns: {', '.join(map(str, t.columns))}",
                file=study.file,
                field=f"constraints.{c.column}",
            )
        col = t[c.column]
        _check_kind(col, c.true, study)
        _require_defined(t, c.column, study, served)
        if c.true:
            ok &= col.astype(bool).to_numpy()
            continue
        v = col.to_numpy(dtype=float)
        if c.min is not None:
            ok &= v >= c.min
        if c.max is not None:
            ok &= v <= c.max
    return ok
