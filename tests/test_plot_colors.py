"""Colour groups of the Pareto plots: a colour column only some designs have draws their other rows as "n/a"
(grey, last in the legend) instead of refusing the study or dropping the rows; legends sort numbers as numbers."""

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sweep_fakes import fake_evaluator  # noqa: E402

from hwsim.cli import main  # noqa: E402
from hwsim.errors import HwsimError  # noqa: E402
from hwsim.pareto import front_mask, parse_objectives, plot_front  # noqa: E402
from hwsim.study import load_study  # noqa: E402
from hwsim.sweep import run_sweep  # noqa: E402

OBJS = parse_objectives("energy_j:min,tokens_per_s:max")


def _legend(fig):
    legend = fig.legends[0] if fig.legends else fig.axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()]


def _table(color_values, by=None):
    n = len(color_values)
    df = pd.DataFrame(
        {
            "energy_j": np.linspace(1.0, 2.0, n),
            "tokens_per_s": np.linspace(1.0, 3.0, n) ** 2,
            "c": pd.Series(color_values, dtype=object),
        }
    )
    if by is not None:
        df["phase"] = by
    return df


def _draw(df, **kw):
    fig = plot_front(df, front_mask(df, OBJS, by=kw.get("by")), *OBJS, color_by="c", **kw)
    labels = _legend(fig)
    plt.close(fig)
    return labels


@pytest.mark.parametrize(
    "values, order",
    [
        ([16, 4, 128, 32, 4, 64], ["4", "16", "32", "64", "128"]),  # as text: 128, 16, 32, 4, 64
        ([16.0, 4.0, 0.5], ["0.5", "4", "16"]),  # integral floats without '.0' (a B/cycle column)
        ([2.5e9, 1e9, 5e8, 1.25e-5], ["1.25e-5", "5e8", "1e9", "2.5e9"]),  # clock_Hz: short, exact
        # a range: 4 significant digits, or as many more as keep the labels apart
        (list(np.linspace(1e9, 2e9, 4)), ["1e9", "1.333e9", "1.667e9", "2e9"]),
        ([1.00001e9, 1.00002e9, 0.1], ["0.1", "1.00001e9", "1.00002e9"]),
        (["int8", "int16", "int4", "fp16"], ["fp16", "int4", "int8", "int16"]),  # natural order, not int16 < int4
        # weights: [int4_g128, 3.0625]: a plain number of bits reads as a number, before the names
        (["int4_g128", "3.0625", "fp16", 12, None], ["3.0625", "12", "fp16", "int4_g128", "n/a"]),
    ],
)
def test_legend_sorts_numbers_as_numbers_then_text_then_na(values, order):
    assert _draw(_table(values)) == order
    assert _draw(_table(values, by=["a", "b"] * (len(values) // 2) + ["a"] * (len(values) % 2)), by="phase") == order


def test_rows_without_the_colour_column_are_drawn_grey_as_na():
    """Two of six rows (another design's) have no value: they are still drawn, in grey, listed last."""
    df = _table([16.0, 64.0, np.nan, 32.0, np.nan, 16.0])
    fig = plot_front(df, front_mask(df, OBJS), *OBJS, color_by="c")
    assert _legend(fig) == ["16", "32", "64", "n/a"]
    drawn = {}  # colour → points drawn in it (faded and front markers)
    for coll in fig.axes[0].collections:
        rgb = tuple(np.round(coll.get_facecolor()[0][:3], 3)) if len(coll.get_offsets()) else None
        drawn.setdefault(rgb, []).extend(map(tuple, coll.get_offsets()))
    grey = sorted(drawn.pop((0.5, 0.5, 0.5)))
    assert grey == sorted(zip(df.energy_j[df.c.isna()], df.tokens_per_s[df.c.isna()], strict=True))
    assert sum(len(v) for k, v in drawn.items() if k is not None) == 4 and all(
        k[0] != k[1] or k[1] != k[2] for k in drawn if k
    )
    plt.close(fig)


def test_colour_column_no_row_has_is_refused_naming_it():
    with pytest.raises(HwsimError, match=r"color_by: no such result column 'cc' \(did you mean c\?\)"):
        plot_front(_table([1, 2]), np.ones(2, bool), *OBJS, color_by="cc")


STUDY = """
name: partial
architectures:
  - preset: a
    sweep: {compute.rows: [8, 16, 32], compute.cols: [4, 16]}
  - preset: b
    sweep: {compute.rows: [4, 64]}
workloads: [{model: m, phase: decode, batch: 1}]
precisions: {weights: [int4, int8], activations: fp16, kv: fp16}
objectives: [seconds:min, area_mm2:min]
outputs: {plot: front.png, color_by: COLOR}
"""


def _study(tmp_path, color):
    p = tmp_path / f"{color}.yaml"
    p.write_text(textwrap.dedent(STUDY.replace("COLOR", color)))
    return load_study(p, check_names=False)


def test_sweep_colours_by_a_parameter_one_design_sweeps(tmp_path, monkeypatch):
    """Design b does not sweep compute.cols: the study was refused ('no such result column') on b's first part."""
    import hwsim.pareto as pareto

    seen = {}

    def spy(df, *a, **kw):
        fig = plot_front(df, *a, **kw)
        seen["legend"] = _legend(fig)
        return fig

    monkeypatch.setattr(pareto, "plot_front", spy)
    r = run_sweep(_study(tmp_path, "compute.cols"), tmp_path / "o", evaluator=fake_evaluator)
    assert r.plot is not None and r.plot.read_bytes()[:4] == b"\x89PNG"
    assert seen["legend"] == ["4", "16", "n/a"]
    assert r.table()["compute.cols"].isna().sum() == 4  # b's 2 points × 2 formats


def test_sweep_colour_column_no_design_has_is_refused_after_the_front(tmp_path):
    bad = _study(tmp_path, "compute.colz")
    with pytest.raises(HwsimError, match=r"outputs\.color_by: no such result column 'compute.colz'.*compute.cols") as e:
        run_sweep(bad, tmp_path / "o", evaluator=fake_evaluator)
    assert str(e.value).startswith(bad.file) and "rerun with `resume`" in str(e.value)
    assert sorted(p.name for p in (tmp_path / "o").glob("[!.]*")) == [
        "front.parquet",
        "manifest.json",
        "results.parquet",
    ]
    # the colour column is not part of the study's fingerprint: the corrected study resumes at the plot
    r = run_sweep(_study(tmp_path, "compute.rows"), tmp_path / "o", evaluator=fake_evaluator, resume=True)
    assert r.resumed_tasks > 0 and r.plot is not None and r.plot.exists()


CLI_STUDY = """
architectures:
  - preset: bitmod
    sweep: {compute.rows: [16, 64]}
  - preset: tpu-like
workloads: [{model: llama-2-7b, phase: decode}]
precisions: {weights: [int4_g128]}
objectives: [seconds:min, energy_j:min]
outputs: {plot: front.png, color_by: COLOR}
"""


def test_cli_sweep_and_pareto_with_a_partial_colour_column(tmp_path, capsys):
    """tpu-like rows have no compute.rows: `hwsim sweep` and `hwsim pareto --color-by` draw them as n/a; a column
    no design has is one line naming the file and field, exit 2."""
    p = tmp_path / "s.yaml"
    p.write_text(CLI_STUDY.replace("COLOR", "compute.rows"))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert (tmp_path / "o" / "front.png").exists()
    plot = tmp_path / "p.png"
    args = ["pareto", str(tmp_path / "o"), "--objectives", "seconds:min,energy_j:min", "--plot", str(plot)]
    assert main([*args, "--color-by", "compute.rows"]) == 0 and plot.exists()
    capsys.readouterr()
    assert main([*args, "--color-by", "compute.rowz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'o'}: --color-by: no such result column 'compute.rowz'" in err, err
    p.write_text(CLI_STUDY.replace("COLOR", "compute.rowz"))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"hwsim sweep: error: {p}: outputs.color_by: no such result"), err
