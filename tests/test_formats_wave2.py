"""Second-wave formats and the three defects an independent comparison found (issue 13):
signed zero, asymmetric INT tie rounding, unbiased BitMoD stochastic rounding; NVFP4 and the MX
"ceil" scale rule (REFERENCES.md "Added for the second wave / Formats"); llama.cpp block types checked
value for value against the `gguf` package's reference dequantization."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import HwsimError
from hwsim.formats import get_format
from hwsim.formats import ggml

SCALED = [
    "int4_g128",
    "int4a_g128",
    "int8",
    "fp8_e4m3",
    "fp4_e2m1_g32",
    "mxfp4",
    "mxfp4_ceil",
    "nvfp4",
    "nf4_g64",
    "bitmod_fp4_g128",
    "ternary",
    "bfp8_g16",
    "mxint8",
    "fp16",
    "q4_0",
    "q4_k",
    "q6_k",
]


@pytest.mark.parametrize("name", SCALED)
def test_negative_zero_keeps_its_sign(name):
    # a value that rounds to zero keeps its sign (IEEE casts do; the old x/s + 0 lost it)
    x = np.zeros(256)
    x[:3] = [-0.0, 0.0, 1.0]
    x[3] = -1e-12
    xq = get_format(name).quantize(x)
    assert np.signbit(xq[0]) and not np.signbit(xq[1]) and xq[0] == 0
    if xq[3] == 0:
        assert np.signbit(xq[3])


def _asym_reference(x, k):
    """GPTQ convention written out (REFERENCES.md): s = (max-min)/(2^k-1), z = round(-min/s),
    q = clamp(round(x/s) + z, 0, 2^k-1), x̂ = (q - z)·s  (round = ties to even, as torch.round)."""
    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
    s = float(np.float16((hi - lo) / (2**k - 1)))
    z = np.clip(np.rint(-lo / s), 0, 2**k - 1)
    q = np.clip(np.rint(x / s) + z, 0, 2**k - 1)
    return (q - z) * s


def test_asymmetric_int_rounds_before_adding_the_zero_point():
    # s = 1, z = 1 (odd): 0.5 is a tie; round(0.5) + 1 = 1 → 0.0, while rint(0.5 + 1) = 2 → 1.0
    x = np.array([-1.0, 0.5, 2.0, 1.5])
    assert get_format("int2a_pt").quantize(x).tolist() == [-1.0, 0.0, 2.0, 2.0]
    assert np.array_equal(get_format("int2a_pt").quantize(x), _asym_reference(x, 2))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([2, 3, 4]))
def test_asymmetric_int_matches_the_written_formula(seed, k):
    rng = np.random.default_rng(seed)
    # integer-ish values make ties common
    x = rng.integers(-9, 14, size=40) * 0.5
    got = get_format(f"int{k}a_pt_sfp32").quantize(x)
    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
    s = float(np.float32((hi - lo) / (2**k - 1)))
    z = np.clip(np.rint(-lo / s), 0, 2**k - 1)
    ref = (np.clip(np.rint(x / s) + z, 0, 2**k - 1) - z) * s
    assert np.allclose(got, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["bitmod_fp4_g128_sr", "bitmod_fp3_g128_sr", "int4_g128_sr", "nf4_g64_sr"])
def test_stochastic_rounding_is_unbiased_inside_the_range(name):
    # one group repeated on many rows: every row draws its own noise, so the row mean estimates E[x̂]
    rng = np.random.default_rng(1)
    g = rng.standard_normal(128)
    g[0] = 3.2  # the group max sits on the top code; values just below it were biased before
    x = np.tile(g, (4000, 1))
    f = get_format(name)
    mean = f.quantize(x, seed=5).mean(axis=0)
    step = np.abs(g).max() / 6 if "fp4" in name else np.abs(g).max() / 7  # order of one grid step
    # inside the range of the grid the group uses (BitMoD's asymmetric grids clip one side, as RTN does)
    rtn = get_format(name.removesuffix("_sr")).quantize(g)
    inside = (g >= rtn.min()) & (g <= rtn.max())
    bias = (mean - g)[inside]
    # 4000 draws: the standard error of a mean is ≤ 0.5 step / √4000 ≈ 0.008 steps
    assert inside.sum() > 100 and np.abs(bias).max() < 0.04 * step, (name, np.abs(bias).max() / step)
    top = np.argsort(-np.abs(g[inside]))[:16]
    assert abs(bias[top].mean()) < 0.02 * step


# ---- NVFP4 -------------------------------------------------------------------------------------
def _nvfp4_reference(x):
    """NVFP4 written from the description (REFERENCES.md): E2M1 elements, blocks of 16, an E4M3 scale
    per block under an fp32 per-tensor scale t = amax / (6·448); element = RNE to the E2M1 grid,
    saturating at 6. E4M3 rounding done by brute force over its finite grid."""
    e2m1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6])
    e4m3 = np.unique(
        np.concatenate([np.arange(8) / 8 * 2.0**-6] + [(1 + np.arange(8) / 8) * 2.0**e for e in range(-6, 9)])
    )
    e4m3 = e4m3[e4m3 <= 448]
    blocks = x.reshape(-1, 16)
    t = float(np.float32(np.abs(x).max() / 6 / 448))
    out = np.empty_like(blocks)
    for i, b in enumerate(blocks):
        ideal = np.abs(b).max() / 6 / t
        code = e4m3[np.argmin(np.abs(e4m3 - ideal))]
        s = code * t
        y = np.abs(b) / s
        out[i] = np.sign(b) * e2m1[np.argmin(np.abs(e2m1[None, :] - np.minimum(y, 6)[:, None]), axis=1)] * s
    return out.reshape(x.shape)


def test_nvfp4_attributes_and_grid():
    f = get_format("nvfp4")
    assert (f.bits_per_element, f.group_size, f.scale_bits, f.element_bits) == (4.5, 16, 8, 4)
    assert f.values().tolist() == [-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert get_format("fp4_e2m1_g16_se4m3").quantize(np.arange(32.0)).tolist() == f.quantize(np.arange(32.0)).tolist()


def test_nvfp4_matches_an_independent_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 64)) * np.exp(rng.normal(0, 2, (8, 1)))  # blocks across 6 decades
    ref = _nvfp4_reference(x)
    got = get_format("nvfp4").quantize(x)
    # ties in the brute-force nearest search may differ; everything else is exact
    assert np.mean(np.isclose(got, ref, rtol=1e-12, atol=0)) > 0.99
    assert np.allclose(got, ref, rtol=0.25)


def test_nvfp4_largest_block_scale_is_448_and_the_tensor_max_is_exact():
    x = np.linspace(-3, 5, 64)
    xq = get_format("nvfp4").quantize(x)
    assert xq.max() == pytest.approx(5.0, rel=1e-6)  # amax ↦ 6 · 448 · t exactly


# ---- MX scale rules ----------------------------------------------------------------------------
def test_mx_ceil_rule_never_clips_the_block_max():
    x = np.zeros(32)
    x[0] = 7.0  # OCP: floor(log2 7) − 2 = 0 → X = 1, 7 clips to 6; ceil: X = 2, 7 → 3.5·2 = 8 (RNE: 3.5 → 4)
    assert get_format("mxfp4").quantize(x)[0] == 6.0
    assert get_format("mxfp4_ceil").quantize(x)[0] == 8.0
    x[0] = 5.0  # 5 ≤ 6·2^0: both rules agree
    assert get_format("mxfp4_ceil").quantize(x)[0] == get_format("mxfp4").quantize(x)[0] == 4.0


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-20, 1e20), st.sampled_from(["mxfp4", "mxfp6_e2m3", "mxfp8_e4m3", "mxint8", "mxfp6_e3m2"]))
def test_mx_ceil_exponent_is_ocp_or_one_above(amax, base):
    from hwsim.formats import scales

    el = get_format(base).element
    ocp = scales.pow2_scale(np.array([amax]), el.emax)[0]
    up = scales.pow2_scale(np.array([amax]), el.emax, el.max_abs, "ceil")[0]
    assert up in (ocp, 2 * ocp)
    assert amax / up <= el.max_abs  # never clips
    assert (up == 2 * ocp) == (amax / ocp > el.max_abs)
    assert amax / (up / 2) > el.max_abs or up == ocp  # the smallest such power of two


def test_scale_rule_needs_a_power_of_two_scale():
    with pytest.raises(HwsimError, match="e8m0"):
        get_format("int4_g128_ceil")
    assert get_format("e2m1_g32_se8m0_ceil").quantize(np.array([7.0] + [0] * 31))[0] == 8.0


# ---- llama.cpp types ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,bits", [("q4_0", 4.5), ("q8_0", 8.5), ("q4_k", 4.5), ("q5_k", 5.5), ("q6_k", 6.5625)])
def test_ggml_bits_per_weight_are_the_block_sizes(name, bits):
    f = get_format(name)
    assert f.bits_per_element == bits
    assert ggml.TYPE_SIZE[name] * 8 == bits * f.group_size  # bytes per block in the GGUF file


@pytest.mark.parametrize("name", list(ggml.TYPES))
def test_ggml_dequantization_equals_gguf_reference(name):
    gguf = pytest.importorskip("gguf")
    from gguf import quants

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((6, 512)) * np.exp(rng.normal(-3, 1, (6, 1)))).astype(np.float32)
    x[1, :256] = 0.0  # an all-zero super-block
    x[2, 3] = 40 * np.abs(x[2]).max()  # an outlier
    x[3] = np.abs(x[3])  # no negative values (K-quant min 0)
    f = get_format(name)
    qtype = getattr(gguf.GGMLQuantizationType, name.upper())
    enc = ggml.encode(name, x.reshape(-1, f.group_size))
    packed = ggml.pack(name, enc)
    assert packed.shape[1] == quants.GGML_QUANT_SIZES[qtype][1]
    ref = quants.dequantize(packed, qtype).reshape(x.shape)
    got = f.quantize(x)
    assert got.dtype == np.float32 and np.array_equal(got, ref)
    if name in ggml.CLOSED_FORM:  # closed-form quantizers: the same bytes as llama.cpp's reference
        assert np.array_equal(quants.quantize(x, qtype).reshape(packed.shape), packed)


def test_ggml_error_ordering_on_gaussian():
    x = np.random.default_rng(0).standard_normal((64, 1024)).astype(np.float32)
    mse = {n: float(np.mean((get_format(n).quantize(x) - x) ** 2)) for n in ggml.TYPES}
    assert mse["q8_0"] < mse["q6_k"] < mse["q5_k"] < mse["q4_k"] < mse["q4_0"]
