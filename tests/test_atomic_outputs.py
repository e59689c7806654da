"""Files the CLI writes outside sweeps (serve --out, trace --csv, calibrate --out) are whole or absent: a run
stopped mid-write (here Ctrl-C inside the writer, after half the bytes) leaves the previous file as it was and
no temporary beside it (hwsim.fileio.atomic_write)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from hwsim.cli import main

KERNELS = Path(__file__).parents[1] / "hwsim" / "data" / "gpu" / "h100-sxm-kernels.csv"


def _half_then_ctrl_c(target) -> None:
    """What a writer stopped part-way leaves at `target` (a path or an open binary file)."""
    if isinstance(target, (str, os.PathLike)):
        Path(target).write_bytes(b"PAR1 half a fi")
    else:
        target.write(b"PAR1 half a fi")
    raise KeyboardInterrupt


def _interrupt_parquet(monkeypatch):
    monkeypatch.setattr(pq, "write_table", lambda table, where, *a, **kw: _half_then_ctrl_c(where))


def _interrupt_csv(monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda self, path, *a, **kw: _half_then_ctrl_c(path))


def _interrupt_text(monkeypatch):
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **kw: _half_then_ctrl_c(self))


SERVE = ["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--rate", "20", "--num-requests", "20", "--out"]
TRACE = ["trace", "--model", "llama-2-7b", "--phase", "decode", "--batch", "2", "--context", "64", "--csv"]
CALIBRATE = ["calibrate", "--arch", "h100-sxm", "--measurements", str(KERNELS), "--holdout-column", "split=held-out"]


@pytest.mark.parametrize(
    "argv, out, file, interrupt",
    [
        (SERVE, "o", "o/requests.parquet", _interrupt_parquet),
        (TRACE, "ops.csv", "ops.csv", _interrupt_csv),
        ([*CALIBRATE, "--out"], "fit.yaml", "fit.yaml", _interrupt_text),
    ],
    ids=["serve", "trace", "calibrate"],
)
def test_a_write_stopped_part_way_leaves_the_previous_file(tmp_path, capsys, monkeypatch, argv, out, file, interrupt):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # calibrate dates its fit
    args = [*argv, str(tmp_path / out)]
    assert main(args) == 0
    before = (tmp_path / file).read_bytes()
    folder = sorted(p.name for p in (tmp_path / file).parent.iterdir())
    interrupt(monkeypatch)
    try:
        rc = main(args)
    except KeyboardInterrupt:  # else pytest would take it for the user's own Ctrl-C and stop the session
        pytest.fail("Ctrl-C escaped hwsim.cli.main")
    monkeypatch.undo()
    assert rc == 130 and capsys.readouterr().err.endswith(": interrupted\n")
    assert (tmp_path / file).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / file).parent.iterdir()) == folder  # no temporary left


@pytest.mark.parametrize(
    "argv, out, left",
    [
        (SERVE, "o", ["o/requests.parquet", "o/iterations.parquet", "o/latency.png", "o/timeline.png"]),
        (TRACE, "ops.csv", ["ops.csv"]),
        ([*CALIBRATE, "--out"], "fit.yaml", ["fit.yaml"]),
    ],
    ids=["serve", "trace", "calibrate"],
)
def test_the_rerun_drops_what_a_killed_write_left(tmp_path, argv, out, left):
    """SIGKILL mid-write leaves `<file>.tmp-<pid>…` (no `finally` runs); the rerun removes those of gone
    processes and leaves the folder an uninterrupted run leaves. A live process's temporary stays."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    (tmp_path / left[0]).parent.mkdir(exist_ok=True)
    for name in left:
        suffix = Path(name).suffix if name.endswith(".png") else ""  # a plot's temporary keeps its extension
        (tmp_path / f"{name}.tmp-{dead}{suffix}").write_bytes(b"half a fi")
    live = tmp_path / f"{left[0]}.tmp-{os.getppid()}"  # a running process: pytest's parent
    live.write_bytes(b"being written")
    assert main([*argv, str(tmp_path / out)]) == 0
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted([*left, live.relative_to(tmp_path).as_posix()])
