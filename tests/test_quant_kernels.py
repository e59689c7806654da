"""The fast paths of the quantization kernels against the slower reference they replace (issue 13's
speed work): the compare-and-select grid search against the bucket search, GPTQ's one-pass low-rank
Cholesky against the dense factor of the same H, GPTQ's factor cache against fresh factors, and the
numba q4_0 path against the module's numpy transcription of llama.cpp's reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.accuracy import gptq as gptq_mod
from hwsim.formats import get_format, ggml, kernels
from hwsim.formats.codebook import NF4_TABLE, bitmod_variants

GRIDS = [
    np.array(NF4_TABLE),
    bitmod_variants("fp4")[2].kernel_grid(),
    bitmod_variants("fp3")[0].kernel_grid(),
    np.sort(np.random.default_rng(3).standard_normal(31)),
]


@pytest.mark.parametrize("g", GRIDS, ids=["nf4", "bitmod_fp4", "bitmod_fp3", "random31"])
def test_grid_select_equals_bucket_search(g):
    mids = (g[1:] + g[:-1]) * 0.5
    rng = np.random.default_rng(0)
    y = np.concatenate(
        [
            rng.uniform(g[0] - 1, g[-1] + 1, 5000),
            mids,
            g,
            np.nextafter(mids, np.inf),
            np.nextafter(mids, -np.inf),
            [np.nan, np.inf, -np.inf, 0.0, -0.0],
        ]
    )
    look = kernels.grid_lookup(g)
    fast = y.copy()
    kernels._grid_row(fast, np.empty(0), False, g, look, np.empty_like(y))
    ref = np.array([kernels._grid_nearest(v, g, *look) for v in y])
    assert np.array_equal(fast, ref, equal_nan=True)
    # a tie goes to the lower value (BitMoD's reference quantizer)
    assert np.array_equal(fast[5000 : 5000 + mids.size], g[:-1])


@pytest.mark.parametrize(
    "g", GRIDS[:3] + [np.array([-1.0, 0.5]), np.array([0.25])], ids=["nf4", "bitmod_fp4", "bitmod_fp3", "two", "one"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_pass_small_grid_equals_the_tiled_passes(g, dtype):
    """Grids of ≤ 16 values take the one-pass kernel: the same bits as the tiled compare-and-select passes,
    at ties (to the lower value), NaN, ±inf and signed zeros, with per-row scales."""
    mids = (g[1:] + g[:-1]) * 0.5
    rng = np.random.default_rng(1)
    special = np.concatenate(
        [mids, g, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), [np.nan, np.inf, -np.inf, 0.0, -0.0]]
    )
    y = np.concatenate([rng.uniform(g[0] - 1, g[-1] + 1, 64 * 40 - special.size), special])
    scale = rng.uniform(0.5, 2.0, 40)
    x = (y.reshape(40, 64) * scale[:, None]).astype(dtype)
    fast = kernels._quantize_grid16(x, scale, g, np.empty_like(x))
    tiled = kernels._quantize_grid(x, scale, g, np.empty((0, 0)), np.empty_like(x))
    assert fast.dtype == dtype and np.array_equal(fast, tiled, equal_nan=True)
    assert np.array_equal(np.signbit(fast), np.signbit(tiled))


@settings(max_examples=8, deadline=None)
@given(m=st.integers(2, 40), n=st.integers(90, 200), seed=st.integers(0, 100))
def test_lowrank_factor_equals_dense_factor(m, n, seed):
    # U = diag(u) + strict_upper(P·Bᵀ) from the one-pass kernel is the upper Cholesky factor of the
    # same (H + λI)⁻¹ that the dense path factorises (float32 both: compare to float32 precision)
    x = np.random.default_rng(seed).standard_t(4, (m, n))
    u, p, b = gptq_mod._lowrank_factor(x, 0.01)
    low = np.triu(p.astype(np.float64) @ b.T.astype(np.float64), 1) + np.diag(u)
    dense = gptq_mod._inverse_cholesky(gptq_mod.hessian(x), 0.01).astype(np.float64)
    assert np.allclose(low, dense, rtol=2e-3, atol=2e-3 * np.abs(dense).max())


def test_gptq_factor_cache_is_keyed_on_content():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((32, 128)).astype(np.float32)
    x1, x2 = rng.standard_normal((40, 128)), rng.standard_normal((40, 128))
    fmt = get_format("int4_g32")
    a = gptq_mod.gptq(w, fmt, x1)
    b = gptq_mod.gptq(w, fmt, x2)  # same shape, other content: a fresh factor
    gptq_mod._LAST.clear()
    assert np.array_equal(gptq_mod.gptq(w, fmt, x2), b)
    assert np.array_equal(gptq_mod.gptq(w, fmt, x1.copy()), a)
    assert not np.array_equal(a, b)
    x1[0, 0] += 1.0  # the same array changed in place: not the cached factor
    gptq_mod.gptq(w, fmt, x1)
    gptq_mod._LAST.clear()
    assert np.array_equal(gptq_mod.gptq(w, fmt, x1), gptq_mod.gptq(w, fmt, x1.copy()))


def test_q4_0_kernel_equals_numpy_reference():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((12, 256)) * np.exp(rng.uniform(-20, 20, (12, 1)))).astype(np.float32)
    x[0, :4] = [np.nan, np.inf, 0.0, -0.0]
    x[1] = -0.0
    x[2, :32] = np.round(rng.standard_normal(32) * 4)  # exact halves: ties in x/d + 8.5
    x[3, :32] = 1e-42  # subnormal float32
    x[4, 32:64] = -3.0  # the largest magnitude appears on every element: first one wins
    blocks = x.reshape(-1, 32)
    with np.errstate(all="ignore"):  # NaN/Inf blocks and fp16 overflow of huge blocks' d, on purpose
        ref = ggml.decode("q4_0", ggml.encode("q4_0", blocks))
        ref[~np.isfinite(blocks).all(-1)] = np.nan
        ref = np.where(ref == 0, np.copysign(np.float32(0), blocks), ref).reshape(x.shape)
        got = get_format("q4_0").quantize(x)
        got64 = get_format("q4_0").quantize(x.astype(np.float64))
    assert got.dtype == np.float32 and got.tobytes() == ref.tobytes()
    assert got64.dtype == np.float64 and np.array_equal(got64, ref.astype(np.float64), equal_nan=True)
