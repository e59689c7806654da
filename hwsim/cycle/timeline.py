"""Per-resource utilisation timeline: one row per (op, resource, bin) with the busy fraction,
and a plot helper."""
from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["resource", "start", "end", "busy", "op"]


def build_timeline(names, cycles, sims, n_bins, backing_name) -> pd.DataFrame:
    """Ops back to back; each op's span cut into n_bins bins; busy = busy cycles / bin width.
    The tile families' DMA channel is named after the backing store."""
    parts = []
    t0 = 0.0
    for name, cyc, sim in zip(names, cycles, sims):
        edges = t0 + np.linspace(0.0, sim.cycles, n_bins + 1)
        width = max(sim.cycles / n_bins, 1e-12)
        for res, busy in sim.bins.items():
            label = backing_name if res == "dma" else res
            parts.append(pd.DataFrame({"resource": label, "start": edges[:-1], "end": edges[1:],
                                       "busy": np.clip(np.asarray(busy) / width, 0.0, 1.0), "op": name}))
        t0 += float(cyc)
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def utilisation(timeline: pd.DataFrame) -> pd.Series:
    """Time-weighted busy fraction of every resource over the whole run."""
    w = timeline["end"] - timeline["start"]
    span = timeline["end"].max() - timeline["start"].min()
    return (timeline["busy"] * w).groupby(timeline["resource"]).sum() / span


def plot_timeline(timeline: pd.DataFrame, ax=None, clock_hz=None):
    """Step plot of busy fraction per resource (one row of the axes per resource)."""
    import matplotlib.pyplot as plt

    resources = sorted(timeline["resource"].unique())
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1 + 0.6 * len(resources)))
    scale = 1.0 / clock_hz if clock_hz else 1.0
    for j, res in enumerate(resources):
        t = timeline[timeline["resource"] == res].sort_values("start")
        x = np.append(t["start"].to_numpy(), t["end"].to_numpy()[-1:]) * scale
        y = np.append(t["busy"].to_numpy(), t["busy"].to_numpy()[-1:])
        ax.step(x, j + 0.9 * y, where="post", label=res)
        ax.fill_between(x, j, j + 0.9 * y, step="post", alpha=0.3)
    ax.set_yticks(np.arange(len(resources)) + 0.45)
    ax.set_yticklabels(resources)
    ax.set_xlabel("seconds" if clock_hz else "cycles")
    ax.set_title("busy fraction per resource")
    return ax
