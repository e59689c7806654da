"""Hardware cost of every (unit, format) from the arch's own cost model.

The trace is evaluated once per candidate format (the engine is vectorised over ops) and per-op
seconds and energy are summed into units through a membership matrix: F engine calls, not U × F.
This is exact because the analytical engine prices each op on its own and totals are sums over ops.

- Weight units: their ops at weights = f (activations and KV at the base precision).
- KV units: attention ops (they only read the cache) at kv = f. Ops that write the cache and are
  also weight-unit ops (k_proj/v_proj without rotary) add the difference cost(kv = f) − cost(kv = base)
  at the fixed weight format: an additive approximation, exact when that op's cost is linear in the
  bytes it writes (memory-bound) — stated in docs/allocate.md.
- Everything else stays at the base precision and is a constant of every total.
Memory: Σ stored elements × bits_per_element / 8, plus the scales of rows that are not whole groups (the
footprint's row rule, hwsim.engine.cost.row_scale_bytes: a weight unit's k × n weights on their rows of K, the
token tables and lm_head outside on rows of hidden) (a unit stores all its parameters, every MoE expert
included — units.py; a KV unit's DeepSeek-V3.2 index keys at their own format whatever the unit's,
hwsim.workload.kv.as_bytes, as the trace's KV bytes); the parameters outside units (embeddings, lm_head,
norms) at the fixed weight format, and the KV cache at the base KV format unless allocated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hwsim.allocate.units import Unit
from hwsim.engine import Precision, operand_type
from hwsim.errors import HwsimError
from hwsim.engine.cost import kv_row_columns, row_scale_bytes, weight_rows
from hwsim.engine.per_op import evaluate_per_op, own_formats
from hwsim.workload import kv as kv_cache

if TYPE_CHECKING:
    from hwsim.core.spec import Accelerator
    from hwsim.workload.config import ModelConfig
    from hwsim.workload.trace import Trace

# the hardware_costs parameter that sets each precision operand (weight and KV units: see the loop)
_FIXED = {"precision.weights": "fixed_weights", "precision.activations": "activations", "precision.kv": "kv"}


def _per_op(
    arch: Accelerator,
    ops: pd.DataFrame,
    precision: Precision,
    names: dict[str, str],
    own: Iterable[str] | None = None,
    model: ModelConfig | None = None,
) -> np.ndarray:
    """(rows, 2): seconds and energy_j of each op of `ops`. `names` maps the engine's precision fields
    to the parameters that set those operands here, so a refusal names what the caller can change.
    `own`: the checkpoint's weight format of each op, replacing the precision's weights; `model`: the checkpoint,
    whose own activations go per op (hwsim.engine.per_op.op_activations) whatever weights the ops take."""
    try:
        table = evaluate_per_op(arch, ops, precision, None if own is None else list(own), model=model).ops
    except HwsimError as exc:
        raise exc.renamed(names) from None
    return np.column_stack([table["seconds"].to_numpy(np.float64), table["energy_j"].to_numpy(np.float64)])


def bits_per_element(fmt: object) -> float:
    return operand_type(fmt, "formats").bits


def hardware_costs(
    arch: Accelerator,
    trace: Trace,
    units: list[Unit],
    formats: tuple[str, ...],
    allowed: np.ndarray,
    *,
    activations: object = "fp16",
    kv: object = "fp16",
    fixed_weights: str | None = None,
) -> tuple[dict, dict]:
    """(costs, fixed): U × F matrices of seconds, energy_j and memory_bytes, and the constants.
    `fixed_weights` None: ops outside the units keep a quantized checkpoint's own formats (else fp16)."""
    ops = trace.ops.assign(**kv_row_columns(trace))  # KV bytes on the cache's rows, as evaluate(trace) prices them
    n, U, F = len(ops), len(units), len(formats)
    listed = None if fixed_weights is not None else own_formats(trace)
    own = None if listed is None else np.asarray(listed, dtype=object)
    fixed_weights = "fp16" if fixed_weights is None else fixed_weights  # '' is refused by name, not read as fp16
    model = trace.model
    base = _per_op(arch, ops, Precision(weights=fixed_weights, activations=activations, kv=kv), _FIXED, own, model)
    bits = np.array([bits_per_element(f) for f in formats])
    out = np.zeros((U, F, 2))
    in_unit = np.zeros(n, dtype=bool)
    weight_rows = np.zeros(n, dtype=bool)
    for u in units:
        if u.kind == "weights":
            weight_rows[list(u.rows)] = True
    for kind in ("weights", "kv"):
        idx = [i for i, u in enumerate(units) if u.kind == kind]
        if not idx:
            continue
        rows = np.unique(np.concatenate([units[i].rows for i in idx])).astype(np.int64)
        pos = np.full(n, -1, dtype=np.int64)
        pos[rows] = np.arange(rows.size)
        member = np.zeros((len(idx), rows.size))  # unit × op membership
        for a, i in enumerate(idx):
            member[a, pos[list(units[i].rows)]] = 1.0
        sub = ops.iloc[rows]
        if kind == "kv":  # ops already priced by a weight unit contribute only the change the KV format makes
            delta = weight_rows[rows]
            in_unit[rows[~delta]] = True
        else:
            in_unit[rows] = True
        for j in np.flatnonzero(allowed[idx].any(axis=0)):
            if kind == "weights":
                prec = Precision(weights=formats[j], activations=activations, kv=kv)
                names = {**_FIXED, "precision.weights": "formats"}
            else:
                prec = Precision(weights=fixed_weights, activations=activations, kv=formats[j])
                names = {**_FIXED, "precision.kv": "kv_formats"}
            c = _per_op(arch, sub, prec, names, own[rows] if own is not None and kind == "kv" else None, model)
            if kind == "kv":
                c[delta] -= base[rows[delta]]
            out[idx, j] = member @ c
    storage = np.array([u.storage for u in units], dtype=np.float64)
    memory = storage[:, None] * bits[None, :] / 8
    types = [operand_type(f, "kv_formats") for f in formats]
    for i, u in enumerate(units):
        if u.kind == "kv":  # the index keys at their own format, the rest on its rows: as the trace's KV bytes
            memory[i] = [kv_cache.as_bytes(u.storage, u.own_elems, t, dict(u.by_rows)) for t in types]
        elif u.weight_rows:  # a weight on its rows of K: the scales of rows that are not whole groups, as stored
            memory[i] += [row_scale_bytes(t, u.weight_rows) for t in types]
    costs = {
        "seconds": out[..., 0],
        "energy_j": out[..., 1],
        "memory_bytes": memory,
        "bits": bits,
    }
    kv_fixed = 0 if any(u.kind == "kv" for u in units) else trace.kv_cache_bytes(operand_type(kv, "kv"))
    fixed = {
        "seconds": float(base[~in_unit, 0].sum()),
        "energy_j": float(base[~in_unit, 1].sum()),
        "memory_bytes": _outside_bytes(trace.model, units, fixed_weights if own is None else None) + kv_fixed,
    }
    return costs, fixed


def _outside_bytes(model: ModelConfig, units: list[Unit], fixed_weights: str | None) -> float:
    """Bytes of the parameters outside the units: all at `fixed_weights`, or (None) as a quantized checkpoint
    stores them: lm_head at its format, the embeddings and the rest (norms, biases) at the embeddings' format; the
    grouped weights outside the layers (token tables, an untied lm_head, a pooler: hwsim.engine.cost.weight_rows) on
    their rows, as the footprint prices them."""
    other = max(model.params - sum(u.params for u in units), 0)
    edges = [(part, k, elems) for part, k, elems in weight_rows(model) if part != "layers"]
    if fixed_weights is not None:
        fixed = operand_type(fixed_weights, "formats")
        return other * fixed.bits / 8 + row_scale_bytes(fixed, ((k, e) for _, k, e in edges))
    pb = model.param_breakdown()
    head = min(pb["lm_head"], other)
    assert model.weight_formats is not None  # hardware_costs passes None only with a checkpoint's own formats
    head_fmt = operand_type(model.weight_formats.format_of("lm_head"), "formats")
    rest_fmt = operand_type(model.weight_formats.format_of("model.embed_tokens"), "formats")
    scales = row_scale_bytes(head_fmt, ((k, e) for part, k, e in edges if part == "lm_head"))
    scales += row_scale_bytes(rest_fmt, ((k, e) for part, k, e in edges if part != "lm_head"))
    return (head * head_fmt.bits + (other - head) * rest_fmt.bits) / 8 + scales
