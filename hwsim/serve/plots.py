"""Figures of a replay: TTFT/TPOT/E2E distributions and the per-iteration timeline."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hwsim.plotting import save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _bins(x: np.ndarray) -> int:
    """40 bins, or one where the values differ only by float rounding (two requests with the same TPOT
    to 1e-14 ms): numpy cannot cut a range narrower than 40 representable steps into 40 bins."""
    return 40 if len(x) and np.ptp(x) > 1e-9 * np.abs(x).max() else 1


def plot_distributions(req: pd.DataFrame, path: str | os.PathLike[str], title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, col, label in zip(axes, ("ttft_s", "tpot_s", "e2e_s"), ("TTFT", "TPOT", "end-to-end latency")):
        x = req[col].to_numpy() * 1e3
        x = x[np.isfinite(x)]
        ax.hist(x, bins=_bins(x), color="#4477aa")
        for p, style in ((50, "-"), (99, "--")):
            if len(x):
                v = np.percentile(x, p)
                shown = f"{v:,.0f}" if v >= 100 else f"{v:.3g}"  # 1,530 ms, not 1.53e+03 ms
                ax.axvline(v, color="k", ls=style, lw=1, label=f"p{p} {shown} ms")
        ax.set_xlabel(f"{label} (ms)")
        ax.set_ylabel("requests")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def held_steps(start: np.ndarray, seconds: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-iteration quantity as a step line (drawn steps-post): each iteration's value holds from its start
    to its end, and drops to 0 where the engine idles before the next iteration (and after the last): a line
    through the iterations' starts alone slants across idle gaps, as if the value ramped."""
    start, values = np.asarray(start, dtype=np.float64), np.asarray(values, dtype=np.float64)
    end = start + np.asarray(seconds, dtype=np.float64)
    idle = np.append(start[1:] > end[:-1], True)  # an idle gap after this iteration (and the run's end)
    at = np.arange(len(start)) + np.concatenate([[0], np.cumsum(idle)[:-1]])  # each start's place
    x, y = np.empty(len(start) + int(idle.sum())), np.zeros(len(start) + int(idle.sum()))
    x[at], y[at] = start, values
    x[at[idle] + 1] = end[idle]
    return x, y


def _legend_above(ax: Axes) -> None:
    """The panel's legend in one row just above it, outside the data: 'best' inside the axes lands on the
    prefill spikes, which fill a serving timeline's whole width."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles,
        labels,
        fontsize=8,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=len(labels),
        frameon=False,
        borderaxespad=0.1,
        handlelength=1.5,
        columnspacing=1.2,
    )


def plot_timeline(it: pd.DataFrame, capacity_blocks: int, path: str | os.PathLike[str], title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 6.5), sharex=True)
    # data-parallel replicas (hwsim.serve.replicas) each get their own lines: interleaved they would zigzag
    groups = [g for _, g in it.groupby("replica", sort=True)] if "replica" in it.columns else [it]
    lines: list[tuple[int, str, float, str, str | None, float]] = [  # (panel, column, width, colour, label, scale)
        (0, "seqs", 0.8, "C0", "running sequences", 1.0),
        (0, "waiting", 0.8, "C1", "waiting", 1.0),
        (1, "prefill_tokens", 0.6, "C0", "prefill tokens", 1.0),
        (1, "decode_tokens", 0.6, "C1", "decode tokens", 1.0),
        (2, "kv_blocks_used", 0.8, "#aa3377", None, 100 / capacity_blocks),
    ]
    if "cached_tokens" in it.columns and it["cached_tokens"].any():  # prompt tokens reused, not computed
        lines.insert(2, (1, "cached_tokens", 0.6, "C2", "prefix-cache hits (not computed)", 1.0))  # under the rest
    for r, g in enumerate(groups):
        start, seconds = g["start_s"].to_numpy(), g["seconds"].to_numpy()
        for panel, col, lw, color, label, scale in lines:
            x, y = held_steps(start, seconds, g[col].to_numpy() * scale)
            axes[panel].plot(x, y, drawstyle="steps-post", lw=lw, color=color, label=label if r == 0 else None)
    if len(groups) > 1:
        title = f"{title} · {len(groups)} replicas, one line each"
    axes[0].set_ylabel("sequences" + (" per replica" if len(groups) > 1 else ""))
    _legend_above(axes[0])
    axes[1].set_ylabel("tokens / iteration")
    axes[1].set_yscale("symlog", linthresh=10)  # decode tokens (tens) beside prefill chunks (thousands)
    _legend_above(axes[1])
    axes[2].set_ylabel("KV cache used (%)")
    peak = 100 * float(np.max(it["kv_blocks_used"].to_numpy(), initial=0)) / capacity_blocks
    axes[2].set_ylim(0, min(105.0, max(5.0, 1.25 * peak)))  # a cache a few percent full stays readable
    axes[2].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
