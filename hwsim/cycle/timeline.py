"""Per-resource utilisation timeline: one row per (op, resource, bin) with the busy fraction,
and a plot helper."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable

    from matplotlib.axes import Axes

    from hwsim.sim.models import OpSim

COLUMNS = ["resource", "start", "end", "busy", "op"]


def build_timeline(
    names: Iterable[str], cycles: Iterable[float], sims: Iterable[OpSim], n_bins: int, backing_name: str
) -> pd.DataFrame:
    """Ops back to back; each op's span cut into n_bins bins; busy = busy cycles / bin width.
    The tile families' DMA channel is named after the backing store."""
    parts = []
    t0 = 0.0
    for name, cyc, sim in zip(names, cycles, sims):
        edges = t0 + np.linspace(0.0, sim.cycles, n_bins + 1)
        width = max(sim.cycles / n_bins, 1e-12)
        for res, busy in sim.bins.items():
            label = backing_name if res == "dma" else res
            parts.append(
                pd.DataFrame(
                    {
                        "resource": label,
                        "start": edges[:-1],
                        "end": edges[1:],
                        "busy": np.clip(np.asarray(busy) / width, 0.0, 1.0),
                        "op": name,
                    }
                )
            )
        t0 += float(cyc)
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def utilisation(timeline: pd.DataFrame) -> pd.Series:
    """Time-weighted busy fraction of every resource over the whole run."""
    w = timeline["end"] - timeline["start"]
    span = timeline["end"].max() - timeline["start"].min()
    return (timeline["busy"] * w).groupby(timeline["resource"]).sum() / span


def _group_of(op: str) -> str:
    """'layers.12.q_proj' → 'layer 12'; ops outside the blocks keep their name."""
    parts = str(op).split(".")
    return f"layer {parts[1]}" if parts[0] == "layers" and len(parts) > 2 and parts[1].isdigit() else str(op)


def aggregate(timeline: pd.DataFrame, by: str = "op") -> pd.DataFrame:
    """One segment per op (by='op') or per layer (by='layer') and resource: its span and time-weighted busy
    fraction, so a whole model's timeline stays readable."""
    t = timeline.assign(_w=timeline["end"] - timeline["start"])
    t["_g"] = t["op"].map(_group_of) if by == "layer" else t["op"].astype(str)
    t["_order"] = (t["_g"] != t["_g"].shift()).cumsum()  # consecutive runs: an op name may repeat later
    t["_bw"] = t["busy"] * t["_w"]
    g = t.groupby(["resource", "_order", "_g"], sort=False).agg(
        start=("start", "min"), end=("end", "max"), bw=("_bw", "sum")
    )
    g["busy"] = g["bw"] / (g["end"] - g["start"]).clip(lower=1e-12)
    g = g.reset_index().rename(columns={"_g": "op"})
    return g[COLUMNS]


def plot_timeline(
    timeline: pd.DataFrame, ax: Axes | None = None, clock_hz: float | None = None, by: str = "auto"
) -> Axes:
    """Busy fraction per resource (one row per resource), one flat segment per op or per layer with their
    boundaries drawn. by='auto' aggregates per op up to 40 ops and per layer beyond (a whole model)."""
    import matplotlib.pyplot as plt

    n_ops = timeline["op"].nunique()
    if by == "auto":
        by = "op" if n_ops <= 40 else "layer"
    seg = aggregate(timeline, by) if by in ("op", "layer") else timeline
    resources = sorted(seg["resource"].unique())
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.2 + 0.6 * len(resources)), layout="constrained")
    scale = 1.0 / clock_hz if clock_hz else 1.0
    for j, res in enumerate(resources):
        t = seg[seg["resource"] == res].sort_values("start")
        x = np.append(t["start"].to_numpy(), t["end"].to_numpy()[-1:]) * scale
        y = np.append(t["busy"].to_numpy(), t["busy"].to_numpy()[-1:])
        ax.step(x, j + 0.9 * y, where="post", label=res, linewidth=0.8)
        ax.fill_between(x, j, j + 0.9 * y, step="post", alpha=0.3)
    bounds = seg.drop_duplicates("start").sort_values("start")
    if len(bounds) <= 200:  # op/layer boundaries, and names where they fit
        for x0 in bounds["start"].to_numpy()[1:] * scale:
            ax.axvline(x0, color="0.7", linewidth=0.4, zorder=0)
        if len(bounds) <= 12:
            for _, r in bounds.iterrows():
                ax.annotate(
                    str(r["op"]),
                    ((r["start"] + r["end"]) / 2 * scale, len(resources)),
                    fontsize=6,
                    ha="center",
                    va="bottom",
                    annotation_clip=False,
                )
    ax.set_yticks(np.arange(len(resources)) + 0.45)
    ax.set_yticklabels(resources)
    ax.set_ylim(0, len(resources) + (0.35 if len(bounds) <= 12 else 0))
    from matplotlib.ticker import EngFormatter

    ax.set_xlabel("time" if clock_hz else "time (cycles)")
    ax.xaxis.set_major_formatter(EngFormatter(unit="s" if clock_hz else "", sep=" "))  # '100 M', not '1e8'

    unit = {"op": "per op", "layer": "per layer"}.get(by, "per bin")
    ax.set_title(f"busy fraction per resource, {unit} (0 = idle, bar height = busy)", fontsize=8)
    return ax
