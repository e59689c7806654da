"""GPU family: tensor-core peaks from SM counts (datasheets, REFERENCES.md "GPUs")."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.errors import HwsimError
from hwsim.engine import Precision, gemm_ops
from hwsim.engine import evaluate
from hwsim.families import get_family


@pytest.mark.parametrize("name, fp16, int8", [("a100-sxm", 312, 624), ("h100-sxm", 989, 1979)])
def test_tensor_peak_from_sm_count(name, fp16, int8):
    a = load_arch(name)
    fam = get_family(a.family)
    assert fam.peak_flops(a, Precision().resolve()) / 1e12 == pytest.approx(fp16, rel=2e-3)
    assert fam.peak_flops(a, Precision(weights="int8", activations="int8").resolve()) / 1e12 == pytest.approx(
        int8, rel=2e-3
    )


def test_launch_overhead_and_wave_quantisation():
    a = load_arch("h100-sxm", {"compute.launch_overhead": "10 us"})
    t = evaluate(a, gemm_ops([("tiny", 1, 128, 128)])).ops["seconds"].iloc[0]
    assert 10e-6 < t < 11e-6  # overhead plus one 128x128x128 tile (~0.7 µs)
    # 132 tiles fill one wave; 133 tiles need two
    one = evaluate(a, gemm_ops([("g", 128 * 132, 128, 8192)])).ops["compute_cycles"].iloc[0]
    two = evaluate(a, gemm_ops([("g", 128 * 133, 128, 8192)])).ops["compute_cycles"].iloc[0]
    assert two == pytest.approx(2 * one)


def test_skinny_gemm_tiles_to_mma_rows():
    # V100S GEMV 1x4096x4096: a padded 128-row tile would take 2 x 128*128*2048/(512*0.871) cycles of
    # tensor work (compute-bound); tiled to 16 rows it is HBM-bound at 32 MiB / (1134 GB/s x 0.650)
    ops = gemm_ops([("gemv", 1, 4096, 4096)])
    fixed = evaluate(load_arch("v100s", {"compute.mma_rows": 128}), ops, Precision()).ops.iloc[0]
    skinny = evaluate(load_arch("v100s"), ops, Precision()).ops.iloc[0]
    assert fixed["bound"] == "compute" and skinny["bound"] == "memory"
    assert skinny["compute_cycles"] == pytest.approx(fixed["compute_cycles"] / 8)
    assert skinny["seconds"] == pytest.approx(4096 * 4096 * 2 / (1134e9 * 0.650) + 8.03e-6, rel=0.01)
    big = gemm_ops([("gemm", 4096, 4096, 4096)])  # m >= tile_m: unchanged
    assert (
        evaluate(load_arch("v100s"), big, Precision()).totals["cycles"]
        == evaluate(load_arch("v100s", {"compute.mma_rows": 128}), big, Precision()).totals["cycles"]
    )


# --- tensor-core type per operand pair (datasheets; rule in hwsim.families.gpu.types) -------------


def _gpu_names():
    from hwsim.paths import preset_names

    return [n for n in preset_names("archs") if load_arch(n).family == "gpu"]


GPUS = _gpu_names()  # every shipped GPU preset: the properties below hold for each
PAIR_FORMATS = [
    "int2",
    "int4",
    "int4_g128",
    "int8",
    "fp4_e2m1",
    "fp6_e3m2",
    "fp8_e4m3",
    "fp8_e5m2",
    "fp16",
    "bf16",
    "e8m10",
    "fp32",
    "nf4_g64",
    "mxfp4",
]
# (narrow, wide): every value of the first is exact in the second
WIDENINGS = [
    ("int2", "int4"),
    ("int4", "int8"),
    ("int8", "fp16"),
    ("fp4_e2m1", "fp8_e4m3"),
    ("fp8_e4m3", "fp16"),
    ("fp8_e5m2", "fp16"),
    ("fp16", "e8m10"),
    ("bf16", "e8m10"),
    ("e8m10", "fp32"),
    ("fp6_e3m2", "fp8_e4m3"),
]
COMPUTE_BOUND = gemm_ops([("gemm", 8192, 8192, 8192)])


@pytest.mark.parametrize(
    "gpu, a, b, tflops",
    [
        ("a100-sxm", "fp16", "int4_g128", 312),  # weight-only int4 dequantises to fp16
        ("a100-sxm", "int8", "int8", 624),
        ("a100-sxm", "int4", "int4", 1248),
        ("a100-sxm", "fp8_e4m3", "fp8_e4m3", 312),  # no fp8 tensor cores on Ampere
        ("a100-sxm", "mxfp4", "mxfp4", 312),  # nor fp4
        ("a100-sxm", "e8m10", "e8m10", 156),  # tf32
        ("a100-sxm", "fp32", "fp32", 19.5),  # no tensor type holds fp32: 108 SMs x 64 CUDA cores
        ("h100-sxm", "fp8_e4m3", "fp8_e5m2", 1979),
        ("h100-sxm", "mxfp4", "mxfp4", 1979),  # e2m1 is exact in e4m3
        ("h100-sxm", "int4", "int4", 1979),  # no int4 path: int8
        ("h100-sxm", "int4", "fp8_e4m3", 1979),  # int4 is exact in e4m3
        ("h100-sxm", "int8", "fp8_e4m3", 989),  # neither holds the other: fp16
        ("h100-sxm", "bf16", "bf16", 989),
        ("h100-sxm", "e8m10", "e8m10", 495),
        ("v100s", "int8", "int8", 130.8),  # Volta: fp16 tensor cores only
        ("v100s", "bf16", "bf16", 16.4),  # no bf16 tensor path: 80 SMs x 64 CUDA cores
        # current GPUs: dense peaks per type against their datasheets (sparse figures halved; preset sources)
        ("h200-sxm", "bf16", "bf16", 989),
        ("h200-sxm", "fp8_e4m3", "fp8_e4m3", 1979),
        ("b200", "bf16", "bf16", 2250),
        ("b200", "e8m10", "e8m10", 1125),
        ("b200", "fp8_e4m3", "fp8_e4m3", 4500),
        ("b200", "int8", "int8", 4500),
        ("b200", "mxfp4", "mxfp4", 9000),
        ("b200", "fp6_e2m3", "fp6_e3m2", 4500),
        ("b200", "int4", "int4", 4500),  # no int4 path on Blackwell: int8
        ("l40s", "bf16", "bf16", 366),
        ("l40s", "fp8_e4m3", "fp8_e4m3", 733),
        ("l40s", "int8", "int8", 733),
        ("l40s", "mxfp4", "mxfp4", 733),  # Ada: no fp4 path, e2m1 is exact in e4m3
        ("rtx-4090", "bf16", "bf16", 165.2),
        ("rtx-4090", "fp8_e4m3", "fp8_e4m3", 330.3),
        ("rtx-4090", "int8", "int8", 660.6),
        ("rtx-4090", "int4", "int4", 1321.2),
        ("rtx-4090", "e8m10", "e8m10", 82.6),
        ("rtx-pro-6000", "mxfp4", "mxfp4", 2015),
        ("rtx-pro-6000", "bf16", "bf16", 503.8),
        ("mi300x", "bf16", "bf16", 1307.4),
        ("mi300x", "fp8_e4m3", "fp8_e4m3", 2614.9),
        ("mi300x", "e8m10", "e8m10", 653.7),
        ("mi300x", "mxfp4", "mxfp4", 2614.9),  # CDNA 3: no fp4 matrix path, fp8
    ],
)
def test_pair_runs_at_narrowest_supported_lossless_type(gpu, a, b, tflops):
    arch = load_arch(gpu)
    prec = Precision(weights=b, activations=a).resolve()
    assert get_family(arch.family).peak_flops(arch, prec) / 1e12 == pytest.approx(tflops, rel=0.01)


def test_a100_fp8_gemm_takes_the_fp16_time():
    a100 = load_arch("a100-sxm")
    fp16 = evaluate(a100, COMPUTE_BOUND, Precision()).ops.iloc[0]
    fp8 = evaluate(a100, COMPUTE_BOUND, Precision(weights="fp8_e4m3", activations="fp8_e4m3")).ops.iloc[0]
    assert fp16["bound"] == fp8["bound"] == "compute"
    # the tensor work is the fp16 pair's: 8192^3 MACs at 312 TFLOPS x 0.871 efficiency (4096 tiles over
    # 108 SMs: 38 waves)
    assert fp8["compute_cycles"] == fp16["compute_cycles"]
    assert fp16["compute_cycles"] == pytest.approx(38 * 128 * 128 * 8192 / (1024 * 0.871), rel=1e-6)
    # on top: the 8.03 us launch and the pipeline's exposed ends (first k slice's load, last store), which
    # are part of the op's memory traffic; fp8 operands are half the bytes, so its ends are shorter
    launch, clock = 8.03e-6, 1.41e9
    for op in (fp16, fp8):
        assert launch + op["compute_cycles"] / clock < op["seconds"]
        assert op["seconds"] <= launch + (op["compute_cycles"] + op["memory_cycles"]) / clock
    assert fp8["seconds"] < fp16["seconds"]


def test_h100_fp8_compute_bound_gemm_twice_as_fast():
    h100 = load_arch("h100-sxm")
    fp16 = evaluate(h100, COMPUTE_BOUND, Precision()).ops.iloc[0]
    fp8 = evaluate(h100, COMPUTE_BOUND, Precision(weights="fp8_e4m3", activations="fp8_e4m3")).ops.iloc[0]
    assert fp16["bound"] == fp8["bound"] == "compute"
    # twice the tensor rate, at the 8-bit kernels' fitted efficiency (0.736 vs 0.871)
    c = h100.compute
    ratio = 2 * c["compute_efficiency_8bit"] / c["compute_efficiency"]
    assert fp8["compute_cycles"] == pytest.approx(fp16["compute_cycles"] / ratio)
    assert fp16["seconds"] / fp8["seconds"] == pytest.approx(ratio, rel=0.05)  # fixed times aside


def test_attention_runs_at_the_kv_type():
    # QK^T / PV multiply activations by the KV cache: fp8 weights do not speed attention up when the
    # cache is fp16, an fp8 cache does
    h100 = load_arch("h100-sxm")
    att = gemm_ops([("qk", 4096, 4096, 4096)], kind="attention")

    def cycles(**kw):
        return evaluate(h100, att, Precision(activations="fp8_e4m3", **kw)).ops["compute_cycles"].iloc[0]

    fp16_kv = cycles(weights="fp8_e4m3", kv="fp16")
    # the MMAs run at the fp8 rate (2x, at the 8-bit efficiency); the softmax on the SFUs does not speed up
    assert cycles(weights="fp16", kv="fp8_e4m3") < 0.9 * fp16_kv
    assert cycles(weights="fp16", kv="fp16") == fp16_kv


@settings(max_examples=80, deadline=None)
@given(a=st.sampled_from(PAIR_FORMATS), widen=st.sampled_from(WIDENINGS), gpu=st.sampled_from(GPUS))
def test_pair_rate_symmetric_and_never_faster_with_a_wider_operand(a, widen, gpu):
    arch = load_arch(gpu)
    fam = get_family(arch.family)

    def rate(x, y):
        return fam.peak_macs_per_cycle(arch, Precision(weights=x, activations=y).resolve())

    narrow, wide = widen
    assert rate(a, narrow) == rate(narrow, a)
    assert rate(a, wide) <= rate(a, narrow)
    assert rate(a, wide) >= rate("fp32", "fp32") > 0


# tensor types per generation (datasheets / whitepapers): fp8 from Ada and Hopper on (and CDNA 3), fp4 and
# fp6 only on Blackwell, int4 on Ampere and Ada only, nothing below 16 bits on Volta but fp16
GENERATION_TYPES = {
    "v100s": {"fp16"},
    "a100-sxm": {"fp16", "bf16", "tf32", "int8", "int4"},
    "h100-sxm": {"fp16", "bf16", "tf32", "fp8", "int8"},
    "h200-sxm": {"fp16", "bf16", "tf32", "fp8", "int8"},
    "l40s": {"fp16", "bf16", "tf32", "fp8", "int8", "int4"},
    "rtx-4090": {"fp16", "bf16", "tf32", "fp8", "int8", "int4"},
    "b200": {"fp16", "bf16", "tf32", "fp8", "fp6", "int8", "fp4"},
    "rtx-pro-6000": {"fp16", "bf16", "tf32", "fp8", "fp6", "int8", "fp4"},
    "mi300x": {"fp16", "bf16", "tf32", "fp8", "int8"},
}


@pytest.mark.parametrize("gpu", sorted(GENERATION_TYPES))
def test_tensor_types_per_generation(gpu):
    from hwsim.families.gpu.types import TENSOR_TYPES

    c = load_arch(gpu).compute
    assert {tt.name for tt in TENSOR_TYPES if c[tt.field] is not None} == GENERATION_TYPES[gpu]


def test_every_gpu_preset_has_a_type_table_entry():
    assert set(GPUS) == set(GENERATION_TYPES)


def test_rate_table_errors_name_the_field():
    with pytest.raises(HwsimError, match=r"compute\.min_tc_bits: unknown field .*tc_fma_"):
        load_arch("a100-sxm", {"compute.min_tc_bits": 4})
    with pytest.raises(HwsimError, match=r"compute\.tc_fma_fp8: must be > 0"):
        load_arch("h100-sxm", {"compute.tc_fma_fp8": 0})


# --- kernel classes (hwsim.families.gpu.kernels) ---------------------------------------------------

from hwsim.engine.calibrate import PARAMS  # noqa: E402
from hwsim.engine.cost import family_ops  # noqa: E402
from hwsim.core.ops import OpColumns, operand_bytes  # noqa: E402
from hwsim.families.gpu import FITTED, fitted_path  # noqa: E402
from hwsim.workload import load_model, trace  # noqa: E402


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    m=st.integers(1, 8192),
    n=st.integers(1, 16384),
    k=st.integers(1, 16384),
    dim=st.sampled_from("mnk"),
    gpu=st.sampled_from(GPUS),
    fp8=st.booleans(),
)
def test_gemm_time_monotone_in_each_dimension(m, n, k, dim, gpu, fp8):
    """Past the wave boundary (and at it) a bigger GEMM never takes less time: compared at m, n, k and
    at the same shape with one dimension grown by a whole wave of tiles."""
    arch = load_arch(gpu)
    prec = Precision(weights="fp8_e4m3", activations="fp8_e4m3") if fp8 else Precision()
    grow = {"m": (m + 128 * arch.compute["sms"], n, k), "n": (m, n + 128 * arch.compute["sms"], k), "k": (m, n, 2 * k)}
    t = evaluate(arch, gemm_ops([("a", m, n, k), ("b", *grow[dim])]), prec).ops["seconds"].to_numpy()
    assert t[1] >= t[0]


@pytest.mark.parametrize("phase, kw", [("prefill", {"seq": 512}), ("decode", {"context": 2048, "batch": 4})])
def test_fused_attention_never_moves_more_bytes_than_unfused(phase, kw):
    """The GPU runs a Trace as the builder's fused form and a bare table folded row for row: both move fewer
    attention bytes than the unfused ops, with the same MACs (the scores stay on chip)."""
    tr = trace(load_model("llama-2-7b"), phase, **kw)
    prec = Precision().resolve()
    h100 = load_arch("h100-sxm")

    def attention(df):
        ops = OpColumns.from_frame(df)
        ob, att = operand_bytes(ops, prec), ops.kind == "attention"
        return float((ob.a + ob.b + ob.c)[att].sum()), float(ops.macs[att].sum())

    bytes_u, macs_u = attention(tr.ops)
    for fused in (family_ops(h100, tr), family_ops(h100, tr.ops)):
        bytes_f, macs_f = attention(fused)
        assert bytes_f < bytes_u and macs_f == macs_u


def test_unfused_trace_costs_one_kernel_per_layer():
    h100 = load_arch("h100-sxm")
    tr = trace(load_model("llama-2-7b"), "decode", context=1024)
    ops = evaluate(h100, tr.ops).ops  # a bare table: folded row for row, so rows stay the caller's
    att = ops[ops["name"].str.contains(r"\.attn\.")]
    assert (att[att["name"].str.endswith(".qk")]["seconds"] > 0).all()
    assert (att[~att["name"].str.endswith(".qk")]["seconds"] == 0).all()  # folded: no kernel launched
    # a Trace is rebuilt fused: one `layers.<i>.attn` kernel per layer, each launched
    fused = evaluate(h100, tr).ops
    assert (fused[fused["kind"] == "attention"]["name"] == [f"layers.{i}.attn" for i in range(32)]).all()


def test_attention_unfused_setting_runs_separate_kernels_on_a_gpu():
    """`attention: unfused` in a GPU spec costs qk and av as batched GEMMs plus a softmax kernel (what an
    eager PyTorch attention does): more time than the fused kernel on a long prefill."""
    h100 = load_arch("h100-sxm")
    eager = replace(h100, attention="unfused")
    tr = trace(load_model("llama-2-7b"), "prefill", seq=4096)
    fused, unfused = evaluate(h100, tr), evaluate(eager, tr)
    att = unfused.ops[unfused.ops["kind"] == "attention"]
    assert len(att) == 2 * 32 and (att["seconds"] > 0).all()  # qk and av; the softmax is an elementwise op
    assert unfused.totals["seconds"] > fused.totals["seconds"]
    assert unfused.totals["bytes_hbm"] > fused.totals["bytes_hbm"]


def test_causal_prefill_attention_does_about_half_the_work():
    h100 = load_arch("h100-sxm")
    tr = trace(load_model("llama-2-7b"), "prefill", seq=4096)
    qk = evaluate(h100, tr).ops.set_index("name").loc["layers.0.attn"]
    # 4096 tokens, 128-row blocks: (4096 + 128)/2 / 4096 = 51.6% of the dense score blocks
    from hwsim.families.gpu.kernels import causal_fraction

    ops = OpColumns.from_frame(family_ops(h100, tr))
    i = int(np.flatnonzero(ops.name == "layers.0.attn")[0])
    assert causal_fraction(ops, 128)[i] == pytest.approx((4096 + 128) / 2 / 4096)
    assert qk["bound"] == "compute"


def test_weight_only_kernels():
    h100 = load_arch("h100-sxm")
    ops = gemm_ops([("m1", 1, 6144, 4096), ("m256", 256, 6144, 4096)])
    w4 = Precision(weights="int4_g128", activations="bf16")
    marlin = evaluate(h100, ops, w4).ops["seconds"].to_numpy()
    gemv = evaluate(load_arch("h100-sxm", {"compute.weight_only_kernel": "gemv"}), ops, w4).ops["seconds"].to_numpy()
    dense = evaluate(h100, ops, Precision(weights="bf16", activations="bf16")).ops["seconds"].to_numpy()
    assert marlin[0] < 0.5 * dense[0]  # decode: ~4x fewer weight bytes
    assert gemv[1] > 5 * marlin[1]  # tinygemm's time grows with M, Marlin's tensor-core kernel does not


def test_fitted_values_physically_possible():
    for gpu in GPUS:
        arch = load_arch(gpu)
        for path in FITTED:
            v = arch.backing.efficiency if path.startswith("memory") else arch.compute[path.split(".")[1]]
            if v is None:  # omitted: the family's fallback applies (V100S: no 8-bit tensor type)
                continue
            p = PARAMS[path]
            assert p.lo <= v <= p.hi, (gpu, path, v)
        # the streams GEMMs reach stay below what a plain copy reached on the same H100 (2.97 TB/s)
        assert arch.backing.efficiency <= 0.885


def _gpu_presets():
    import yaml

    from hwsim.paths import preset_names, resolve_preset

    for name in preset_names("archs"):
        raw = yaml.safe_load(resolve_preset(name, "archs", what="arch").read_text())
        if raw.get("family") == "gpu":
            yield name, raw


def _field(raw, path):
    node = raw
    for p in path.split("."):
        node = node.get(p) if isinstance(node, dict) else None
    return node


def test_fitted_constants_stay_on_the_gpu_they_were_fitted_on():
    """A fitted field says "fitted" only in the preset of the GPU that was measured (the shipped table is
    the H100's); on every other GPU it says why its value holds ("assumed: ..." or "derived: ..."), and
    the H100's fp8 fixed time (a property of torch._scaled_mm) is carried nowhere (issue 16 regression:
    it made the A100 W8A8 baseline 1.7x slower)."""
    h100_fixed = load_arch("h100-sxm").compute["overhead_8bit"]
    seen = 0
    for name, raw in _gpu_presets():
        for path in FITTED:
            f = _field(raw, fitted_path(load_arch(name), path))  # the off-chip level under its own name
            assert path.startswith("compute") or f is not None, (name, path)  # none is skipped by its name
            if f is None:
                continue
            src = f["source"]
            if name == "h100-sxm":
                assert "fitted" in src and "h100-sxm-kernels.csv" in src, (name, path)
            else:
                assert src.startswith(("assumed:", "derived:")), (name, path, src)
        if name != "h100-sxm":
            seen += 1
            assert load_arch(name).compute["overhead_8bit"] != h100_fixed, name
    assert seen >= 8


def test_docs_gpu_preset_table_is_what_hwsim_computes():
    """docs/gpu.md's preset table (Llama-2-7B decode, batch 1, context 256: fp16 / fp8 W8A8 / int4_g128 ms)
    matches the presets, so the page stays true when a preset or the model changes."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "gpu.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([a-z0-9-]+) \|.*\| ([\d.]+) / ([\d.]+) / ([\d.]+) \|$", text, flags=re.M)
    assert {r[0] for r in rows} == set(GPUS)
    tr = trace(load_model("llama-2-7b"), "decode", context=256)
    precs = (Precision(), Precision(weights="fp8_e4m3", activations="fp8_e4m3"), Precision(weights="int4_g128"))
    for name, *ms in rows:
        arch = load_arch(name)
        for prec, want in zip(precs, ms):
            assert evaluate(arch, tr, prec).totals["seconds"] * 1e3 == pytest.approx(float(want), abs=0.006), name
