"""Property tests (hypothesis): nested grids never lose accuracy, quantization is idempotent,
bits_per_element arithmetic."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hwsim.formats import get_format

# magnitudes kept where every group scale is a normal number of its format (see docs/formats.md)
_vals = st.one_of(st.just(0.0), st.floats(1e-2, 1e3), st.floats(-1e3, -1e-2))
data = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 80)), elements=_vals)
FAST = settings(max_examples=40, deadline=None)


def mse(name, x):
    return float(np.mean((get_format(name).quantize(x) - x) ** 2))


@FAST
@given(
    x=data, e=st.integers(2, 5), m=st.integers(0, 4), g=st.sampled_from(["", "_g8_se8m0", "_g32_se8m0", "_pc_se8m0"])
)
def test_more_mantissa_bits_never_increase_mse(x, e, m, g):
    # same exponent bits and bias → the ExM(y+1) grid contains the ExMy grid, and the power-of-two
    # scale depends on emax only; absmax scales (amax/max) differ between the two, so no nesting there
    assert mse(f"e{e}m{m + 1}{g}", x) <= mse(f"e{e}m{m}{g}", x)


@FAST
@given(x=data, k=st.integers(2, 7), g=st.sampled_from(["_g8_se8m0", "_g32_se8m0", "_pt_se8m0"]))
def test_more_integer_bits_never_increase_mse(x, k, g):
    # power-of-two (E8M0) scales make the INT-(k+1) grid a superset of the INT-k grid
    assert mse(f"int{k + 1}{g}", x) <= mse(f"int{k}{g}", x)
    assert mse(f"bfp{k + 1}{g[:-6] or '_g16'}", x) <= mse(f"bfp{k}{g[:-6] or '_g16'}", x)


def test_more_integer_bits_lower_mse_with_linear_scales_on_gaussian():
    # absmax-scaled INT-k grids are not nested (amax/7 vs amax/15 steps): monotone in expectation only
    x = np.random.default_rng(0).standard_normal(1 << 14)
    for kind in ("int{}_g64", "int{}a_g64"):
        errs = [mse(kind.format(k), x) for k in range(2, 9)]
        assert all(a > b for a, b in zip(errs, errs[1:]))


IDEMPOTENT = (
    "int4_g8",
    "int8_pc",
    "int3",
    "int4_g8_sfp32",
    "int4_g8_sbf16",
    "fp8_e4m3",
    "fp8_e5m2",
    "fp6_e2m3",
    "fp4_e2m1",
    "e2m1_g8",
    "mxfp4",
    "mxfp8_e5m2",
    "mxfp6_e3m2",
    "mxint8",
    "nf4_g8",
    "bfp6_g8",
    "e3m2_g32_se8m0",
    "fp16",
    "bf16",
    "binary",
)


@FAST
@given(x=data, name=st.sampled_from(IDEMPOTENT))
def test_quantize_is_idempotent(x, name):
    f = get_format(name)
    q = f.quantize(x)
    np.testing.assert_array_equal(f.quantize(q), q)


@FAST
@given(
    k=st.integers(2, 8),
    g=st.integers(1, 512),
    asym=st.booleans(),
    scale=st.sampled_from(["fp16", "bf16", "fp32", "u8", "int8", "e8m0"]),
)
def test_bits_per_element_arithmetic(k, g, asym, scale):
    if asym and scale == "e8m0":
        return  # rejected by the grammar (tested elsewhere)
    f = get_format(f"int{k}{'a' if asym else ''}_g{g}_s{scale}")
    sbits = {"fp16": 16, "bf16": 16, "fp32": 32, "u8": 8, "int8": 8, "e8m0": 8}[scale]
    assert f.scale_bits == sbits + (k if asym else 0)
    assert f.bits_per_element == pytest.approx(k + f.scale_bits / g)
