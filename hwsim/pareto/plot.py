"""Plots of 2-D Pareto fronts, sized for a paper column; one small panel per workload group."""

from __future__ import annotations

import math
import os
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError, closest
from hwsim.pareto.colors import DISTINCT, ColorGroup, color_groups, label, palette
from hwsim.pareto.objectives import Objective
from hwsim.pareto.table import group_ids
from hwsim.plotting import axis_label, fit_log_ticks, readable_log_ticks, save_figure, wrap_to

# columns tried, in order, to colour points when the caller does not choose
COLOR_COLUMNS = ("family", "weights", "format", "design")
MAX_PANELS = 6  # small multiples beyond six stop being readable at paper size
_MAX_LEGEND = DISTINCT  # every colour listed once; beyond, colours repeat and the rest are counted
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.legend import Legend
    from matplotlib.text import Text
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


def check_color_column(
    color_by: str, columns: Iterable[object], *, file: object = None, field: str, hint: str = ""
) -> None:
    """The colour column must be a column of the table: one that only some rows have a value in (a parameter
    one design sweeps, FPGA `util_*`) is fine, the others are drawn as "n/a"."""
    columns = list(columns)
    if color_by not in columns:
        raise HwsimError(
            f"no such result column {color_by!r}{closest(color_by, columns)}{hint}", file=file, field=field
        )


def _log_scale(x: np.ndarray) -> bool:
    x = x[np.isfinite(x)]
    return len(x) > 0 and bool((x > 0).all()) and x.max() / x.min() > 20


def _panel(
    ax: Axes,
    xs: np.ndarray,
    ys: np.ndarray,
    mask: np.ndarray,
    colors: Sequence[tuple[np.ndarray, ColorType]],
    x: Objective,
    y: Objective,
) -> None:
    """Dominated rows faded, the front in colour with a black staircase through it. A few hundred rows stay
    clearly visible (a family with no front point must still be seen); a cloud of thousands fades further."""
    few = len(xs) <= 500
    for sel, c in colors:
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
    return ", ".join(f"{c}={label(first[c])}" for c in by if df[c].nunique(dropna=False) > 1)


def _legend(
    fig: Figure | SubFigure, axes: list[Axes], groups: list[ColorGroup], color_by: str, shown: int, ncols: int = 1
) -> Legend:
    """One entry per colour (at most _MAX_LEGEND values, the rest counted), "n/a" last; outside the axes:
    inside, it would cover the faded cloud or the step line."""
    from matplotlib.lines import Line2D

    def entry(text: str, color: ColorType | None = None) -> Line2D:  # no colour: a line of text only
        return Line2D(
            [],
            [],
            marker="o" if color is not None else "",
            linestyle="",
            markersize=4,
            markerfacecolor=color,
            markeredgecolor="black",
            markeredgewidth=0.4,
            label=_wrap(text),
        )

    values = [g for g in groups if not g.missing]
    handles = [entry(g.label, g.color) for g in values[:_MAX_LEGEND]]
    if len(values) > _MAX_LEGEND:  # say so rather than drop series silently
        handles.append(entry(f"… {len(values) - _MAX_LEGEND} more {color_by} values (colours repeat)"))
    handles += [entry(g.label, g.color) for g in groups if g.missing]
    title = _wrap(axis_label(color_by))
    style = {"handles": handles, "title": title, "frameon": False, "alignment": "left", "ncols": ncols}
    if shown == 1:
        return axes[0].legend(**style, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig.legend(**style, loc="outside right upper")


def _wrap(text: str, width: int = 24) -> str:
    """A legend's title or value over a few lines (a long one would squeeze the panels)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def _fit(
    fig: Figure | SubFigure,
    axes: list[Axes],
    make_legend: Callable[[int], Legend] | None,
    shared: list[tuple[Text, str]],
    *,
    own_figure: bool,
) -> None:
    """Make the legend and lay the figure out so that no text overlaps another: the figure widens by the
    legend's width (the panels keep theirs) and grows to its height (a legend far taller than the panels
    takes two columns); titles and labels longer than their panel (or the figure, for the shared ones) wrap
    onto more lines, and crowded log tick labels thin out. Measured after one run of the figure's constrained
    layout, so any panel count fits (a second run, when the figure is saved or shown, makes room for the
    extra lines)."""
    root = fig.canvas.figure
    legend = None if make_legend is None else make_legend(1)
    renderer = getattr(root.canvas, "get_renderer", None)
    engine = root.get_layout_engine()
    if renderer is None or engine is None:  # nothing to measure with, or a caller's own layout
        return
    r = renderer()
    if own_figure and legend is not None and make_legend is not None:  # its size does not depend on its place
        w, h = root.get_size_inches()
        room = h - 0.6  # the panels' height: less a heading above and the shared x label below
        if legend.get_window_extent(r).height / root.dpi > 1.5 * room:  # long labels: two columns
            legend.remove()
            legend = make_legend(2)
        box = legend.get_window_extent(r)
        root.set_size_inches(w + box.width / root.dpi, max(h, box.height / root.dpi + 0.6))
    engine.execute(root)  # places the panels (their size is what the texts must fit); draws nothing
    for a in axes:
        fit_log_ticks(a, r)
        box = a.get_window_extent(r)
        for text, length in ((a.title, box.width), (a.xaxis.label, box.width), (a.yaxis.label, box.height)):
            wrap_to(text, length, r)
    for text, direction in shared:
        wrap_to(text, root.bbox.width if direction == "x" else root.bbox.height, r)


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
    if color_by is not None:
        check_color_column(color_by, df.columns, field="color_by")
    xs, ys = df[x.column].to_numpy(float), df[y.column].to_numpy(float)
    groups = [ColorGroup("", np.ones(len(df), bool), palette(1)[0])] if color_by is None else color_groups(df[color_by])
    with plt.rc_context(_STYLE):
        shown = min(n_groups, max_panels)
        if ax is not None:
            fig, axes = ax.figure, [ax]
        else:
            ncols = 2 if shown == 4 else min(shown, 3)  # four panels as 2 × 2, not 3 + 1
            nrows = math.ceil(shown / ncols)
            # the legend's width is added once it is drawn (_fit); this is the panels' room
            size = (3.3, 2.6) if shown == 1 else (2.5 * ncols + 0.3, 2.2 * nrows + 0.4)
            fig, grid = plt.subplots(nrows, ncols, figsize=size, layout="constrained", squeeze=False)
            axes = list(grid.ravel())
            for extra in axes[shown:]:
                extra.set_visible(False)
            axes = axes[:shown]
        labels = [axis_label(o.column, "max" if o.maximize else "min") for o in (x, y)]
        for g, a in enumerate(axes):
            sel = gid == g
            _panel(a, xs[sel], ys[sel], mask[sel], [(c.rows[sel], c.color) for c in groups], x, y)
            if shown > 1:
                a.set_title(_group_label(df, by, np.flatnonzero(sel)), fontsize=7)
            else:
                a.set_xlabel(labels[0])
                a.set_ylabel(labels[1])
        shared: list[tuple[Text, str]] = []  # one x and one y label for all panels: they plot the same columns
        if shown > 1:
            shared = [(fig.supxlabel(labels[0], fontsize=8), "x"), (fig.supylabel(labels[1], fontsize=8), "y")]
        note = f"first {shown} of {n_groups} groups by {', '.join(by)}" if n_groups > shown else None
        heading = "; ".join(t for t in (title, note) if t)
        if heading:
            if shown == 1:
                axes[0].set_title(heading, fontsize=8)
            else:
                shared.append((fig.suptitle(heading, fontsize=8), "x"))
        make_legend = None if color_by is None else partial(_legend, fig, axes, groups, color_by, shown)
        _fit(fig, axes, make_legend, shared, own_figure=ax is None)
        if path is not None:
            save_figure(fig.canvas.figure, path)  # the whole figure (an Axes given in a SubFigure has no savefig)
    return fig
