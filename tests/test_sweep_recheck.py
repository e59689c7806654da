"""Study key `recheck`: sampled sweep rows re-costed by the cycle engine into recheck.<format>.

The 5% bound is docs/cycle.md's analytical-vs-cycle agreement for systolic and bit-serial designs."""

import json

import numpy as np
import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.study import load_study
from hwsim.sweep import run_sweep
from hwsim.sweep.evaluate import engine_grid, engine_inputs
from hwsim.engine.sweep import arch_at
from hwsim.study.samplers import design_points
from hwsim.engine import evaluate

STUDY = """
architectures:
  - preset: tpu-like
    name: systolic
    sweep: {compute.rows: [32, 64], memory.dram.bandwidth: ["100 GB/s", "400 GB/s"]}
  - preset: bitmod
    sweep: {compute.rows: [16, 64]}
workloads: [{model: llama-2-7b, phase: decode, context: 64}]
precisions: {weights: [int4_g128, int8]}
outputs: {plot: false, format: FORMAT}
recheck: {sample: 7, seed: 3}
"""


def _study(tmp_path, fmt="parquet", text=STUDY):
    p = tmp_path / "s.yaml"
    p.write_text(text.replace("FORMAT", fmt))
    return p


def test_recheck_file_rows_and_agreement(tmp_path):
    study = load_study(_study(tmp_path))
    res = run_sweep(study, tmp_path / "o", progress=False)
    assert res.recheck == tmp_path / "o" / "recheck.parquet" and res.recheck.exists()
    rc = pd.read_parquet(res.recheck)
    results = res.table()
    assert len(rc) == 7 and rc["row"].is_monotonic_increasing and rc["row"].is_unique
    assert {"design", "point", "model", "weights", "compute.rows", "cycles", "cycles_cycle", "rel_diff"} <= set(rc)
    assert set(rc["design"]) == {"systolic", "bitmod"}  # this seed draws from both families
    # identifying columns and analytical cycles are the sampled results rows themselves
    same = results.iloc[rc["row"]].reset_index(drop=True)
    for c in ("design", "point", "weights", "cycles"):
        assert rc[c].tolist() == same[c].tolist()
    np.testing.assert_allclose(rc["rel_diff"], (rc["cycles_cycle"] - rc["cycles"]) / rc["cycles"])
    assert (rc["rel_diff"].abs() < 0.05).all(), rc  # docs/cycle.md: systolic, bitserial within 5%
    assert (rc["cycles_cycle"] != rc["cycles"]).any()  # a real second engine, not a copy
    s = res.recheck_summary
    assert s["rows"] == 7 and s["max_abs_rel_diff"] == pytest.approx(rc["rel_diff"].abs().max())
    assert s["median_abs_rel_diff"] == pytest.approx(rc["rel_diff"].abs().median())


def test_rebuilt_point_is_the_swept_point(tmp_path):
    """The design point recheck rebuilds (sweep helpers + arch_at) costs to the row's analytical cycles."""
    study = load_study(_study(tmp_path))
    table = run_sweep(study, tmp_path / "o", progress=False).table()
    d = study.designs[0]
    for point in (1, 2):  # 32 rows × 400 GB/s, 64 rows × 100 GB/s (per-second bandwidth unit)
        arch, trace, prec = engine_inputs(d, study.workloads[0], study.precisions[1])
        grid = engine_grid(d, design_points(d, study.sampler, point, point + 1))
        arch = arch_at(arch, {k: v[0] for k, v in grid.items()})
        row = table[(table["design"] == d.name) & (table["point"] == point) & (table["weights"] == "int8")]
        assert evaluate(arch, trace, prec).totals["cycles"] == pytest.approx(row["cycles"].item(), rel=1e-12)


@pytest.mark.parametrize("fmt, workers", [("parquet", 2), ("csv", 1)])
def test_recheck_bytes_identical_across_runs_workers_and_resume(tmp_path, fmt, workers):
    study = load_study(_study(tmp_path, fmt, STUDY.replace("sample: 7", "sample: 3")))
    a = run_sweep(study, tmp_path / "a", progress=False)
    b = run_sweep(study, tmp_path / "b", workers=workers, progress=False)
    assert a.recheck.name == f"recheck.{fmt}"
    first = a.recheck.read_bytes()
    assert first == b.recheck.read_bytes()
    a.recheck.unlink()  # resuming a finished sweep re-checks it again
    again = run_sweep(study, tmp_path / "a", resume=True, progress=False)
    assert again.recheck.read_bytes() == first


def test_no_recheck_key_no_file_and_stale_one_removed(tmp_path):
    p = _study(tmp_path)
    run_sweep(load_study(p), tmp_path / "o", progress=False)
    off = load_study(_study(tmp_path, text=STUDY.replace("recheck: {sample: 7, seed: 3}", "recheck: false")))
    assert off.recheck is None and off.fingerprint() == load_study(p).fingerprint()
    res = run_sweep(off, tmp_path / "o", progress=False)
    assert res.recheck is None and not (tmp_path / "o" / "recheck.parquet").exists()


def test_cli_summary_on_stderr_json_on_stdout(tmp_path, capsys):
    p = _study(tmp_path, text=STUDY.replace("sample: 7", "sample: 100"))  # more than the 12 rows: all of them
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--json", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert isinstance(json.loads(out), list)
    line = [x for x in err.splitlines() if x.startswith("recheck")]
    assert len(line) == 1 and "12 rows" in line[0] and "median" in line[0] and "max" in line[0], err
    assert len(pd.read_parquet(tmp_path / "o" / "recheck.parquet")) == 12


@pytest.mark.parametrize(
    "value, msg",
    [
        ("{sample: 0}", "recheck.sample: must be >= 1"),
        ("{sample: ten}", "recheck.sample: expected an integer"),
        ("{sample: 2.5}", "recheck.sample: expected an integer"),
        ("{sample: 5, seed: -1}", "recheck.seed: must be >= 0"),
        ("{sample: 5, seed: 0.5}", "recheck.seed: expected an integer"),
        ("{sample: 5, sed: 1}", "recheck.sed: unknown key (did you mean seed?)"),
        ("{seed: 1}", "recheck: missing required key 'sample'"),
        ("20", "recheck: expected a mapping"),
    ],
)
def test_bad_recheck_one_line_exit_2(tmp_path, capsys, value, msg):
    p = _study(tmp_path, text=STUDY.replace("{sample: 7, seed: 3}", value))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"hwsim sweep: error: {p}: ") and msg in err, err
    assert not (tmp_path / "o").exists()
