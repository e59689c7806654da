"""benchmarks/gpu_microbench.py writes what `hwsim calibrate --measurements` reads (issue 16).

The script times kernels with torch on a GPU, which this suite cannot do; its --dry-run writes the same
rows without times and needs no torch. The round trip: dry-run rows, filled with times that a known
GPU (the H100 preset with changed fitted values) predicts, pass calibrate's validation and the fit
recovers those values.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwsim.arch import load_arch
from hwsim.engine.calibrate import DTYPES, MEASURE_KINDS, REQUIRED, fit, predict, read_measurements

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_microbench.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_microbench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "shapes.csv"
    had_torch = "torch" in sys.modules
    assert _module().main(["--dry-run", "--out", str(out), "--m", "1,16,64,1024,4096"]) == 0
    assert had_torch or "torch" not in sys.modules  # the dry run never imports torch
    return out


def test_dry_run_schema_is_what_calibrate_reads(dry_run):
    df = pd.read_csv(dry_run)
    assert set(REQUIRED) <= set(df.columns)
    # every kernel class calibrate reads is benchmarked, except Marlin (no Marlin kernel in torch itself;
    # the model costs it as the dense GEMM with low-bit weight bytes, fitted by the gemm rows)
    assert set(df["kind"]) == set(MEASURE_KINDS) - {"gemm_wonly_marlin"}
    assert set(df["dtype"]) <= set(DTYPES)
    for kind, (extra, _) in MEASURE_KINDS.items():
        rows = df[df["kind"] == kind]
        for col in extra:
            assert rows[col].notna().all(), (kind, col)
    assert df["seconds"].isna().all()  # no times in a dry run: calibrate refuses it (next test)


def test_dry_run_without_times_is_refused_by_calibrate(dry_run):
    from hwsim.errors import HwsimError

    with pytest.raises(HwsimError, match="seconds"):
        read_measurements(dry_run)


def test_round_trip_recovers_the_fitted_values(dry_run, tmp_path):
    truth = {
        "compute.compute_efficiency": 0.70,
        "memory.hbm.efficiency": 0.80,
        "compute.launch_overhead": 5e-6,
        "compute.compute_efficiency_8bit": 0.60,
        "compute.overhead_8bit": 12e-6,
        "compute.gemv_efficiency": 0.30,
        "compute.gemv_overhead": 4e-6,
        "compute.sm_bandwidth": 40.0,
    }
    h100 = load_arch("h100-sxm")
    df = pd.read_csv(dry_run)
    df["seconds"] = predict(h100.with_values(truth), df.assign(seconds=1.0))
    path = tmp_path / "my-gpu.csv"
    df.to_csv(path, index=False)
    meas = read_measurements(path)
    got = fit(h100, meas, np.ones(len(meas), dtype=bool), file=path)
    assert np.median(np.abs(got.errors)) < 0.01
    for key in (
        "compute.compute_efficiency",
        "memory.hbm.efficiency",
        "compute.compute_efficiency_8bit",
        "compute.gemv_efficiency",
    ):
        assert got.values[key] == pytest.approx(truth[key], rel=0.03), key
    assert got.values["compute.launch_overhead"] == pytest.approx(truth["compute.launch_overhead"], abs=0.5e-6)


class _FakeCuda:
    """Just enough of torch.cuda to run the timing code without a GPU: every event pair reads 2 ms."""

    def __init__(self):
        self.calls, self.captured = 0, None

    class Event:
        def __init__(self, enable_timing=True):
            pass

        def record(self):
            pass

        def synchronize(self):
            pass

        def elapsed_time(self, other):
            return 2.0

    class Stream:
        def wait_stream(self, other):
            pass

    def current_stream(self):
        return self.Stream()

    def stream(self, s):
        import contextlib

        return contextlib.nullcontext()

    class CUDAGraph:
        def replay(self):
            pass

    def graph(self, g):
        import contextlib

        fake = self

        @contextlib.contextmanager
        def capture():
            before = fake.calls
            yield
            fake.captured = fake.calls - before

        return capture()


@pytest.mark.parametrize("reps, per_call", [(0, 2e-3), (8, 2e-3 / 8)])
def test_timing_is_per_call_eager_or_in_a_cuda_graph(reps, per_call):
    mod = _module()
    fake = type("FakeTorch", (), {"cuda": _FakeCuda()})()

    def fn():
        fake.cuda.calls += 1

    assert mod._median_seconds(fake, fn, warmup=2, iters=5, graph_reps=reps) == pytest.approx(per_call)
    if reps:
        assert fake.cuda.captured == reps  # the graph holds reps back-to-back calls
    else:
        assert fake.cuda.calls == 2 + 5  # warm-ups and one call per timed event pair
