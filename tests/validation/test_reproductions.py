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


# Threads (llama.cpp's -t N; T-MAC's profiling_data.md rows with NUM_THREADS > 1): N cores each at the one-core
# compute (compute.cores = N; assumed: every core keeps the single-core clock, although Apple's P-cores clock down
# with more cores active per cluster, AnandTech's M1 Max review: 3228 MHz at one core, 3036 MHz at four) sharing
# the package's DRAM: bandwidth = min(N x the preset's one-core sustained bandwidth (assumed, in the presets),
# the package peak). Package peaks: Apple M2 Ultra 800 GB/s unified memory (Apple, M2 Ultra announcement); NVIDIA
# Jetson AGX Orin 64GB datasheet 204.8 GB/s; Raspberry Pi 5 product brief LPDDR4X-4267 x 32 bit = 17.07 GB/s. No
# source gives what one CPU cluster sustains of those peaks, nor the cost of llama.cpp's per-op thread
# synchronisation, so with N threads hwsim is an upper bound (asserted) and a prediction nowhere.
PACKAGE_PEAK = {"m2": 800e9, "orin": 204.8e9, "rpi5": 17.07e9}


def with_threads(arch, design: str, threads: int):
    if threads == 1:
        return arch
    dram = next(lv for lv in arch.memory if lv.name == "dram")
    one_core = dram.bandwidth * dram.efficiency
    peak = PACKAGE_PEAK[design.split("-")[0]]
    return arch.with_values(
        {
            "compute.cores": threads,
            "memory.dram.bandwidth": min(threads * one_core, peak),
            "memory.dram.efficiency": 1.0,
        }
    )


@functools.lru_cache(maxsize=None)
def tmac_deployed(design: str, weights: str, threads: int = 1) -> tuple[float, float]:
    """(seconds, joules) per token of the study's row as T-MAC deploys it: lm_head and embedding at fp16 on
    the dense host kernels; `threads` cores (with_threads)."""
    from hwsim.engine import Precision

    s = _study("tmac-reproduction")
    d = next(x for x in s.designs if x.name == design)
    w = s.workloads[d.workloads[0]]
    p = next(s.precisions[i] for i in d.precisions if str(s.precisions[i].weights) == weights)
    arch, tr, prec = engine_inputs(d, w, p)
    arch = with_threads(arch, design, threads)
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
# REFERENCES.md). Kernel costs are counted from the NEON source of T-MAC's llama.cpp fork (kaleid-liner/llama.cpp,
# commit 0358ebc1, pinned by microsoft/T-MAC when docs/profiling_data.md was published; ggml-quants.c), not fitted to
# any of these rows: tensor type -> (bits per weight, SIMD/FP instructions per 16-byte dot product in the dot-product
# build (SDOT: the M2), and without the dot-product extension (the Orin: that tree's CMakeLists.txt adds only
# -march=armv8.2a+fp16 on aarch64 Linux, so ggml_vdotq_s32 of ggml-impl.h is SMULL, SMULL2, 2 SADDLP and an ADD)). Per
# 256-weight super-block of 16 dot products: Q2_K 112 / 160 (llamacpp-orin.yaml), Q3_K 143 / 191
# (ggml_vec_dot_q3_K_q8_K: 30 BIC/SHL/USHR building the high bits, 44 AND/USHR/SUB unpacking, MOVI+SDOT+ADDV+UMOV per
# dot product, the 6-bit scales' SUB, FCVT, FMUL, SCVTF, FMADD), Q6_K 155 / 203 (ggml_vec_dot_q6_K_q8_K: 44
# AND/USHR/SHL for the high bits, 16 AND/USHR + 16 ORR, the dot products as Q2_K, SXTL, SXTL2, 4 SMULL, 3 ADD, ADDV,
# UMOV for the mins, FCVT, FMUL, SCVTF, FMADD); per 2 blocks of 32 weights (4 dot products): Q4_0 24 / 40, IQ4_NL 28 /
# 44 (tmac-reproduction.yaml).
LLAMACPP_KERNELS = {
    "Q2_K": (2.625, 112 / 16, 160 / 16),
    "Q3_K": (3.4375, 143 / 16, 191 / 16),
    "Q6_K": (6.5625, 155 / 16, 203 / 16),
    "Q4_0": (4.5, 24 / 4, 40 / 4),
    "IQ4_NL": (4.5, 28 / 4, 44 / 4),
}
# MOVI #0 per dot product (zeroing each SDOT's accumulator: one per dot product in the K-quants, one per block of
# two in Q4_0 and IQ4_NL). Apple's P-cores handle it at register renaming without issuing it to a pipe (Dougall
# Johnson, Apple Microarchitecture Research, firestorm.html "Elimination": movi v0.16b, #0 handled by renaming), so
# the M2's counts leave it out: Q2_K 6.0, Q3_K 7.94, Q6_K 8.69, Q4_0 5.5, IQ4_NL 6.5.
MOVI_ZERO = {"Q2_K": 1.0, "Q3_K": 1.0, "Q6_K": 1.0, "Q4_0": 0.5, "IQ4_NL": 0.5}


def kernel_count(kernel: str, apple_sdot: bool) -> float:
    """SIMD/FP instructions per dot product that issue to a pipe: the M2's SDOT build, or the build without SDOT."""
    _, with_dot, without = LLAMACPP_KERNELS[kernel]
    return with_dot - MOVI_ZERO[kernel] if apple_sdot else without


# llama.cpp's tensor types per file type (llama.cpp, llama_tensor_get_type, same fork): Q2_K keeps attn_v (no GQA
# in Llama-2-7B) and ffn_down at Q3_K; every file type stores the output (lm_head) at Q6_K; tensors whose row
# length is not a multiple of 256 fall back from Q2_K/Q3_K to IQ4_NL (BitNet-3B: 3200 and 8640, every tensor;
# its lm_head is the tied token embedding, IQ4_NL in a Q2_K file).
Q2_K_FILE = ("Q2_K", {"v_proj": "Q3_K", "down_proj": "Q3_K", "lm_head": "Q6_K"})
Q4_0_FILE = ("Q4_0", {"lm_head": "Q6_K"})
BITNET_Q2_K_FILE = ("IQ4_NL", {})

# design: (published tokens/s, hwsim's (pinned at 1%), llama.cpp file type, SDOT build on an Apple P-core).
# Before the build and the tensor types were modelled (every op on the dot-product Q2_K/Q4_0 kernel): Orin 1.506,
# 2.985, 1.754; M2 4.795, 9.514, 5.588. The Raspberry Pi 5 rows were added after the counts (no before).
LLAMACPP = {
    "orin-llamacpp": (0.79, 0.995, Q2_K_FILE, False),
    "orin-llamacpp-bitnet": (1.62, 1.909, BITNET_Q2_K_FILE, False),
    "orin-llamacpp-q4": (1.04, 1.052, Q4_0_FILE, False),
    "m2-llamacpp": (3.82, 5.058, Q2_K_FILE, True),
    "m2-llamacpp-bitnet": (6.49, 10.24, BITNET_Q2_K_FILE, True),
    "m2-llamacpp-q4": (5.65, 6.023, Q4_0_FILE, True),
    "rpi5-llamacpp": (0.66, 1.074, Q2_K_FILE, False),
    "rpi5-llamacpp-bitnet": (1.37, 2.055, BITNET_Q2_K_FILE, False),
    "rpi5-llamacpp-q4": (0.85, 1.135, Q4_0_FILE, False),
}


@functools.lru_cache(maxsize=None)
def llamacpp_deployed(design: str, threads: int = 1) -> tuple[float, float]:
    """(seconds, joules) per token of the study's llama.cpp row with every linear op at the tensor type
    llama.cpp's file type gives it, on that type's kernel (bits and instruction count); `threads` cores."""
    from hwsim.engine import Precision

    s = _study("tmac-reproduction")
    d = next(x for x in s.designs if x.name == design)
    arch, tr, _ = engine_inputs(d, s.workloads[d.workloads[0]], s.precisions[d.precisions[0]])
    arch = with_threads(arch, design, threads)
    default, special = LLAMACPP[design][2]
    dot = LLAMACPP[design][3]
    ops = tr.ops
    kind = ops.op.map(lambda o: special.get(o, default))
    seconds = joules = 0.0
    for t in sorted(set(kind)):
        a = arch.with_values({"compute.dequant_instr": kernel_count(t, dot)})
        bits = LLAMACPP_KERNELS[t][0]
        tot = evaluate(a, ops[(kind == t).to_numpy()], Precision(weights=bits, activations="int8")).totals
        seconds, joules = seconds + tot["seconds"], joules + tot["energy_j"]
    return seconds, joules


def _cpp(design):
    return 1.0 / llamacpp_deployed(design)[0]


def test_llamacpp_study_rows_use_the_counted_kernels():
    """The presets and the study's rows carry the counts above: the Q2_K kernel (llamacpp-*.yaml), Q4_0 and
    IQ4_NL (tmac-reproduction.yaml), with and without the dot product; the study's rows put every op on the
    row's kernel, so each is the deployed figure with the lm_head (and Q2_K's attn_v, ffn_down) re-priced."""
    t = results("tmac-reproduction")
    for design, (_, _, (default, _), dot) in LLAMACPP.items():
        bits = LLAMACPP_KERNELS[default][0]
        r = row(t, design=design, weights=str(bits))
        st = _study("tmac-reproduction")
        d = next(x for x in st.designs if x.name == design)
        arch = engine_inputs(d, st.workloads[d.workloads[0]], st.precisions[d.precisions[0]])[0]
        assert arch.compute["dequant_instr"] == pytest.approx(kernel_count(default, dot))
        assert r.tokens_per_s >= _cpp(design) * 0.999  # the cheaper kernel everywhere: an upper bound


@pytest.mark.parametrize("design", sorted(LLAMACPP))
def test_llamacpp_baseline_tokens_per_s(design):
    """Issue-rate bound of the counted instructions, tensor by tensor. The Orin's build has no SDOT (each dot
    product is 5 instructions, not MOVI + SDOT): Q4_0 +1%, Q2_K file +26% (Llama) and +18% (BitNet, IQ4_NL).
    The M2 (SDOT, its MOVI #0 eliminated at renaming): Q4_0 +7%, Q2_K file +32%, BitNet +58% (the M2 BitNet rows
    are the outliers for T-MAC too, test_lut_published). The Raspberry Pi 5's Cortex-A76, on the Orin's build and
    counts (held out: added after them), falls further short: Q4_0 +33%, Q2_K file +63%, BitNet +50%. Dependency
    chains do not bind (test_llamacpp_chains_below_issue_bound), so the remaining gap on the K-quant files is not
    explained by a sourced mechanism (docs/reproductions.md)."""
    published, ours, _, _ = LLAMACPP[design]
    got = _cpp(design)
    assert got == pytest.approx(ours, rel=0.01)  # regression pin (docs/reproductions.md quotes it)
    assert got >= 0.95 * published  # the count bounds the measured kernel
    tol = {"m2-llamacpp-bitnet": 0.6, "orin-llamacpp": 0.3, "orin-llamacpp-bitnet": 0.2, "m2-llamacpp": 0.35}
    tol |= {"rpi5-llamacpp": 0.7, "rpi5-llamacpp-bitnet": 0.55, "rpi5-llamacpp-q4": 0.4}
    assert got == pytest.approx(published, rel=tol.get(design, 0.10))


# Dependency chains of the kernels' loops, per loop unit (Q2_K, Q3_K, Q6_K: one 256-weight super-block; Q4_0,
# IQ4_NL: two 32-weight blocks): (serial chain inside the unit, chain carried to the next unit), each a list of
# (latency key, count). Inside the unit: the integer `isum +=` multiply-adds by the sub-block scales (16 per
# K-quant super-block; Q6_K adds 4 dot products before each of its 4 accumulations); `isum` restarts at 0 in the
# next unit, so successive units' chains can overlap. Carried: the float accumulators (Q2_K 2, Q3_K 1, Q6_K 1
# FMADD; Q4_0 one FMLA on each of two independent accumulators; IQ4_NL one FADD). The MOVI -> SDOT -> ADDV -> UMOV
# head of each dot product hangs off the chain, not on it.
CHAINS = {
    "Q2_K": ([("madd_acc", 16), ("fmadd", 2)], [("fmadd", 2)]),
    "Q3_K": ([("madd_acc", 16), ("fmadd", 1)], [("fmadd", 1)]),
    "Q6_K": ([("add", 4), ("fmadd", 1)], [("fmadd", 1)]),
    "Q4_0": ([("fmadd", 1)], [("fmadd", 1)]),
    "IQ4_NL": ([("fmadd", 1)], [("fmadd", 1)]),
}
UNIT_DOTS = {"Q2_K": 16, "Q3_K": 16, "Q6_K": 16, "Q4_0": 4, "IQ4_NL": 4}
# Latencies (cycles). Apple Firestorm (M1 P-core; the M2's Avalanche is its successor, assumed alike): Dougall
# Johnson, Apple Microarchitecture Research, firestorm-int.html / firestorm-simd.html (github dougallj/applecpu
# 0e6bc3f): MADD [1;3] (1 through the accumulator), ADD 1, FMADD / FMLA 4, FADD 3. Cortex-A78AE: Arm's guide is
# not at hand; the Neoverse N1 (same Cortex-A76 lineage and two-ASIMD-pipe cluster; assumed alike) as GCC's
# gcc/config/aarch64/neoverse-n1.md transcribes its Software Optimization Guide: MUL/MADD 2, ADD 1, FP multiply-
# accumulate 4 (the FMADD row's 4 taken for every float accumulation, FADD's 2 would be shorter).
LATENCY = {
    "m2": {"madd_acc": 1, "add": 1, "fmadd": 4},
    "orin": {"madd_acc": 2, "add": 1, "fmadd": 4},
}
PIPES = {"m2": 4, "orin": 2}  # the presets' simd_pipes


@pytest.mark.parametrize("core", ["m2", "orin"])
def test_llamacpp_chains_below_issue_bound(core):
    """max(issue bound, chain bound) is the issue bound for every kernel on both cores. The chain carried from
    unit to unit (the loop's recurrence) is at most three quarters of the SIMD issue time (the M2's Q4_0: 4 cycles
    in 5.5; IQ4_NL 4 in 6.5), a third or less for the K-quants. Even the serial chain inside a unit, counted as if no two units overlapped, is
    at most the issue time: equal on the M2's Q2_K (24 cycles each), below everywhere else; successive units'
    chains are independent and overlap in Firestorm's ~623-entry rename window (~170 instructions per
    super-block). So dependency chains cannot close the gap to the measured K-quant rows (docs/reproductions.md)."""
    for kernel, (inside, carried) in CHAINS.items():
        issue = kernel_count(kernel, core == "m2") * UNIT_DOTS[kernel] / PIPES[core]
        assert sum(LATENCY[core][k] * n for k, n in carried) <= issue * 0.75, kernel
        assert sum(LATENCY[core][k] * n for k, n in inside) <= issue, kernel


def test_llamacpp_bitnet_to_llama_ratio():
    """Held-out shape check: BitNet-3B (IQ4_NL everywhere) / Llama-2-7B (Q2_K file). Orin measured 2.05, hwsim
    1.92 (-6%); M2-Ultra measured 1.70, hwsim 2.02 (+19%: the M2 BitNet rows of profiling_data.md are the
    outliers for T-MAC too, test_lut_published)."""
    orin = _cpp("orin-llamacpp-bitnet") / _cpp("orin-llamacpp")
    m2 = _cpp("m2-llamacpp-bitnet") / _cpp("m2-llamacpp")
    assert orin == pytest.approx(1.62 / 0.79, rel=0.10)
    assert m2 == pytest.approx(6.49 / 3.82, rel=0.30)


def test_tmac_vs_llamacpp_energy():
    """Published (T-MAC README, Jetson AGX Orin, 12 threads, Llama-2-7B W2): 0.66 vs 2.12 J/token, -69% =
    time factor 0.45 x power factor 0.69. Both presets take those measured powers per busy core; the 12-thread
    times need the CPU cluster's sustained bandwidth, which no source gives (docs/reproductions.md), so hwsim
    compares one thread: the power factor is the measured one and the time factor the modelled one (4.86 vs
    0.995 tokens/s; measured 4.36 vs 0.79): -83% (0.231 vs 1.333 J/token; -74% before the Orin build's missing
    SDOT and llama.cpp's tensor types were modelled, when llama.cpp ran at 1.51 tokens/s)."""
    tmac_s, tmac_j = tmac_deployed("orin-llama", "int2_g128")
    cpp_s, cpp_j = llamacpp_deployed("orin-llamacpp")
    saving = 1 - tmac_j / cpp_j
    assert saving == pytest.approx(0.826, abs=0.005)
    assert saving > 0.69  # one thread: the time factor is larger than at 12 threads, the power factor the same
    assert cpp_s / tmac_s == pytest.approx(4.88, rel=0.01)  # measured: 4.36 / 0.79 = 5.5
    # at the published 12 threads (with_threads): both sides stay compute-bound in hwsim, 12 cores for 1/12 of the
    # time, so the modelled saving does not move; the published 0.45 time factor is T-MAC's memory wall
    tmac12 = tmac_deployed("orin-llama", "int2_g128", 12)[1]
    assert 1 - tmac12 / llamacpp_deployed("orin-llamacpp", 12)[1] == pytest.approx(saving, abs=0.005)


# Multi-thread rows (T-MAC docs/profiling_data.md; BitNet-3B on 8 M2-Ultra cores: the abstract's 71 tokens/s):
# (T-MAC design, weights, llama.cpp design, threads): (T-MAC published, hwsim; llama.cpp published, hwsim). hwsim
# pinned at 1%; with_threads above.
MULTITHREAD = {
    ("m2-bitnet", "2", "m2-llamacpp-bitnet", 4): (54.46, 125.4, 22.09, 40.95),
    ("m2-bitnet", "2", "m2-llamacpp-bitnet", 8): (71.0, 250.8, None, 81.91),
    ("m2-llama", "int2_g128", "m2-llamacpp", 8): (51.01, 127.7, 22.06, 40.46),
    ("m2-llama", "int4_g128", "m2-llamacpp-q4", 8): (35.65, 66.30, 31.57, 48.18),
    ("orin-bitnet", "2", "orin-llamacpp-bitnet", 12): (26.02, 109.9, 12.34, 22.87),
    ("orin-llama", "int2_g128", "orin-llamacpp", 12): (15.62, 57.21, 7.08, 11.92),
    ("orin-llama", "int4_g128", "orin-llamacpp-q4", 12): (8.09, 30.47, 7.42, 12.61),
    ("rpi5-bitnet", "2", "rpi5-llamacpp-bitnet", 2): (11.09, 15.46, 2.71, 4.11),
    ("rpi5-llama", "int2_g128", "rpi5-llamacpp", 2): (5.92, 7.99, 1.31, 2.15),
    ("rpi5-llama", "int4_g128", "rpi5-llamacpp-q4", 2): (3.35, 4.55, 1.63, 2.27),
}


@pytest.mark.parametrize("key", sorted(MULTITHREAD))
def test_multithread_rows_are_bounded(key):
    """With N threads hwsim scales each core's compute and shares the package's peak DRAM bandwidth, so it bounds
    every measured row from above. Raspberry Pi 5 (2 threads; the abstract's "11 tokens/s" is its BitNet row):
    T-MAC +35...+39% (memory-bound at the LPDDR4X peak, of which the measured rows reach about three quarters),
    llama.cpp +39...+64% (its one-thread gap, docs/reproductions.md). M2-Ultra and Orin: 1.5-4.2x above, as each
    core's compute is multiplied by N while the measured speedups over one thread are 2.4-4.0x (T-MAC) and
    3.4-5.8x (llama.cpp) on 4-8 M2 cores, 3.2-3.6x and 7.1-9.0x on 12 Orin cores: llama.cpp's per-op thread
    synchronisation and one CPU cluster's sustained share of the package bandwidth have no source, so these rows
    are bounds, not predictions."""
    tmac_design, weights, cpp_design, n = key
    tmac_pub, tmac_ours, cpp_pub, cpp_ours = MULTITHREAD[key]
    tmac = 1.0 / tmac_deployed(tmac_design, weights, n)[0]
    cpp = 1.0 / llamacpp_deployed(cpp_design, n)[0]
    assert tmac == pytest.approx(tmac_ours, rel=0.01) and cpp == pytest.approx(cpp_ours, rel=0.01)
    assert tmac > tmac_pub and (cpp_pub is None or cpp > cpp_pub)
    if tmac_design.startswith("rpi5"):
        assert tmac == pytest.approx(tmac_pub, rel=0.40) and cpp == pytest.approx(cpp_pub, rel=0.65)


def test_tmac_vs_llamacpp_up_to_4x():
    """T-MAC abstract: up to 4x the throughput of llama.cpp. Measured (profiling_data.md) on the Raspberry Pi 5 at
    2 threads: BitNet-3B 11.09 / 2.71 = 4.09x, Llama-2-7B W2 4.52x, W4 2.06x. hwsim at the same points: 3.76x
    (-8%), 3.72x (-18%), 2.00x (-3%); both sides are bounds there (test_multithread_rows_are_bounded), so the
    ratio is weak evidence. On M2-Ultra and Orin the multi-thread ratios are not compared (bounds 1.4-4.8x against
    measured 1.1-2.5x)."""
    for (t, w, c, n), (tp, _, cp, _) in MULTITHREAD.items():
        if t.startswith("rpi5"):
            ours = llamacpp_deployed(c, n)[0] / tmac_deployed(t, w, n)[0]
            assert ours == pytest.approx(tp / cp, rel=0.20)
    assert llamacpp_deployed("rpi5-llamacpp-bitnet", 2)[0] / tmac_deployed("rpi5-bitnet", "2", 2)[0] == (
        pytest.approx(3.76, rel=0.01)
    )


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
    the count assumes a dot-product build (without SDOT the same kernel costs 10.0, and the Orin's A78AE ran
    it within 1.2% of that count), so the CPU side is the dominant uncertainty (docs/reproductions.md)."""
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
