"""The seed papers' headline figures from their reproduction studies (hwsim/presets/studies/*-reproduction.yaml).

Each test runs a study (a few seconds), computes the figure the paper reports and compares it with the
published number: within 10% where hwsim models what the paper measured, otherwise within the stated
tolerance, with the mechanism behind the gap derived in docs/reproductions.md. The numbers hwsim gives
are pinned too (±1%), so a model change shows up here and in that page together.
"""

import functools

import numpy as np
import pandas as pd
import pytest

from hwsim.core.ops import OpColumns
from hwsim.core.precision import resolve_precision
from hwsim.engine import evaluate
from hwsim.families import get_family
from hwsim.families import lut_core as L
from hwsim.families.host_cpu import host_cycles
from hwsim.paths import resolve_preset
from hwsim.study import load_study
from hwsim.sweep import run_sweep
from hwsim.sweep.evaluate import engine_inputs


@functools.lru_cache(maxsize=None)
def _study(name):
    return load_study(resolve_preset(name, "studies", what="study"))


@functools.lru_cache(maxsize=None)
def results(name: str) -> pd.DataFrame:
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        return run_sweep(_study(name), out, workers=1, progress=False).table()


def row(t: pd.DataFrame, **match) -> pd.Series:
    sel = np.ones(len(t), dtype=bool)
    for k, v in match.items():
        sel &= (t[k].astype(str) == str(v)).to_numpy()
    assert sel.sum() == 1, f"{match}: {sel.sum()} rows"
    return t[sel].iloc[0]


# --- LUT Tensor Core (ISCA 2025): table precompute, fused vs separate --------------------------------------


def precompute_share(design: str, weights: int) -> float:
    """Precompute time (table adds on the vector lanes, table traffic, the separate kernel's launch)
    over the LUT-unit cycles, for one design × weight width of the study."""
    s = _study("lut-tensor-core-reproduction")
    d = next(x for x in s.designs if x.name == design)
    p = next(s.precisions[i] for i in d.precisions if str(s.precisions[i].weights) == str(weights))
    arch, tr, prec = engine_inputs(d, s.workloads[d.workloads[0]], p)
    ops, prec = OpColumns.from_frame(tr if isinstance(tr, pd.DataFrame) else tr.ops), resolve_precision(prec)
    lut = L.lut_unit_cycles(arch, ops, weights).sum()
    total = get_family(arch.family).compute_cycles(arch, ops, prec).sum()
    return (total - lut - host_cycles(arch, ops, prec).sum()) / lut


def test_lut_tensor_core_precompute_share():
    """Published: ~2.5% fused into the norm, 16-24% as a separate kernel (LUT Tensor Core Table 4, as
    summarised; its weight width not known to us). hwsim over W2-W4: fused 3.2%-1.6%, separate 27.8%-13.9%
    (the 8 us launch of the unfused kernel is most of it): both published figures lie inside hwsim's
    W2-W4 range, and W3 (the middle) lands inside the published separate range."""
    fused = {w: precompute_share("fused", w) for w in (2, 3, 4)}
    sep = {w: precompute_share("separate", w) for w in (2, 3, 4)}
    assert fused[4] < 0.025 < fused[2]
    assert sep[4] < 0.16 and 0.24 < sep[2]
    assert 0.16 <= sep[3] <= 0.24
    snapshot = {2: (0.0318, 0.278), 3: (0.0212, 0.185), 4: (0.0159, 0.139)}
    for w, (f, s) in snapshot.items():
        assert (fused[w], sep[w]) == pytest.approx((f, s), rel=0.01)


def test_lut_tensor_core_study_separate_kernel_slows_every_width():
    t = results("lut-tensor-core-reproduction")
    for w in ("1", "2", "3", "4"):
        assert row(t, design="separate", weights=w).seconds > row(t, design="fused", weights=w).seconds


# --- T-MAC (EuroSys 2025): tokens/s, lm_head and embedding at fp16 ---------------------------------------

TMAC_PUBLISHED = {  # (design, model, weights): tokens/s (profiling_data.md; M2 BitNet: the paper's 30)
    ("m2-llama", "int2_g128"): 16.68,
    ("m2-llama", "int4_g128"): 8.97,
    ("m2-bitnet", "2"): 30.0,
    ("rpi5-llama", "int2_g128"): 4.40,
    ("rpi5-llama", "int4_g128"): 2.42,
    ("rpi5-bitnet", "2"): 8.03,
    ("orin-llama", "int2_g128"): 4.36,
    ("orin-llama", "int4_g128"): 2.46,
    ("orin-bitnet", "2"): 8.18,
}


@functools.lru_cache(maxsize=None)
def tmac_deployed(design: str, weights: str) -> tuple[float, float]:
    """(seconds, joules) per token of the study's row as T-MAC deploys it: lm_head and embedding at fp16 on
    the dense host kernels."""
    from hwsim.engine import Precision

    s = _study("tmac-reproduction")
    d = next(x for x in s.designs if x.name == design)
    w = s.workloads[d.workloads[0]]
    p = next(s.precisions[i] for i in d.precisions if str(s.precisions[i].weights) == weights)
    arch, tr, prec = engine_inputs(d, w, p)
    ops = tr.ops
    dense = ops.op.isin(["lm_head", "embed"]).to_numpy()
    q = evaluate(arch, ops[~dense], prec).totals
    f = evaluate(arch, ops[dense], Precision(weights="fp16", activations=16)).totals
    return q["seconds"] + f["seconds"], q["energy_j"] + f["energy_j"]


def tmac_tokens_per_s(design: str, weights: str) -> float:
    return 1.0 / tmac_deployed(design, weights)[0]


@pytest.mark.parametrize("key", sorted(TMAC_PUBLISHED))
def test_tmac_tokens_per_s(key):
    """Within 10% except Orin BitNet (+15%, Orin Llama W2 +11%): docs/reproductions.md."""
    got, pub = tmac_tokens_per_s(*key), TMAC_PUBLISHED[key]
    tol = {("orin-bitnet", "2"): 0.16, ("orin-llama", "int2_g128"): 0.12}.get(key, 0.10)
    assert got == pytest.approx(pub, rel=tol)


def test_tmac_study_all_quantised_is_an_upper_bound():
    """`hwsim sweep` prices the lm_head at the row's format: never slower than the deployed split."""
    t = results("tmac-reproduction")
    for design, w in TMAC_PUBLISHED:
        assert row(t, design=design, weights=w).tokens_per_s >= tmac_tokens_per_s(design, w) * 0.999


# llama.cpp's kernels on one core (T-MAC profiling_data.md, the llama.cpp column; M2-Ultra rows also in
# REFERENCES.md): (design, weights): (published tokens/s, hwsim's, pinned at 1%). The kernel cost is counted
# from llama.cpp's NEON source (Q2_K 7.0, Q4_0 6.0 SIMD instructions per SDOT vector; llamacpp-orin.yaml and
# tmac-reproduction.yaml), not fitted to any of these rows.
LLAMACPP = {
    ("orin-llamacpp", "2.625"): (0.79, 1.506),
    ("orin-llamacpp-bitnet", "2.625"): (1.62, 2.985),
    ("orin-llamacpp-q4", "4.5"): (1.04, 1.754),
    ("m2-llamacpp", "2.625"): (3.82, 4.795),
    ("m2-llamacpp-bitnet", "2.625"): (6.49, 9.514),
    ("m2-llamacpp-q4", "4.5"): (5.65, 5.588),
}


def _cpp(design, weights):
    return row(results("tmac-reproduction"), design=design, weights=weights).tokens_per_s


@pytest.mark.parametrize("key", sorted(LLAMACPP))
def test_llamacpp_baseline_tokens_per_s(key):
    """The instruction count assumes every counted SIMD instruction issues at the pipes' full rate, so hwsim
    is an upper bound on each measured row (within 5%: the DRAM and host-op models) and the gap is the
    core's shortfall from that rate (docs/reproductions.md): M2 Q4_0 -1%; M2 Q2_K +26%, the Q2_K loop
    reducing each SDOT across lanes (ADDV) into a scalar multiply-add, a chain the wide core overlaps
    partly; the Cortex-A78AE +69% to +91%, about half the count's issue rate on both kernels."""
    published, ours = LLAMACPP[key]
    got = _cpp(*key)
    assert got == pytest.approx(ours, rel=0.01)  # regression pin (docs/reproductions.md quotes it)
    assert got >= 0.95 * published  # the count bounds the measured kernel
    if key[0].startswith("orin"):
        assert 1.6 < got / published < 2.0  # the A78AE's shortfall, the same on Q2_K and Q4_0
    else:
        assert got / published < 1.5


def test_llamacpp_bitnet_to_llama_ratio():
    """Held-out shape check: at the same kernel the BitNet-3B / Llama-2-7B speed ratio is set by the two
    models' MAC and byte counts. Orin measured 2.05, hwsim 1.98 (-3%); M2-Ultra measured 1.70, hwsim 1.98
    (+17%: the M2 BitNet rows of profiling_data.md are the outliers for T-MAC too, test_lut_published)."""
    orin = _cpp("orin-llamacpp-bitnet", "2.625") / _cpp("orin-llamacpp", "2.625")
    m2 = _cpp("m2-llamacpp-bitnet", "2.625") / _cpp("m2-llamacpp", "2.625")
    assert orin == pytest.approx(1.62 / 0.79, rel=0.05)
    assert m2 == pytest.approx(6.49 / 3.82, rel=0.20)


def test_tmac_vs_llamacpp_energy():
    """Published (T-MAC README, Jetson AGX Orin, 12 threads, Llama-2-7B W2): 0.66 vs 2.12 J/token, -69% =
    time factor 0.45 x power factor 0.69. Both presets take those measured powers per busy core; the 12-thread
    times need the CPU cluster's sustained bandwidth, which no source gives (docs/reproductions.md), so hwsim
    compares one thread: the power factor is the measured one and the time factor the modelled one (4.86 vs
    1.51 tokens/s; measured 4.36 vs 0.79): 74% (0.231 vs 0.898 J/token). The llama.cpp time is the count's
    bound, 1.9x faster than measured on this core, so the modelled saving understates the one-thread one."""
    t = results("tmac-reproduction")
    tmac_s, tmac_j = tmac_deployed("orin-llama", "int2_g128")
    cpp = row(t, design="orin-llamacpp", weights="2.625")
    cpp_s, cpp_j = cpp.seconds, cpp.energy_j
    saving = 1 - tmac_j / cpp_j
    assert saving == pytest.approx(0.743, abs=0.005)
    assert saving > 0.69  # one thread: the time factor is larger than at 12 threads, the power factor the same
    assert cpp_s / tmac_s == pytest.approx(3.23, rel=0.01)  # the time factor (measured: 4.36 / 0.79 = 5.5)


# --- FlightLLM (FPGA 2024): U280 vs V100S, VHK158 vs A100 ------------------------------------------------


def _flight(design, weights):
    return row(results("flightllm-reproduction"), design=design, weights=weights)


def test_flightllm_energy_efficiency_vs_v100s():
    """Published 6.0x (tokens per joule, V100S with vLLM + SmoothQuant, batch 1). hwsim 6.81x (+14%; the V100S's
    HBM efficiency derived from a published Volta copy bandwidth, not the H100 fit):
    the GPU is charged its 250 W board power for the whole memory-bound token and the FPGA's 30 W static
    power is assumed (docs/reproductions.md); 15% tolerance for those two unsourced powers."""
    r = _flight("flightllm-u280", "int4_g128").tokens_per_joule / _flight("v100s-vllm", "int8").tokens_per_joule
    assert r == pytest.approx(6.807, rel=0.01)
    assert r == pytest.approx(6.0, rel=0.15)


def test_flightllm_cost_efficiency_vs_v100s():
    """Published 1.8x (throughput per dollar). hwsim 1.56x (-14%) with assumed prices (U280 US$7,995,
    V100S US$11,500: neither from the paper); the throughput part, 1.08x, is modelled. Tolerance 15%.
    The V100S runs W8A8 as int8 widened to fp16 on its tensor cores (Volta has no int8 tensor type), so
    no 8-bit GEMM fixed time; its HBM efficiency is derived from a published Volta copy bandwidth."""
    r = _flight("flightllm-u280", "int4_g128").tokens_per_s_per_usd / _flight("v100s-vllm", "int8").tokens_per_s_per_usd
    assert r == pytest.approx(1.556, rel=0.01)
    assert r == pytest.approx(1.8, rel=0.15)


def test_flightllm_vhk158_vs_a100_throughput():
    """Published 1.2x the A100's throughput (Versal VHK158, Llama-2-7B, batch 1). hwsim 1.22x (+2%)
    against the A100 at W8A8 as vLLM + SmoothQuant runs it (int8 IMMA, no 8-bit fixed time: the H100's
    fp8 one is not carried over; 1.90x against fp16)."""
    r = _flight("flightllm-vhk158", "int4_g128").tokens_per_s / _flight("a100-vllm", "int8").tokens_per_s
    assert r == pytest.approx(1.221, rel=0.01)
    assert r == pytest.approx(1.2, rel=0.10)


# --- SAIL (arXiv 2509.25853): vs Neoverse-N1 and V100 -----------------------------------------------------


def _sail_ratio(metric, ops, design_b="cpu-n1"):
    t = results("sail-reproduction")
    t = t[t.ops == ops]
    a = t[t.design == "sail"].set_index(["batch", "weights"])[metric]
    if design_b == "v100s":
        b = t[t.design == "v100s"].set_index("batch")[metric]
        return a / b.reindex(a.index.get_level_values("batch")).to_numpy()
    return a / t[t.design == design_b].set_index(["batch", "weights"])[metric]


def test_sail_speedup_up_to_10_7x():
    """Published: up to 10.7x over the Neoverse-N1 CPU; its batch, context and bit width are not known. With
    the CPU's Q4_0 kernel cost counted from llama.cpp's source (cpu-n1.yaml, 6.0 SIMD instructions per SDOT
    vector), hwsim's whole decode steps reach 10.67x at batch 128, int2 (-0.3%); the LUT-GEMV alone (linear
    layers) passes 10.7x from batch 16 (int2) or 32 (int4). Tolerance 10%, but this is weak evidence: the
    figure's configuration is unknown, hwsim's maximum is over its own sweep (batch <= 128, context 256), and
    the count is a lower bound on the CPU kernel's time (the Orin's A78AE ran the same kernel 1.7x slower
    than counted), so the CPU side is the dominant uncertainty (docs/reproductions.md)."""
    lin, step = _sail_ratio("tokens_per_s", "linear"), _sail_ratio("tokens_per_s", "all")
    assert step.idxmax() == (128, "int2_g128")
    assert step.max() == pytest.approx(10.67, rel=0.01)
    assert step.max() == pytest.approx(10.7, rel=0.10)
    assert lin[(16, "int2_g128")] > 10.7 > lin[(16, "int4_g128")]
    assert lin[(32, "int4_g128")] > 10.7
    assert lin[(128, "int2_g128")] == pytest.approx(83.7, rel=0.01)
    assert (step >= 0.999).all() and step[(1, "int4_g128")] == pytest.approx(1.0, abs=0.01)


def test_sail_tokens_per_dollar_tracks_speedup():
    """Published: up to 19.9x tokens per dollar vs the CPU, above the 10.7x speedup. With SAIL priced at
    the CPU's price plus its 2% area, hwsim's tokens per dollar is the speedup / 1.02 and can exceed the
    speedup only with a different price basis (not in REFERENCES.md; docs/reproductions.md)."""
    sp, tpd = _sail_ratio("tokens_per_s", "all"), _sail_ratio("tokens_per_s_per_usd", "all")
    np.testing.assert_allclose(tpd, sp / 1.02, rtol=1e-9)


def test_sail_cost_efficiency_vs_v100():
    """Published: up to 7.04x the cost efficiency (throughput per dollar) of a V100. hwsim, whole decode
    steps against the V100S at fp16 and the same batch, assumed prices (SAIL US$4,080, V100S US$11,500):
    at most 6.61x (batch 1, int2; -6%), falling with batch as the GPU's batching pays off."""
    ce = _sail_ratio("tokens_per_s_per_usd", "all", "v100s")
    assert ce.idxmax() == (1, "int2_g128")
    assert ce.max() == pytest.approx(6.615, rel=0.01)
    assert ce.max() == pytest.approx(7.04, rel=0.10)
