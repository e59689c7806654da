"""Roofline of Llama-2-7B on the H100 SXM preset against its datasheet (REFERENCES.md, "GPUs
(datasheets)": H100 SXM 80 GB, dense FP16 989 TFLOPS, INT8 1979 TOPS, 3.35 TB/s HBM3)."""

import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.roofline import roofline
from hwsim.workload import load_model, trace

H100_FP16 = 2 * 132 * 4 * 512 * 1.83e9  # SMs × TCs × FMA/clock × 2 × boost clock
H100_BW = 3.35e12


@pytest.fixture(scope="module")
def h100():
    return load_arch("h100-sxm")


@pytest.fixture(scope="module")
def llama():
    return load_model("llama-2-7b")


def test_peaks_match_the_datasheet(h100):
    r = roofline(h100, trace(load_model("llama-2-7b"), "decode")).machines[0]
    assert r.linear_ops_per_s == pytest.approx(989e12, rel=1e-3)  # datasheet 989 TFLOPS dense fp16
    assert r.bandwidth == {"hbm": H100_BW}  # L2 has no bandwidth in the preset: no roof
    int8 = roofline(h100, trace(load_model("llama-2-7b"), "decode"), Precision(weights=8, activations=8)).machines[0]
    assert int8.linear_ops_per_s == pytest.approx(1979e12, rel=1e-3)  # datasheet 1979 TOPS int8


def test_decode_batch1_every_linear_op_is_memory_bound(h100, llama):
    rl = roofline(h100, trace(llama, "decode", batch=1))
    lin = rl.ops[rl.ops["kind"] == "linear"]
    assert len(lin) == 32 * 7 + 1
    assert (lin["bound"] == "memory").all()
    # a GEMV at fp16 moves ~2 bytes per 2 ops: intensity ≈ 1 op/B, 295× below the ridge
    assert lin["intensity"].between(0.99, 1.0).all()
    assert lin["attainable_ops_per_s"].max() < H100_BW * 1.0 + 1


def test_prefill_2048_large_linear_ops_are_compute_bound(h100, llama):
    rl = roofline(h100, trace(llama, "prefill", seq=2048))
    lin = rl.ops[rl.ops["kind"] == "linear"]
    large = lin[lin["op"] != "lm_head"]  # every per-layer projection: 2048 × 4096..11008 × 4096..11008
    assert len(large) == 32 * 7
    assert (large["bound"] == "compute").all()
    assert (large["attainable_ops_per_s"] == H100_FP16).all()
    # q_proj by hand: 2·2048·4096² ops over (2048·4096 + 4096² + 2048·4096)·2 bytes = 1024 op/B
    q = large[large["op"] == "q_proj"]
    assert (q["intensity"] == 1024.0).all()
    # lm_head on the last token only is a GEMV: memory-bound
    assert (lin[lin["op"] == "lm_head"]["bound"] == "memory").all()


def test_ridge_points_equal_peak_over_bandwidth_exactly(h100, llama):
    rl = roofline(h100, trace(llama, "decode"), [Precision(), Precision(weights=8, activations=8)])
    for r in rl.machines:
        assert r.ridge("hbm") == r.linear_ops_per_s / H100_BW
        assert r.ridge("hbm", "elementwise") == r.vector_ops_per_s / H100_BW
    assert rl.machines[0].ridge("hbm") == H100_FP16 / H100_BW  # = 295.35 op/B
    assert rl.machines[0].ridge("hbm") == pytest.approx(295.352, abs=1e-3)
    assert set(rl.ops["ridge_intensity"].round(9)) == {
        round(H100_FP16 / H100_BW, 9),
        round(2 * H100_FP16 / H100_BW, 9),
        round(132 * 128 * 1.83e9 / H100_BW, 9),
    }


def test_decode_tokens_per_s_ceiling_by_hand(h100, llama):
    s = roofline(h100, trace(llama, "decode", batch=1, context=256)).summary.iloc[0]
    # weights read per token: every linear layer, lm_head, 65 norm vectors, one embedding row (fp16)
    layer = 4 * 4096 * 4096 + 3 * 4096 * 11008
    weights = (32 * layer + 32000 * 4096 + 65 * 4096 + 4096) * 2
    assert weights == 13_214_695_424
    kv = 2 * 32 * (256 + 1) * 4096 * 2  # K and V, 32 layers, 257 positions, 4096 wide, fp16
    assert s.weight_bytes == weights and s.kv_read_bytes == kv == 134_742_016
    assert s.bytes_per_token == weights + kv
    assert s.tokens_per_s_ceiling == pytest.approx(3.35e12 / 13_349_437_440, rel=1e-15)
    assert s.tokens_per_s_ceiling == pytest.approx(250.947, abs=1e-3)
    # the attained decode rate (cost model, calibrated HBM efficiency and launch overhead) sits below it
    assert s.tokens_per_s_attained < s.tokens_per_s_bound <= s.tokens_per_s_ceiling


def test_batch_shares_the_weights_across_tokens(h100, llama):
    s1 = roofline(h100, trace(llama, "decode", batch=1)).summary.iloc[0]
    s8 = roofline(h100, trace(llama, "decode", batch=8)).summary.iloc[0]
    # one pass reads the weights once for 8 tokens (plus 8 embedding rows instead of 1) and 8 KV caches
    assert s8.weight_bytes == s1.weight_bytes + 7 * 4096 * 2
    assert s8.bytes_per_token == (s1.weight_bytes + 7 * 4096 * 2) / 8 + s1.kv_read_bytes
    assert s8.tokens_per_s_ceiling > 7 * s1.tokens_per_s_ceiling


def test_four_bit_weights_raise_the_decode_ceiling(h100, llama):
    tr = trace(llama, "decode")
    s16, s4 = roofline(h100, tr, [Precision(), Precision(weights="int4_g128")]).summary.itertuples()
    # int4 with an fp16 scale per 128 → 4.125 bits/weight (scales included in the bytes)
    assert s4.weight_bytes == pytest.approx(s16.weight_bytes * 4.125 / 16, rel=1e-6)
    assert s4.tokens_per_s_ceiling > 3.5 * s16.tokens_per_s_ceiling
