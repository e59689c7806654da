"""Number formats against their specifications and published check values (REFERENCES.md
"Number formats": OCP FP8 v1.0, OCP MX v1.0, QLoRA NF4 table and ordering, INT-k formulas,
independent MSE check values on N(0,1))."""

import numpy as np
import pytest

from hwsim.formats import get_format
from hwsim.formats.codebook import NF4_TABLE


def pos(name):
    v = get_format(name).values()
    return v[v >= 0]


def test_fp4_e2m1_grid():  # OCP MX v1.0 / REFERENCES.md: {0, .5, 1, 1.5, 2, 3, 4, 6}
    np.testing.assert_array_equal(pos("fp4_e2m1"), [0, 0.5, 1, 1.5, 2, 3, 4, 6])
    assert len(get_format("fp4_e2m1").values()) == 15  # ±0 share one value


@pytest.mark.parametrize(
    "name,vmax,min_sub,min_normal,count",
    [
        ("fp8_e4m3", 448.0, 2.0**-9, 2.0**-6, 253),  # OCP FP8: 256 codes − 2 NaN − (−0)
        ("fp8_e5m2", 57344.0, 2.0**-16, 2.0**-14, 247),  # 256 − 6 NaN − 2 Inf − (−0)
        ("fp6_e3m2", 28.0, 2.0**-4, 2.0**-2, 63),
        ("fp6_e2m3", 7.5, 2.0**-3, 1.0, 63),
    ],
)
def test_ocp_extremes(name, vmax, min_sub, min_normal, count):
    f = get_format(name)
    v = f.values()
    assert v[-1] == vmax and v[0] == -vmax and len(v) == count
    assert pos(name)[1] == min_sub
    assert f.element.emin == np.log2(min_normal)
    # the largest finite value saturates; just past half an ulp it still saturates (default mode)
    assert f.quantize(np.array([vmax * 1.01, -vmax * 10]))[0] == vmax


def test_e4m3_nan_only_all_ones():  # S.1111.111 is NaN; S.1111.110 = 448 is finite
    v = pos("fp8_e4m3")
    assert v[-2] == 416 and v[-1] == 448
    # 464 is the midpoint of 448 and the (NaN) code above: ties-to-even keeps 448 in overflow mode
    ovf = get_format("fp8_e4m3_ovf").quantize(np.array([464.0, 465.0]))
    assert ovf[0] == 448 and np.isnan(ovf[1])


def test_e5m2_ieee_overflow():
    # E5M2 follows IEEE: 61440 is the midpoint between 57344 (odd mantissa 11) and 2^16, so
    # ties-to-even rounds it up, which overflows to Inf; anything below stays finite
    ovf = get_format("fp8_e5m2_ovf").quantize(np.array([61439.0, 61440.0]))
    assert ovf[0] == 57344 and ovf[1] == np.inf


def test_fp16_bf16_match_numpy_and_bit_truncation():
    x = np.random.default_rng(0).standard_normal(1 << 12) * np.logspace(-8, 4, 1 << 12)
    np.testing.assert_array_equal(get_format("fp16").quantize(x), x.astype(np.float16).astype(np.float64))
    x32 = x.astype(np.float32)
    u = x32.view(np.uint32).astype(np.uint64)
    rne = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(np.uint32).view(np.float32)
    np.testing.assert_array_equal(get_format("bf16").quantize(x32), rne)
    np.testing.assert_array_equal(get_format("fp32").quantize(x), x.astype(np.float32).astype(np.float64))


def test_nf4_table():  # QLoRA (Dettmers et al. 2023) NF4 codes, via REFERENCES.md
    np.testing.assert_array_equal(get_format("nf4").values(), NF4_TABLE)
    assert get_format("nf4").values()[7] == 0.0 and get_format("nf4").group_size == 64


def test_mxint8_grid():  # OCP MX v1.0: sign-magnitude ±127/64, step 1/64
    v = get_format("mxint8").values()
    assert v[-1] == 127 / 64 and v[0] == -127 / 64 and np.all(np.diff(v) == 1 / 64)


# independent check values (REFERENCES.md): N(0,1), absmax scaling, fp32 scales, scale bits not counted
CHECK = {
    "int4": (0.00941, 0.01159, 0.01378),
    "int4a": (0.00652, 0.00830, 0.01011),
    "fp4_e2m1": (0.01022, 0.01117, 0.01185),
    "nf4": (0.00762, 0.00845, 0.00914),
}


@pytest.fixture(scope="module")
def gaussian():
    # 2^19 samples: the sampling error of an MSE is ~0.2% here; every check value is matched within 0.8%
    # (all 12 slightly low), so 1.5% leaves room for the sample and fails a changed rounding or scale rule
    # (was 2%, tightened 2026-12-06)
    return np.random.default_rng(12345).standard_normal(1 << 19)


@pytest.mark.parametrize("base", sorted(CHECK))
@pytest.mark.parametrize("i,block", [(0, 32), (1, 64), (2, 128)])
def test_mse_on_gaussian_matches_check_values(gaussian, base, i, block):
    q = get_format(f"{base}_g{block}_sfp32").quantize(gaussian)
    mse = np.mean((q - gaussian) ** 2)
    assert mse == pytest.approx(CHECK[base][i], rel=0.015)


def test_qlora_ordering_at_block_64(gaussian):
    # QLoRA: Int4 > FP4 E2M1 > NF4 in error (REFERENCES.md ordering), Gaussian data, block 64
    mse = {n: np.mean((get_format(f"{n}_g64").quantize(gaussian) - gaussian) ** 2) for n in ("nf4", "fp4_e2m1", "int4")}
    assert mse["nf4"] < mse["fp4_e2m1"] < mse["int4"]


def test_qlora_fp4_e3m0_is_a_known_gap_of_the_mse_proxy(gaussian):
    """QLoRA ranks FP4 E3M0 (29.48 mean Pile-CC perplexity) between FP4 E2M1 (31.07) and NF4 (27.41). hwsim's
    weight-MSE proxy does not reproduce that: on N(0,1) at block 64 E3M0 (bias 3, values 2^-2..2^4, no
    mantissa) has about 3x the MSE of E2M1 (0.035 vs 0.011), because its log-spaced grid spends codes on
    the tails a Gaussian rarely visits. Perplexity weighs the rare large weights more than MSE does, and
    QLoRA's FP4 E3M0 details (bias, zero handling) are not given here. Pinned as a documented gap
    (docs/validation.md): E3M0 between 2.5x and 4x E2M1's MSE."""
    mse = {n: np.mean((get_format(f"{n}_g64").quantize(gaussian) - gaussian) ** 2) for n in ("fp4_e2m1", "e3m0")}
    assert 2.5 < mse["e3m0"] / mse["fp4_e2m1"] < 4.0


def test_mxfp4_scale_rule_clips_6_to_8():
    # OCP MX: X = 2^(floor(log2 amax) - 2), so the scaled block max lies in [4, 8); values in (6, 8) clip to 6
    rng = np.random.default_rng(1)
    block = rng.uniform(-1, 1, 32)
    block[0] = 7.0  # amax 7 → X = 2^(2-2) = 1 → 7 clips to 6
    q = get_format("mxfp4").quantize(block)
    assert q[0] == 6.0
    block[0] = 4.0  # amax exactly 4: X = 1, max maps to 4 with no clipping
    assert get_format("mxfp4").quantize(block)[0] == 4.0
    block[0] = 7.99
    assert get_format("mxfp4").quantize(block)[0] == 6.0
    block[0] = 8.0  # next binade: X = 2, 8 → 4·2 exactly
    assert get_format("mxfp4").quantize(block)[0] == 8.0
    scaled_max = []
    for amax in rng.uniform(0.01, 100, 200):
        b = rng.uniform(-1, 1, 32) * amax
        b[0] = amax
        X = 2.0 ** (np.floor(np.log2(amax)) - 2)
        scaled_max.append(amax / X)
        np.testing.assert_array_equal(get_format("mxfp4").quantize(b), get_format("fp4_e2m1").quantize(b / X) * X)
    assert 4 <= min(scaled_max) and max(scaled_max) < 8


def test_mx_edge_cases():
    f = get_format("mxfp8_e4m3")
    x = np.zeros(64)
    np.testing.assert_array_equal(f.quantize(x), x)  # all-zero block stays zero
    x[:32] = np.linspace(-1, 1, 32)
    x[5] = np.nan  # NaN in a block → the block's scale is NaN (E8M0 code 255) → whole block NaN
    x[40] = np.inf  # Inf: amax is not finite → NaN scale as well
    q = f.quantize(x)
    assert np.all(np.isnan(q[:64]))
    # saturation boundary: amax 3.8 → X = 2^(1-8); 3.8/X = 486.4 rounds to 480 > 448 → saturates to 448
    y = np.full(32, 0.001)
    for amax, expect in ((3.8, 3.5), (3.5, 3.5), (3.3, 3.25)):
        y[0] = amax
        assert f.quantize(y)[0] == expect
    # exponent range: tiny blocks clamp to 2^-127, huge blocks beyond 2^127 become NaN
    assert np.all(get_format("mxint8").quantize(np.full(32, 1e-300)) == 0)
    assert np.all(np.isnan(get_format("mxfp4").quantize(np.full(32, 1e300))))


def test_mxint8_and_bfp_share_the_rule():
    x = np.random.default_rng(2).standard_normal(256)
    np.testing.assert_array_equal(get_format("mxint8").quantize(x), get_format("bfp8_g32").quantize(x))
    np.testing.assert_array_equal(get_format("mxfp6_e3m2").quantize(x), get_format("e3m2_g32_se8m0").quantize(x))


def test_ternary_is_bitnet_absmean():  # BitNet b1.58: s = mean|W|, q = clamp(round(W/s), -1, 1)
    w = np.random.default_rng(3).standard_normal((32, 64))
    s = np.float16(np.abs(w).mean())
    np.testing.assert_allclose(get_format("ternary").quantize(w), np.clip(np.rint(w / s), -1, 1) * s)
    b = get_format("binary").quantize(w)
    np.testing.assert_allclose(b, np.where(w >= 0, 1, -1) * np.float16(np.abs(w).mean()))


def test_bitmod_grids():  # BitMoD (HPCA 2025) via REFERENCES.md
    v = get_format("bitmod_fp4_g128").values()
    np.testing.assert_array_equal(v, [-8, -6, -5, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8])
    grids = [g.values() for g in get_format("bitmod_fp4_g128").variants]
    assert all(len(g) == 16 for g in grids)  # 15 FP4 values + 1 extra in the −0 code
    fp3 = [g.values() for g in get_format("bitmod_fp3_g128").variants]
    assert all(len(g) == 8 for g in fp3)
    np.testing.assert_array_equal(
        sorted({float(e) for g in fp3 for e in g} - {0, 0.5, 1, 2, -0.5, -1, -2}), [-3, -1.5, 1.5, 3]
    )
