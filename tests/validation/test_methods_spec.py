"""Quantization methods against their papers' definitions (REFERENCES.md, "Quantization methods" and the MX
rounding variants). Each test builds the published rule independently in a few lines of numpy and compares
hwsim's result with it; only the elementwise rounding to the format's grid is hwsim's (`round_columns`, checked
against the format specs in test_formats_spec.py).
"""

import numpy as np
import pytest

from hwsim.accuracy import gptq as G
from hwsim.accuracy.methods import parse_method, prepare_linear
from hwsim.formats import get_format


def _layer(seed, out=48, inp=256, tokens=512):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, inp)) * np.exp(rng.normal(0, 1, inp))  # uneven channels, as in LLMs
    w = rng.standard_normal((out, inp)) * 0.02
    return w, x


def _textbook_gptq(w, x, fmt, damp=0.01):
    """GPTQ (Frantar et al., ICLR 2023, Algorithm 1) one column at a time, no lazy batches, no act-order:
    H = 2 XᵀX dampened by 1% of its mean diagonal, U = upper Cholesky factor of H⁻¹, each column's error
    (w - q) / U[j, j] spread onto the later columns through U[j, j+1:]. Group scales fixed from the original W."""
    f = get_format(fmt)
    fixed = f.fit(w)
    h = 2.0 * x.T @ x / len(x)
    h += damp * np.mean(np.diag(h)) * np.eye(len(h))
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    w, q = w.copy(), np.zeros_like(w)
    for j in range(w.shape[1]):
        q[:, j] = f.round_columns(w[:, j : j + 1], fixed, j // fixed.width)[:, 0]
        err = (w[:, j] - q[:, j]) / u[j, j]
        w[:, j + 1 :] -= np.outer(err, u[j, j + 1 :])
    return q


@pytest.mark.parametrize("fmt", ["int4_g128", "int3_g128"])
def test_gptq_equals_the_papers_algorithm(fmt):
    """hwsim's GPTQ (lazy batches of 128, act-order off) gives the textbook algorithm's weights: the lazy batch
    is an exact reordering of the same updates, so only float rounding may flip a rare tie (tolerance: 99.9%
    of weights identical, output error within 0.1%). A different damping (GPTQ's percdamp 0.01) changes it."""
    w, x = _layer(0)
    ours = G.gptq(w, fmt, x, act_order=False)
    ref = _textbook_gptq(w, x, fmt)
    assert np.mean(ours == ref) > 0.999
    err = lambda q: np.sum((x @ (w - q).T) ** 2)  # noqa: E731
    assert err(ours) == pytest.approx(err(ref), rel=1e-3)
    assert np.mean(_textbook_gptq(w, x, fmt, damp=0.5) == ref) < 0.99  # the damping is observable


def test_smoothquant_scale_is_the_published_formula_with_alpha_one_half():
    """SmoothQuant (Xiao et al., ICML 2023): s_j = max|X_j|^α / max|W_j|^(1-α), α = 0.5 by default; the weight
    becomes W·diag(s) and the activations X·diag(s)⁻¹, so the product is unchanged (fp64, no weight format)."""
    w, x = _layer(1)
    assert parse_method("smoothquant").transforms == (("smoothquant", 0.5),)
    p = prepare_linear(w, None, "smoothquant", x)
    s = np.abs(x).max(0) ** 0.5 / np.abs(w).max(0) ** 0.5
    np.testing.assert_allclose(p.weight, w * s, rtol=1e-12)
    (kind, got), *_ = p.ops
    assert kind == "scale"
    np.testing.assert_allclose(got, s, rtol=1e-6)  # stored as float32
    np.testing.assert_allclose(p.input(x) @ p.weight.T, x @ w.T, rtol=1e-4, atol=1e-5)


def test_mx_scale_rounding_rules():
    """OCP MX v1.0 (the default, `mxfp4`): X = 2^(floor(log2 amax) - 2), so a block whose amax/2^floor(log2 amax)
    lies in (1.5, 2) clips its max to 6·X. The rounded-up variant (`mxfp4_ceil`): the smallest power of two with
    amax / X ≤ 6, so nothing clips. Block of 32 with amax 7 (between 6 and 8 after OCP scaling by 1)."""
    x = np.linspace(-1.0, 1.0, 32)
    x[5] = 7.0
    ocp, ceil = get_format("mxfp4").quantize(x[None])[0], get_format("mxfp4_ceil").quantize(x[None])[0]
    assert ocp[5] == 6.0  # X = 2^(2 - 2) = 1: 7 clips to the element max 6
    assert ceil[5] == 8.0  # X = 2: 7 / 2 = 3.5 rounds (ties to even) to 4 → 8, no clipping
    rng = np.random.default_rng(2)
    b = rng.standard_normal((256, 32)) * np.exp(rng.normal(0, 2, (256, 1)))
    amax = np.abs(b).max(1)
    kept = {n: np.abs(get_format(n).quantize(b)).max(1) / amax for n in ("mxfp4", "mxfp4_ceil")}
    # rounded up, amax / X lies in (3, 6]: the nearest grid point (3, 4 or 6) keeps at least 4/5 of it
    assert kept["mxfp4_ceil"].min() >= 0.8 - 1e-6
    # OCP, amax / X lies in [4, 8): above 7.5 the max clips to 6, below 4/5 of it, in some of 256 blocks
    assert kept["mxfp4"].min() < 0.8
