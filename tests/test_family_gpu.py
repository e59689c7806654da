"""GPU family: tensor-core peaks from SM counts (datasheets, REFERENCES.md "GPUs")."""
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops


@pytest.mark.parametrize("name, fp16, int8", [("a100-sxm", 312, 624), ("h100-sxm", 989, 1979)])
def test_tensor_peak_from_sm_count(name, fp16, int8):
    a = load_arch(name)
    fam = a.family_model
    assert fam.peak_flops(a, Precision().resolve()) / 1e12 == pytest.approx(fp16, rel=2e-3)
    assert fam.peak_flops(a, Precision(weights="int8", activations="int8").resolve()) / 1e12 == pytest.approx(int8, rel=2e-3)


def test_launch_overhead_and_wave_quantisation():
    a = load_arch("h100-sxm", {"compute.launch_overhead": "10 us"})
    t = a.cost(gemm_ops([("tiny", 1, 128, 128)])).ops["seconds"].iloc[0]
    assert 10e-6 < t < 11e-6  # overhead plus one 128x128x128 tile (~0.7 µs)
    # 132 tiles fill one wave; 133 tiles need two
    one = a.cost(gemm_ops([("g", 128 * 132, 128, 8192)])).ops["compute_cycles"].iloc[0]
    two = a.cost(gemm_ops([("g", 128 * 133, 128, 8192)])).ops["compute_cycles"].iloc[0]
    assert two == pytest.approx(2 * one)


def test_skinny_gemm_tiles_to_mma_rows():
    # V100S GEMV 1x4096x4096: a padded 128-row tile would take 2 x 128*128*2048/(512*0.785) cycles of
    # tensor work (compute-bound); tiled to 16 rows it is HBM-bound at 32 MiB / (1134 GB/s x 0.686)
    ops = gemm_ops([("gemv", 1, 4096, 4096)])
    fixed = load_arch("v100s", {"compute.mma_rows": 128}).cost(ops, Precision()).ops.iloc[0]
    skinny = load_arch("v100s").cost(ops, Precision()).ops.iloc[0]
    assert fixed["bound"] == "compute" and skinny["bound"] == "memory"
    assert skinny["compute_cycles"] == pytest.approx(fixed["compute_cycles"] / 8)
    assert skinny["seconds"] == pytest.approx(4096 * 4096 * 2 / (1134e9 * 0.686) + 8e-6, rel=0.01)
    big = gemm_ops([("gemm", 4096, 4096, 4096)])  # m >= tile_m: unchanged
    assert (load_arch("v100s").cost(big, Precision()).totals["cycles"]
            == load_arch("v100s", {"compute.mma_rows": 128}).cost(big, Precision()).totals["cycles"])
