"""The replay figures (hwsim.serve.plots): per-iteration quantities drawn as what they are, values held for
an iteration's duration and zero while the engine idles."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hwsim.serve.plots import held_steps, plot_timeline  # noqa: E402


def test_held_steps_drop_to_zero_in_idle_gaps():
    # iterations at 0-1 s and 1-2 s back to back, then idle until 5 s, then one at 5-5.5 s
    x, y = held_steps(np.array([0.0, 1.0, 5.0]), np.array([1.0, 1.0, 0.5]), np.array([3.0, 4.0, 2.0]))
    assert x.tolist() == [0.0, 1.0, 2.0, 5.0, 5.5]
    assert y.tolist() == [3.0, 4.0, 0.0, 2.0, 0.0]


def test_held_steps_without_gaps_add_only_the_end():
    x, y = held_steps(np.array([0.0, 0.5]), np.array([0.5, 0.25]), np.array([1.0, 2.0]))
    assert x.tolist() == [0.0, 0.5, 0.75] and y.tolist() == [1.0, 2.0, 0.0]


def test_timeline_lines_are_steps_and_the_cache_axis_fits_its_peak(tmp_path):
    it = pd.DataFrame(
        {
            "start_s": [0.0, 0.1, 3.0],
            "seconds": [0.1, 0.1, 0.1],
            "seqs": [1, 2, 1],
            "waiting": [0, 0, 0],
            "prefill_tokens": [500, 0, 200],
            "decode_tokens": [0, 2, 0],
            "kv_blocks_used": [30, 32, 13],
        }
    )
    import matplotlib.pyplot as plt

    captured = []
    real_close = plt.close
    plt.close = lambda fig=None: captured.append(fig)  # keep the figure to inspect it
    try:
        plot_timeline(it, 1000, tmp_path / "t.png")
    finally:
        plt.close = real_close
    fig = captured[0]
    seqs = fig.axes[0].lines[0]
    assert seqs.get_drawstyle() == "steps-post"
    assert list(seqs.get_xdata()) == [0.0, 0.1, 0.2, 3.0, 3.1] and list(seqs.get_ydata()) == [1, 2, 0, 1, 0]
    assert fig.axes[2].get_ylim() == (0.0, 5.0)  # peak 3.2% of the cache: not a line on a 0-105% axis
    assert (tmp_path / "t.png").stat().st_size > 0
    # the legends sit above their panels, never over the data ('best' put the middle one on the prefill spikes)
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        legend, box = ax.get_legend(), ax.get_window_extent()
        assert legend is not None and legend.get_window_extent().y0 >= box.y1 - 1  # 1 px: rounding
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["prefill tokens", "decode tokens"]
    real_close(fig)
