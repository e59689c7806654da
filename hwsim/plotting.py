"""Writing figures: PNG/PDF/SVG, atomically, with one-line errors on a bad path (shared by every plot)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from hwsim.errors import HwsimError
from hwsim.fileio import atomic_write, prepare_output

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

if TYPE_CHECKING:  # matplotlib is imported lazily (cold-start time); only its types here
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def headless_backend() -> None:
    """Draw off-screen (Agg) in a terminal or script; inside Jupyter/IPython leave the backend alone, so that
    notebooks keep showing figures inline after a sweep or a plot has written a file."""
    import sys

    if "IPython" in sys.modules or "ipykernel" in sys.modules:
        return
    import matplotlib

    matplotlib.use("Agg", force=False)


def check_plot_path(path: str | os.PathLike[str]) -> None:
    """Fail before any work when a plot path cannot be written (extension, folder)."""
    _writable(os.fspath(path))


def _writable(path: str) -> str:
    """The extension of a plot path that can be written, else one-line errors naming `path`."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".pdf", ".svg"):
        raise HwsimError("plot file must end in .png, .pdf or .svg", file=path, field="path")
    prepare_output(path, field="path")
    return ext


# metadata that changes from run to run (the time of saving) or with the matplotlib version, left out so that the
# same plot gives the same bytes
_NO_STAMPS = {".png": {"Software": None}, ".pdf": {"CreationDate": None}, ".svg": {"Date": None}}


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Save via a temporary file and os.replace, without time stamps; SVG element ids from a fixed salt (else
    random per process), so that the same plot gives the same bytes."""
    import matplotlib

    path = os.fspath(path)
    ext = _writable(path)

    def write(tmp: str) -> None:
        with matplotlib.rc_context({"svg.hashsalt": "hwsim"}):
            fig.savefig(tmp, dpi=300, metadata=_NO_STAMPS[ext])

    atomic_write(path, write, suffix=ext, what=" plot", field="path")  # suffix last: savefig picks the format by it


# result columns → axis labels in words, with units
LABELS = {
    "tokens_per_s": "throughput (tokens/s)",
    "seconds": "latency per step (s)",
    "cycles": "cycles per step",
    "energy_j": "energy per step (J)",
    "energy_per_token_j": "energy per token (J)",
    "power_w": "power (W)",
    "area_mm2": "area (mm²)",
    "footprint_bytes": "memory footprint (bytes)",
    "acc_sqnr_db": "SQNR (dB)",
    "acc_mse": "quantization MSE",
    "acc_max_abs_err": "max abs. quantization error",
    "acc_cosine": "cosine vs fp32",
    "bytes_dram": "DRAM traffic (bytes)",
    "compute_cycles": "compute cycles",
    "memory_cycles": "memory cycles",
}
_UNIT_SUFFIXES = {
    "_j": "J",
    "_s": "s",
    "_w": "W",
    "_mm2": "mm²",
    "_db": "dB",
    "_bytes": "bytes",
    "_hz": "Hz",
    "_Hz": "Hz",
    "_B": "B",
    "_B_per_cycle": "B/cycle",
    "_B_per_s": "B/s",
    "_J_per_B": "J/B",
    "_m2": "m²",
    "_OPS": "op/s",
}


def axis_label(column: str, direction: str | None = None) -> str:
    """'tokens_per_s' → 'throughput (tokens/s)'; a swept 'memory.dram.bandwidth_B_per_cycle' →
    'memory.dram.bandwidth (B/cycle)'; `direction` 'max'/'min' adds 'higher/lower is better'."""
    text = LABELS.get(column)
    if text is None:
        for suffix in sorted(_UNIT_SUFFIXES, key=len, reverse=True):
            if column.endswith(suffix) and len(column) > len(suffix):
                text = f"{column[: -len(suffix)].replace('_', ' ')} ({_UNIT_SUFFIXES[suffix]})"
                break
        else:
            text = column.replace("_", " ")
    if direction:
        text += ", higher is better" if direction == "max" else ", lower is better"
    return text


def readable_log_ticks(ax: Axes) -> None:
    """Log axes get labelled ticks at 1, 2 and 5 per decade in plain numbers ('0.2', '50'), so an axis spanning
    less than a decade still has numbers on it; wider axes keep one label per decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale != "log":
            continue
        lo, hi = sorted(axis.get_view_interval())
        decades = np.log10(hi / lo) if lo > 0 else np.inf
        subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
