"""Integer elements: k-bit codes on a uniform grid (REFERENCES.md "Number formats", INT-k).

Symmetric codes are sign-magnitude ±(2^(k-1) - 1) (the -2^(k-1) code is unused, as in the
reference formula); asymmetric codes are 0 … 2^k - 1 with a per-group zero point. `step` < 1 gives
fixed-point mantissas: MXINT8 and block floating point use step 2^-(k-2) so the largest code sits just
below 2 (MXINT8: ±127/64, step 1/64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.formats import kernels
from hwsim.formats.element import Element


@dataclass(frozen=True)
class IntElement(Element):
    step: float = 1.0
    asymmetric: bool = False

    kind = kernels.KIND_INT

    @classmethod
    def make(cls, k: int, *, asymmetric: bool = False, step: float = 1.0) -> "IntElement":
        return cls(
            bits=k,
            exponent_bits=0,
            mantissa_bits=k if asymmetric else k - 1,
            signed=not asymmetric,
            is_float=False,
            step=step,
            asymmetric=asymmetric,
        )

    @property
    def qmin(self) -> int:
        return 0 if self.asymmetric else -self.qmax

    @property
    def qmax(self) -> int:
        return 2**self.bits - 1 if self.asymmetric else 2 ** (self.bits - 1) - 1

    def kernel_params(self) -> np.ndarray:
        return np.array([self.qmin, self.qmax, self.step], dtype=np.float64)

    @property
    def max_abs(self) -> float:
        return self.qmax * self.step

    def values(self) -> np.ndarray:
        return np.arange(self.qmin, self.qmax + 1, dtype=np.float64) * self.step
