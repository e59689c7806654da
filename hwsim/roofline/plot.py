"""Log-log roofline plot: one roof per machine × precision × memory level, ops as labelled points.

Encoding (sized for a two-column paper figure, 7 in wide):
- colour = series (machine × precision);
- roof lines: diagonals are memory levels (solid: backing store, dash-dot: on-chip), horizontal
  ceilings are the compute roofs (solid: linear GEMMs, dotted: attention with the KV operand,
  dashed: the vector unit for elementwise ops); a dot marks the ridge of the linear roof;
- marker shape = op kind; open marker = the roofline bound (on the roof), filled marker = the
  attained point of the cost model, joined by a thin line showing the gap; small markers plot the
  intensity against an on-chip level. Identical ops (the same role in every layer) collapse into
  one point; the labels name the op roles of the first series.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd


SHARED = "0.25"  # label colour of a roof shared by several series
KIND_MARKERS = {"linear": "o", "attention": "^", "elementwise": "s"}
CEILING_STYLE = {"linear": "-", "attention": ":", "elementwise": (0, (4, 2))}
ROLE_ORDER = (
    "embed",
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "router",
    "qk",
    "av",
    "softmax",
    "norm",
    "act",
    "rope",
    "residual",
    "lm_head",
)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.typing import ColorType, RcKeyType
    from numpy.typing import ArrayLike

    from hwsim.roofline.analysis import Roofline, Roofs

_FONT: dict[RcKeyType, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _series_labels(machines: Sequence[Roofs]) -> list[str]:
    """Shortest labels that still tell the series apart (precision parts shared by all are dropped)."""
    archs = {m.arch for m in machines}
    parts = [m.precision.split(" / ") for m in machines]
    varying = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
    labels = []
    for m, p in zip(machines, parts):
        prec = " ".join(p[i] for i in varying)
        labels.append(" · ".join(x for x in ((m.arch if len(archs) > 1 or not prec else ""), prec) if x))
    return labels


def _shared_precision(machines: Sequence[Roofs]) -> str:
    """The precision parts every series shares (the legend's title: _series_labels leaves them out)."""
    parts = [m.precision.split(" / ") for m in machines]
    return " / ".join(p for i, p in enumerate(parts[0]) if all(q[i] == p for q in parts))


def _drawn_ceilings(machines: Sequence[Roofs]) -> set[str]:
    """Ceiling kinds drawn as their own line: attention and vector roofs equal to a drawn roof are not."""
    out = set()
    for m in machines:
        if not math.isclose(m.attention_ops_per_s, m.linear_ops_per_s):
            out.add("attention")
        if not any(math.isclose(m.vector_ops_per_s, r) for r in (m.linear_ops_per_s, m.attention_ops_per_s)):
            out.add("elementwise")
    return out


def si(x: float, unit: str) -> str:
    """A number with an SI prefix, 3 significant digits: si(9.894e14, 'op/s') → '989 Top/s'."""
    if not math.isfinite(x) or x <= 0:
        return f"0 {unit}" if x == 0 else "-"
    exp = min(max(math.floor(math.log10(x) / 3), -4), 5)
    return f"{x / 10 ** (3 * exp):.3g} {'pnµm kMGTP'[exp + 4].strip()}{unit}"


def _collapse(df: pd.DataFrame) -> pd.DataFrame:
    """One point per (series, level, kind, role, position): identical layers plot once."""
    key = pd.DataFrame(
        {
            "s": df["_series"],
            "level": df["level"],
            "kind": df["kind"],
            "op": df["op"],
            "x": np.round(np.log10(df["intensity"]), 3),
            "y": np.round(np.log10(df["attainable_ops_per_s"]), 3),
            "ya": np.round(np.log10(np.maximum(df["attained_ops_per_s"], 1e-300)), 3),
        }
    )
    return df.loc[~key.duplicated()]


def _role_label(roles: Iterable[str]) -> str:
    roles = sorted(set(roles), key=lambda r: (ROLE_ORDER.index(r) if r in ROLE_ORDER else len(ROLE_ORDER), r))
    proj = [r[:-5] for r in roles if r.endswith("_proj")]
    rest = [r for r in roles if not r.endswith("_proj")]
    parts = (["/".join(proj) + "_proj"] if proj else []) + rest
    return _wrap_names(", ".join(parts), 26)


def _wrap_names(text: str, width: int) -> str:
    """Lines of at most `width` characters, broken only after a '/' or a ', ' so that no op name is split (a
    name longer than `width` keeps a line of its own)."""
    pieces = re.findall(r".+?(?:/|, |$)", text)
    lines = [""]
    for piece in pieces:
        if lines[-1] and len(lines[-1] + piece.rstrip()) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(line.rstrip() for line in lines)


class _Boxes:
    """Display-space rectangles already used by markers and text (for greedy label placement)."""

    def __init__(self, ax: Axes, fontsize: float = 6) -> None:
        self.ax, self.fs = ax, fontsize
        self.scale = ax.figure.dpi / 72.0  # display pixels per point
        self.boxes: list[tuple] = []

    def size(self, text: str) -> tuple[float, float]:
        lines = text.split("\n")
        return (max(len(s) for s in lines) * self.fs * 0.56 * self.scale, len(lines) * self.fs * 1.25 * self.scale)

    def free(self, box: tuple[float, float, float, float]) -> bool:
        return not any(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3] for b in self.boxes)

    def add_points(self, xs: ArrayLike, ys: ArrayLike, radius_pt: float = 3.0) -> None:
        r = radius_pt * self.scale
        for px, py in self.ax.transData.transform(np.column_stack([xs, ys])):
            self.boxes.append((px - r, py - r, px + r, py + r))


def _draw_roofs(
    ax: Axes, machines: Sequence[Roofs], colors: Sequence[ColorType], xlim: tuple[float, float], boxes: _Boxes
) -> None:
    """Roof lines of every series, a dot at each linear ridge, ceilings labelled at the right edge
    (once per value; grey when several series share it)."""
    x0, x1 = xlim
    owners: dict[float, list] = {}
    for m, c in zip(machines, colors):
        ceilings = {"linear": m.linear_ops_per_s, "attention": m.attention_ops_per_s, "elementwise": m.vector_ops_per_s}
        top, fastest = max(ceilings.values()), max(m.bandwidth.values())
        for i, bw in enumerate(m.bandwidth.values()):
            ax.plot([x0, top / bw], [bw * x0, top], color=c, lw=1.1, ls="-" if i == 0 else "-.", zorder=2)
        drawn: list[float] = []
        for kind, ceil in ceilings.items():
            if kind != "linear" and any(math.isclose(ceil, d) for d in drawn):
                continue  # same ceiling as a roof already drawn
            drawn.append(ceil)
            ax.plot([ceil / fastest, x1], [ceil, ceil], color=c, lw=1.1, ls=CEILING_STYLE[kind], zorder=2)
            owners.setdefault(round(math.log10(ceil), 3), []).append((ceil, c))
        ridge = m.ridge(m.backing)
        ax.plot([ridge], [m.linear_ops_per_s], "o", ms=3, color=c, mec="black", mew=0.5, zorder=4)
    for group in owners.values():
        ceil, c = group[0]
        c = c if len({str(o[1]) for o in group}) == 1 else SHARED
        text = si(ceil, "op/s")
        w, h = boxes.size(text)
        px, py = ax.transData.transform((x1, ceil))
        gap = 1.5 * boxes.scale
        spots = [(-2 * boxes.scale - i * (w + 6 * boxes.scale), up) for i in range(6) for up in (True, False)]
        for dx, up in spots:  # above, then below the line; step left when both are taken
            box = (px + dx - w, py + gap if up else py - gap - h, px + dx, py + gap + h if up else py - gap)
            if boxes.free(box):
                break
        boxes.boxes.append(box)
        ax.annotate(
            text,
            (x1, ceil),
            xytext=(dx / boxes.scale, 1.5 if up else -1.5),
            textcoords="offset points",
            ha="right",
            va="bottom" if up else "top",
            fontsize=boxes.fs,
            color=c,
            zorder=6,
        )


def _label_diagonals(
    ax: Axes,
    machines: Sequence[Roofs],
    colors: Sequence[ColorType],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    boxes: _Boxes,
) -> None:
    """Name each memory roof along its diagonal (once per distinct line), at the first free spot."""
    owners: dict[tuple, list] = {}
    for m, c in zip(machines, colors):
        for lv, bw in m.bandwidth.items():
            owners.setdefault((lv, round(math.log10(bw), 3)), []).append((bw, c))
    for (lv, _), group in owners.items():
        bw, c = group[0]
        c = c if len({str(o[1]) for o in group}) == 1 else SHARED
        text = f"{lv} {si(bw, 'B/s')}"
        w, h = boxes.size(text + "  ")  # two characters' gap: two nearly equal roofs' labels follow each other
        for step in np.arange(0.15, math.log10(xlim[1] / xlim[0]), 0.1):
            x = xlim[0] * 10**step
            if bw * x < ylim[0] * 1.5:
                continue
            p0, p1 = ax.transData.transform([(x, bw * x), (x * 10, bw * x * 10)])
            ang = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
            end = (p0[0] + w * math.cos(ang) - h * math.sin(ang), p0[1] + w * math.sin(ang) + h * math.cos(ang))
            box = (p0[0], p0[1], end[0], end[1])
            if not boxes.free(box) or ax.transData.inverted().transform(end)[1] > ylim[1]:
                continue
            boxes.boxes.append(box)
            ax.annotate(
                text,
                (x, bw * x),
                xytext=(0, 2),
                textcoords="offset points",
                rotation=math.degrees(ang),
                rotation_mode="anchor",
                fontsize=boxes.fs,
                color=c,
                zorder=6,
            )
            break


# label offsets (in units of 4 pt) tried in order: near spots first, then farther out
_CANDIDATES = [
    (dx * r, dy * r, ha, va)
    for r in (1, 2.5, 4.5)
    for dx, dy, ha, va in (
        (1, 0, "left", "center"),
        (0, 1, "center", "bottom"),
        (0, -1, "center", "top"),
        (-1, 0, "right", "center"),
        (1, 1, "left", "bottom"),
        (1, -1, "left", "top"),
        (-1, 1, "right", "bottom"),
        (-1, -1, "right", "top"),
    )
]


def _place_labels(ax: Axes, points: Iterable[tuple[float, float, str]], boxes: _Boxes) -> None:
    """Op labels at the first free spot right, above, below or left of each point (else left out)."""
    pad = 4 * boxes.scale
    for x, y, text in sorted(points, key=lambda p: (p[0], p[1])):
        px, py = ax.transData.transform((x, y))
        w, h = boxes.size(text)
        for dx, dy, ha, va in _CANDIDATES:
            dx, dy = dx * pad, dy * pad
            cx = px + dx + {"left": w / 2, "center": 0, "right": -w / 2}[ha]
            cy = py + dy + {"bottom": h / 2, "center": 0, "top": -h / 2}[va]
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if boxes.free(box):
                boxes.boxes.append(box)
                far = abs(dx) + abs(dy) > 2 * pad  # a label pushed away gets a leader line to its point
                ax.annotate(
                    text,
                    (x, y),
                    xytext=(dx / boxes.scale, dy / boxes.scale),
                    textcoords="offset points",
                    ha=ha,
                    va=va,
                    fontsize=boxes.fs,
                    color="0.15",
                    zorder=6,
                    arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5", shrinkA=0, shrinkB=3) if far else None,
                )
                break


def plot_roofline(
    rl: Roofline,
    path: str | os.PathLike[str] | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    label_ops: bool = True,
) -> Figure | SubFigure:
    """Plot a Roofline (hwsim.roofline.roofline) and write it to `path` (.png, .pdf, .svg) if given;
    returns the matplotlib Figure."""
    if ax is None and path is not None:
        from hwsim.plotting import headless_backend

        headless_backend()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter, LogLocator, NullLocator

    from hwsim.plotting import save_figure

    machines = rl.machines
    keys = {(m.arch, m.precision): i for i, m in enumerate(machines)}
    ops = rl.ops[rl.ops["ops"] > 0].copy()
    ops["_series"] = [keys[k] for k in zip(ops["arch"], ops["precision"])]
    ops = _collapse(ops)
    backing = {m.arch: m.backing for m in machines}
    on_backing = (ops["level"] == ops["arch"].map(backing)).to_numpy()

    ridges = [m.ridge(lv) for m in machines for lv in m.bandwidth]
    xs = ops["intensity"].to_numpy()
    xlim = (
        10 ** math.floor(math.log10(min(xs.min(), *ridges)) - 0.3),
        10 ** math.ceil(math.log10(max(xs.max(), *ridges)) + 0.8),
    )  # room for the ceiling labels
    tops = [max(m.linear_ops_per_s, m.attention_ops_per_s, m.vector_ops_per_s) for m in machines]
    ys = np.concatenate([ops["attainable_ops_per_s"].to_numpy(), ops["attained_ops_per_s"].to_numpy()])
    ys = ys[ys > 0]
    ylim = (10 ** math.floor(math.log10(ys.min()) - 0.2), 10 ** math.ceil(math.log10(max(tops)) + 0.4))

    cmap = plt.get_cmap("tab10")
    colors = [cmap(i % 10) for i in range(len(machines))]
    names = _series_labels(machines)
    with plt.rc_context(_FONT):
        if ax is None:
            # fixed margins, no layout engine: label placement needs final transforms before drawing
            fig: Figure | SubFigure = plt.figure(figsize=(7.0, 4.4))
            ax = fig.add_axes((0.085, 0.1, 0.65, 0.84))
        else:
            fig = ax.figure
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        boxes = _Boxes(ax)
        boxes.add_points(ops["intensity"], ops["attainable_ops_per_s"])
        boxes.add_points(ops["intensity"], np.maximum(ops["attained_ops_per_s"], ylim[0]))
        _draw_roofs(ax, machines, colors, xlim, boxes)
        for (kind, big), g in ops.groupby([ops["kind"], on_backing], sort=False):
            c = [colors[s] for s in g["_series"]]
            x, yr, ya = g["intensity"], g["attainable_ops_per_s"], g["attained_ops_per_s"]
            size = 22 if big else 9
            ax.vlines(x, ya, yr, colors=c, lw=0.5, alpha=0.35, zorder=3)
            ax.scatter(
                x,
                yr,
                s=size,
                marker=KIND_MARKERS.get(kind, "D"),
                facecolors="white",
                edgecolors=c,
                linewidths=0.8,
                zorder=5,
            )
            ax.scatter(
                x, ya, s=size, marker=KIND_MARKERS.get(kind, "D"), c=c, edgecolors="black", linewidths=0.3, zorder=5
            )
        if label_ops:
            first = ops[(ops["_series"] == 0) & on_backing]
            groups = first.groupby(
                [
                    np.round(np.log10(first["intensity"]) / 0.04),
                    np.round(np.log10(first["attainable_ops_per_s"]) / 0.04),
                ],
                sort=False,
            )
            _place_labels(
                ax,
                [
                    (float(g["intensity"].median()), float(g["attainable_ops_per_s"].median()), _role_label(g["op"]))
                    for _, g in groups
                ],
                boxes,
            )
        _label_diagonals(ax, machines, colors, xlim, ylim, boxes)
        ax.set_xlabel(f"arithmetic intensity (ops/byte of {'/'.join(sorted(set(backing.values())))} traffic)")
        ax.set_ylabel("performance (ops/s; ops = 2·MACs, vector ops)")
        ax.yaxis.set_major_formatter(EngFormatter(unit="", sep=" "))
        for axis in (ax.xaxis, ax.yaxis):  # decades only: minor ticks over 8+ decades are clutter (and slow)
            axis.set_major_locator(LogLocator(base=10, numticks=30))
            axis.set_minor_locator(NullLocator())
        ax.grid(True, which="major", lw=0.3, alpha=0.4)
        if title:
            ax.set_title(title)
        handles = [Line2D([], [], color=c, lw=1.5, label=n) for c, n in zip(colors, names)]
        kinds = [k for k in KIND_MARKERS if k in set(ops["kind"])]
        handles += [Line2D([], [], ls="", marker=KIND_MARKERS[k], color="0.3", label=k) for k in kinds]
        handles += [
            Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", label="roofline bound"),
            Line2D([], [], ls="", marker="o", color="0.3", label="attained (cost model)"),
        ]
        ceilings = _drawn_ceilings(machines)  # a legend entry only for a line the reader can find
        for kind, label in (("attention", "attention roof (KV operand)"), ("elementwise", "vector roof")):
            if kind in ceilings:
                handles.append(Line2D([], [], color="0.3", ls=CEILING_STYLE[kind], label=label))
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            borderaxespad=0,
            title=_shared_precision(machines) or None,
            alignment="left",
        )
        if path is not None:
            save_figure(fig.canvas.figure, path)  # the whole figure (an Axes given in a SubFigure has no savefig)
    return fig
