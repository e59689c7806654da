"""Systolic family: SCALE-Sim stall-free closed forms (REFERENCES.md, "Systolic arrays") exactly."""

import math

import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops
from hwsim.engine import evaluate


def closed_form(df, M, N, K, H, W):  # written out independently of hwsim.families.systolic
    c = math.ceil
    return {
        "os": c(M / H) * c(N / W) * (K + H + W - 2) - 1,
        "ws": c(K / H) * c(N / W) * (M + 2 * H + W - 2) - 1,
        "is": c(K / H) * c(M / W) * (N + 2 * H + W - 2) - 1,
    }[df]


SHAPES = [(M, 96, 200) for M in range(1, 9)] + [(256, 4096, 4096), (100, 37, 513), (7, 300, 64)]


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("H, W", [(32, 32), (128, 128), (8, 32), (16, 4)])
def test_compute_cycles_equal_closed_forms(df, H, W):
    arch = load_arch("tpu-like", {"compute.rows": H, "compute.cols": W, "compute.dataflow": df})
    ops = gemm_ops([(f"g{i}", *s) for i, s in enumerate(SHAPES)])
    got = evaluate(arch, ops).ops["compute_cycles"].tolist()
    assert got == [closed_form(df, M, N, K, H, W) for M, N, K in SHAPES]


def test_memory_stalls_on_top():
    # decode GEMV on the TPU-like preset: 32 MiB of fp16 weights over 34 GB/s dominate compute
    ct = evaluate(load_arch("tpu-like"), gemm_ops([("g", 1, 4096, 4096)]))
    op = ct.ops.iloc[0]
    assert op["bound"] == "memory" and op["memory_cycles"] > op["compute_cycles"]
    # the memory side's drain (shared rule, docs/cycle.md): the last of the 16 ws tiles (1 token × 256
    # columns) computes after the last load: 703,436 cycles, the cycle engine 703,425 (before: 691,164)
    assert op["cycles"] == op["memory_cycles"] + math.ceil(op["compute_cycles"] / 16)
    bytes_dram = 4096 * 4096 * 2 + 4096 * 2 + 4096 * 2
    assert op["bytes_dram"] == bytes_dram
    assert op["memory_cycles"] == math.ceil(bytes_dram / (34e9 / 700e6))


def test_energy_uses_datapath_per_format():
    arch = load_arch("tpu-like")
    ops = gemm_ops([("g", 64, 64, 64)])
    e16 = evaluate(arch, ops, Precision(weights=16, activations=16)).ops["energy_compute_j"].iloc[0]
    e8 = evaluate(arch, ops, Precision(weights="int8", activations="int8")).ops["energy_compute_j"].iloc[0]
    assert 3 < e16 / e8 < 12  # fp16 MAC (mult + fp32 accumulate) costs several int8 MACs
