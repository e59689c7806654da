"""`hwsim pareto`: JSON rows with all columns, plots, and one-line errors (exit 2)."""

import json

import numpy as np
import pandas as pd
import pytest

from hwsim.cli import main


@pytest.fixture
def results(tmp_path):
    df = pd.DataFrame(
        {
            "energy_j": [3.0, 1.0, 2.0, 2.0, 5.0],
            "seconds": [1.0, 3.0, 2.0, 2.5, 5.0],
            "family": ["a", "b", "a", "b", "a"],
            "feasible": [True, True, True, True, False],
        }
    )
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    df.to_csv(tmp_path / "r.csv", index=False)
    return path


def test_json_front(results, capsys):
    assert main(["pareto", str(results), "--objectives", "energy_j:min,seconds:min", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["energy_j"], r["seconds"], r["family"]) for r in rows] == [
        (1.0, 3.0, "b"),
        (2.0, 2.0, "a"),
        (3.0, 1.0, "a"),
    ]


def test_csv_and_max_direction(results, capsys):
    csv = results.with_suffix(".csv")
    assert main(["pareto", str(csv), "--objectives", "energy_j:max,seconds:max", "--json"]) == 0
    assert [r["energy_j"] for r in json.loads(capsys.readouterr().out)] == [5.0]
    assert main(["pareto", str(csv), "--objectives", "energy_j:max,seconds:max", "--feasible-only", "--json"]) == 0
    assert [r["energy_j"] for r in json.loads(capsys.readouterr().out)] == [3.0, 2.0, 1.0]


def test_plot_written(results, tmp_path, capsys):
    out = tmp_path / "front.png"
    assert main(["pareto", str(results), "--objectives", "energy_j:min,seconds:min", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert "3 of 5 rows" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--objectives", "energy:min"], "unknown column 'energy'"),
        (["--objectives", "energy_j:down"], "direction must be min or max"),
        (["--objectives", "family:min"], "not numeric"),
        (["--objectives", "energy_j:min,seconds:min", "--plot", "/proc/nonexistent/x.png"], "cannot create folder"),
        (["--objectives", "energy_j:min,seconds:min", "--plot", "x.txt"], "must end in .png"),
    ],
)
def test_errors_one_line_exit_2(results, capsys, args, msg):
    assert main(["pareto", str(results), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg in err and err.startswith("hwsim pareto: error:")


def test_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    for path in (bad, tmp_path / "missing.csv", tmp_path):
        assert main(["pareto", str(path), "--objectives", "a:min"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err


@pytest.fixture
def workloads(tmp_path):
    """Prefill rows out-run decode rows by 100×: one global front would hold prefill rows only."""
    df = pd.DataFrame(
        {
            "phase": ["prefill", "prefill", "decode", "decode", "decode"],
            "batch": [1, 1, 1, 1, 8],
            "tokens_per_s": [9000.0, 8000.0, 40.0, 30.0, 200.0],
            "energy_j": [0.05, 0.04, 0.2, 0.1, 0.3],
            "area_mm2": [np.nan, 4.0, 4.0, np.nan, 5.0],
            "fpga_only": [np.nan] * 5,
            "family": ["a", "b", "a", "b", "a"],
        }
    )
    path = tmp_path / "w.parquet"
    df.to_parquet(path, index=False)
    return path


def test_front_per_workload_by_default(workloads, capsys):
    objs = ["--objectives", "tokens_per_s:max,energy_j:min"]
    assert main(["pareto", str(workloads), *objs, "--json"]) == 0
    assert [r["tokens_per_s"] for r in json.loads(capsys.readouterr().out)] == [9000.0, 8000.0, 40.0, 30.0, 200.0]
    assert main(["pareto", str(workloads), *objs]) == 0
    assert (
        "5 of 5 rows on the front of tokens_per_s:max, energy_j:min per phase, batch (3 groups)"
        in capsys.readouterr().out
    )
    assert main(["pareto", str(workloads), *objs, "--by", "phase", "--json"]) == 0
    assert [r["tokens_per_s"] for r in json.loads(capsys.readouterr().out)] == [9000.0, 8000.0, 200.0, 40.0, 30.0]
    assert main(["pareto", str(workloads), *objs, "--by", "none", "--json"]) == 0
    assert [r["tokens_per_s"] for r in json.loads(capsys.readouterr().out)] == [9000.0, 8000.0]


def test_plot_one_panel_per_workload(workloads, tmp_path, capsys):
    out = tmp_path / "front.png"
    assert main(["pareto", str(workloads), "--objectives", "tokens_per_s:max,energy_j:min", "--plot", str(out)]) == 0
    from matplotlib.image import imread

    wide = imread(out).shape
    assert (
        main(
            [
                "pareto",
                str(workloads),
                "--objectives",
                "tokens_per_s:max,energy_j:min",
                "--by",
                "none",
                "--plot",
                str(out),
            ]
        )
        == 0
    )
    assert wide[1] > imread(out).shape[1]  # three panels side by side
    capsys.readouterr()


def test_nan_objectives(workloads, capsys):
    assert main(["pareto", str(workloads), "--objectives", "energy_j:min,fpga_only:min"]) == 2
    err = capsys.readouterr().err
    assert err == f"hwsim pareto: error: objective 'fpga_only' has no finite values in {workloads}\n"
    assert main(["pareto", str(workloads), "--objectives", "energy_j:min,area_mm2:min", "--by", "none"]) == 0
    out = capsys.readouterr().out
    assert "1 of 5 rows on the front of energy_j:min, area_mm2:min; 2 rows with NaN in an objective excluded" in out


def test_bad_by_column(workloads, capsys):
    assert main(["pareto", str(workloads), "--objectives", "energy_j:min", "--by", "phase,btch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--by: unknown column 'btch' (did you mean batch?)" in err


def test_text_front_shows_the_design_and_objectives_not_every_column(tmp_path, capsys):
    """The terminal table of a results file from a sweep (dozens of columns) names each front row by its
    design, swept parameters and workload and shows the objectives; every column stays in --json."""
    n = 4
    df = pd.DataFrame(
        {
            "design": ["d"] * n,
            "family": ["systolic"] * n,
            "compute.rows": [16, 32, 64, 128],
            "model": ["m"] * n,
            "batch": [1] * n,
            **{f"energy_part{i}_j": np.arange(n, dtype=float) for i in range(30)},  # what a sweep also writes
            "energy_j": [4.0, 3.0, 2.0, 1.0],
            "seconds": [1.0, 2.0, 3.0, 4.0],
        }
    )
    df.to_parquet(tmp_path / "r.parquet", index=False)
    assert (
        main(["pareto", str(tmp_path / "r.parquet"), "--objectives", "energy_j:min,seconds:min", "--by", "none"]) == 0
    )
    header = capsys.readouterr().out.splitlines()[1].split()
    assert header == ["design", "family", "compute.rows", "model", "batch", "energy_j", "seconds"]
    assert main(["pareto", str(tmp_path / "r.parquet"), "--objectives", "energy_j:min,seconds:min", "--json"]) == 0
    assert "energy_part29_j" in json.loads(capsys.readouterr().out)[0]


def test_a_folder_with_both_formats_reads_the_last_sweeps_table(tmp_path):
    """A csv sweep over an older parquet one left both results files (before 50457ca); `hwsim pareto DIR` read
    the parquet (the older study's). The manifest says which format the folder's last sweep wrote."""
    from hwsim.sweep.io import read_table

    old, new = pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [5.0, 6.0, 7.0]})
    old.to_parquet(tmp_path / "results.parquet")
    new.to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "csv", "complete": True}))
    pd.testing.assert_frame_equal(read_table(tmp_path), new)
    (tmp_path / "manifest.json").write_text("{not json")  # no readable manifest: parquet first, as before
    pd.testing.assert_frame_equal(read_table(tmp_path), old)
