"""Accuracy side of number formats: error metrics, tensors to measure on (synthetic, safetensors
checkpoints streamed tensor by tensor, MiniLM end to end) and the format-comparison table."""

from hwsim.accuracy.metrics import (
    cosine_similarity,
    kl_divergence,
    linear_output_error,
    max_abs_err,
    mse,
    sqnr_db,
)

__all__ = ["mse", "sqnr_db", "max_abs_err", "kl_divergence", "linear_output_error", "cosine_similarity"]
