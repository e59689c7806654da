"""Sweep machinery with an injected evaluator: tidy rows, determinism, workers, resume after SIGKILL, dask."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sweep_fakes import fake_evaluator

from hwsim.errors import HwsimError
from hwsim.pareto import brute_force_mask
from hwsim.study import load_study
from hwsim.sweep import run_sweep

STUDY = """
name: fake
architectures:
  - preset: a
    sweep:
      compute.rows: [8, 16, 32, 64]
      compute.cols: {min: 4, max: 64, num: 5, log: true, integer: true}
  - preset: b
    set: {clock: 2 GHz}
    sweep:
      compute.rows: [4, 128]
workloads:
  - model: m
    phase: [prefill, decode]
    batch: [1, 8]
precisions:  # activations and kv given: `model` would read the checkpoint of model m, which a fake evaluator has none of
  - weights: [int4, int8]
    activations: fp16
    kv: fp16
  - weights: fp16
    activations: fp8
    kv: fp16
constraints:
  area_mm2: {max: 20}
objectives: [seconds:min, area_mm2:min]
outputs: {chunk_size: 7, format: FMT, plot: PLOT}
"""


def study(tmp_path, fmt="parquet", extra="", plot="false"):
    p = tmp_path / f"study-{fmt}.yaml"
    p.write_text(textwrap.dedent(STUDY.replace("FMT", fmt).replace("PLOT", plot)) + extra)
    return load_study(p, check_names=False)


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_tidy_rows_and_columns(tmp_path):
    s = study(tmp_path, plot="front.png")
    r = run_sweep(s, tmp_path / "out", evaluator=fake_evaluator)
    t = r.table()
    # (4·5 + 2 points) × 4 workloads × 3 precisions
    assert len(t) == r.rows == 22 * 4 * 3
    for col in (
        "design",
        "family",
        "point",
        "compute.rows",
        "compute.cols",
        "clock",
        "model",
        "phase",
        "batch",
        "seq",
        "context",
        "weights",
        "activations",
        "kv",
        "seconds",
        "energy_j",
        "area_mm2",
        "power_w",
        "tokens_per_s",
        "energy_per_token_j",
        "feasible",
    ):
        assert col in t.columns, col
    assert not t.duplicated(["design", "point", "phase", "batch", "weights", "activations"]).any()
    # fixed overrides recorded in SI; swept values in grid order; rows in design → workload → precision order
    assert (t.loc[t.design == "b", "clock"] == 2e9).all()
    first = t[(t.design == "a") & (t.phase == "prefill") & (t.batch == 1) & (t.weights == "int4")]
    assert first["point"].tolist() == list(range(20))
    assert first["compute.cols"].tolist()[:5] == [4, 8, 16, 32, 64]
    row = t[(t.design == "a") & (t.point == 6) & (t.phase == "decode") & (t.batch == 8) & (t.weights == "int8")].iloc[0]
    assert (row["compute.rows"], row["compute.cols"], row["seq"], row["context"]) == (16, 8, 1, 256)
    assert row["seconds"] == pytest.approx(max(8e9 * 0.5 / (16 * 8 * 1e9), 7e9 / 1e12))
    assert row["power_w"] == pytest.approx(row["energy_j"] / row["seconds"])
    assert row["tokens_per_s"] == pytest.approx(8 / row["seconds"])
    assert t["feasible"].tolist() == (t["area_mm2"] <= 20).tolist() and not t["feasible"].all()
    # one front per workload (prefill and decode rows are not comparable): feasible, non-dominated within
    # its workload (brute force), workloads in study order, each sorted by the first objective
    f = r.front_table()
    assert f["feasible"].all()
    keys = ["phase", "batch"]
    assert list(dict.fromkeys(map(tuple, f[keys].to_numpy().tolist()))) == [
        ("prefill", 1),
        ("prefill", 8),
        ("decode", 1),
        ("decode", 8),
    ]
    feas = t[t["feasible"]]
    for key, grp in f.groupby(keys, sort=False):
        assert grp["seconds"].is_monotonic_increasing and len(grp) >= 2
        pool = feas[(feas.phase == key[0]) & (feas.batch == key[1])]
        on = brute_force_mask(pool[["seconds", "area_mm2"]].to_numpy())
        assert sorted(map(tuple, grp[["seconds", "area_mm2"]].to_numpy().tolist())) == sorted(
            map(tuple, pool[on][["seconds", "area_mm2"]].to_numpy().tolist())
        )
    assert r.plot is not None and r.plot.stat().st_size > 5000
    assert not (tmp_path / "out" / "parts").exists()


def test_byte_identical_across_runs_and_workers(tmp_path):
    s = study(tmp_path)
    one = run_sweep(s, tmp_path / "a", evaluator=fake_evaluator)
    again = run_sweep(s, tmp_path / "b", evaluator=fake_evaluator)
    two = run_sweep(s, tmp_path / "c", evaluator=fake_evaluator, workers=2)
    assert digest(one.results) == digest(again.results) == digest(two.results)
    assert digest(one.front) == digest(two.front)
    x = run_sweep(study(tmp_path, "csv"), tmp_path / "d", evaluator=fake_evaluator, workers=2)
    assert x.results.suffix == ".csv"
    pd.testing.assert_frame_equal(pd.read_csv(x.results), one.table(), check_dtype=False)


def test_dask_executor_same_rows(tmp_path):
    pytest.importorskip("dask.distributed")
    s = study(tmp_path)
    local = run_sweep(s, tmp_path / "a", evaluator=fake_evaluator)
    dask = run_sweep(s, tmp_path / "b", evaluator=fake_evaluator, executor="dask", workers=1)
    assert digest(local.results) == digest(dask.results)


_KILLABLE = """
import sys, sweep_fakes
sweep_fakes.SLOW_S = 0.05
from hwsim.study import load_study
from hwsim.sweep import run_sweep
run_sweep(load_study(sys.argv[1], check_names=False), sys.argv[2], evaluator=sweep_fakes.fake_evaluator,
          workers=int(sys.argv[3]))
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, workers):
    s = study(tmp_path)
    script = tmp_path / "run.py"
    script.write_text(_KILLABLE)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(script), s.file, str(out), str(workers)], env=env, start_new_session=True
    )
    parts = out / "parts"
    deadline = time.time() + 60
    while time.time() < deadline and (not parts.exists() or len(list(parts.glob("part-*.parquet"))) < 10):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: workers die too, mid-chunk
    proc.wait()
    n_done = len(list(parts.glob("part-*.parquet")))
    assert 10 <= n_done < 48 and not (out / "results.parquet").exists()
    resumed = run_sweep(s, out, evaluator=fake_evaluator, resume=True)
    assert resumed.resumed_tasks >= 10
    clean = run_sweep(s, tmp_path / "clean", evaluator=fake_evaluator)
    assert digest(resumed.results) == digest(clean.results)


def test_resume_refuses_a_changed_study(tmp_path):
    s = study(tmp_path)
    out = tmp_path / "o"
    run_sweep(s, out, evaluator=fake_evaluator)
    again = run_sweep(s, out, evaluator=fake_evaluator, resume=True)  # complete: nothing to redo
    assert again.rows == 22 * 12
    changed = study(tmp_path, extra="sampler: {kind: grid, seed: 1}\n")
    with pytest.raises(HwsimError, match="study changed"):
        run_sweep(changed, out, evaluator=fake_evaluator, resume=True)


def test_bad_constraint_and_objective_columns(tmp_path):
    s = study(tmp_path, extra="")
    s2 = load_study(_rewrite(s.file, "area_mm2: {max: 20}", "area_m2: {max: 20}"), check_names=False)
    with pytest.raises(HwsimError, match=r"constraints\.area_m2: no such result column.*area_mm2") as e:
        run_sweep(s2, tmp_path / "x", evaluator=fake_evaluator)
    assert str(e.value).startswith(s2.file)
    s3 = load_study(_rewrite(s.file, "seconds:min, area_mm2", "seconds:min, area"), check_names=False)
    with pytest.raises(HwsimError, match="objectives: unknown column 'area'") as e:
        run_sweep(s3, tmp_path / "y", evaluator=fake_evaluator)
    assert str(e.value).startswith(s3.file)
    # control: the same study with the real column names runs (the errors come from the renamed columns)
    assert run_sweep(s, tmp_path / "ok", evaluator=fake_evaluator).rows == 22 * 12


def test_an_objective_only_some_designs_have_is_refused_before_anything_runs(tmp_path):
    """compute.cols is swept by design a only: design b's rows would never be on a front. It used to pass the
    chunks of a (written to disk), then stop at b's first chunk as an 'unknown column'."""
    s = study(tmp_path)
    s2 = load_study(_rewrite(s.file, "seconds:min, area_mm2:min", "seconds:min, compute.cols:min"), check_names=False)
    calls = []

    def counting(design, points, workload, precision):
        calls.append(design.name)
        return fake_evaluator(design, points, workload, precision)

    with pytest.raises(HwsimError) as e:
        run_sweep(s2, tmp_path / "out", evaluator=counting)
    msg = str(e.value)
    assert msg.startswith(f"{s2.file}: objectives: objective column 'compute.cols' is in the rows of a but not of b")
    assert "\n" not in msg
    assert calls == ["a", "b"]  # one design point of each design, nothing else ran
    assert not (tmp_path / "out" / "manifest.json").exists() and not (tmp_path / "out" / "parts").exists()
    # a text column is refused before anything runs too (it was refused after the results were written)
    s3 = load_study(_rewrite(s.file, "seconds:min, area_mm2:min", "seconds:min, design:min"), check_names=False)
    with pytest.raises(HwsimError, match="objectives: objective column 'design' is not numeric in the rows of a"):
        run_sweep(s3, tmp_path / "out3", evaluator=fake_evaluator)
    assert not (tmp_path / "out3" / "manifest.json").exists()


def _rewrite(path, old, new):
    text = Path(path).read_text()
    assert old in text
    p = Path(path).with_name("rewritten-" + Path(path).name)
    p.write_text(text.replace(old, new))
    return p


def test_random_sampler_rows(tmp_path):
    s = study(tmp_path, extra="sampler: {kind: lhs, samples: 7, seed: 5}\n")
    t = run_sweep(s, tmp_path / "o", evaluator=fake_evaluator).table()
    assert len(t) == 2 * 7 * 4 * 3
    a = t[t.design == "a"]
    assert set(np.unique(a["compute.rows"])) <= {8, 16, 32, 64} and a["compute.cols"].between(4, 64).all()


def test_a_fresh_sweep_drops_the_results_of_the_other_format(tmp_path):
    """A parquet sweep, then a csv one into the same folder: the first's results.parquet stayed beside the new
    results.csv, and `hwsim pareto DIR` (which prefers parquet) read the old study's table."""
    from hwsim.sweep.io import read_table

    out = tmp_path / "out"
    run_sweep(study(tmp_path, fmt="parquet"), out, evaluator=fake_evaluator)
    extra = "\nsampler: {kind: random, samples: 3, seed: 1}\n"  # another study: other points
    new = run_sweep(study(tmp_path, fmt="csv", extra=extra), out, evaluator=fake_evaluator)
    assert sorted(p.name for p in out.glob("results.*")) == ["results.csv"]
    pd.testing.assert_frame_equal(read_table(out), new.table())


def test_a_constraint_on_a_column_some_designs_lack_names_the_design_before_anything_runs(tmp_path):
    """compute.cols is swept by design a only: the constraint stopped the sweep at b's first chunk, after a's had
    run and been written, without saying which design lacked the column."""
    s = study(tmp_path)
    s2 = load_study(_rewrite(s.file, "area_mm2: {max: 20}", "compute.cols: {max: 32}"), check_names=False)
    with pytest.raises(
        HwsimError, match=r"constraints\.compute\.cols: no such result column in the rows of design 'b'"
    ):
        run_sweep(s2, tmp_path / "out", evaluator=fake_evaluator)
    assert not (tmp_path / "out" / "parts").exists() and not (tmp_path / "out" / "manifest.json").exists()
