"""Error metrics between a reference tensor and its quantized copy.

All reductions run in float64 so that a tiny error on a large tensor is not lost to rounding.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# SQNR when the quantized tensor is exact: reported as +inf (JSON output turns it into null)
_EPS = np.finfo(np.float64).tiny


def _pair(x: ArrayLike, x_hat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, x_hat = np.asarray(x), np.asarray(x_hat)
    if x.shape != x_hat.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {x_hat.shape}")
    return x, x_hat


def _sumsq(a: np.ndarray) -> float:
    # squares and sums in float64 buffer by buffer: no float64 copy of a whole weight matrix
    return float(np.square(a, dtype=np.float64).sum())


def error_sums(x: ArrayLike, x_hat: ArrayLike) -> dict[str, float]:
    """Sufficient statistics to aggregate metrics over many tensors:
    n, sum of squared error, sum of squared signal, max absolute error."""
    x, x_hat = _pair(x, x_hat)
    # the difference is taken in the wider of the two dtypes (float32 − float32 is exact enough:
    # its rounding is 2^-24 of the error itself)
    err = np.subtract(x, x_hat, dtype=np.result_type(x, x_hat, np.float32))
    sse = _sumsq(err)
    if math.isnan(sse):  # a finite value the format read back as NaN (a block scale beyond fp16): an infinite
        # error, as fp16's own overflow to Inf is; NaN made mse NaN and max_abs_err 0 (max(0.0, nan) is 0.0)
        err = np.where(np.isnan(err) & np.isfinite(x), np.inf, err)
        sse = _sumsq(err)
    return {
        "n": float(x.size),
        "sse": sse,
        "signal": _sumsq(x),
        "max_abs_err": float(np.max(np.abs(err))) if err.size else 0.0,
    }


def metrics_from_sums(s: dict[str, float]) -> dict[str, float]:
    """mse, sqnr_db, max_abs_err from (possibly summed) `error_sums`."""
    mse = s["sse"] / s["n"] if s["n"] else float("nan")
    if s["sse"] == 0.0:
        sqnr = float("inf")
    else:
        with np.errstate(divide="ignore"):  # an infinite error (fp16 overflow) is −inf dB, said without a warning
            sqnr = 10.0 * np.log10(max(s["signal"], _EPS) / s["sse"])
    return {"mse": mse, "sqnr_db": float(sqnr), "max_abs_err": s["max_abs_err"]}


def combine_sums(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    """Add `error_sums` of several tensors (max of the max errors)."""
    total = {"n": 0.0, "sse": 0.0, "signal": 0.0, "max_abs_err": 0.0}
    for p in parts:
        total["n"] += p["n"]
        total["sse"] += p["sse"]
        total["signal"] += p["signal"]
        total["max_abs_err"] = max(total["max_abs_err"], p["max_abs_err"])
    return total


def mse(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Mean squared error."""
    return metrics_from_sums(error_sums(x, x_hat))["mse"]


def sqnr_db(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Signal-to-quantization-noise ratio 10·log10(Σx² / Σ(x−x̂)²) in dB; +inf when exact."""
    return metrics_from_sums(error_sums(x, x_hat))["sqnr_db"]


def max_abs_err(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Largest absolute elementwise error."""
    return error_sums(x, x_hat)["max_abs_err"]


def log_softmax(logits: ArrayLike, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax (subtracts the max before exponentiating)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def kl_divergence(logits_ref: ArrayLike, logits_q: ArrayLike, axis: int = -1) -> float:
    """Mean over rows of KL(softmax(ref) ‖ softmax(q)) in nats — the llama.cpp
    `--kl-divergence` statistic, with the fp reference model as P."""
    lp = log_softmax(logits_ref, axis)
    lq = log_softmax(logits_q, axis)
    kl = np.sum(np.exp(lp) * (lp - lq), axis=axis)
    # exact arithmetic gives kl >= 0; clip the -1e-17 that rounding can leave
    return float(np.mean(np.maximum(kl, 0.0)))


def linear_output_error(x: ArrayLike, w: ArrayLike, w_hat: ArrayLike) -> float:
    """Relative output error of a linear layer on calibration activations:
    ‖X·Wᵀ − X·Ŵᵀ‖² / ‖X·Wᵀ‖², with X (tokens × in) and W, Ŵ (out × in)."""
    x = np.asarray(x, dtype=np.float64)
    w, w_hat = (np.asarray(a, dtype=np.float64) for a in _pair(w, w_hat))
    if x.shape[-1] != w.shape[-1]:
        raise ValueError(f"activations have {x.shape[-1]} channels, weights expect {w.shape[-1]}")
    y = x @ w.T
    d = x @ (w - w_hat).T  # one GEMM for the difference: no cancellation between two large products
    denom = float(np.sum(y * y))
    return float(np.sum(d * d)) / denom if denom > 0 else float("nan")


def cosine_similarity(a: ArrayLike, b: ArrayLike, axis: int = -1) -> np.ndarray:
    """Row-wise cosine similarity between two batches of vectors."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = np.sum(a * b, axis=axis)
    den = np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis)
    return num / np.maximum(den, _EPS)
