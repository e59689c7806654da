"""Sweeps that meet trouble (issue 15): bad arguments leave the output folder alone, one sweep per folder,
a full disk or a read-only folder mid-run is one line and resumable, a killed parent leaves no workers,
float-valued sweeps of integer fields merge, and a fractional range over an integer field says how to fix it."""

import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sweep_fakes import fake_evaluator
from test_sweep import _rewrite, digest, study

from hwsim.cli import main
from hwsim.errors import HwsimError, HwsimWarning
from hwsim.study import load_study
from hwsim.sweep import run_sweep
from hwsim.sweep.store import Store

REAL = """
name: real
architectures:
  - preset: bitmod
    sweep: {compute.rows: ROWS}
  - preset: bitmod
    name: ints
    sweep: {compute.rows: [16, 32]}
workloads: [{model: llama-2-7b, phase: decode}]
precisions: {weights: [int4_g128]}
objectives: [tokens_per_s:max, area_mm2:min]
outputs: {plot: false, chunk_size: 1}
"""


def _tree(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"workers": 0}, "workers:"),
        ({"workers": 99999999999999999999}, "workers:"),
        ({"executor": "slurm"}, "executor:"),
        ({"executor": "dask", "scheduler": "nonsense"}, "scheduler:"),
        ({"executor": "dask", "scheduler": "tcp://127.0.0.1:1"}, "scheduler:"),  # nothing listens on port 1
        ({"scheduler": "tcp://127.0.0.1:8786"}, "scheduler:"),  # without executor="dask"
    ],
)
def test_bad_arguments_leave_previous_results_alone(tmp_path, kwargs, field):
    s = study(tmp_path)
    out = tmp_path / "out"
    run_sweep(s, out, evaluator=fake_evaluator)
    before = _tree(out)
    assert "results.parquet" in before
    with pytest.raises(HwsimError) as exc:
        run_sweep(s, out, evaluator=fake_evaluator, **kwargs)
    assert str(exc.value).startswith(field)
    assert _tree(out) == before


def test_cli_workers_zero_keeps_folder(tmp_path, capsys):
    """Today's bug: `--workers 0` deleted the previous results before refusing."""
    p = tmp_path / "s.yaml"
    p.write_text(REAL.replace("ROWS", "[16, 32]"))
    out = tmp_path / "o"
    assert main(["sweep", str(p), "--out", str(out), "--no-progress"]) == 0
    before = _tree(out)
    capsys.readouterr()
    assert main(["sweep", str(p), "--out", str(out), "--workers", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and _tree(out) == before


def test_second_sweep_on_one_folder_refuses(tmp_path):
    s = study(tmp_path)
    holder = Store(tmp_path / "out")
    holder.lock()  # as a running sweep holds it
    try:
        with pytest.raises(HwsimError, match="another hwsim sweep is writing to this folder"):
            run_sweep(s, tmp_path / "out", evaluator=fake_evaluator)
    finally:
        holder.unlock()
    run_sweep(s, tmp_path / "out", evaluator=fake_evaluator)  # free again


def test_lock_from_another_process(tmp_path):
    """The lock is a real OS lock: a sweep in a second process refuses while the first runs."""
    s = study(tmp_path)
    code = (
        "import sys, time; from hwsim.sweep.store import Store; s = Store(sys.argv[1]); s.lock(); "
        "print('locked', flush=True); time.sleep(30)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(HwsimError, match="another hwsim sweep"):
            run_sweep(s, tmp_path / "out", evaluator=fake_evaluator)
    finally:
        proc.kill()
        proc.wait()
    run_sweep(s, tmp_path / "out", evaluator=fake_evaluator)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_disk_full_or_read_only_mid_run_is_one_line_and_resumable(tmp_path, monkeypatch, capsys, err):
    """The 4th part write fails as a full disk / a folder made read-only would (root ignores chmod, so the
    OS error is injected); the finished parts stay and --resume completes to the uninterrupted bytes."""
    real_write = pq.write_table
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(err, os.strerror(err))
        return real_write(*args, **kwargs)

    s = study(tmp_path)
    out = tmp_path / "o"
    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(HwsimError) as exc:
        run_sweep(s, out, evaluator=fake_evaluator)
    msg = str(exc.value)
    assert os.strerror(err) in msg and "rerun with `resume`" in msg and "\n" not in msg
    assert not list(out.rglob("*.tmp-*"))  # no half-written temporaries
    assert len(list((out / "parts").glob("part-*.parquet"))) == 3
    monkeypatch.setattr(pq, "write_table", real_write)
    resumed = run_sweep(s, out, evaluator=fake_evaluator, resume=True)
    assert resumed.resumed_tasks == 3
    clean = run_sweep(s, tmp_path / "clean", evaluator=fake_evaluator)
    assert digest(resumed.results) == digest(clean.results)


def test_disk_full_through_the_cli(tmp_path, monkeypatch, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(REAL.replace("ROWS", "[16, 32]"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq, "write_table", full)
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err


_PARENT = """
import sys, sweep_fakes
sweep_fakes.SLOW_S = 0.2
from hwsim.study import load_study
from hwsim.sweep import run_sweep
run_sweep(load_study(sys.argv[1], check_names=False), sys.argv[2], evaluator=sweep_fakes.fake_evaluator, workers=2)
"""


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_killing_the_parent_leaves_no_orphan_workers(tmp_path):
    s = study(tmp_path)
    script = tmp_path / "run.py"
    script.write_text(_PARENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), s.file, str(tmp_path / "o")], env=env)
    deadline = time.time() + 60
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        workers = _children(proc.pid)
        time.sleep(0.05)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)  # the parent only: no chance to shut its pool down
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"orphaned workers {left}"


def test_float_valued_sweep_of_an_integer_field_merges_and_resumes(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(REAL.replace("ROWS", "[16.0, 32.0]"))
    out = tmp_path / "o"
    assert main(["sweep", str(p), "--out", str(out), "--no-progress"]) == 0
    assert main(["sweep", str(p), "--out", str(out), "--no-progress", "--resume"]) == 0
    table = pq.read_table(out / "results.parquet").to_pandas()
    assert sorted(table["compute.rows"].tolist()) == [16, 16, 32, 32]


def test_fractional_range_over_an_integer_field_says_how_to_fix(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(
        REAL.replace("ROWS", "{min: 16, max: 64.5}").replace(
            "name: real", "name: real\nsampler: {kind: random, samples: 4}"
        )
    )
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "add `integer: true`" in err and "{min: 16, max: 64, integer: true}" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


_AXIS = "{min: 1, max: 100000, num: 100000, integer: true}"  # 10^5 values


@pytest.mark.parametrize(
    "sweep, points",
    [
        (f"compute.rows: {_AXIS}, compute.cols: {_AXIS}", "1e+10"),  # asked numpy for a 75 GiB index array
        # 10^25 points: their product in int64 wrapped around
        (
            f"compute.rows: {_AXIS}, compute.cols: {_AXIS}, compute.dot_width: {_AXIS}, clock: "
            "{min: 1 GHz, max: 2 GHz, num: 100000}, memory.dram.bandwidth: {min: 1 GB/s, max: 100 GB/s, num: 100000}",
            "1e+25",
        ),
    ],
)
def test_a_study_too_large_to_hold_is_refused_before_it_runs(tmp_path, capsys, sweep, points):
    p = tmp_path / "s.yaml"
    p.write_text(REAL.replace("{compute.rows: ROWS}", "{" + sweep + "}"))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "architectures[0].sweep" in err and f"{points} points" in err
    assert "100,000,000 rows" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("resume", [True, False])
def test_rerun_after_a_kill_in_the_final_writes_leaves_the_uninterrupted_folder(tmp_path, monkeypatch, resume):
    """A SIGKILL mid-write leaves that write's temporary (no `finally` runs); one after the manifest says complete
    but before the parts are dropped leaves parts. Rerun, with `resume` or without, the folder is byte for byte
    the uninterrupted one. The plot is not named front.*, which a fresh run drops wholesale."""
    s = study(tmp_path, plot="pareto.png")
    clean = tmp_path / "clean"
    written: list[Path] = []
    real_replace = os.replace

    def replace(src, dst):
        written.append(Path(src).relative_to(clean))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    run_sweep(s, clean, evaluator=fake_evaluator)
    monkeypatch.undo()
    want = _tree(clean)
    assert {"results.parquet", "front.parquet", "pareto.png", "manifest.json"} <= {
        t.name.split(".tmp-")[0] for t in written
    }  # every final file went through a temporary
    out = tmp_path / "o"
    run_sweep(s, out, evaluator=fake_evaluator)
    (out / "parts").mkdir()
    for t in written:  # a part's temporary, the results', the front's, the plot's, the manifest's
        (out / t).write_bytes(b"half a file")
    (out / "parts" / "part-0000003.parquet").write_bytes((clean / "front.parquet").read_bytes())
    run_sweep(s, out, evaluator=fake_evaluator, resume=resume)
    assert _tree(out) == want


def _sweep_stopped_at_third_part(tmp_path, monkeypatch, stop) -> tuple[list, int]:
    """A 3-part sweep whose 3rd part write first calls `stop()`: (its CLI arguments, main's exit code). A
    KeyboardInterrupt escaping main fails the test (else pytest would take it for the user's own Ctrl-C)."""
    real_write = pq.write_table
    calls = {"n": 0}

    def write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            stop()
        return real_write(*args, **kwargs)

    p = tmp_path / "s.yaml"
    p.write_text(REAL.replace("ROWS", "[16, 32, 64]"))
    args = ["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress"]
    monkeypatch.setattr(pq, "write_table", write)
    try:
        rc = main(args)
    except KeyboardInterrupt:
        pytest.fail("the interruption escaped hwsim.cli.main: the user sees a traceback")
    monkeypatch.setattr(pq, "write_table", real_write)
    assert len(list((tmp_path / "o" / "parts").glob("part-*.parquet"))) == 2  # the finished parts stay
    return args, rc


def test_ctrl_c_is_one_line_and_resumable(tmp_path, monkeypatch, capsys):
    """Ctrl-C mid-sweep (KeyboardInterrupt in the 3rd part write): one line saying how to continue, exit 130 as a
    shell reports SIGINT, no traceback; the finished parts stay and --resume completes to the uninterrupted bytes."""

    def ctrl_c():
        raise KeyboardInterrupt

    args, rc = _sweep_stopped_at_third_part(tmp_path, monkeypatch, ctrl_c)
    assert rc == 130
    err = capsys.readouterr().err
    assert err == "hwsim sweep: interrupted; the finished parts are kept: rerun with --resume to continue\n"
    assert main([*args, "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed an interrupted sweep: 2 chunks were already done, the rest ran" in out
    assert "already complete" not in out
    assert main(["sweep", args[1], "--out", str(tmp_path / "clean"), "--no-progress"]) == 0
    assert _tree(tmp_path / "o")["results.parquet"] == _tree(tmp_path / "clean")["results.parquet"]


def test_sigterm_is_one_line_and_resumable(tmp_path, monkeypatch, capsys):
    """`kill` mid-sweep (SIGTERM to this process in the 3rd part write): as Ctrl-C, one line and the finished parts
    kept, with exit 143 (128 + SIGTERM); Python's default would end the process there with no word and no cleanup.
    The handler is the CLI's only while it runs: the caller's is back afterwards."""
    import os
    import signal

    got = []

    def callers(*_):  # the test's own: without the CLI's, SIGTERM lands here, not on pytest
        got.append("caller's handler")

    outer = signal.signal(signal.SIGTERM, callers)
    try:
        args, rc = _sweep_stopped_at_third_part(tmp_path, monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, outer)
    assert got == [] and rc == 143 and after is callers
    err = capsys.readouterr().err
    assert err == "hwsim sweep: terminated; the finished parts are kept: rerun with --resume to continue\n"
    assert main([*args, "--resume"]) == 0


def test_a_fresh_run_leaves_no_plot_of_an_earlier_study(tmp_path):
    """A new study in the folder of an old one, with no feasible row (so no plot): the old plot goes with the old
    results, not left beside the new ones."""
    s = study(tmp_path, plot="pareto.png")
    out = tmp_path / "o"
    assert run_sweep(s, out, evaluator=fake_evaluator).plot == out / "pareto.png"
    none = load_study(_rewrite(s.file, "area_mm2: {max: 20}", "area_mm2: {max: 0}"), check_names=False)
    with pytest.warns(HwsimWarning, match="front is empty"):
        res = run_sweep(none, out, evaluator=fake_evaluator)
    assert res.plot is None and res.front_rows == 0
    assert not (out / "pareto.png").exists()


MIXED = """
architectures:
  - {preset: bitmod, name: fixed, set: {memory.dram.capacity: FIXED}}
  - {preset: bitmod, name: swept, sweep: {memory.dram.capacity: ["1 GB", "2 GB"]}}
workloads: [{model: gpt-2, phase: decode}]
precisions: {weights: [int8]}
objectives: [seconds:min, energy_j:min]
outputs: {plot: false}
"""


def test_a_column_of_numbers_and_text_is_refused_before_the_sweep_runs(tmp_path, capsys):
    """One design fixing memory.dram.capacity ("0.5 GB": recorded in SI, a number) and another sweeping it with
    units (recorded as written, text) ran every point, then failed to merge the parts with a pyarrow
    ArrowTypeError traceback. Now one line at load, exit 2; written alike (a one-value sweep), it runs."""
    p = tmp_path / "s.yaml"
    p.write_text(MIXED.replace("FIXED", '"0.5 GB"'))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and not (tmp_path / "o").exists()
    assert f"{p}: architectures[1].sweep.memory.dram.capacity: the results column 'memory.dram.capacity'" in err
    assert "from architectures[0].set.memory.dram.capacity" in err
    p.write_text(MIXED.replace("set: {memory.dram.capacity: FIXED}", 'sweep: {memory.dram.capacity: ["0.5 GB"]}'))
    t = run_sweep(load_study(p), tmp_path / "alike", progress=False).table()
    assert list(t["memory.dram.capacity"]) == ["0.5 GB", "1 GB", "2 GB"]
    assert list(t["memory.dram.capacity_B"]) == [5e8, 1e9, 2e9]
