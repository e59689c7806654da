"""Synthetic LLM-like tensors: seeded, with the documented statistics (REFERENCES.md, LLM tensor statistics)."""

import numpy as np
import pytest
from scipy import stats

from hwsim.accuracy import synthetic as syn


def test_seeded_and_byte_identical():
    assert syn.llm_activations(3).tobytes() == syn.llm_activations(3).tobytes()
    assert syn.llm_activations(3).tobytes() != syn.llm_activations(4).tobytes()
    a, b = syn.llm_weights(7), syn.llm_weights(7)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_weights_shapes_std_and_heavier_qk_tails():
    w = syn.llm_weights(0, hidden=256, intermediate=688)
    assert w["q_proj"].shape == (256, 256) and w["down_proj"].shape == (256, 688)
    assert w["up_proj"].shape == (688, 256) and len(w) == 7
    for t in w.values():
        assert t.std() == pytest.approx(syn.WEIGHT_STD, rel=0.05)
    # Student-t(5) has excess kurtosis 6, Gaussian 0
    assert stats.kurtosis(w["q_proj"].ravel()) > 3.0
    assert abs(stats.kurtosis(w["v_proj"].ravel())) < 0.2


def test_student_t_rescaled_to_std():
    t = syn.student_t(200_000, seed=1, dof=5, std=2.0)
    assert t.std() == pytest.approx(2.0, rel=0.03)
    with pytest.raises(ValueError):
        syn.student_t(10, seed=1, dof=2)


def test_activation_outliers_and_massive_values():
    x = syn.llm_activations(5, tokens=128, channels=512, n_outlier_channels=6, n_massive=2)
    assert x.shape == (128, 512) and x.dtype == np.float32
    found = syn.outlier_channels(x[1:], factor=6.0)  # LLM.int8 criterion: magnitude ≥ 6
    assert len(found) == 6
    typical = np.median(np.abs(x[1:]))
    ratio = np.median(np.abs(x[1:, found]), axis=0) / typical
    assert ratio.min() > 20 * 0.5 and ratio.max() < 100 * 2.0  # SmoothQuant: up to ~100×
    # massive values only on the first token, 10^3–10^4 × typical
    assert np.max(np.abs(x[0])) / typical > 1e3 * 0.5
    assert np.max(np.abs(x[1:])) < 1e3 * typical
