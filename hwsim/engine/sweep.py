"""sweep_cost: the cost of one trace on a grid of design points, vectorised.

Ops with identical shapes are collapsed first (an 80-layer model has ~15 distinct ops), then every
cost column is computed once as a (points × distinct ops) array and summed with multiplicities.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Mapping

import numpy as np

from hwsim.arch.loader import as_accelerator, parse_values
from hwsim.core.schema import SIValues, spec_path
from hwsim.core.spec import Accelerator
from hwsim.engine.attention import as_run
from hwsim.engine.cost import cost_columns, design_totals, kv_row_columns, ops_frame, per_trace
from hwsim.engine.machine import configure
from hwsim.core.ops import OpColumns, dedupe
from hwsim.core.precision import resolve_precision
from hwsim.errors import HwsimError
from hwsim.families import get_family

if TYPE_CHECKING:  # pandas loads when a sweep builds its table, not with the engine
    import pandas as pd

    from hwsim.core.precision import Precision, ResolvedPrecision
    from hwsim.engine.cost import TraceLike

CHUNK = 4096  # design points per block: keeps temporaries in cache-sized arrays


def _column(values: object) -> np.ndarray | SIValues:
    """One grid column as a flat array: values as given (units allowed), or SIValues as they are."""
    if isinstance(values, SIValues):
        return SIValues(np.asarray(values.values).ravel(), values.kind)
    return np.asarray(values, dtype=object).ravel()


def _given(col: np.ndarray | SIValues) -> np.ndarray:
    return col.values if isinstance(col, SIValues) else col


def _grid_points(grid: Mapping[str, object], product: bool = True) -> tuple[list[str], list]:
    if not isinstance(grid, Mapping) or not all(isinstance(p, str) for p in grid):
        raise HwsimError(
            f"expected a mapping of dotted path → values ({{'compute.rows': [16, 32]}}), got {type(grid).__name__}",
            field="grid",
        )
    if not grid:
        raise HwsimError("the grid is empty: give at least one dotted path with values", field="grid")
    paths = list(grid)
    axes = [_column(grid[p]) for p in paths]
    sizes = [len(a) for a in axes]
    for p, size in zip(paths, sizes):
        if size == 0:
            raise HwsimError("no values", field=p)
    if not product:  # zipped: row i of every column is design point i
        if len(set(sizes)) != 1:
            raise HwsimError(f"zipped points need columns of one length, got {sizes}", field="grid")
        return paths, axes
    # every combination, the last path varying fastest
    idx = np.unravel_index(np.arange(int(np.prod(sizes, dtype=np.int64))), sizes)
    return paths, [a[i] for a, i in zip(axes, idx)]


def parse_grid(arch: Accelerator, grid: Mapping[str, object]) -> tuple[Accelerator, dict[str, np.ndarray]]:
    """Values of each dotted path parsed to SI (units allowed) and the arch they apply to: a bandwidth
    axis given per cycle or per second sets that level's unit kind. Every column must have one length."""
    parsed = {}
    for p, col in grid.items():
        values, per_cycle = parse_values(arch, p, _column(col))
        parsed[p] = values
        if per_cycle is not None:
            level = spec_path(p, arch.compute, [lv.name for lv in arch.memory]).level
            arch = replace(
                arch, memory=tuple(replace(lv, per_cycle=per_cycle) if lv.name == level else lv for lv in arch.memory)
            )
    return arch, parsed


def arch_at(arch: Accelerator, values: Mapping[str, object]) -> Accelerator:
    """The arch at one design point (dotted path → one value, units allowed), validated: exactly the point
    sweep_cost evaluates for the same values."""
    arch, parsed = parse_grid(arch, {p: v if isinstance(v, SIValues) else [v] for p, v in values.items()})
    point = arch.with_values({p: v[0] for p, v in parsed.items()})
    get_family(point.family).validate(point)
    return point


def _unique_ops(df: pd.DataFrame) -> tuple[OpColumns, np.ndarray]:
    """The distinct ops of a table (hwsim.core.ops.dedupe) as OpColumns, and how often each occurs."""
    uniq, mult = dedupe(df)
    return OpColumns.from_frame(uniq), mult


def sweep_cost(
    arch: Accelerator | str,
    grid: Mapping[str, object],
    trace: TraceLike,
    precision: Precision | ResolvedPrecision | None = None,
    *,
    product: bool = True,
) -> pd.DataFrame:
    """One row per point of the Cartesian product of `grid` (dotted path → values, with units or SI),
    with the grid columns (as given) and the totals columns of CostTable. With product=False the
    columns are zipped instead: equal lengths, row i is one point (random or Latin-hypercube samples)."""
    prec = resolve_precision(precision)
    arch = as_accelerator(arch)
    paths, raw_cols = _grid_points(grid, product)
    arch, parsed = parse_grid(arch, dict(zip(paths, raw_cols)))
    # attention fused or not, as this accelerator runs it; identical ops collapsed once per Trace (a study
    # costs the same trace in every chunk of points)
    ops, mult = per_trace(
        as_run(arch, trace), "_unique_ops", lambda t: _unique_ops(ops_frame(t).assign(**kv_row_columns(t)))
    )
    fam = get_family(arch.family)
    n = len(raw_cols[0])
    sums: dict[str, list[np.ndarray]] = {}
    areas = []
    extra: dict[str, list[np.ndarray]] = {}
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        point = arch.with_values({p: v[lo:hi, None] for p, v in parsed.items()})
        fam.validate(point)
        m = configure(point, prec)
        cols = cost_columns(m, ops)
        for key, arr in cols.items():
            sums.setdefault(key, []).append(np.broadcast_to(arr, (hi - lo, len(ops))) @ mult)
        design = design_totals(m, ops, mult, trace)
        area = np.asarray(design.pop("area_mm2"), dtype=np.float64)
        areas.append(np.broadcast_to(area.reshape(-1) if area.ndim else area, (hi - lo,)))
        for key, v in design.items():
            v = np.asarray(v)
            extra.setdefault(key, []).append(np.broadcast_to(v.reshape(-1) if v.ndim else v, (hi - lo,)))
    import pandas as pd

    out = pd.DataFrame({p: list(_given(c)) for p, c in zip(paths, raw_cols)})
    for key, parts in sums.items():
        out[key] = np.concatenate(parts)
    out["area_mm2"] = np.concatenate(areas)
    for key, parts in extra.items():
        out[key] = np.concatenate(parts)
    return out
