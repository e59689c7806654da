"""Quantization methods (hwsim.accuracy.methods, gptq, hadamard): invariants that fail when the
plumbing is wrong. Sources: GPTQ (Frantar et al. 2023), AWQ, SmoothQuant, QuaRot via REFERENCES.md
"Quantization methods"."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.accuracy import gptq as G
from hwsim.accuracy.hadamard import hadamard, rotate, rotation
from hwsim.accuracy.methods import parse_method, prepare_linear
from hwsim.accuracy.metrics import linear_output_error
from hwsim.errors import HwsimError
from hwsim.formats import get_format

GRID_FORMATS = [
    "int4_g128",
    "int3_g128",
    "int4a_g128",
    "int8_pc",
    "int4",
    "mxfp4",
    "mxfp4_ceil",
    "nvfp4",
    "nf4_g64",
    "bitmod_fp3_g128",
    "fp8_e4m3",
    "e2m1_g32",
    "int4_g128_su8",
]


def _layer(seed=0, out=96, inp=256, tokens=64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, inp)) * np.exp(rng.normal(0, 1, inp))  # uneven channels, as in LLMs
    w = (rng.standard_normal((out, inp)) * 0.02).astype(np.float32)
    return w, x


@pytest.mark.parametrize("name", GRID_FORMATS)
def test_fixed_scales_round_exactly_like_quantize(name):
    w, _ = _layer()
    f = get_format(name)
    fixed = f.fit(w)
    cols = [f.round_columns(w[:, j : j + 1], fixed, j // fixed.width) for j in range(w.shape[1])]
    assert np.array_equal(np.concatenate(cols, 1).astype(np.float32), f.quantize(w))


@pytest.mark.parametrize("name", GRID_FORMATS)
def test_gptq_with_identity_hessian_is_rtn(name):
    # diagonal H: no error to propagate, so GPTQ rounds every weight to nearest with the same scales
    w, _ = _layer(1)
    f = get_format(name)
    assert np.array_equal(G.gptq(w, f, h=np.eye(w.shape[1])), f.quantize(w))


@pytest.mark.parametrize("name", ["int4_g128", "int3_g128", "mxfp4", "nf4_g64", "bitmod_fp3_g128", "nvfp4"])
def test_gptq_output_error_below_rtn(name):
    w, x = _layer(2)
    f = get_format(name)
    e_rtn = linear_output_error(x, w, f.quantize(w))
    e_gptq = linear_output_error(x, w, G.gptq(w, f, x))
    assert e_gptq < 0.5 * e_rtn


def test_gptq_low_rank_path_equals_the_dense_path():
    # 64 tokens < 256/2 channels: H⁻¹'s Cholesky factor comes from the semiseparable recursion
    w, x = _layer(3)
    f = get_format("int4_g128")
    a = G.gptq(w, f, x)
    b = G.gptq(w, f, h=G.hessian(x))
    assert np.mean(a == b) > 0.999  # float32 rounding may flip a rare tie
    assert linear_output_error(x, w, a) == pytest.approx(linear_output_error(x, w, b), rel=1e-3)


def test_gptq_act_order_and_dead_channels():
    w, x = _layer(4, tokens=300)
    x[:, 5] = 0.0  # a channel that never fires: GPTQ zeroes it
    f = get_format("int4_g128")
    q = G.gptq(w, f, x)
    assert np.all(q[:, 5] == 0)
    assert linear_output_error(x, w, q) < linear_output_error(x, w, G.gptq(w, f, x, act_order=False)) * 1.5


def test_method_names():
    m = parse_method("rotate+smoothquant_a0.8+gptq")
    assert m.transforms == (("rotate", 0.0), ("smoothquant", 0.8)) and m.rounding == "gptq" and m.rotates
    assert parse_method(None).rounding == "rtn" and parse_method("awq").rounding == "rtn"
    for bad, msg in [
        ("gptq+rotate", "last"),
        ("gpt", "did you mean"),
        ("rotate++gptq", "joined"),
        ("smoothquant_a2", r"\[0, 1\]"),
        ("rotate+rotate", "'rotate' is given twice"),  # was taken: the same seeded rotation applied twice
        ("smoothquant+smoothquant_a0.8+gptq", "'smoothquant' is given twice"),
    ]:
        with pytest.raises(HwsimError, match=msg):
            parse_method(bad)


@pytest.mark.parametrize("fmt", ["ternary", "binary", "q4_k", "int4_g128_sr"])
def test_gptq_refuses_formats_without_a_fixed_scale(fmt):
    w, x = _layer()
    with pytest.raises(HwsimError, match="does not apply"):
        prepare_linear(w, get_format(fmt), "gptq", x)


@pytest.mark.parametrize(
    "method", ["rotate", "smoothquant", "smoothquant_a0.8", "rotate+smoothquant", "smoothquant+rotate"]
)
def test_transforms_leave_the_float_layer_unchanged(method):
    w, x = _layer(5)
    p = prepare_linear(w, None, method, x)
    y = (p.input(x.astype(np.float32)) @ p.weight.T).astype(np.float64)
    assert np.allclose(y, x @ w.T.astype(np.float64), rtol=1e-3, atol=1e-3 * np.abs(x @ w.T).max())
    assert np.allclose(p.effective_weight(), w, atol=1e-6)


def test_smoothquant_flattens_activation_channels():
    w, x = _layer(6)
    p = prepare_linear(w, None, "smoothquant", x)
    spread = lambda a: np.abs(a).max(0).max() / np.abs(a).max(0).min()  # noqa: E731
    assert spread(p.input(x.astype(np.float32))) < 0.2 * spread(x)


def test_awq_never_worse_than_rtn_on_its_calibration():
    w, x = _layer(7)  # 64 tokens: the α search sees all of them; α = 0 is RTN
    f = get_format("int3_g128")
    p = prepare_linear(w, f, "awq", x)
    assert linear_output_error(x, w, p.effective_weight()) <= linear_output_error(x, w, f.quantize(w)) + 1e-12


def test_rotation_spreads_an_outlier():
    w, x = _layer(8)
    x[:, 3] *= 100.0
    p = prepare_linear(w, None, "rotate", x)
    xr = p.input(x.astype(np.float32))
    assert np.abs(xr).max() / np.sqrt(np.mean(xr**2)) < 0.3 * np.abs(x).max() / np.sqrt(np.mean(x**2))


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([1, 2, 4, 12, 20, 24, 48, 96, 384, 768, 1536]), st.integers(0, 5))
def test_rotations_are_orthogonal(n, seed):
    r = rotation(n, seed)
    assert np.allclose(r @ r.T, np.eye(n), atol=1e-10)
    h = hadamard(n)
    assert h is not None and set(np.unique(h)) <= {-1.0, 1.0} and np.array_equal(h @ h.T, n * np.eye(n))


def test_rotation_falls_back_to_random_orthogonal():
    assert hadamard(36) is None  # 36 = 4·9: 9 − 1 = 8 is not a prime ≡ 3 mod 4 (Paley I), no 2^k·Paley split
    r = rotation(36, 1)
    assert np.allclose(r @ r.T, np.eye(36)) and not np.array_equal(r, rotation(36, 2))


@pytest.mark.parametrize("n", [1, 2, 12, 32, 384, 1536, 20 * 8, 36])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_rotation_equals_the_dense_product(n, dtype):
    """hadamard.rotate (fast Walsh-Hadamard over H₂^⊗k ⊗ Paley core, float64 inside) is x·R and x·Rᵀ for
    R = rotation(n, seed), keeps the dtype, and undoes itself; n = 36 (no Hadamard here) takes the dense product."""
    x = np.random.default_rng(n).standard_normal((3, 5, n)).astype(dtype)
    r = rotation(n, 7)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for transpose, m in ((False, r), (True, r.T)):
        got = rotate(x, 7, transpose=transpose)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, x.astype(np.float64) @ m, atol=tol * np.abs(x).max() * np.sqrt(n))
    np.testing.assert_allclose(rotate(rotate(x, 7), 7, transpose=True), x, atol=tol * 10 * np.abs(x).max())
