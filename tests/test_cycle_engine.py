"""Cycle engine: tile pipeline arithmetic, outputs shaped like the analytical engine's, timeline,
CLI, recheck, user errors."""
import json

import numpy as np
import pandas as pd
import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.cycle import evaluate, recheck, utilisation
from hwsim.cycle.pipelines import Stage, run
from hwsim.cycle.tiles import pipeline, tile_grid
from hwsim.engine import Precision, gemm_ops
from hwsim.engine.cost import evaluate as analytical
from hwsim.errors import HwsimError


def _pipe(load, comp, store):
    return pipeline(np.array(load, float), np.array(comp, float), np.array(store, float), 2, 2, 10.0)


def test_double_buffered_pipeline_by_hand():
    # memory-bound: loads back to back (10 each), compute 5 after the last load
    assert _pipe([10, 10, 10], [5, 5, 5], [0, 0, 0])[0] == 35
    # compute-bound: the first load is exposed, then computes back to back
    end, busy_c, busy_d, first, _, _ = _pipe([1, 1, 1], [10, 10, 10], [0, 0, 0])
    assert (end, busy_c, busy_d, first) == (31, 30, 3, 1)
    # stores share the DMA channel: the last store comes after the last compute
    assert _pipe([1, 1], [10, 10], [4, 4])[0] == 1 + 10 + 10 + 4


def test_tile_grid_bytes_follow_reuse():
    # both operands fit: each loaded once; outputs once
    rows, cols, a, b, c = tile_grid(64, 96, 32, 16, 32, 2.0, 1.0, 2.0, 1e9, 1e9)
    assert len(rows) == 4 * 3 and a.sum() == 64 * 32 * 2 and b.sum() == 32 * 96 and c.sum() == 64 * 96 * 2
    # neither fits (A 2 KiB, B 3 KiB, 1 KiB buffers): as in the shared memory model, re-fetching B
    # ceil(A/cap_A) = 2 times (8 KiB moved) beats re-fetching A ceil(B/cap_B) = 3 times (9 KiB):
    # A stays in super-blocks of two 16-row tiles, B streams once per super-block
    rows, cols, a, b, c = tile_grid(64, 96, 32, 16, 32, 1.0, 1.0, 1.0, 1024.0, 1024.0)
    assert a.sum() == 64 * 32 and b.sum() == 2 * 32 * 96


def test_outputs_match_the_analytical_schema():
    arch = load_arch("bitmod")
    ops = gemm_ops([("a", 256, 4096, 4096), ("b", 1, 4096, 11008)])
    cyc, ana = evaluate(arch, ops, Precision(weights=4.0625)), analytical(arch, ops, Precision(weights=4.0625))
    assert list(cyc.ops.columns) == list(ana.ops.columns)
    assert set(cyc.totals) == set(ana.totals)
    assert cyc.to_json().keys() == ana.to_json().keys()
    # compute: the family's closed form per tile sums to the analytical count (bit-serial has no fill)
    np.testing.assert_array_equal(cyc.ops.compute_cycles, ana.ops.compute_cycles)
    # DRAM bytes: the tile loads equal the shared memory model's when an operand fits its buffer
    np.testing.assert_allclose(cyc.ops.bytes_dram, ana.ops.bytes_dram)
    assert cyc.totals["energy_j"] == pytest.approx(ana.totals["energy_j"], rel=0.02)


def test_timeline_and_utilisation():
    t = evaluate(load_arch("tpu-like"), gemm_ops([("g", 64, 1024, 1024)]))
    tl = t.timeline
    assert list(tl.columns) == ["resource", "start", "end", "busy", "op"]
    assert set(tl.resource) == {"compute", "dram"}
    assert tl.busy.between(0, 1).all() and (tl.end > tl.start).all()
    assert tl.end.max() == pytest.approx(t.totals["cycles"], abs=1)
    u = utilisation(tl)
    # busy cycles over the span equal what the pipeline reports
    assert u["compute"] == pytest.approx(t.totals["compute_cycles"] / t.totals["cycles"], rel=1e-6, abs=1e-3)
    import matplotlib

    matplotlib.use("Agg")
    assert t.plot().get_xlabel() == "cycles"


def test_pipeline_resources_serialise():
    # two stages on one resource cannot overlap: 3 batches × (2 + 3) on "x" = 15
    res = run([Stage("x", np.array([2.0, 2, 2])), Stage("x", np.array([3.0, 3, 3]))], 3)
    assert res.end == 15 and res.busy["x"] == 15
    # on different resources they overlap: 2 + 3·3
    res = run([Stage("x", np.array([2.0, 2, 2])), Stage("y", np.array([3.0, 3, 3]))], 3)
    assert res.end == 11


def test_deterministic():
    arch = load_arch("sail-n1")
    ops = gemm_ops([("g", 4, 4096, 4096)])
    a = evaluate(arch, ops, Precision(weights="int4_g128"))
    b = evaluate(arch, ops, Precision(weights="int4_g128"))
    pd.testing.assert_frame_equal(a.ops, b.ops)
    pd.testing.assert_frame_equal(a.timeline, b.timeline)


def test_cli_engine_cycle(capsys):
    rc = main(["simulate", "--arch", "tpu-like", "--gemm", "64,512,512", "--phase", "prefill", "--engine", "cycle", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["totals"]["cycles"] > 0 and doc["ops"][0]["bound"] in ("compute", "memory")


def test_recheck_reports_relative_difference():
    arch = load_arch("tpu-like")
    ops = gemm_ops([("g", 16, 512, 512)])
    rows = []
    for r in (32, 64, 128):
        a = arch.with_values({"compute.rows": r})
        rows.append({"compute.rows": r, "cycles": analytical(a, ops).totals["cycles"]})
    out = recheck(pd.DataFrame(rows), arch, ops, sample=2, seed=1)
    assert len(out) == 2 and {"cycles_cycle", "rel_diff"} <= set(out.columns)
    again = recheck(pd.DataFrame(rows), arch, ops, sample=2, seed=1)
    pd.testing.assert_frame_equal(out, again)
    with pytest.raises(HwsimError, match="cycles"):
        recheck(pd.DataFrame({"x": [1]}), arch, ops)


def test_lut_cpu_runs_float_weights_on_the_host_like_the_analytical_engine():
    """float_weights: host (T-MAC's fp16 lm_head): both engines price fp16 weights on the host lanes."""
    from hwsim.arch import load_arch
    from hwsim.cycle import evaluate as cycle_evaluate
    from hwsim.engine import Precision, gemm_ops

    arch = load_arch("tmac-rpi5", {"compute.float_weights": "host"})
    ops = gemm_ops([("lm_head", 1, 32000, 4096)])
    prec = Precision(weights="fp16")
    analytical = arch.cost(ops, prec).totals["cycles"]
    cycles = cycle_evaluate(arch, ops, prec).totals["cycles"]
    assert abs(cycles - analytical) / analytical < 0.05
