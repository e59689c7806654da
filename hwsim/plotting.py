"""Writing figures: PNG/PDF/SVG, atomically, with one-line errors on a bad path (shared by every plot)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from hwsim.errors import HwsimError
from hwsim.fileio import atomic_write, prepare_output

if TYPE_CHECKING:  # matplotlib is imported lazily (cold-start time); only its types here
    from matplotlib.axes import Axes
    from matplotlib.axis import XAxis, YAxis
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure
    from matplotlib.text import Text


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
    "total_area_mm2": "area of all devices (mm²)",
    "tokens_per_joule": "tokens per joule",
    "tokens_per_s_per_usd": "throughput per dollar (tokens/s/US$)",
    "price_usd": "price (US$)",
    "input_tokens_per_s": "prompt throughput (tokens/s)",
    "requests_per_s": "requests per second",
    "kv_peak_fraction": "peak KV cache use (fraction of blocks)",
}
# serving latencies (hwsim.serve.metrics: <metric>_<statistic>_s) in words
_LATENCIES = {"ttft": "time to first token", "tpot": "time per output token", "e2e": "end-to-end latency"}
_STATISTICS = {"mean": "mean", "p50": "median", "p90": "p90", "p99": "p99"}
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


def _derived_label(column: str) -> str | None:
    """Labels of the column families: serving latencies ('tpot_p99_s' → 'time per output token, p99 (s)'),
    FPGA utilisations ('util_lut' → 'LUT utilisation (fraction)'), traffic and energy per
    memory level ('bytes_hbm' → 'hbm traffic (bytes)', 'energy_hbm_j' → 'hbm energy (J)')."""
    parts = column.split("_")
    if len(parts) == 3 and parts[0] in _LATENCIES and parts[1] in _STATISTICS and parts[2] == "s":
        return f"{_LATENCIES[parts[0]]}, {_STATISTICS[parts[1]]} (s)"
    if parts[0] == "util" and len(parts) > 1:
        what = " ".join(parts[1:])
        return f"{what.upper() if len(what) <= 4 else what} utilisation (fraction)"
    if parts[0] == "bytes" and len(parts) > 1:
        return f"{' '.join(parts[1:])} traffic (bytes)"
    if parts[0] == "energy" and parts[-1] == "j" and len(parts) > 2:
        return f"{' '.join(parts[1:-1])} energy (J)"
    return None


def axis_label(column: str, direction: str | None = None) -> str:
    """'tokens_per_s' → 'throughput (tokens/s)'; a swept 'memory.dram.bandwidth_B_per_cycle' →
    'memory.dram.bandwidth (B/cycle)'; `direction` 'max'/'min' adds 'higher/lower is better'."""
    text = LABELS.get(column) or _derived_label(column)
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


def _length(text: Text, renderer: RendererBase) -> float:
    """Drawn length of `text` along its direction, in pixels (a vertical label: its height)."""
    box = text.get_window_extent(renderer)
    return box.height if round(text.get_rotation()) % 180 == 90 else box.width


def wrap_to(text: Text, length: float, renderer: RendererBase) -> None:
    """Break `text` into lines no longer than `length` pixels: at ', ' and '; ' first ('phase=decode,' /
    'batch=8'), then at spaces; a single word longer than that stays whole. Text that fits is left alone."""
    import re

    whole = text.get_text()

    def fits(line: str) -> bool:
        text.set_text(line)
        return _length(text, renderer) <= length

    def pack(pieces: list[str]) -> list[str]:
        lines: list[str] = []
        for piece in filter(None, pieces):
            if lines and fits(lines[-1] + piece):
                lines[-1] += piece
            else:
                lines.append(piece)
        return lines

    if not whole or "\n" in whole or fits(whole):
        text.set_text(whole)
        return
    lines = []
    for line in pack(re.split(r"(?<=[,;] )", whole)):
        lines += [line] if fits(line) else pack(re.split(r"(?<= )", line))
    text.set_text("\n".join(line.rstrip() for line in lines))


_LOG_SUBS = ((1.0, 2.0, 5.0), (1.0, 3.0), (1.0,))  # labelled ticks per decade, densest first


def fit_log_ticks(ax: Axes, renderer: RendererBase) -> None:
    """Thin the 1-2-5 labels of `readable_log_ticks` where the axes are too short for them to stand apart
    ('0.0010.002' on a narrow panel): 1-3 per decade, else one. Call once the axes have their final size."""
    from matplotlib.ticker import LogLocator

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale != "log" or not _crowded(ax, axis, renderer):
            continue
        for subs in _LOG_SUBS[1:]:
            axis.set_major_locator(LogLocator(base=10, subs=subs))
            if not _crowded(ax, axis, renderer):
                break


def _crowded(ax: Axes, axis: XAxis | YAxis, renderer: RendererBase) -> bool:
    """Whether two neighbouring major tick labels in view would touch (a third of a character apart at least)."""
    lo, hi = sorted(axis.get_view_interval())
    locs = [v for v in axis.get_majorticklocs() if lo <= v <= hi]
    if len(locs) < 2:
        return False
    formatter = axis.get_major_formatter()
    prop = axis.get_major_ticks()[0].label1.get_fontproperties()
    sizes = [renderer.get_text_width_height_descent(formatter(v, i), prop, ismath=False) for i, v in enumerate(locs)]
    horizontal = axis is ax.xaxis
    other = ax.get_ylim()[0] if horizontal else ax.get_xlim()[0]
    points = np.column_stack([locs, np.full(len(locs), other)] if horizontal else [np.full(len(locs), other), locs])
    centres = ax.transData.transform(points)[
        :, 0 if horizontal else 1
    ]  # in the order of locs (an axis may be inverted)
    extent = np.array([w if horizontal else h for w, h, _ in sizes])
    gap = float(np.asarray(renderer.points_to_pixels(prop.get_size_in_points()))) / 3
    return bool((np.abs(np.diff(centres)) < (extent[:-1] + extent[1:]) / 2 + gap).any())
