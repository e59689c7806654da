"""`hwsim sweep`: runs a study, prints the front as JSON; malformed studies → one line, exit 2."""

import json

import pytest

from hwsim.cli import main

GOOD = """
architectures:
  - preset: bitmod
    sweep: {compute.rows: [16, 64]}
workloads: [{model: llama-2-7b, phase: decode}]
precisions: {weights: [int4_g128, 8]}
objectives: [seconds:min, energy_j:min]
outputs: {plot: false}
"""


def test_sweep_json(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD)
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--json", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["design"] == "bitmod" and r["model"] == "llama-2-7b" for r in rows)
    assert [r["seconds"] for r in rows] == sorted(r["seconds"] for r in rows)
    assert (tmp_path / "o" / "results.parquet").exists()
    # the pareto command on the sweep folder agrees with the sweep's own front
    assert (
        main(["pareto", str(tmp_path / "o"), "--objectives", "seconds:min,energy_j:min", "--feasible-only", "--json"])
        == 0
    )
    assert [r["seconds"] for r in json.loads(capsys.readouterr().out)] == [r["seconds"] for r in rows]


@pytest.mark.parametrize(
    "old, new, msg",
    [
        (
            "sweep: {compute.rows: [16, 64]}",
            "sweep: {compute.rows: []}",
            "architectures[0].sweep.compute.rows: must not be empty",
        ),
        ("preset: bitmod", "preset: bitmodd", "architectures[0].preset: unknown architecture preset"),
        ("objectives:", "bogus: 1\nobjectives:", "bogus: unknown key"),
        ("phase: decode", "phase: 3", "workloads[0].phase[0]: expected a non-empty string"),
        ("[int4_g128, 8]", "[int4_gg128]", "precisions: weights"),
        ("sweep: {compute.rows: [16, 64]}", "sweep: {compute.rowz: [16, 64]}", "architectures[0].sweep.compute.rowz"),
    ],
)
def test_malformed_study_one_line_exit_2(tmp_path, capsys, old, new, msg):
    p = tmp_path / "bad.yaml"
    assert old in GOOD
    p.write_text(GOOD.replace(old, new))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"hwsim sweep: error: {p}: ") and msg in err, err


def test_bad_executor_options(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(GOOD)
    assert main(["sweep", str(p), "--workers", "0", "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "--workers: must be an integer in 1..1024, got 0" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_resume_of_a_finished_sweep_says_so(tmp_path, capsys):
    """--resume on a run that completed said 'resumed: N chunks were already done' (and, with the study changed,
    'the study changed since the interrupted sweep'): it resumes nothing, so it says it is already complete."""
    p = tmp_path / "s.yaml"
    p.write_text(GOOD)
    args = ["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    out = capsys.readouterr().out
    results = tmp_path / "o" / "results.parquet"
    assert out.splitlines()[0] == f"s: already complete: 4 rows → {results}, nothing to run"
    assert "resumed" not in out and "interrupted" not in out
    p.write_text(GOOD.replace("[16, 64]", "[16, 32]"))
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "the study changed since the finished sweep in this folder" in err and "interrupted" not in err
