"""`hwsim pareto`: JSON rows with all columns, plots, and one-line errors (exit 2)."""
import json

import pandas as pd
import pytest

from hwsim.cli import main


@pytest.fixture
def results(tmp_path):
    df = pd.DataFrame({"energy_j": [3.0, 1.0, 2.0, 2.0, 5.0], "seconds": [1.0, 3.0, 2.0, 2.5, 5.0],
                       "family": ["a", "b", "a", "b", "a"], "feasible": [True, True, True, True, False]})
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    df.to_csv(tmp_path / "r.csv", index=False)
    return path


def test_json_front(results, capsys):
    assert main(["pareto", str(results), "--objectives", "energy_j:min,seconds:min", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["energy_j"], r["seconds"], r["family"]) for r in rows] == [(1.0, 3.0, "b"), (2.0, 2.0, "a"),
                                                                          (3.0, 1.0, "a")]


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


@pytest.mark.parametrize("args, msg", [
    (["--objectives", "energy:min"], "unknown column 'energy'"),
    (["--objectives", "energy_j:down"], "direction must be min or max"),
    (["--objectives", "family:min"], "not numeric"),
    (["--objectives", "energy_j:min,seconds:min", "--plot", "/nonexistent/dir/x.png"], "does not exist"),
    (["--objectives", "energy_j:min,seconds:min", "--plot", "x.txt"], "must end in .png"),
])
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
