"""hwsim.formats: grammar, attributes, grouping along any axis, special values, rounding modes."""

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.formats import get_format, list_formats


@pytest.mark.parametrize(
    "name,bits,family,group,scale_bits",
    [
        ("int4_g128", 4.125, "int", 128, 16),
        ("int4a_g128", 4 + 20 / 128, "int", 128, 20),  # fp16 scale + 4-bit zero point
        ("mxfp4", 4.25, "mx", 32, 8),
        ("mxint8", 8.25, "mx", 32, 8),
        ("bitmod_fp4_g128", 4.0625, "bitmod", 128, 8),
        ("bitmod_fp3_g128", 3.0625, "bitmod", 128, 8),
        ("nf4_g64", 4.25, "nf4", 64, 16),
        ("nf4", 4.25, "nf4", 64, 16),
        ("e3m2_g32_se8m0", 6.25, "minifloat", 32, 8),
        ("bfp8_g16", 8.5, "bfp", 16, 8),
        ("int4_g128_sbf16", 4.125, "int", 128, 16),
        ("int4_g128_sfp32", 4.25, "int", 128, 32),
        ("int4_g128_su8", 4.0625, "int", 128, 8),
        ("int8_pc", 8.0, "int", None, 0),
        ("fp8_e4m3", 8.0, "minifloat", None, 0),
        ("fp16", 16.0, "float", None, 0),
        ("ternary", 2.0, "ternary", None, 0),
        ("binary", 1.0, "binary", None, 0),
    ],
)
def test_bits_per_element_counts_scales(name, bits, family, group, scale_bits):
    f = get_format(name)
    assert f.bits_per_element == pytest.approx(bits)
    assert (f.family, f.group_size, f.scale_bits) == (family, group, scale_bits)


def test_datapath_attributes():
    e4m3 = get_format("fp8_e4m3")
    assert (e4m3.is_float, e4m3.exponent_bits, e4m3.mantissa_bits, e4m3.element_bits, e4m3.signed) == (
        True,
        4,
        3,
        8,
        True,
    )
    i4 = get_format("int4_g128")
    assert (i4.is_float, i4.exponent_bits, i4.mantissa_bits, i4.element_bits, i4.signed) == (False, 0, 3, 4, True)
    a4 = get_format("int4a_g64")
    assert (a4.signed, a4.mantissa_bits) == (False, 4)
    assert get_format("mxint8").is_float is False and get_format("mxfp6_e2m3").exponent_bits == 2
    assert get_format("bf16").exponent_bits == 8 and get_format("bf16").mantissa_bits == 7


def test_every_listed_format_builds_and_round_trips_shape():
    x = np.random.default_rng(1).standard_normal((3, 70)).astype(np.float32)
    for name in list_formats():
        q = get_format(name).quantize(x)
        assert q.shape == x.shape and q.dtype == np.float32, name
        assert np.all(np.isfinite(q)), name


def test_unknown_name_suggests_closest():
    with pytest.raises(HwsimError, match=r"did you mean .*int4_g128"):
        get_format("in4_g128")
    with pytest.raises(HwsimError, match="mxfp8 needs one of mxfp8_e4m3, mxfp8_e5m2"):
        get_format("mxfp8")
    with pytest.raises(HwsimError, match="integer bits must be in 2..16"):
        get_format("int1")
    with pytest.raises(HwsimError, match="unknown option 'zz'"):
        get_format("int4_zz")
    with pytest.raises(HwsimError, match="linear scale format"):
        get_format("int4a_g32_se8m0")
    with pytest.raises(HwsimError, match="axis 2 is out of range"):
        get_format("int4").quantize(np.ones((2, 2)), axis=2)


def test_gptq_awq_spellings_and_bitnet_default():
    assert get_format("int4_g128").scaling == "absmax" and get_format("int4a_g128").scaling == "minmax"
    t = get_format("ternary")
    assert t.scaling == "absmean" and list(t.values()) == [-1, 0, 1]


def test_per_channel_and_group_along_any_axis():
    x = np.random.default_rng(2).standard_normal((8, 6, 64))
    f = get_format("int4_g16")
    q_last = f.quantize(x, axis=-1)
    q_mid = f.quantize(np.swapaxes(x, 1, 2), axis=1)
    np.testing.assert_array_equal(np.swapaxes(q_mid, 1, 2), q_last)
    pc = get_format("int8_pc").quantize(x, axis=0)
    for c in range(6):  # one scale per (row, col) slice along axis 0
        s = np.abs(x[:, c, 0]).max() / 127
        assert np.allclose(pc[:, c, 0] / np.float16(s), np.rint(pc[:, c, 0] / np.float16(s)))


def test_group_that_does_not_divide_axis_pads_last_group():
    x = np.arange(1, 11, dtype=np.float64)  # groups of 4: [1..4] [5..8] [9, 10 (+2 pad)]
    q = get_format("int2_g4_sfp32").quantize(x)  # int2: codes -1..1, so each group → {0, ±amax}
    np.testing.assert_allclose(q, [0, 0, 4, 4, 8, 8, 8, 8, 10, 10])


def test_int_symmetric_and_asymmetric_formulas():
    # REFERENCES.md: s = amax/(2^(k-1)-1); asymmetric s = (max-min)/(2^k-1), z = round(-min/s)
    x = np.array([-1.0, -0.2, 0.3, 3.0])
    s = 3.0 / 7
    np.testing.assert_allclose(get_format("int4_sfp32").quantize(x), np.rint(x / np.float32(s)) * np.float32(s))
    sa = np.float32(4.0 / 15)
    z = np.rint(1.0 / sa)
    expect = (np.clip(np.rint(x / sa) + z, 0, 15) - z) * sa
    np.testing.assert_allclose(get_format("int4a_sfp32").quantize(x), expect)


def test_scale_format_changes_error():
    x = np.random.default_rng(3).standard_normal(1 << 14)
    errs = {s: np.mean((get_format(f"int4_g32_s{s}").quantize(x) - x) ** 2) for s in ("fp32", "fp16", "bf16", "e8m0")}
    assert len(set(errs.values())) == 4  # rounding the scale changes the result
    assert max(errs["fp32"], errs["fp16"], errs["bf16"]) * 1.05 < errs["e8m0"]  # power-of-two scales clip/waste range


def test_u8_scales_are_codes_times_a_row_scale():
    x = np.random.default_rng(4).standard_normal((4, 512))
    q = get_format("int4_g128_su8").quantize(x)
    s = np.abs(q).reshape(4, 4, 128).max(-1) / 7  # each group's max lands on code ±7
    ratio = s / s.max(axis=1, keepdims=True) * 255
    np.testing.assert_allclose(ratio, np.rint(ratio), atol=1e-6)


def test_nan_and_inf_handling():
    x = np.array([1.0, np.nan, 2.0, 3.0, 0.5, 0.25, -1.0, 2.0])
    q = get_format("int4_g4").quantize(x)
    assert np.all(np.isnan(q[:4])) and np.all(np.isfinite(q[4:]))  # NaN poisons its group only
    e4m3 = get_format("fp8_e4m3")
    special = np.array([np.inf, -np.inf, np.nan, 1e6])
    np.testing.assert_array_equal(e4m3.quantize(special)[[0, 1, 3]], [448, -448, 448])  # saturating
    assert np.isnan(e4m3.quantize(special)[2])
    ovf = get_format("fp8_e4m3_ovf").quantize(special)
    assert np.all(np.isnan(ovf[[0, 1, 2, 3]]))  # E4M3 has no Inf: overflow is NaN
    ovf5 = get_format("fp8_e5m2_ovf").quantize(special)
    assert ovf5[0] == np.inf and ovf5[1] == -np.inf and ovf5[3] == np.inf
    assert get_format("fp16").quantize(np.array([65519.0, 65520.0]))[1] == np.inf  # IEEE overflow threshold
    assert get_format("fp16").quantize(np.array([65519.0]))[0] == 65504


def test_zeros_and_empty():
    for name in ("int4_g128", "int4a_g64", "mxfp4", "nf4", "bitmod_fp4_g128", "ternary", "binary", "bfp8_g16"):
        z = get_format(name).quantize(np.zeros((2, 40)))
        expect = np.ones((2, 40)) * 0 if name != "binary" else None
        if expect is not None:
            np.testing.assert_array_equal(z, expect)
    assert get_format("int4").quantize(np.zeros((0, 3))).shape == (0, 3)
    assert get_format("fp8_e4m3").quantize(np.float64(3.3)).shape == ()


def test_minifloat_options():
    nosub = get_format("e2m1_nosub")
    np.testing.assert_array_equal(nosub.quantize(np.array([0.2, 0.6, 0.5, 0.75])), [0, 1, 0, 1])
    assert 0.5 not in nosub.values()
    b = get_format("e4m3_b8")  # bias 8: everything halves
    assert b.element.max_abs == get_format("e4m3").element.max_abs / 2
    assert get_format("e4m3_fn").element.max_abs == 448 and get_format("e5m2_ieee").element.max_abs == 57344


def test_stochastic_rounding_is_seeded_and_unbiased():
    f = get_format("int4_g64_sr")
    x = np.full(1 << 16, 0.3)
    x[::64] = 7.0  # each group's max is 7 → scale 1, codes are integers
    a, b, c = f.quantize(x, seed=1), f.quantize(x, seed=1), f.quantize(x, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    body = np.delete(a, np.s_[::64])
    assert set(np.unique(body)) == {0.0, 1.0}
    assert abs(body.mean() - 0.3) < 0.01  # E[SR(x)] = x
    fp = get_format("fp8_e4m3_sr").quantize(np.full(1 << 14, 1.03), seed=0)
    assert set(np.unique(fp)) == {1.0, 1.125} and abs(fp.mean() - 1.03) < 0.003
    nf = get_format("nf4_sr").quantize(np.full(1 << 14, 0.5)).reshape(-1, 64)
    nf[:, 0] = 1.0  # (first element sets the scale in the real data below)
    assert nf4_sr_mean_ok()


def nf4_sr_mean_ok():
    x = np.full(1 << 14, 0.5)
    x[::64] = 1.0
    q = get_format("nf4_sr").quantize(x, seed=3)
    body = np.delete(q, np.s_[::64])
    return abs(body.mean() - 0.5) < 0.01 and set(np.unique(body)) == {0.44070982933044434, 0.5626170039176941}


def test_deterministic_output_bytes():
    x = np.random.default_rng(5).standard_normal((16, 96)).astype(np.float32)
    for name in ("int4_g32", "mxfp4", "nf4_g64", "bitmod_fp3_g128", "int4_g32_sr"):
        assert get_format(name).quantize(x, seed=7).tobytes() == get_format(name).quantize(x, seed=7).tobytes()


def test_bitmod_picks_per_group_best_variant():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 128))
    x[:, 0] = 8.0  # strongly positive outlier: the +8 "extra asymmetry" grid should win
    f = get_format("bitmod_fp4_g128_sfp32")
    q = f.quantize(x)
    mse_mix = np.mean((q - x) ** 2)
    mse_fp4 = np.mean((get_format("fp4_e2m1_g128_sfp32").quantize(x) - x) ** 2)
    assert mse_mix < mse_fp4
    assert np.all(q[:, 0] == 8.0)  # the outlier is the +8 code times scale 1


@pytest.mark.parametrize(
    "name,needle",
    [
        ("int4_g128_g64", "options 'g128' and 'g64' both set the grouping"),  # was int4_g64 under the name g128_g64
        ("int4_pc_pt", "options 'pc' and 'pt' both set the grouping"),  # was per tensor
        ("int4_g128_pc", "options 'g128' and 'pc' both set the grouping"),
        ("e4m3_fn_ieee", "both set the special values"),  # was IEEE-like, max 240
        ("e4m3_ovf_sat", "both set the overflow rule"),
        ("mxfp4_floor_ceil", "both set the exponent rule"),
        ("int4_g128_sfp16_sbf16", "both set the scale format"),
        ("e4m3_b3_b4", "both set the exponent bias"),
        ("int4_g128_sr_sr", "option 'sr' is given twice"),
    ],
)
def test_two_options_setting_one_thing_are_refused(name, needle):
    with pytest.raises(HwsimError, match=needle):
        get_format(name)


def test_options_may_still_override_their_base():
    assert get_format("mxfp4_g16").group_size == 16 and get_format("nvfp4_g32").group_size == 32
    assert get_format("fp8_e4m3_sat").name == "fp8_e4m3_sat" and get_format("int4_g128_sr_su8").stochastic
