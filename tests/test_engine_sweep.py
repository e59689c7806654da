"""sweep_cost equals point-by-point evaluation and validates its grid like --set."""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops, sweep_cost
from hwsim.errors import HwsimError
from hwsim.engine import evaluate

OPS = gemm_ops([("a", 256, 4096, 4096), ("b", 1, 11008, 4096), ("c", 256, 4096, 4096)])


def test_sweep_matches_points():
    arch = load_arch("bitmod")
    grid = {
        "compute.rows": [16, 64],
        "compute.cols": [8, 32],
        "memory.dram.bandwidth": ["128 bit/cycle", "512 bit/cycle"],
    }
    df = sweep_cost(arch, grid, OPS, Precision(weights=4.0625))
    assert len(df) == 8
    for _, r in df.iterrows():
        one = load_arch(
            "bitmod",
            {
                "compute.rows": r["compute.rows"],
                "compute.cols": r["compute.cols"],
                "memory.dram.bandwidth": r["memory.dram.bandwidth"],
            },
        )
        t = evaluate(one, OPS, Precision(weights=4.0625)).totals
        for key in ("cycles", "compute_cycles", "memory_cycles", "energy_j", "area_mm2"):
            assert r[key] == pytest.approx(t[key], rel=1e-12)


def test_sweep_systolic_and_bad_grid():
    arch = load_arch("tpu-like")
    df = sweep_cost(arch, {"compute.rows": np.array([32, 64, 128])}, OPS)
    assert list(df["compute_cycles"]) == sorted(df["compute_cycles"], reverse=True)
    with pytest.raises(HwsimError, match="compute.rowz: unknown field"):
        sweep_cost(arch, {"compute.rowz": [1]}, OPS)
    with pytest.raises(HwsimError, match="compute.rows: must be > 0"):
        sweep_cost(arch, {"compute.rows": [4, -1]}, OPS)


def test_zipped_points_equal_the_matching_product_rows():
    """product=False takes row i of every column as one point (sampled designs), same numbers as the grid."""
    arch = load_arch("bitmod")
    rows, cols = [16, 64, 32], [32, 8, 8]
    zipped = sweep_cost(
        arch, {"compute.rows": rows, "compute.cols": cols}, OPS, Precision(weights=4.0625), product=False
    )
    grid = sweep_cost(arch, {"compute.rows": [16, 32, 64], "compute.cols": [8, 32]}, OPS, Precision(weights=4.0625))
    assert len(zipped) == 3
    for r, c, cycles in zip(rows, cols, zipped["cycles"]):
        match = grid[(grid["compute.rows"] == r) & (grid["compute.cols"] == c)]
        assert cycles == match["cycles"].item()
    with pytest.raises(HwsimError, match="one length"):
        sweep_cost(arch, {"compute.rows": [16, 32], "compute.cols": [8]}, OPS, product=False)


def test_cost_of_something_that_is_not_a_trace_is_a_user_error():
    with pytest.raises(HwsimError, match="expected a Trace"):
        evaluate(load_arch("bitmod"), [1, 2, 3])


def test_memory_footprint_against_backing_capacity():
    """Weights at their storage bits + the KV cache after the step, compared with the backing store's capacity
    (Llama-2-70B: 68,976,648,192 params, REFERENCES.md; fp16 = 138 GB does not fit an 80 GB H100)."""
    from hwsim.workload import load_model, trace

    tr = trace(load_model("llama-2-70b"), "decode", context=256)
    # activations: the residual stream (8192) + the largest op's input and output (the gated activation:
    # gate and up in, 2 × 28672, their product out, 28672), fp16
    act = (8192 + 2 * 28672 + 28672) * 2
    need16 = 68_976_648_192 * 2 + 2 * 80 * 257 * 1024 * 2 + act
    t = evaluate(load_arch("h100-sxm"), tr, Precision()).totals
    assert t["activation_bytes"] == act
    assert t["footprint_bytes"] == need16 and t["fits_memory"] is False
    df = sweep_cost(load_arch("h100-sxm"), {"memory.hbm.capacity": ["80 GB", "160 GB"]}, tr, Precision())
    assert df["footprint_bytes"].tolist() == [need16, need16] and df["fits_memory"].tolist() == [False, True]
    assert "footprint_bytes" not in evaluate(load_arch("h100-sxm"), OPS).totals  # a bare GEMM table has no model


@pytest.mark.filterwarnings("ignore:.*max_position_embeddings")
def test_footprint_counts_the_unfused_score_matrix():
    """Issue 14's example: Llama-2-7B prefill of 8192 tokens, batch 8. Unfused, one layer's fp16 scores are
    8 · 32 heads · 8192² · 2 B = 34.4 GB, live twice around the softmax (its input and output): weights and
    KV alone (47.9 GB) fit an 80 GB A100, the step does not. Fused, the scores stay on chip and it fits."""
    from dataclasses import replace

    from hwsim.workload import load_model, trace

    tr = trace(load_model("llama-2-7b"), "prefill", batch=8, seq=8192)
    a100 = load_arch("a100-sxm")
    scores = 8 * 32 * 8192 * 8192 * 2
    fused = evaluate(a100, tr).totals
    unfused = evaluate(replace(a100, attention="unfused"), tr).totals
    assert unfused["activation_bytes"] >= 2 * scores and unfused["fits_memory"] is False
    assert fused["activation_bytes"] < scores / 4 and fused["fits_memory"] is True
    assert (
        unfused["footprint_bytes"] - unfused["activation_bytes"] == fused["footprint_bytes"] - fused["activation_bytes"]
    )


def test_footprint_counts_a_checkpoints_own_formats():
    """llama-2-7b-gptq keeps lm_head (GPTQ's default `lm_head: false`) and the token table (GPTQ quantizes
    linear layers only) in fp16: at the checkpoint's own format the footprint holds both 32000 × 4096
    tables at 16 bits, not 4.125, and the 65 norms of 4096 (vLLM builds them in the model dtype); another format
    prices every weight at that format."""
    from hwsim.workload import load_model, trace

    tr = trace(load_model("llama-2-7b-gptq"), "decode", context=100)
    h100 = load_arch("h100-sxm")
    own = evaluate(h100, tr, Precision(weights="int4_g128")).totals
    kv_act = own["footprint_bytes"] - own["activation_bytes"] - 6_738_415_616 * 4.125 / 8
    sixteen = 2 * 32000 * 4096 + (2 * 32 + 1) * 4096
    assert kv_act - tr.kv_cache_bytes(16) == pytest.approx(sixteen * (16 - 4.125) / 8)
    other = evaluate(h100, tr, Precision(weights="int8")).totals
    assert other["footprint_bytes"] - other["activation_bytes"] == 6_738_415_616 + tr.kv_cache_bytes(16)
