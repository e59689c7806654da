"""Figures of a replay: TTFT/TPOT/E2E distributions and the per-iteration timeline."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from hwsim.plotting import save_figure


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


def plot_timeline(it: pd.DataFrame, capacity_blocks: int, path: str | os.PathLike[str], title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 6.5), sharex=True)
    # data-parallel replicas (hwsim.serve.replicas) each get their own lines: interleaved they would zigzag
    groups = [g for _, g in it.groupby("replica", sort=True)] if "replica" in it.columns else [it]
    for r, g in enumerate(groups):
        t = g["start_s"].to_numpy()
        first = r == 0
        axes[0].plot(t, g["seqs"], lw=0.8, color="C0", label="running sequences" if first else None)
        axes[0].plot(t, g["waiting"], lw=0.8, color="C1", label="waiting" if first else None)
        axes[1].plot(t, g["prefill_tokens"], lw=0.6, color="C0", label="prefill tokens" if first else None)
        axes[1].plot(t, g["decode_tokens"], lw=0.6, color="C1", label="decode tokens" if first else None)
        axes[2].plot(t, 100 * g["kv_blocks_used"] / capacity_blocks, lw=0.8, color="#aa3377")
    if len(groups) > 1:
        title = f"{title} · {len(groups)} replicas, one line each"
    axes[0].set_ylabel("sequences" + (" per replica" if len(groups) > 1 else ""))
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("tokens / iteration")
    axes[1].set_yscale("symlog", linthresh=10)  # decode tokens (tens) beside prefill chunks (thousands)
    axes[1].legend(fontsize=8)
    axes[2].set_ylabel("KV cache used (%)")
    axes[2].set_ylim(0, 105)
    axes[2].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
