"""Cycle engine: tile pipeline arithmetic, outputs shaped like the analytical engine's, timeline,
CLI, recheck, user errors."""

import json

import numpy as np
import pandas as pd
import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.cycle import evaluate, recheck, utilisation
from hwsim.sim.pipelines import Stage, run
from hwsim.sim.tiles import pipeline, tile_grid
from hwsim.engine import Precision, gemm_ops
from hwsim.engine import evaluate as analytical
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
    # both operands fit (fetch factors 1, 1): each loaded once; outputs once; whole tiles
    rows, cols, share, a, b, c = tile_grid(64, 96, 16, 32, 4096.0, 3072.0, 12288.0)
    assert len(rows) == 4 * 3 and a.sum() == 4096 and b.sum() == 3072 and c.sum() == 12288
    assert np.all(share == 1)
    # B re-read twice (the shared model's b_fetch = ceil(A/cap_A) = 2): A held in two super-blocks of
    # 32 rows, B streams once per super-block
    rows, cols, share, a, b, c = tile_grid(64, 96, 16, 32, 2048.0, 3072.0, 6144.0, a_fetch=1, b_fetch=2)
    assert (a.sum(), b.sum(), c.sum()) == (2048, 2 * 3072, 6144)
    # resident A (fetch 0) is never loaded
    assert tile_grid(64, 96, 16, 32, 2048.0, 3072.0, 6144.0, a_fetch=0, b_fetch=1)[3].sum() == 0


def test_tile_grid_super_blocks_cut_tiles_by_bytes():
    """The fetch rule cuts the held operand by bytes: 3 super-blocks over 64 rows in 32-row tiles
    split the tiles into parts (21.3 + 10.7 rows ...) whose shares sum to one pass per tile."""
    rows, cols, share, a, b, c = tile_grid(64, 64, 32, 32, 4096.0, 8192.0, 8192.0, a_fetch=1, b_fetch=3)
    assert (a.sum(), b.sum(), c.sum()) == pytest.approx((4096, 3 * 8192, 8192))
    assert share.sum() == pytest.approx(2 * 2)  # 2 row tiles × 2 column tiles, one pass each
    assert len(rows) == 4 * 2  # 4 parts (tile 0: 2 parts, tile 1: 2 parts) × 2 column tiles
    assert np.all(rows == 32)  # each part is a pass of the full tile, weighted by its share


def test_tile_grid_holds_the_operand_that_fits():
    """Nothing re-read: A fits its buffer, B does not, so A is held and B streams once, one tile per
    walk of A's tiles — not all of B loaded under the first walk (a burst the compute cannot hide)."""
    rows, cols, share, a, b, c = tile_grid(64, 96, 32, 32, 4096.0, 6144.0, 6144.0, cap_a=4096.0, cap_b=1024.0)
    assert (a.sum(), b.sum()) == (4096, 6144)
    assert list(np.nonzero(b)[0]) == [0, 2, 4]  # 3 B tiles, each before its 2 A-tile passes
    assert list(np.nonzero(a)[0]) == [0, 1]  # A's 2 tiles with the first B tile


def test_load_free_tiles_share_their_buffer():
    # tiles 1 and 2 compute on tile 0's buffer (no loads): tile 3's load may start as soon as the
    # DMA is free, since only one buffer fill is in use; with per-tile slots it would wait for tile 1
    end = _pipe([10, 0, 0, 10], [10, 10, 10, 10], [0, 0, 0, 0])[0]
    assert end == 10 + 4 * 10


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
    assert t.plot().get_xlabel() == "time (cycles)"


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
    rc = main(
        ["simulate", "--arch", "tpu-like", "--gemm", "64,512,512", "--phase", "prefill", "--engine", "cycle", "--json"]
    )
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


def test_recheck_reads_a_sweep_table_with_units(tmp_path):
    """docs/cycle.md: recheck takes a sweep/study results table. A quantity swept with units is written as its
    YAML spelling under the path and its SI value under <path>_<unit> (memory.dram.bandwidth_B_per_cycle;
    a range with units: the SI column only); recheck applies the SI column at its kind. Before, it took every
    dotted column as a path: 'memory.dram.bandwidth_B_per_cycle: unknown field', one line per call."""
    from hwsim.study import load_study
    from hwsim.sweep import run_sweep
    from hwsim.workload import trace

    study = tmp_path / "s.yaml"
    study.write_text(
        "architectures:\n"
        "  - preset: bitmod\n"
        "    sweep:\n"
        '      memory.dram.bandwidth: ["128 bit/cycle", "512 bit/cycle"]\n'
        "      memory.weight_sram.capacity: {min: 256 KiB, max: 1 MiB, num: 2}\n"
        "workloads: [{model: gpt-2, phase: decode, context: 16}]\n"
        "precisions: {weights: int8}\n"
        "outputs: {plot: false}\n"
    )
    table = run_sweep(load_study(study), tmp_path / "out", progress=False).table()
    assert {"memory.dram.bandwidth_B_per_cycle", "memory.weight_sram.capacity_B"} <= set(table.columns)
    tr, prec = trace("gpt-2", "decode", context=16), Precision(weights="int8")
    out = recheck(table, load_arch("bitmod"), tr, prec, sample=4, seed=0)
    assert len(out) == 4
    for _, r in out.iterrows():
        point = load_arch(
            "bitmod",
            {
                "memory.dram.bandwidth": r["memory.dram.bandwidth"],
                "memory.weight_sram.capacity": f"{r['memory.weight_sram.capacity_B']} B",
            },
        )
        assert r["cycles_cycle"] == evaluate(point, tr, prec).totals["cycles"]
        assert abs(r["rel_diff"]) < 0.05


def test_lut_cpu_runs_float_weights_on_the_host_like_the_analytical_engine():
    """float_weights: host (T-MAC's fp16 lm_head): both engines price fp16 weights on the host lanes."""
    from hwsim.arch import load_arch
    from hwsim.cycle import evaluate as cycle_evaluate
    from hwsim.engine import Precision, gemm_ops

    arch = load_arch("tmac-rpi5", {"compute.float_weights": "host"})
    ops = gemm_ops([("lm_head", 1, 32000, 4096)])
    prec = Precision(weights="fp16")
    ana = analytical(arch, ops, prec).totals["cycles"]
    cycles = cycle_evaluate(arch, ops, prec).totals["cycles"]
    assert abs(cycles - ana) / ana < 0.05


@pytest.mark.parametrize("arch", ["bitmod", "tpu-like"])
def test_a_gemm_of_more_tiles_than_simulated_merges_them(arch, monkeypatch):
    """A huge op simulated tile by tile took GBs (bitmod, Llama-3.1-8B prefill 131,072 tokens: 15.6 s, 5.9 GB;
    decode over a 2^31-token context: killed for memory): beyond MAX_TILES (instances included) the tiles merge.
    Compute and bytes stay the same; only the overlap of loads and compute is coarser."""
    import hwsim.sim.models as models

    ops = gemm_ops([("g", 4000, 4100, 256)])
    prec = Precision(weights="int8")
    full = evaluate(load_arch(arch), ops, prec).ops.iloc[0]
    sizes = []
    real = models.pipeline

    def counted(load, *rest):
        sizes.append(len(load))
        return real(load, *rest)

    monkeypatch.setattr(models, "MAX_TILES", 4096)
    monkeypatch.setattr(models, "pipeline", counted)
    merged = evaluate(load_arch(arch), ops, prec).ops.iloc[0]
    assert sizes and max(sizes) <= 4096
    assert merged["compute_cycles"] == pytest.approx(full["compute_cycles"], rel=1e-12)
    assert merged["bytes_dram"] == pytest.approx(full["bytes_dram"], rel=1e-12)
    assert merged["cycles"] == pytest.approx(full["cycles"], rel=1e-2)  # bitmod −0.54% (4× merged), tpu-like 0
