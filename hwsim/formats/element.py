"""Element codecs: what one stored code can mean, before any group scale is applied.

An element knows its grid (`values()`), its largest magnitude (absmax scaling maps the group
maximum onto it), its `emax` (exponent of that magnitude, used by the OCP MX power-of-two scale
rule) and how to round an array of already scaled values (`apply`, a numba kernel call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hwsim.formats import kernels

_EMPTY_GRID = np.zeros(1)
_NO_NOISE = np.zeros((0, 0))


@dataclass(frozen=True)
class Element:
    """Base class; subclasses fill `kind`, `params` and the descriptive attributes."""

    bits: int
    exponent_bits: int
    mantissa_bits: int
    signed: bool
    is_float: bool

    kind = -1
    #: codes index a table of arbitrary values: no integer or minifloat multiplier takes them (GridElement sets it)
    codebook = False

    def kernel_params(self) -> np.ndarray:
        raise NotImplementedError

    def kernel_grid(self) -> np.ndarray:
        return _EMPTY_GRID

    @property
    def max_abs(self) -> float:
        raise NotImplementedError

    @property
    def emax(self) -> int:
        """floor(log2(max_abs)): the OCP MX 'emax_elem' of this element."""
        return math.frexp(self.max_abs)[1] - 1

    def values(self) -> np.ndarray | None:
        raise NotImplementedError

    def apply(
        self, x2: np.ndarray, scale: ArrayLike, zero: ArrayLike | None = None, noise: np.ndarray | None = None
    ) -> np.ndarray:
        """Round x2 (rows × cols) divided by scale[row], then multiply back; returns a new array."""
        rows = x2.shape[0]
        scale = np.ascontiguousarray(scale, dtype=np.float64).reshape(rows)
        zero = np.zeros(rows) if zero is None else np.ascontiguousarray(zero, dtype=np.float64).reshape(rows)
        noise = _NO_NOISE if noise is None else noise
        out = np.empty_like(x2)
        return kernels.quantize_rows(x2, scale, zero, self.kind, self.kernel_params(), self.kernel_grid(), noise, out)

    def round_array(self, a: np.ndarray) -> np.ndarray:
        """Nearest element value of each entry of a float64 array (no scale)."""
        a = np.ascontiguousarray(a, dtype=np.float64)
        flat = a.reshape(1, -1)
        return self.apply(flat, np.ones(1)).reshape(a.shape)
