"""PIM family: bit-serial row-operation counts (Neural Cache / PIMeval), capacity, conversion,
SAIL LUT-GEMV, host baseline, properties; and every preset of both families (lut, pim) on every
workload preset, prefill and decode."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine import Precision, gemm_ops
from hwsim.errors import HwsimError
from hwsim.paths import preset_names
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate
from hwsim.families import get_family

TINY = {"compute.slices": 1, "compute.arrays": 2, "compute.cols": 8}  # 16 lanes


def one(arch, shape, w=4, a=8):
    return evaluate(arch, gemm_ops([("g", *shape)]), Precision(weights=w, activations=a)).ops.iloc[0]


def test_bitserial_gemv_row_operations_by_hand():
    # m=1, n=4, k=10, int4 weights, int8 activations on 16 lanes: r = 4 columns per output, t = 3 terms,
    # operand width 8, accumulator 4+8+ceil(log2 10) = 16. Per term MUL(8) + ADD(16) + write 8 + write 4:
    #   reads 72+32, writes 36+16+8+4, logic 136+49; reduction 2 · (MOVE(16) + ADD(16))
    arch = load_arch("neural-cache", TINY)
    reads, writes, logic = 3 * 104 + 2 * 48, 3 * 64 + 2 * 32, 3 * 185 + 2 * 49
    ro = get_family(arch.family).bitserial_rowops(arch, gemm_ops_cols([("g", 1, 4, 10)]), Precision(4, 8).resolve())
    assert (ro.reads[0], ro.writes[0], ro.logic[0]) == (reads, writes, logic)
    assert one(arch, (1, 4, 10))["compute_cycles"] == reads + writes + logic
    slow = load_arch("neural-cache", {**TINY, "compute.t_write": 3})
    assert one(slow, (1, 4, 10))["compute_cycles"] == reads + 3 * writes + logic


def gemm_ops_cols(shapes):
    from hwsim.core.ops import OpColumns

    return OpColumns.from_frame(gemm_ops(shapes))


def test_capacity_resident_weights_and_streaming():
    base = one(load_arch("neural-cache", TINY), (1, 4, 10))["compute_cycles"]
    res = load_arch("neural-cache", {**TINY, "compute.weights_resident": True})
    assert one(res, (1, 4, 10))["compute_cycles"] == base - 3 * 4  # 40 weights fit: no transpose writes
    # 4000 int4 weights need 16000 bits > 16 lanes · 192 free rows: streamed in, with their writes
    big_res = one(res, (1, 4, 1000))["compute_cycles"]
    big = one(load_arch("neural-cache", TINY), (1, 4, 1000))["compute_cycles"]
    assert big_res == big


def test_float_activations_error_or_explicit_conversion():
    strict = load_arch("neural-cache", {**TINY, "compute.float_operands": "error"})
    with pytest.raises(HwsimError, match="integer-only"):
        one(strict, (1, 4, 10), a=16)
    conv = load_arch("neural-cache", TINY)  # preset: convert fp16 → int8 at one ADD(8) per term
    assert one(conv, (1, 4, 10), a=16)["compute_cycles"] == one(conv, (1, 4, 10), a=8)["compute_cycles"] + 3 * 49
    with pytest.raises(HwsimError, match="floating-point weights"):
        one(conv, (1, 4, 10), w=16)


SAIL1 = {"compute.slices": 1, "compute.arrays": 1}


def test_sail_lut_gemv_closed_form():
    # patterns 64·16·2 = 2048 over 32 lanes = 64, × (1 index + 4 tokens) × (1 − 0.138) → 276;
    # conversion 256 outputs on 256 columns · 16 steps; tables 4·16·8 B = 4096 bits / 256 per row write;
    # precompute 512 adds on 64·2·8 fp16 host lanes
    sail = load_arch("sail-n1", SAIL1)
    assert one(sail, (4, 64, 64), w=2, a=16)["compute_cycles"] == 276 + 16 + 16 + 1
    no_reuse = load_arch("sail-n1", {**SAIL1, "compute.pattern_reuse": 0})
    assert one(no_reuse, (4, 64, 64), w=2, a=16)["compute_cycles"] == 320 + 16 + 16 + 1


def test_sail_batched_lookups_amortise_index_reads():
    sail = load_arch("sail-n1")
    per_token = [one(sail, (m, 4096, 4096), w=4, a=16)["compute_cycles"] / m for m in (1, 4, 16)]
    assert per_token[0] > per_token[1] > per_token[2]


def test_host_baseline():
    cpu = load_arch("cpu-n1")
    op = one(cpu, (8, 4096, 4096), w=4, a=16)
    assert op["compute_cycles"] == math.ceil(8 * 4096 * 4096 / (64 * 2 * 16 / 6))  # 6 instructions per SDOT vector
    op16 = one(cpu, (8, 4096, 4096), w=16, a=16)  # float weights: fp16 FMA lanes
    assert op16["compute_cycles"] == math.ceil(8 * 4096 * 4096 / (64 * 2 * 8))


dims = st.integers(1, 1500)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["neural-cache", "sail-n1", "cpu-n1"]), dims, dims, dims, st.sampled_from([2, 4, 8]))
def test_never_below_roofline(name, m, n, k, w):
    arch = load_arch(name)
    prec = Precision(weights=w, activations=8).resolve()
    op = evaluate(arch, gemm_ops([("g", m, n, k)]), prec).ops.iloc[0]
    peak = get_family(arch.family).peak_macs_per_cycle(arch, prec)
    bw = arch.backing.bytes_per_cycle(arch.clock_hz)
    dram = m * k + math.ceil(n * k * w / 8) + m * n
    assert op["cycles"] >= math.floor(max(m * n * k / peak, dram / bw)) - 1e-6


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["neural-cache", "sail-n1", "cpu-n1"]), dims, dims, dims, st.integers(1, 3), st.integers(1, 3))
def test_more_resources_never_slower(name, m, n, k, grow, grow_bw):
    base = load_arch(name)
    ops = gemm_ops([("g", m, n, k)])
    prec = Precision(weights=4, activations=8)
    c = base.compute
    over = {"compute.cores": c["cores"] * grow, "memory.dram.bandwidth": base.backing.bandwidth * grow_bw}
    if c["mode"] != "host":
        over["compute.slices"] = c["slices"] * grow
    assert evaluate(base.with_values(over), ops, prec).totals["cycles"] <= evaluate(base, ops, prec).totals["cycles"]


MINE = [
    "lut-tensor-core",
    "tmac-m2-ultra",
    "tmac-rpi5",
    "tmac-orin",
    "neural-cache",
    "sail-n1",
    "cpu-n1",
    "llamacpp-orin",
    "llamacpp-m2-ultra",
    "llamacpp-rpi5",
]


def test_every_preset_on_every_workload_preset():
    prec = Precision(weights="int4_g128")
    for model in preset_names("workloads"):
        cfg = load_model(model)
        traces = [trace(cfg, "decode", context=128), trace(cfg, "prefill", seq=32)]
        for name in MINE:
            arch = load_arch(name)
            for tr in traces:
                t = evaluate(arch, tr, prec).totals
                assert t["seconds"] > 0 and t["energy_j"] > 0 and t["area_mm2"] > 0, (name, model, tr.phase)


@pytest.mark.parametrize("arch", MINE)
def test_cli_simulate(arch, capsys):
    rc = main(["simulate", "--arch", arch, "--model", "llama-2-7b", "--phase", "decode", "--weights", "2", "--json"])
    out = capsys.readouterr()
    assert rc == 0 and json.loads(out.out)["totals"]["seconds"] > 0
    rc = main(["simulate", "--arch", arch, "--model", "llama-2-7b", "--phase", "decode", "--weights", "fp16"])
    err = capsys.readouterr().err
    if arch in (
        "cpu-n1",
        "llamacpp-orin",
        "llamacpp-m2-ultra",
        "llamacpp-rpi5",
    ):  # the CPU baselines run fp16 weights on their FMA lanes
        assert rc == 0
    else:
        assert rc == 2 and "floating-point weights" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "name, grid",
    [
        ("lut-tensor-core", {"compute.cores": [8, 108], "compute.tile_n": [16, 64]}),
        ("tmac-rpi5", {"compute.simd_bits": [128, 256], "compute.cores": [1, 4]}),
        ("neural-cache", {"compute.slices": [2, 14], "compute.t_write": [1, 2]}),
        ("sail-n1", {"compute.lut_lanes": [8, 32], "compute.pattern_reuse": [0, 0.138]}),
    ],
)
def test_sweep_equals_single_points(name, grid):
    from hwsim.engine import sweep_cost

    tr = trace(load_model("llama-2-7b"), "decode", batch=4, context=64)
    prec = Precision(weights="int4_g128", activations="int8")
    df = sweep_cost(load_arch(name), grid, tr, prec)
    keys = list(grid)
    for _, row in df.iterrows():
        single = evaluate(load_arch(name, {k: row[k] for k in keys}), tr, prec).totals
        for col in ("cycles", "energy_j", "area_mm2"):
            assert row[col] == pytest.approx(single[col], rel=1e-9), (row[keys].to_dict(), col)


def test_resident_weights_move_no_dram_bytes_only_when_all_fit():
    """weights_resident uses the engine's resident-operand hook: no DRAM weight reads and no transpose
    writes, but only when every linear weight of the trace fits the arrays at once."""
    arch = load_arch("neural-cache")
    prec = Precision(weights="int4_g128", activations="int8")
    small = gemm_ops([("a", 1, 512, 512), ("b", 1, 512, 512)])
    streamed = evaluate(arch, small, prec).ops
    kept = evaluate(arch.with_values({"compute.weights_resident": True}), small, prec).ops
    weight_bytes = math.ceil(512 * 512 * prec.resolve().weights.bits / 8)
    assert (streamed["bytes_dram"] - kept["bytes_dram"]).tolist() == [weight_bytes, weight_bytes]
    assert (kept["compute_cycles"] < streamed["compute_cycles"]).all()  # transpose writes saved
    # a trace whose weights together exceed the arrays gains nothing from the flag
    lanes_bits = _array_weight_bits(arch)
    side = int(math.isqrt(int(lanes_bits / 4))) + 64
    big = gemm_ops([("a", 1, side, side), ("b", 1, side, side)])
    assert (
        evaluate(arch.with_values({"compute.weights_resident": True}), big, prec).totals["bytes_dram"]
        == evaluate(arch, big, prec).totals["bytes_dram"]
    )


def _array_weight_bits(arch):
    c = arch.compute
    return get_family(arch.family).lanes(arch) * (c["rows"] - c["scratch_rows"])


def test_cycle_engine_keeps_weights_only_when_the_whole_trace_fits():
    """weights_resident is decided on the whole trace in both engines: two GEMMs whose int4 weights fit
    the 16 lanes x 192 free rows (3072 bits) one at a time (1600 bits each) but not together stream."""
    from hwsim import cycle

    ops = gemm_ops([("a", 1, 4, 100), ("b", 1, 4, 100)])
    prec = Precision(weights=4, activations=8)
    streamed = cycle.evaluate(load_arch("neural-cache", TINY), ops, prec).ops["compute_cycles"]
    kept = cycle.evaluate(load_arch("neural-cache", {**TINY, "compute.weights_resident": True}), ops, prec)
    assert list(kept.ops["compute_cycles"]) == list(streamed)
    alone = cycle.evaluate(load_arch("neural-cache", {**TINY, "compute.weights_resident": True}), ops.iloc[:1], prec)
    assert alone.ops["compute_cycles"][0] < streamed[0]  # one op alone fits: no transpose writes


def test_resident_weights_count_their_group_scales():
    """The arrays must hold what the resident hook stops reading from DRAM: the int4 planes and the fp16 scales
    of int4_g128 (hwsim.core.ops.OpColumns.weight_bits). 4 rows of K 192 on TINY's 16 lanes × 192 free rows
    (3,072 bits): the planes alone are 4 × 192 × 4 = 3,072 bits (they fit exactly) but each row adds ⌈192/128⌉
    = 2 fp16 scales (128 bits), so the weights stream; at K 128 (2,048 + 64 bits) they still fit. Before, only
    the planes were counted and K 192 was taken as resident (596 → 0 DRAM weight bytes, no transpose writes)."""
    prec = Precision(weights="int4_g128", activations=8)
    plain = load_arch("neural-cache", TINY)
    res = load_arch("neural-cache", {**TINY, "compute.weights_resident": True})
    ops = {k: gemm_ops([("g", 1, 4, k)]) for k in (128, 192)}
    assert _array_weight_bits(res) == 3072
    fits = evaluate(res, ops[128], prec).ops.iloc[0]
    assert fits["compute_cycles"] < evaluate(plain, ops[128], prec).ops.iloc[0]["compute_cycles"]
    for col in ("compute_cycles", "bytes_dram"):
        assert evaluate(res, ops[192], prec).ops.iloc[0][col] == evaluate(plain, ops[192], prec).ops.iloc[0][col]
