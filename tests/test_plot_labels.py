"""Figures a reader can use (issue 15): axis labels in words with units, readable log ticks, no silently
dropped legend entries."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hwsim.pareto import front_mask, parse_objectives, plot_front  # noqa: E402
from hwsim.plotting import axis_label  # noqa: E402


def test_axis_labels_in_words():
    assert axis_label("tokens_per_s", "max") == "throughput (tokens/s), higher is better"
    assert axis_label("area_mm2") == "area (mm²)"
    assert axis_label("memory.dram.bandwidth_B_per_cycle") == "memory.dram.bandwidth (B/cycle)"
    assert axis_label("clock_Hz") == "clock (Hz)"
    assert axis_label("some_metric") == "some metric"
    # the column families of serving, FPGA and per-level results
    assert axis_label("tpot_p99_s", "min") == "time per output token, p99 (s), lower is better"
    assert axis_label("ttft_mean_s") == "time to first token, mean (s)"
    assert axis_label("e2e_p50_s") == "end-to-end latency, median (s)"
    assert axis_label("util_lut") == "LUT utilisation (fraction)"
    assert axis_label("util_weights") == "weights utilisation (fraction)"
    assert axis_label("bytes_uram_buffer") == "uram buffer traffic (bytes)"
    assert axis_label("energy_hbm_j") == "hbm energy (J)"
    assert axis_label("tokens_per_s_per_usd") == "throughput per dollar (tokens/s/US$)"


def test_front_plot_labels_ticks_and_legend():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "energy_j": rng.uniform(0.3, 0.9, n),
            "tokens_per_s": rng.uniform(1, 100, n),
            "design": [f"d{i % 21}" for i in range(n)],
        }
    )
    objs = parse_objectives("energy_j:min,tokens_per_s:max")
    fig = plot_front(df, front_mask(df, objs), *objs, color_by="design")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "energy per step (J), lower is better"  # a label longer than its axis wraps
    assert ax.get_ylabel().replace("\n", " ") == "throughput (tokens/s), higher is better"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    # 18 shown (each of the palette's colours once, in natural order), the rest counted
    assert len(labels) == 19 and labels[:3] == ["d0", "d1", "d2"] and labels[-2] == "d17"
    assert labels[-1].replace("\n", " ") == "… 3 more design values (colours repeat)"
    fig.canvas.draw()
    if ax.get_yscale() == "log":  # two decades: numbers at 1-2-5, not only at powers of ten
        ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert {"2", "5", "20", "50"} & set(ticks)


def test_cycle_timeline_of_a_whole_model_is_per_layer():
    from hwsim.cycle import evaluate
    from hwsim.cycle.timeline import aggregate
    from hwsim.workload import trace

    from hwsim.arch import load_arch

    table = evaluate(load_arch("bitmod"), trace("llama-2-7b", "decode"), None)
    per_layer = aggregate(table.timeline, "layer")
    assert per_layer["op"].nunique() == 32 + 3  # 32 layers + embed_tokens, final_norm, lm_head
    # time-weighted busy is preserved by the aggregation
    w = table.timeline["end"] - table.timeline["start"]
    for res in per_layer["resource"].unique():
        a = (table.timeline["busy"] * w)[table.timeline["resource"] == res].sum()
        s = per_layer[per_layer["resource"] == res]
        assert (s["busy"] * (s["end"] - s["start"])).sum() == pytest.approx(a, rel=1e-9)
    ax = table.plot()
    assert "per layer" in ax.get_title() and ax.get_xlabel() == "time (cycles)"


def test_roofline_legend_names_the_shared_precision_and_only_drawn_roofs():
    """Parts of the precision every series shares leave the series labels but not the figure: they title the
    legend. A ceiling equal to the linear roof is not drawn, so it gets no legend entry either."""
    from hwsim.roofline import roofline
    from hwsim.engine import Precision
    from hwsim.workload import trace

    tr = trace("llama-2-7b", "decode")
    fig = roofline(["h100-sxm", "a100-sxm"], tr, Precision(weights="int4_g128")).plot()
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == "W int4_g128 / A fp16 / KV fp16"
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:2] == ["h100-sxm", "a100-sxm"] and "attention roof (KV operand)" not in labels
    fig = roofline("bitmod", tr, [Precision(weights="int4_g128"), Precision(weights="int8")]).plot()
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == "A fp16 / KV fp16"
    assert "attention roof (KV operand)" in [t.get_text() for t in legend.get_texts()]  # 1.02 Top/s, drawn


def test_front_plot_keeps_a_few_dominated_designs_visible():
    """all-families has 40 rows and a family with no front point: its points must be seen, not 15% ghosts."""
    df = pd.DataFrame(
        {"energy_j": [1.0, 2.0, 3.0, 4.0], "tokens_per_s": [4.0, 3.0, 2.0, 1.0], "family": ["a", "a", "b", "b"]}
    )
    objs = parse_objectives("energy_j:min,tokens_per_s:min")
    fig = plot_front(df, front_mask(df, objs), *objs, color_by="family")
    alphas = [c.get_alpha() for c in fig.axes[0].collections if c.get_alpha() is not None]
    assert alphas and min(alphas) >= 0.5


def test_memory_roof_labels_do_not_touch():
    """Two nearly equal memory roofs (bitmod's dram 32 GB/s, tpu-like's 34 GB/s) are named one after the other
    along their diagonal: their rendered labels must not overlap (they read 'dram 32 GB/sdram 34 GB/s' when the
    placement's box was exactly the estimated text width)."""
    from hwsim.core.precision import Precision
    from hwsim.roofline import roofline
    from hwsim.roofline.plot import plot_roofline
    from hwsim.workload import trace

    rl = roofline(
        ["bitmod", "tpu-like", "lut-tensor-core"], trace("llama-3-8b", "decode"), Precision(weights="int4_g128")
    )
    fig = plot_roofline(rl)
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if "B/s" in t.get_text()]
    assert len(boxes) == 3  # hbm 2.04 TB/s, dram 32 GB/s, dram 34 GB/s
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
