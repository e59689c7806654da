"""Pareto filtering: equals brute force (hypothesis) incl. ties/duplicates/NaN, and hand-checked fronts."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hwsim.errors import HwsimError
from hwsim.pareto import brute_force_mask, front_mask, nan_rows, pareto_front, pareto_mask, parse_objectives


@st.composite
def tables(draw, max_dims=5):
    d = draw(st.integers(1, max_dims))
    n = draw(st.integers(0, 40))
    # a tiny value alphabet forces ties and exact duplicates; NaN rows must never be on the front
    values = draw(arrays(np.float64, (n, d), elements=st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.5, np.inf, np.nan])))
    maximize = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    return values, maximize


@settings(max_examples=400, deadline=None)
@given(tables())
def test_equals_brute_force(case):
    values, maximize = case
    assert np.array_equal(pareto_mask(values, maximize), brute_force_mask(values, maximize))


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 4), st.integers(0, 10_000))
def test_equals_brute_force_continuous(d, seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(300, d))
    v[:, -1] = -v[:, 0] + 0.1 * v[:, -1]  # anti-correlated: large fronts
    v[rng.integers(0, 300, 30)] = v[rng.integers(0, 300, 30)]  # duplicates
    assert np.array_equal(pareto_mask(v), brute_force_mask(v))


def test_two_d_hand_checked():
    v = np.array([[1, 5], [2, 3], [3, 3], [2, 3], [4, 1], [5, 0.5], [5, 1], [0.5, 9]])
    # (3,3) is dominated by (2,3); (5,1) by (4,1); both copies of (2,3) are kept
    assert pareto_mask(v).tolist() == [True, True, False, True, True, True, False, True]
    # maximising y flips the picture: (0.5, 9) dominates everything with x >= 0.5 and y <= 9
    assert pareto_mask(v, [False, True]).tolist() == [False, False, False, False, False, False, False, True]


def test_duplicates_all_kept_or_all_dropped():
    v = np.array([[1.0, 1.0, 1.0]] * 3 + [[2.0, 2.0, 2.0]] * 2 + [[0.0, 3.0, 1.0]])
    assert pareto_mask(v).tolist() == [True, True, True, False, False, True]


def test_nan_rows_neither_on_front_nor_dominating():
    v = np.array([[np.nan, 0.0], [1.0, 1.0], [2.0, 0.5]])
    assert pareto_mask(v).tolist() == [False, True, True]


def test_three_d_large_matches_block_algorithm():
    # 3-D (Fenwick sweep) and the N-D block loop must agree; a 4th constant column forces the N-D path
    rng = np.random.default_rng(1)
    v = rng.integers(0, 50, size=(20_000, 3)).astype(float)
    nd = np.column_stack([v, np.zeros(len(v))])
    assert np.array_equal(pareto_mask(v), pareto_mask(nd))


def test_front_of_simplex_is_everything():
    rng = np.random.default_rng(2)
    v = rng.dirichlet([1, 1, 1], size=5000)  # x+y+z = 1: nothing dominates anything
    assert pareto_mask(v).all()


def test_pareto_front_table_orders_and_keeps_columns():
    df = pd.DataFrame({"e": [3.0, 1.0, 2.0, 2.0], "t": [1.0, 3.0, 2.0, 2.5], "name": list("abcd")})
    front = pareto_front(df, "e:min,t:min")
    assert front["name"].tolist() == ["b", "c", "a"]
    front = pareto_front(df, "e:max,t:max")
    assert front["name"].tolist() == ["a", "d", "b"]


@pytest.mark.parametrize(
    "spec, msg",
    [
        ("e:up", "direction must be min or max"),
        ("", "expected"),
        ("e:min,e:max", "repeated"),
        (":min", "names no column"),
        ("tokens_per_s", "needs a direction: write .tokens_per_s:min. or .tokens_per_s:max."),
    ],
)
def test_bad_objectives(spec, msg):
    with pytest.raises(HwsimError, match=msg):
        parse_objectives(spec)


def test_unknown_and_non_numeric_columns():
    df = pd.DataFrame({"energy_j": [1.0], "name": ["x"]})
    with pytest.raises(HwsimError, match=r"unknown column 'energy'.*energy_j"):
        pareto_front(df, "energy:min")
    with pytest.raises(HwsimError, match="not numeric"):
        pareto_front(df, "name:min")


@settings(max_examples=150, deadline=None)
@given(tables(max_dims=3), st.data())
def test_front_per_group_equals_brute_force_within_each_group(case, data):
    values, maximize = case
    n, d = values.shape
    groups = data.draw(st.lists(st.sampled_from(["prefill", "decode", None]), min_size=n, max_size=n))
    batch = data.draw(st.lists(st.sampled_from([1, 8]), min_size=n, max_size=n))
    df = pd.DataFrame(values, columns=[f"o{j}" for j in range(d)]).assign(phase=groups, batch=batch)
    objs = [f"o{j}:{'max' if m else 'min'}" for j, m in enumerate(maximize)]
    finite = np.isfinite(values).any(axis=0).all()
    if n and not finite:  # an objective without a finite value is an error, not an empty front
        with pytest.raises(HwsimError, match="has no finite values"):
            front_mask(df, objs, by=["phase", "batch"])
        return
    mask = front_mask(df, objs, by=["phase", "batch"])
    expect = np.zeros(n, dtype=bool)
    for _, idx in df.groupby(["phase", "batch"], dropna=False).indices.items():  # None (NaN) is a group too
        expect[idx] = brute_force_mask(values[idx], maximize)
    assert np.array_equal(mask, expect)
    assert np.array_equal(front_mask(df, objs, by=None), pareto_mask(values, maximize))


def test_front_per_workload_keeps_each_workloads_best():
    """A decode design is never dominated by a prefill one: each workload keeps its own front."""
    df = pd.DataFrame(
        {
            "phase": ["decode", "prefill", "decode", "prefill", "decode"],
            "tps": [30.0, 9000.0, 40.0, 8000.0, 35.0],
            "ej": [0.5, 0.01, 0.6, 0.005, 0.7],
            "name": list("abcde"),
        }
    )
    assert pareto_front(df, "tps:max,ej:min")["name"].tolist() == ["b", "d"]  # global: decode vanishes
    # per phase: groups in order of first appearance (decode first), each by the first objective
    assert pareto_front(df, "tps:max,ej:min", by="phase")["name"].tolist() == ["c", "a", "b", "d"]
    with pytest.raises(HwsimError, match=r"unknown column 'phse'.*phase"):
        pareto_front(df, "tps:max", by=["phse"])


def test_all_nan_objective_is_an_error_partial_nan_rows_excluded():
    df = pd.DataFrame({"e": [1.0, 2.0, 0.5], "area_mm2": [np.nan, 3.0, np.nan], "fpga_area": [np.nan] * 3})
    with pytest.raises(HwsimError, match=r"^objective 'fpga_area' has no finite values in r\.parquet$"):
        front_mask(df, "e:min,fpga_area:min", file="r.parquet")
    assert front_mask(df, "e:min,area_mm2:min").tolist() == [False, True, False]
    assert nan_rows(df, "e:min,area_mm2:min") == 2 and nan_rows(df, "e:min") == 0
    assert front_mask(df.iloc[:0], "e:min,fpga_area:min").tolist() == []  # an empty table is no error


def test_plot_small_multiples_capped_at_six_panels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwsim.pareto import plot_front

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "batch": np.repeat(np.arange(8), 5),
            "e": rng.random(40),
            "t": rng.random(40),
            "family": rng.choice(["a", "b"], 40),
        }
    )
    x, y = parse_objectives("e:min,t:max")
    fig = plot_front(df, front_mask(df, [x, y], by="batch"), x, y, by="batch", title="s")
    panels = [a for a in fig.axes if a.get_visible()]
    assert len(panels) == 6 and [a.get_title() for a in panels][:2] == ["batch=0", "batch=1"]
    assert fig.get_suptitle() == "s; first 6 of 8 groups by batch"
    plt.close(fig)
    one = df[df.batch == 3]
    fig = plot_front(one, front_mask(one, [x, y], by="batch"), x, y, by="batch")
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == ""
    with pytest.raises(ValueError, match="8 groups"):
        plot_front(df, front_mask(df, [x, y], by="batch"), x, y, by="batch", ax=fig.axes[0])
    plt.close(fig)


def test_plot_panel_whose_rows_lack_one_objective_saves(tmp_path):
    """A group whose rows have x but no y (a memory level one design lacks) draws nothing: its x spread
    must not make an empty axis logarithmic (savefig raised 'Data cannot be log-scaled')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwsim.pareto import plot_front

    df = pd.DataFrame(
        {"design": ["a", "a", "b", "b"], "e": [1.0, 100.0, np.nan, np.nan], "t": [np.nan, np.nan, 1.0, 2.0]}
    )
    x, y = parse_objectives("e:min,t:max")
    path = tmp_path / "front.png"
    fig = plot_front(df, np.zeros(4, bool), x, y, path, by="design")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [a.get_xscale() for a in fig.axes[:2]] == ["linear", "linear"]
    plt.close(fig)


def test_plot_into_a_subfigure_saves_the_whole_figure(tmp_path):
    """An `ax` inside a subfigure: the file written is the root figure (a SubFigure has no savefig)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwsim.pareto import plot_front

    df = pd.DataFrame({"e": np.arange(6.0), "t": np.arange(6.0) ** 2})
    x, y = parse_objectives("e:min,t:max")
    root = plt.figure()
    left, _ = root.subfigures(1, 2)
    path = tmp_path / "front.png"
    fig = plot_front(df, front_mask(df, [x, y]), x, y, path, ax=left.add_subplot())
    assert fig is left
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(root)
