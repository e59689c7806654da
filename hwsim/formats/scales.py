"""Group scales and their own number formats.

A group scale is stored in a format of its own and rounding it changes the error:
  fp16 (default), bf16, fp32 — the ideal scale rounded to nearest-even (saturating; a non-zero
      scale that would underflow becomes the smallest positive value of the format);
  e8m0 — OCP MX v1.0 power of two, chosen by the spec's rule (not by rounding the ideal scale):
      X = 2^(floor(log2(amax)) - emax_elem), exponent clamped to [-127, 127]; a block whose amax
      is NaN/Inf, or whose exponent would exceed 127, gets the NaN scale (code 255), so the whole block
      reads as NaN, as the spec says for a NaN X;
  e4m3 — NVFP4's block scale (NVIDIA Blackwell, REFERENCES.md): an OCP FP8 E4M3 code per group times
      one fp32 scale per tensor t = amax(ideal scales) / 448, so the largest group scale lands on 448;
      codes round to nearest-even, and a non-zero code that would underflow becomes 2^-9 (the smallest);
  u8 / int8 — 8-bit integer codes 1…255 / 1…127 times a second-level fp16 scale per row (one row =
      the groups that share the leading indices, i.e. one output channel of a weight matrix). The
      second-level scale is amortised over the row and not counted (assumed: rows are ≥ 1k elements).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.formats import kernels
from hwsim.formats.minifloat import MinifloatElement

_FLOAT_SCALES = {
    "fp16": MinifloatElement.make(5, 10, specials="ieee"),
    "bf16": MinifloatElement.make(8, 7, specials="ieee"),
    "fp32": MinifloatElement.make(8, 23, specials="ieee"),
}
_INT_SCALES = {"u8": 255, "int8": 127}
# scale formats whose codes sit under one fp32 scale per tensor (NVFP4)
_TENSOR_SCALED = {"e4m3": MinifloatElement.make(4, 3, specials="fn")}
ALIASES = {"uint8": "u8", "i8": "int8", "e8m0": "e8m0"}
E8M0_MIN_EXP, E8M0_MAX_EXP = -127, 127


@dataclass(frozen=True)
class ScaleFormat:
    name: str

    @property
    def bits(self) -> int:
        return _FLOAT_SCALES[self.name].bits if self.name in _FLOAT_SCALES else 8  # e8m0, e4m3, u8, int8

    @property
    def is_pow2(self) -> bool:
        return self.name == "e8m0"

    @property
    def is_integer(self) -> bool:
        return self.name in _INT_SCALES

    def round(self, s: np.ndarray) -> np.ndarray:
        """Round ideal scales s (rows × groups, ≥ 0 or NaN) to this format; 0 stays 0."""
        if self.name in _FLOAT_SCALES:
            el = _FLOAT_SCALES[self.name]
            r = el.round_array(s)
            return np.where((r == 0) & (s > 0), el.min_subnormal, r)
        if self.name in _TENSOR_SCALED:
            el = _TENSOR_SCALED[self.name]
            finite = np.where(np.isfinite(s), s, 0.0)
            t = float(_FLOAT_SCALES["fp32"].round_array(np.array([finite.max(initial=0.0) / el.max_abs]))[0])
            t = t if t > 0 else 1.0
            codes = el.round_array(s / t)
            codes = np.where((codes == 0) & (s > 0), el.min_subnormal, codes)
            return codes * t
        top = _INT_SCALES[self.name]
        finite = np.where(np.isfinite(s), s, 0.0)
        second = _FLOAT_SCALES["fp16"].round_array(finite.max(axis=-1, keepdims=True) / top)
        second = np.where(second > 0, second, 1.0)
        codes = np.clip(np.rint(s / second), 1, top)
        return np.where(s > 0, codes * second, np.where(np.isnan(s), np.nan, 0.0))


def scale_names() -> list[str]:
    return [*_FLOAT_SCALES, "e8m0", *_TENSOR_SCALED, *_INT_SCALES]


def parse_scale(name: str) -> ScaleFormat | None:
    name = ALIASES.get(name, name)
    known = name in _FLOAT_SCALES or name in _INT_SCALES or name in _TENSOR_SCALED or name == "e8m0"
    return ScaleFormat(name) if known else None


def absmax(g2: np.ndarray) -> np.ndarray:
    """max |x| per row; NaN anywhere in the row gives NaN."""
    return kernels.row_stats(g2, 0)


def pow2_scale(amax: np.ndarray, emax_elem: int, max_abs: float | None = None, rule: str = "floor") -> np.ndarray:
    """Shared power-of-two scale as float64 (E8M0 range, NaN code).

    rule "floor" (OCP MX v1.0): 2^(floor(log2 amax) - emax_elem); block values above the element max
    clip (MXFP4: (6, 8) → 6). rule "ceil": the smallest power of two X with amax / X ≤ max_abs, so the
    block max never clips (one exponent above OCP's exactly when amax > max_abs · 2^(OCP exponent))."""
    amax = np.asarray(amax, dtype=np.float64)
    finite = np.isfinite(amax)
    safe = np.where(finite & (amax > 0), amax, 1.0)
    e = np.frexp(safe)[1] - 1 - emax_elem  # frexp: exact floor(log2) for positive normals
    if rule == "ceil":
        if max_abs is None:
            raise ValueError("the 'ceil' rule needs the element's max_abs")
        e = e + (safe > np.ldexp(max_abs, e))  # max_abs · 2^e is exact: the comparison is too
    e = np.where(amax > 0, e, E8M0_MIN_EXP)  # all-zero block: any scale, use the smallest
    bad = ~finite | (e > E8M0_MAX_EXP)
    e = np.clip(e, E8M0_MIN_EXP, E8M0_MAX_EXP)
    return np.where(bad, np.nan, np.ldexp(1.0, e))


def linear_scale(ideal: np.ndarray, fmt: ScaleFormat) -> np.ndarray:
    """Round an ideal linear scale to its format; all-zero groups get scale 1; NaN/Inf → NaN."""
    ideal = np.where(np.isfinite(ideal), ideal, np.nan)
    r = fmt.round(ideal)
    return np.where(ideal == 0, 1.0, r)
