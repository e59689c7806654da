"""KL divergence between output distributions tracks quantization error monotonically.

Source: llama.cpp `perplexity --kl-divergence` on Llama-3-8B (REFERENCES.md, Number formats):
q8_0 0.00136 < q4_1 0.0717 ≈ q4_0 0.0719 < q2_K 0.445 mean KL, tracking ΔPPL monotonically.
Here: a synthetic LM head (Gaussian weights, LLM-like activations), weights quantized with
INT-k, k = 8 … 2, groups of 64.
"""

import numpy as np
import pytest
from scipy import stats

from hwsim.accuracy import synthetic as syn
from hwsim.accuracy.metrics import kl_divergence, linear_output_error, log_softmax
from hwsim.formats import get_format

BITS = [8, 6, 5, 4, 3, 2]


@pytest.fixture(scope="module")
def head():
    # logits with a realistic spread: hidden 256, vocab 2048, 64 tokens (massive first token dropped,
    # it would make one row's distribution one-hot)
    x = syn.llm_activations(11, tokens=65, channels=256)[1:].astype(np.float64)
    w = syn.gaussian((2048, 256), seed=12, std=syn.WEIGHT_STD)  # logits std ≈ 2.6, max ≈ 10
    return x, w


def test_kl_and_output_error_grow_monotonically_with_fewer_bits(head):
    x, w = head
    ref = x @ w.T
    kl, err = [], []
    for k in BITS:
        wq = get_format(f"int{k}_g64").quantize(w, axis=-1)
        kl.append(kl_divergence(ref, x @ wq.T))
        err.append(linear_output_error(x, w, wq))
    assert np.all(np.diff(kl) > 0) and np.all(np.diff(err) > 0)
    assert stats.spearmanr(kl, err).statistic == pytest.approx(1.0)
    # like llama.cpp's q8_0 vs q4_0 (0.00136 vs 0.0719), 8-bit is orders of magnitude below 4-bit
    assert kl[BITS.index(4)] / kl[0] > 50


def test_kl_small_error_matches_second_order_expansion(head):
    # KL(p‖q) ≈ ½ Var_p(δ) for logit perturbations δ small against 1: checks the KL arithmetic
    x, w = head
    ref = x @ w.T
    delta = x @ (get_format("int8_g64").quantize(w, axis=-1) - w).T
    p = np.exp(log_softmax(ref))
    var = np.sum(p * delta**2, -1) - np.sum(p * delta, -1) ** 2
    assert kl_divergence(ref, ref + delta) == pytest.approx(0.5 * var.mean(), rel=0.05)
