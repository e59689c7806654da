"""Pareto fronts of result tables (pandas DataFrames)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError
from hwsim.pareto.front import pareto_mask
from hwsim.pareto.objectives import Objective, check_columns, parse_objectives


def _objectives(objectives) -> list[Objective]:
    if isinstance(objectives, str) or (objectives and not isinstance(objectives[0], Objective)):
        return parse_objectives(objectives)
    return list(objectives)


def front_mask(df: pd.DataFrame, objectives, *, file=None) -> np.ndarray:
    """Mask of df's non-dominated rows for objectives ('col:min,col:max' or Objective list)."""
    objs = _objectives(objectives)
    check_columns(objs, df.columns, file=file, field="objectives")
    for o in objs:
        if not (pd.api.types.is_numeric_dtype(df[o.column]) or pd.api.types.is_bool_dtype(df[o.column])):
            raise HwsimError(f"column {o.column!r} is not numeric (dtype {df[o.column].dtype})",
                             file=file, field="objectives")
    values = np.column_stack([df[o.column].to_numpy(dtype=np.float64) for o in objs]) if len(df) else \
        np.empty((0, len(objs)))
    return pareto_mask(values, [o.maximize for o in objs])


def pareto_front(df: pd.DataFrame, objectives, *, file=None) -> pd.DataFrame:
    """The front's rows (all columns), ordered by the objectives in turn, ties in input order."""
    objs = _objectives(objectives)
    return order_front(df[front_mask(df, objs, file=file)], objs)


def order_front(front: pd.DataFrame, objectives) -> pd.DataFrame:
    """Rows ordered by each objective in turn (best first); ties keep their input order."""
    objs = _objectives(objectives)
    return front.sort_values([o.column for o in objs], ascending=[not o.maximize for o in objs],
                             kind="mergesort")
