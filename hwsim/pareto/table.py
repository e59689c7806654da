"""Pareto fronts of result tables (pandas DataFrames), optionally one front per group of rows.

A sweep's table mixes workloads (prefill at thousands of tokens/s, decode at tens): one front across
them compares unlike things, so sweeps and `hwsim pareto` take the front per workload (`by`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from hwsim.errors import HwsimError, closest
from hwsim.pareto.front import pareto_mask
from hwsim.pareto.objectives import Objective, check_columns, parse_objectives


# objectives as callers give them: 'col:min,col:max', a list of such strings, or Objectives
ObjectivesLike = str | Sequence[str] | Sequence[Objective]


def _objectives(objectives: ObjectivesLike) -> list[Objective]:
    if not isinstance(objectives, str) and not objectives:
        return parse_objectives([])  # its error: give at least one
    if isinstance(objectives, str) or (objectives and not isinstance(objectives[0], Objective)):
        return parse_objectives(cast("str | Sequence[str]", objectives))
    return list(cast("Sequence[Objective]", objectives))


def _by(df: pd.DataFrame, by: str | Iterable[str] | None, file: object = None) -> list[str]:
    by = [by] if isinstance(by, str) else list(by or ())
    for c in by:
        if c not in df.columns:
            raise HwsimError(f"unknown column {c!r}{closest(c, df.columns)}", file=file, field="by")
    return by


def group_ids(df: pd.DataFrame, by: str | Iterable[str] | None) -> np.ndarray:
    """Each row's group under the `by` columns, numbered by first appearance (all 0 without `by`).

    NaN is a value of its own (dropna=False), so no row is lost from every front.
    """
    by = _by(df, by)
    if not by or not len(df):
        return np.zeros(len(df), dtype=np.int64)
    return df.groupby(by, sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)


def objective_values(df: pd.DataFrame, objectives: ObjectivesLike, *, file: object = None) -> np.ndarray:
    """(rows, objectives) float array; HwsimError for an unknown, non-numeric or all-NaN column."""
    objs = _objectives(objectives)
    if not isinstance(df, pd.DataFrame):
        raise HwsimError(f"expected a results DataFrame, got {type(df).__name__}", field="df")
    check_columns(objs, df.columns, file=file, field="objectives")
    for o in objs:
        if not (pd.api.types.is_numeric_dtype(df[o.column]) or pd.api.types.is_bool_dtype(df[o.column])):
            raise HwsimError(
                f"column {o.column!r} is not numeric (dtype {df[o.column].dtype})", file=file, field="objectives"
            )
    if not len(df):
        return np.empty((0, len(objs)))
    values = np.column_stack([df[o.column].to_numpy(dtype=np.float64) for o in objs])
    for j, o in enumerate(objs):
        if not np.isfinite(values[:, j]).any():  # e.g. area_mm2 of FPGA presets: an empty front is no answer
            raise HwsimError(f"objective {o.column!r} has no finite values in {file or 'the table'}")
    return values


def front_mask(
    df: pd.DataFrame, objectives: ObjectivesLike, *, by: str | Iterable[str] | None = None, file: object = None
) -> np.ndarray:
    """Mask of df's non-dominated rows for objectives ('col:min,col:max' or Objective list).

    With `by` (column names), each group of equal `by` values gets its own front.
    """
    objs = _objectives(objectives)
    values = objective_values(df, objs, file=file)
    maximize = [o.maximize for o in objs]
    gid = group_ids(df, _by(df, by, file))
    if not len(df) or gid.max() == 0:
        return pareto_mask(values, maximize)
    mask = np.zeros(len(df), dtype=bool)
    order = np.argsort(gid, kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(gid[order])) + 1):
        mask[rows] = pareto_mask(values[rows], maximize)
    return mask


def pareto_front(
    df: pd.DataFrame, objectives: ObjectivesLike, *, by: str | Iterable[str] | None = None, file: object = None
) -> pd.DataFrame:
    """The front's rows (all columns): by group (first appearance), then by the objectives in turn."""
    objs = _objectives(objectives)
    mask = front_mask(df, objs, by=by, file=file)
    return order_front(df[mask], objs, group=group_ids(df, _by(df, by, file))[mask])


def order_front(front: pd.DataFrame, objectives: ObjectivesLike, *, group: ArrayLike | None = None) -> pd.DataFrame:
    """Rows ordered by `group` (if given), then by each objective in turn (best first); ties keep input order."""
    objs = _objectives(objectives)
    cols = [o.column for o in objs]
    ascending = [not o.maximize for o in objs]
    if group is None:
        return front.sort_values(cols, ascending=ascending, kind="mergesort")
    key = "\0group"  # a name no result column has
    out = front.assign(**{key: np.asarray(group)}).sort_values(
        [key, *cols], ascending=[True, *ascending], kind="mergesort"
    )
    return out.drop(columns=key)


def nan_rows(df: pd.DataFrame, objectives: ObjectivesLike) -> int:
    """How many rows have NaN in some objective (never on a front)."""
    cols = [o.column for o in _objectives(objectives)]
    return int(df[cols].isna().any(axis=1).sum()) if len(df) else 0
