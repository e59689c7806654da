"""Plots of 2-D Pareto fronts, sized for a paper column; one small panel per workload group."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hwsim.pareto.objectives import Objective
from hwsim.pareto.table import group_ids
from hwsim.plotting import axis_label, readable_log_ticks, save_figure

# columns tried, in order, to colour points when the caller does not choose
COLOR_COLUMNS = ("family", "weights", "format", "design")
MAX_PANELS = 6  # small multiples beyond six stop being readable at paper size
_MAX_LEGEND = 12
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.typing import ColorType, RcKeyType

_STYLE: dict[RcKeyType, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def pick_color_column(df: pd.DataFrame) -> str | None:
    for c in COLOR_COLUMNS:
        if c in df.columns and 1 <= df[c].nunique() <= 40:
            return c
    return None


def _log_scale(x: np.ndarray) -> bool:
    x = x[np.isfinite(x)]
    return len(x) > 0 and bool((x > 0).all()) and x.max() / x.min() > 20


def _panel(
    ax: Axes,
    xs: np.ndarray,
    ys: np.ndarray,
    mask: np.ndarray,
    colors: Sequence[tuple[object, np.ndarray, ColorType]],
    x: Objective,
    y: Objective,
) -> None:
    """Dominated rows faded, the front in colour with a black staircase through it. A few hundred rows stay
    clearly visible (a family with no front point must still be seen); a cloud of thousands fades further."""
    few = len(xs) <= 500
    for _, sel, c in colors:
        dom, on = sel & ~mask, sel & mask
        ax.scatter(
            xs[dom], ys[dom], s=10 if few else 4, color=c, alpha=0.55 if few else 0.15, linewidths=0, rasterized=True
        )
        ax.scatter(xs[on], ys[on], s=14, color=c, edgecolors="black", linewidths=0.4, zorder=3)
    fx, fy = xs[mask], ys[mask]
    order = np.lexsort((fy, fx))
    ax.step(
        fx[order],
        fy[order],
        where="post" if x.maximize == y.maximize else "pre",
        color="black",
        linewidth=0.6,
        zorder=2,
    )
    drawn = np.isfinite(xs) & np.isfinite(ys)  # a row missing either value is not drawn: it sets no scale
    for vals, setter in ((xs[drawn], ax.set_xscale), (ys[drawn], ax.set_yscale)):
        if _log_scale(vals):
            setter("log")
    readable_log_ticks(ax)


def _group_label(df: pd.DataFrame, by: list[str], rows: np.ndarray) -> str:
    """'phase=decode, batch=8': only the `by` columns that differ between groups."""
    first = df.iloc[rows[0]]
    return ", ".join(f"{c}={first[c]}" for c in by if df[c].nunique(dropna=False) > 1)


def plot_front(
    df: pd.DataFrame,
    mask: np.ndarray,
    x: Objective,
    y: Objective,
    path: str | os.PathLike[str] | None = None,
    *,
    color_by: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    by: str | Iterable[str] | None = None,
    max_panels: int = MAX_PANELS,
) -> Figure | SubFigure:
    """Scatter of all rows (dominated faded) with the front in colour and a staircase through it.

    With `by` naming columns that split the rows into several groups (the fronts of `front_mask(...,
    by=by)`), one panel per group in order of first appearance, at most `max_panels` (the title says
    "first k of n" when there are more); colours mean the same in every panel. `ax` draws one group
    only. Writes `path` (PNG, PDF or SVG by extension) when given; returns the matplotlib Figure.
    """
    if ax is None and path is not None:
        from hwsim.plotting import headless_backend

        headless_backend()
    import matplotlib.pyplot as plt

    mask = np.asarray(mask, dtype=bool)
    by = [by] if isinstance(by, str) else list(by or ())
    gid = group_ids(df, by)
    n_groups = int(gid.max()) + 1 if len(gid) else 1
    if ax is not None and n_groups > 1:
        raise ValueError(f"ax holds one panel but `by` splits the rows into {n_groups} groups")
    color_by = color_by if color_by is not None else pick_color_column(df)
    xs, ys = df[x.column].to_numpy(float), df[y.column].to_numpy(float)
    values = [None] if color_by is None else sorted(df[color_by].dropna().unique(), key=str)
    with plt.rc_context(_STYLE):
        cmap = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
        colors = [
            (
                v,
                np.ones(len(df), bool) if v is None else (df[color_by] == v).to_numpy(),
                "tab:blue" if v is None else cmap(i % cmap.N),
            )
            for i, v in enumerate(values)
        ]
        shown = min(n_groups, max_panels)
        if ax is not None:
            fig, axes = ax.figure, [ax]
        else:
            ncols = min(shown, 3)
            nrows = math.ceil(shown / ncols)
            size = (4.2, 2.6) if shown == 1 else (2.5 * ncols + 1.1, 2.2 * nrows + 0.3)
            fig, grid = plt.subplots(nrows, ncols, figsize=size, layout="constrained", squeeze=False)
            axes = list(grid.ravel())
            for extra in axes[shown:]:
                extra.set_visible(False)
        for g, a in enumerate(axes[:shown]):
            sel = gid == g
            _panel(a, xs[sel], ys[sel], mask[sel], [(v, s[sel], c) for v, s, c in colors], x, y)
            if shown > 1:
                a.set_title(_group_label(df, by, np.flatnonzero(sel)), fontsize=7)
            a.set_xlabel(axis_label(x.column, "max" if x.maximize else "min"))
            a.set_ylabel(axis_label(y.column, "max" if y.maximize else "min"))
        note = f"first {shown} of {n_groups} groups by {', '.join(by)}" if n_groups > shown else None
        heading = "; ".join(t for t in (title, note) if t)
        if heading:
            (axes[0].set_title if shown == 1 else fig.suptitle)(heading, fontsize=8)
        if color_by is not None:
            from matplotlib.lines import Line2D

            handles = [
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markersize=4,
                    markerfacecolor=c,
                    markeredgecolor="black",
                    markeredgewidth=0.4,
                    label=str(v),
                )
                for v, _, c in colors[:_MAX_LEGEND]
            ]
            if len(colors) > _MAX_LEGEND:  # say so rather than drop series silently
                handles.append(
                    Line2D(
                        [],
                        [],
                        linestyle="",
                        label=f"… {len(colors) - _MAX_LEGEND} more {color_by} values (colours repeat)",
                    )
                )
            # outside the axes: inside, it would cover the faded cloud or the step line
            if shown == 1:
                axes[0].legend(
                    handles=handles, title=color_by, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0)
                )
            else:
                fig.legend(handles=handles, title=color_by, frameon=False, loc="outside right upper")
        if path is not None:
            save_figure(fig.canvas.figure, path)  # the whole figure (an Axes given in a SubFigure has no savefig)
    return fig
