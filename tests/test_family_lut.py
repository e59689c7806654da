"""LUT family (LUT Tensor Core accelerator, T-MAC CPU): closed forms, table options, bad input,
and properties (monotonic in resources, never below the roofline)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops
from hwsim.errors import HwsimError
from hwsim.families.lut_core import table_quantisation_error
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate
from hwsim.families import get_family

ACC = load_arch("lut-tensor-core")
CPU = load_arch("tmac-m2-ultra")


def cycles(arch, shape, w=2, a=16, **over):
    a_ = arch.with_values(over) if over else arch
    return evaluate(a_, gemm_ops([("g", *shape)]), Precision(weights=w, activations=a)).ops.iloc[0]


def test_accelerator_closed_form():
    # steps = ceil(5/2)·ceil(100/64)·ceil(30/4)·planes = 3·2·8·3 = 144 on 108·4 units → 1 cycle,
    # precompute: 5·8 tables·8 entries = 320 adds on 108·2·2048/16 fp16 lanes, and the 640 B of fp16
    # tables written to and read back from L2 at 5120 B/cycle (fused) → 1 cycle
    op = cycles(ACC, (5, 100, 30), w=3)
    assert op["compute_cycles"] == 1 + 1
    big = cycles(ACC, (256, 4096, 4096), w=3)
    lut = math.ceil(128 * 64 * 1024 * 3 / 432)
    pre = 256 * 1024 * 8 / (108 * 2 * 2048 / 16) + 2 * 256 * 1024 * 8 * 2 / 5120
    assert big["compute_cycles"] == lut + math.ceil(pre)
    no_l2 = cycles(ACC, (256, 4096, 4096), w=3, **{"compute.table_bandwidth": 1e12})
    assert no_l2["compute_cycles"] == lut + math.ceil(256 * 1024 * 8 / (108 * 2 * 2048 / 16))


def test_cpu_closed_form_tmac():
    # one core, int8 tables → 16 lanes; 4 instructions per vector on 4 pipes → 1 cycle per vector
    op = cycles(CPU, (1, 4096, 4096), w=2, **{"compute.precompute": "fused"})
    lut = 1 * 256 * 1024 * 2 * 4 / 4
    vec = (1 * 1024 * 8 + 4096 * 2 + 4096 * 1) / (4 * 8)  # precompute + combine + dequant (fp16 lanes)
    assert op["compute_cycles"] == lut + math.ceil(vec)


def test_cost_linear_in_weight_bits_when_compute_bound():
    shape = (256, 4096, 4096)
    c = [cycles(ACC, shape, w=b)["compute_cycles"] for b in (1, 2, 3, 4)]
    steps = [c[i + 1] - c[i] for i in range(3)]
    assert max(steps) - min(steps) <= 1 and steps[0] > 0.9 * c[0]
    assert cycles(ACC, shape, w=4)["bound"] == "compute"


def test_table_options_change_cost():
    shape = (1, 4096, 4096)
    f16 = cycles(CPU, shape, **{"compute.table_precision": "fp16"})["compute_cycles"]
    i8 = cycles(CPU, shape, **{"compute.table_precision": "int8"})["compute_cycles"]
    assert 1.9 < f16 / i8 < 2.01  # int8 tables: twice the TBL lanes
    sep = cycles(CPU, shape, **{"compute.precompute": "separate"})["compute_cycles"]
    fused = cycles(CPU, shape, **{"compute.precompute": "fused"})["compute_cycles"]
    # separate: 1024 tables · 8 int8 entries written and read back at 100 GB/s / 3.49 GHz
    assert sep - fused == pytest.approx(2 * 1024 * 8 / (100e9 / 3.49e9), abs=1)
    sym = cycles(ACC, (64, 64, 4096), **{"compute.precompute": "separate"})["compute_cycles"]
    full = cycles(ACC, (64, 64, 4096), **{"compute.precompute": "separate", "compute.symmetric": False})
    assert full["compute_cycles"] > sym  # 16 entries per table instead of 8
    e = {p: cycles(ACC, shape, **{"compute.table_precision": p})["energy_compute_j"] for p in ("fp16", "int8")}
    assert e["int8"] < e["fp16"]
    assert table_quantisation_error(8, 4) == pytest.approx(1 / (256 * 12**0.5))
    assert table_quantisation_error(8, 4) > 3 * table_quantisation_error(16, 4)


def test_table_storage_and_elongated_tile():
    shape = (2, 4096, 4096)
    reg = cycles(ACC, shape, **{"compute.table_storage": "registers"})["energy_compute_j"]
    sram = cycles(ACC, shape, **{"compute.table_storage": "sram"})["energy_compute_j"]
    assert sram > reg  # a 16-bit SRAM read (2.5 pJ at 45 nm) costs more than a register mux
    short = cycles(ACC, shape, **{"compute.tile_n": 8})["energy_compute_j"]
    assert short > reg  # tables reloaded once per n-tile: 8x more reloads


def test_float_weights_and_missing_fields_are_errors():
    with pytest.raises(HwsimError, match="floating-point weights"):
        cycles(ACC, (1, 64, 64), w=16)
    with pytest.raises(HwsimError, match="fp4"):
        cycles(ACC, (1, 64, 64), w="fp4_e2m1")
    with pytest.raises(HwsimError, match="compute.instr_per_vector"):
        load_arch("lut-tensor-core", {"compute.target": "cpu"})
    with pytest.raises(HwsimError, match="compute.lut_units"):
        load_arch("tmac-rpi5", {"compute.target": "accelerator"})


def test_cpu_runs_float_weights_on_dense_host_kernels():
    # an unquantised fp16 lm_head (T-MAC inside llama.cpp): m·n·k fp16 FMAs on 4 pipes × 8 lanes
    host = {"compute.float_weights": "host"}
    op = cycles(CPU, (1, 32000, 4096), w=16, **host)
    assert op["compute_cycles"] == math.ceil(32000 * 4096 / 32)
    assert cycles(CPU, (1, 32000, 4096), w=32, **host)["compute_cycles"] == math.ceil(32000 * 4096 / 16)
    assert op["bound"] == "memory"  # 262 MB of fp16 weights at 100 GB/s: 2.6 ms vs 1.2 ms of FMAs
    with pytest.raises(HwsimError, match="floating-point weights"):
        cycles(CPU, (1, 64, 64), w="fp4_e2m1", **host)  # no dense minifloat kernel on the host
    with pytest.raises(HwsimError, match="floating-point weights"):
        cycles(CPU, (1, 64, 64), w=16)  # refused unless asked for
    with pytest.raises(HwsimError, match="compute.float_weights"):
        load_arch("lut-tensor-core", host)


def test_trace_runs_attention_on_vector_lanes():
    tr = trace(load_model("llama-2-7b"), "decode", context=256)
    ct = evaluate(CPU, tr, Precision(weights="int4_g128"))
    att = ct.ops[ct.ops.kind == "attention"]
    # QKᵀ of one layer: 32 heads · 257 · 128 MACs on 4 pipes · 8 fp16 lanes
    assert att["compute_cycles"].iloc[0] == math.ceil(32 * 257 * 128 / 32)
    assert ct.totals["energy_compute_j"] == pytest.approx(ct.totals["compute_cycles"] / 3.49e9 * 5.0)


dims = st.integers(1, 2000)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["lut-tensor-core", "tmac-m2-ultra", "tmac-rpi5"]), dims, dims, dims, st.integers(1, 4))
def test_never_below_roofline(name, m, n, k, w):
    arch = load_arch(name)
    prec = Precision(weights=w).resolve()
    op = evaluate(arch, gemm_ops([("g", m, n, k)]), prec).ops.iloc[0]
    peak = get_family(arch.family).peak_macs_per_cycle(arch, prec)
    bw = arch.backing.bytes_per_cycle(arch.clock_hz)
    dram = m * k * 2 + math.ceil(n * k * w / 8) + m * n * 2
    assert op["cycles"] >= math.floor(max(m * n * k / peak, dram / bw)) - 1e-6


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["lut-tensor-core", "tmac-rpi5"]),
    dims,
    dims,
    dims,
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_more_resources_never_slower(name, m, n, k, w, grow_units, grow_bw):
    base = load_arch(name)
    ops = gemm_ops([("g", m, n, k)])
    prec = Precision(weights=w)
    key = "compute.lut_units" if base.compute["target"] == "accelerator" else "compute.simd_pipes"
    lv = base.backing
    big = base.with_values(
        {
            "compute.cores": base.compute["cores"] * grow_units,
            key: base.compute[key.split(".")[1]] * grow_units,
            f"memory.{lv.name}.bandwidth": lv.bandwidth * grow_bw,
        }
    )
    assert evaluate(big, ops, prec).totals["cycles"] <= evaluate(base, ops, prec).totals["cycles"]
