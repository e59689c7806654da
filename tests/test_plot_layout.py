"""Multi-panel Pareto figures lay out without overlap at every panel count: no two texts (titles, axis and
tick labels, the legend) overlap on the drawn figure, and none is cut off at its edge."""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hwsim.pareto import front_mask, parse_objectives, plot_front  # noqa: E402
from hwsim.plotting import wrap_to  # noqa: E402


def _texts(fig):
    """(name, text, pixel box) of every drawn text: figure titles, each panel's title, labels and the tick labels
    inside its view, and each legend as one box."""
    r = fig.canvas.get_renderer()
    # fig.texts: the suptitle and the shared x and y labels too
    out = [("figure", t.get_text(), t.get_window_extent(r)) for t in fig.texts if t.get_text()]
    for i, a in enumerate(ax for ax in fig.axes if ax.get_visible()):
        for name, t in (("title", a.title), ("xlabel", a.xaxis.label), ("ylabel", a.yaxis.label)):
            if t.get_text():
                out.append((f"panel {i} {name}", t.get_text(), t.get_window_extent(r)))
        for axis in (a.xaxis, a.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for loc, t in zip(axis.get_majorticklocs(), axis.get_ticklabels(), strict=True):
                if t.get_text() and lo - 1e-9 * abs(lo) <= loc <= hi + 1e-9 * abs(hi):
                    out.append((f"panel {i} tick", t.get_text(), t.get_window_extent(r)))
    for legend in [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend())]:
        out.append(("legend", "", legend.get_window_extent(r)))
    return out


def layout_problems(fig):
    fig.canvas.draw()
    texts = _texts(fig)
    edge = fig.bbox
    problems = [
        f"cut off: {n} {s!r}"
        for n, s, b in texts
        if b.x0 < edge.x0 - 1 or b.y0 < edge.y0 - 1 or b.x1 > edge.x1 + 1 or b.y1 > edge.y1 + 1
    ]
    for (n1, s1, b1), (n2, s2, b2) in itertools.combinations(texts, 2):
        if min(b1.x1, b2.x1) - max(b1.x0, b2.x0) > 0.5 and min(b1.y1, b2.y1) - max(b1.y0, b2.y0) > 0.5:
            problems.append(f"overlap: {n1} {s1!r} / {n2} {s2!r}")
    return problems


def _groups(n, decades, rows=30, seed=0):
    """n workload groups whose titles are long (four differing columns); x spans `decades`, y three."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n), rows)
    return pd.DataFrame(
        {
            "model": [f"llama-3.1-8b-instruct-v{k}" for k in g],
            "phase": np.where(g % 2, "decode", "prefill"),
            "batch": 2**g,
            "context": 4096 * (g + 1),
            "energy_per_token_j": 10 ** rng.uniform(-4, -4 + decades, n * rows),
            "tokens_per_s": 10 ** rng.uniform(0, 3, n * rows),
            "design": rng.choice(["bitmod", "systolic", "lut-tensor-core", "u280"], n * rows),
            "memory.dram.bandwidth_B_per_cycle": rng.choice([16.0, 32.0, 64.0, np.nan], n * rows),
        }
    )


OBJS = parse_objectives("energy_per_token_j:min,tokens_per_s:max")
BY = ["model", "phase", "batch", "context"]


BANDWIDTH = "memory.dram.bandwidth_B_per_cycle"


@pytest.mark.parametrize(
    "panels, color_by, decades",
    [(1, BANDWIDTH, 2.5), (2, "design", 4), (3, BANDWIDTH, 2), (4, "design", 2.5), (6, BANDWIDTH, 4), (8, "design", 3)],
)
def test_no_text_overlaps_at_any_panel_count(panels, color_by, decades):
    """Before: from two panels on, these titles ran into each other and the legend, the repeated y labels ran
    past their panels into the title above, a long legend title squeezed the panels until x labels met, and
    2–3 decades on a narrow panel labelled at 1-2-5 ran tick labels together ('0.0010.002')."""
    df = _groups(panels, decades)
    fig = plot_front(df, front_mask(df, OBJS, by=BY), *OBJS, by=BY, color_by=color_by, title="a study name")
    shown = [a for a in fig.axes if a.get_visible()]
    assert len(shown) == min(panels, 6)
    assert layout_problems(fig) == []
    if panels > 1:  # every panel's title still names its group, whole
        assert shown[-1].get_title().replace("\n", " ") == (
            f"model=llama-3.1-8b-instruct-v{len(shown) - 1}, phase={'decode' if len(shown) % 2 == 0 else 'prefill'}, "
            f"batch={2 ** (len(shown) - 1)}, context={4096 * len(shown)}"
        )
    plt.close(fig)


def test_wrap_to_breaks_at_commas_first_and_keeps_fitting_text():
    fig = plt.figure(figsize=(3, 2))
    r = fig.canvas.get_renderer()
    t = fig.text(0, 0, "throughput (tokens/s), higher is better", fontsize=8)
    whole = t.get_window_extent(r).width
    wrap_to(t, whole + 1, r)
    assert t.get_text() == "throughput (tokens/s), higher is better"
    wrap_to(t, whole * 0.7, r)
    assert t.get_text() == "throughput (tokens/s),\nhigher is better"
    assert t.get_window_extent(r).width <= whole * 0.7
    t.set_text("a, b")
    wrap_to(t, 1, r)  # narrower than any word: one word per line, none cut
    assert t.get_text() == "a,\nb"
    plt.close(fig)


@pytest.mark.parametrize("panels", [1, 3])
def test_a_long_legend_fits_the_figure(panels):
    """Fourteen long values (serving `requests` streams): the legend was cut off at the figure's bottom and
    a single panel's axes collapsed to nothing (constrained layout gave up); the figure now grows, in two columns."""
    df = _groups(panels, 3)
    streams = [f"poisson(rate={r}, n=20, in=lognormal:256:0.5, out=lognormal:32:0.5, seed=0)" for r in range(14)]
    df["requests"] = np.random.default_rng(0).choice(streams, len(df))
    fig = plot_front(df, front_mask(df, OBJS, by=BY), *OBJS, by=BY, color_by="requests")
    assert layout_problems(fig) == []
    assert all(a.get_position().height > 0.3 for a in fig.axes if a.get_visible())  # panels keep a real size
    plt.close(fig)


@pytest.mark.parametrize("inverted", [False, True])
def test_fit_log_ticks_thins_crowded_labels_only(inverted):
    from hwsim.plotting import fit_log_ticks, readable_log_ticks

    fig, (narrow, wide) = plt.subplots(1, 2, figsize=(9, 2), width_ratios=[1, 6], layout="constrained")
    for a in (narrow, wide):
        a.set_xscale("log")
        a.set_xlim(1e-3, 3e-1) if not inverted else a.set_xlim(3e-1, 1e-3)
        readable_log_ticks(a)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for a in (narrow, wide):
        fit_log_ticks(a, r)
    assert len(wide.get_xticks()) > len(narrow.get_xticks())  # the wide axis keeps 1-2-5, the narrow one thins
    assert [p for p in layout_problems(fig) if "tick" in p] == []
    plt.close(fig)
