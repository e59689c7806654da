"""Error metrics: hand-computed values, stability, aggregation and the KL-tracks-error property."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.accuracy import metrics as m


def test_mse_sqnr_max_by_hand():
    x = np.array([1.0, -2.0, 3.0, 0.0])
    xh = np.array([1.0, -1.5, 2.0, 0.25])
    # errors 0, -0.5, 1, -0.25 → sse 1.3125, signal 14
    assert m.mse(x, xh) == pytest.approx(1.3125 / 4)
    assert m.sqnr_db(x, xh) == pytest.approx(10 * np.log10(14 / 1.3125))
    assert m.max_abs_err(x, xh) == pytest.approx(1.0)


def test_exact_copy_has_infinite_sqnr_and_zero_error():
    x = np.arange(10.0)
    assert m.mse(x, x) == 0.0
    assert m.sqnr_db(x, x) == float("inf")


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        m.mse(np.zeros(3), np.zeros(4))


def test_sums_aggregate_like_one_concatenated_tensor():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100), rng.normal(size=37)
    ah, bh = a + rng.normal(0, 0.1, 100), b + rng.normal(0, 0.3, 37)
    agg = m.metrics_from_sums(m.combine_sums([m.error_sums(a, ah), m.error_sums(b, bh)]))
    cat, cath = np.concatenate([a, b]), np.concatenate([ah, bh])
    assert agg["mse"] == pytest.approx(m.mse(cat, cath))
    assert agg["sqnr_db"] == pytest.approx(m.sqnr_db(cat, cath))
    assert agg["max_abs_err"] == pytest.approx(m.max_abs_err(cat, cath))


def test_kl_known_value_and_stability():
    # two-outcome distributions: p = (0.5, 0.5) from logits (0, 0); q = softmax(0, ln 3) = (0.25, 0.75)
    kl = m.kl_divergence(np.array([[0.0, 0.0]]), np.array([[0.0, np.log(3.0)]]))
    assert kl == pytest.approx(0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75))
    # huge logits must not overflow: shifting every logit by a constant leaves softmax unchanged
    z = np.array([[1000.0, 1001.0, 999.0]])
    assert m.kl_divergence(z, z - 5000.0) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(m.kl_divergence(z, -z))


def test_linear_output_error_matches_definition():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(20, 8)), rng.normal(size=(5, 8))
    wh = w + rng.normal(0, 0.05, w.shape)
    want = np.sum((x @ w.T - x @ wh.T) ** 2) / np.sum((x @ w.T) ** 2)
    assert m.linear_output_error(x, w, wh) == pytest.approx(want)
    assert m.linear_output_error(x, w, w) == 0.0
    with pytest.raises(ValueError):
        m.linear_output_error(rng.normal(size=(3, 7)), w, wh)


def test_cosine_similarity_rows():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(m.cosine_similarity(a, b), [0.0, 1.0])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.01, 10.0))
def test_kl_nonnegative_and_zero_only_for_equal_distributions(seed, scale):
    z = np.random.default_rng(seed).normal(0, scale, size=(4, 16))
    assert m.kl_divergence(z, z) == pytest.approx(0.0, abs=1e-12)
    assert m.kl_divergence(z, z[::-1]) >= 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 63))
def test_aggregating_any_split_equals_the_whole(seed, cut):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=64).astype(np.float32)
    xh = (x + rng.normal(0, 0.1, 64)).astype(np.float32)
    whole = m.metrics_from_sums(m.error_sums(x, xh))
    parts = m.metrics_from_sums(m.combine_sums([m.error_sums(x[:cut], xh[:cut]), m.error_sums(x[cut:], xh[cut:])]))
    assert parts == pytest.approx(whole, rel=1e-12)
