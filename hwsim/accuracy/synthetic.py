"""Seeded synthetic tensors with the statistics of LLM weights and activations.

Used when no checkpoint is at hand. Parameters and where they come from (REFERENCES.md,
"LLM tensor statistics"):

- Weights: Gaussian, std 0.02 (the `initializer_range` of Llama/BERT configs; trained LLM weights
  stay close to Gaussian in the bulk). Wq/Wk are heavier-tailed: Student-t with ν = 5 degrees of
  freedom (assumed: excess kurtosis 6/(ν−4) = 6, a clearly heavier tail than Gaussian's 0 with
  finite variance and kurtosis), rescaled to the same std.
- Activations (tokens × channels): bulk N(0, 1) with a per-channel scale drawn log-normally
  (σ = 0.3, assumed: mild channel-to-channel spread). A handful of FIXED outlier channels
  (`n_outlier_channels` = 6 by default: LLM.int8 reports ≤ 7 up to 13B, at magnitude ≥ 6)
  carry 20–100× the typical magnitude (SmoothQuant: up to ~100×) on every token. "Massive"
  activations (Sun et al. 2024, "Massive activations in LLMs": 10^3–10^4×) sit on the first token
  in `n_massive` channels (2 by default).

Every draw takes a seed; the same arguments give byte-identical arrays.
"""

from __future__ import annotations

import numpy as np

WEIGHT_STD = 0.02
STUDENT_T_DOF = 5.0
CHANNEL_SCALE_SIGMA = 0.3
OUTLIER_RANGE = (20.0, 100.0)
MASSIVE_RANGE = (1e3, 1e4)


def gaussian(shape: int | tuple[int, ...], seed: int, std: float = 1.0) -> np.ndarray:
    """N(0, std²) float32."""
    return (np.random.default_rng(seed).standard_normal(shape) * std).astype(np.float32)


def student_t(shape: int | tuple[int, ...], seed: int, dof: float = STUDENT_T_DOF, std: float = 1.0) -> np.ndarray:
    """Student-t with `dof` degrees of freedom, rescaled to standard deviation `std` (dof > 2)."""
    if dof <= 2:
        raise ValueError("dof must exceed 2 for a finite variance")
    t = np.random.default_rng(seed).standard_t(dof, size=shape)
    return (t * (std / np.sqrt(dof / (dof - 2.0)))).astype(np.float32)


# one synthetic transformer block: (name, (out, in), heavy-tailed?)
def _block_shapes(hidden: int, intermediate: int) -> list[tuple[str, tuple[int, int], bool]]:
    return [
        ("q_proj", (hidden, hidden), True),
        ("k_proj", (hidden, hidden), True),
        ("v_proj", (hidden, hidden), False),
        ("o_proj", (hidden, hidden), False),
        ("gate_proj", (intermediate, hidden), False),
        ("up_proj", (intermediate, hidden), False),
        ("down_proj", (hidden, intermediate), False),
    ]


def llm_weights(seed: int, hidden: int = 512, intermediate: int = 1376) -> dict[str, np.ndarray]:
    """The seven weight matrices of one Llama-style block (out × in): Gaussian, Wq/Wk Student-t.
    Default sizes are Llama-2-7B's shapes divided by 8 (4096/8, 11008/8) to keep tests fast."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape, heavy in _block_shapes(hidden, intermediate):
        sub = int(rng.integers(2**63 - 1))
        out[name] = student_t(shape, sub, std=WEIGHT_STD) if heavy else gaussian(shape, sub, std=WEIGHT_STD)
    return out


def llm_activations(
    seed: int, tokens: int = 256, channels: int = 512, n_outlier_channels: int = 6, n_massive: int = 2
) -> np.ndarray:
    """Activations (tokens × channels) entering a linear layer, with fixed outlier channels on
    every token and massive values on the first token (see module docstring for the sources)."""
    if n_outlier_channels + n_massive > channels:
        raise ValueError("more special channels than channels")
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0.0, CHANNEL_SCALE_SIGMA, size=channels))
    x = rng.standard_normal((tokens, channels)) * scale
    special = rng.choice(channels, size=n_outlier_channels + n_massive, replace=False)
    outliers, massive = special[:n_outlier_channels], special[n_outlier_channels:]
    # outlier channels: same sign pattern across tokens (they are systematic, not noise)
    mag = rng.uniform(*OUTLIER_RANGE, size=n_outlier_channels)
    sign = rng.choice([-1.0, 1.0], size=n_outlier_channels)
    x[:, outliers] = sign * mag * (1.0 + 0.1 * rng.standard_normal((tokens, n_outlier_channels)))
    if tokens:
        x[0, massive] = rng.choice([-1.0, 1.0], size=n_massive) * rng.uniform(*MASSIVE_RANGE, size=n_massive)
    return x.astype(np.float32)


def outlier_channels(x: np.ndarray, factor: float = 6.0) -> np.ndarray:
    """Indices of channels whose median |x| over tokens exceeds `factor` × the median channel's
    (the LLM.int8 criterion of magnitude ≥ 6, applied per channel)."""
    med = np.median(np.abs(x), axis=0)
    return np.flatnonzero(med > factor * np.median(med))
