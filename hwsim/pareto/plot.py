"""Plots of 2-D Pareto fronts, sized for a paper column (3.5 in wide)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hwsim.pareto.objectives import Objective
from hwsim.plotting import save_figure

# columns tried, in order, to colour points when the caller does not choose
COLOR_COLUMNS = ("family", "weights", "format", "design")
_MAX_LEGEND = 12


def pick_color_column(df: pd.DataFrame) -> str | None:
    for c in COLOR_COLUMNS:
        if c in df.columns and 1 <= df[c].nunique() <= 40:
            return c
    return None


def _log_scale(x: np.ndarray) -> bool:
    x = x[np.isfinite(x)]
    return len(x) > 0 and bool((x > 0).all()) and x.max() / x.min() > 20


def plot_front(df: pd.DataFrame, mask: np.ndarray, x: Objective, y: Objective, path=None, *,
               color_by: str | None = None, title: str | None = None, ax=None):
    """Scatter of all rows (dominated faded) with the front in colour and a staircase through it.

    Writes `path` (PNG, PDF or SVG by extension) when given; returns the matplotlib Figure.
    """
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    color_by = color_by if color_by is not None else pick_color_column(df)
    with plt.rc_context({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7,
                         "axes.spines.top": False, "axes.spines.right": False}):
        if ax is None:
            fig, ax = plt.subplots(figsize=(4.2, 2.6), layout="constrained")
        else:
            fig = ax.figure
        xs, ys = df[x.column].to_numpy(float), df[y.column].to_numpy(float)
        groups = [(None, np.ones(len(df), bool))] if color_by is None else \
            [(g, (df[color_by] == g).to_numpy()) for g in sorted(df[color_by].dropna().unique(), key=str)]
        cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
        for i, (g, sel) in enumerate(groups):
            c = "tab:blue" if g is None else cmap(i % cmap.N)
            dom, on = sel & ~mask, sel & mask
            ax.scatter(xs[dom], ys[dom], s=4, color=c, alpha=0.15, linewidths=0, rasterized=True)
            label = None if g is None or i >= _MAX_LEGEND else str(g)
            ax.scatter(xs[on], ys[on], s=14, color=c, edgecolors="black", linewidths=0.4, label=label, zorder=3)
        fx, fy = xs[mask], ys[mask]
        order = np.lexsort((fy, fx))
        ax.step(fx[order], fy[order], where="post" if x.maximize == y.maximize else "pre",
                color="black", linewidth=0.6, zorder=2)
        for axis, vals, setter in ((x, xs, ax.set_xscale), (y, ys, ax.set_yscale)):
            if _log_scale(vals):
                setter("log")
        ax.set_xlabel(f"{x.column} ({'max' if x.maximize else 'min'})")
        ax.set_ylabel(f"{y.column} ({'max' if y.maximize else 'min'})")
        if title:
            ax.set_title(title)
        if color_by is not None:
            # outside the axes: "best" only avoids the labelled front points, not the faded cloud or the step line
            ax.legend(title=color_by, frameon=False, markerscale=0.8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        if path is not None:
            save_figure(fig, path)
    return fig


