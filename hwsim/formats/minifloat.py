"""Generic minifloat ExMy and its named instances (REFERENCES.md "Number formats").

Special-value conventions (`specials`):
  "none" — every code is finite (OCP FP6 E3M2/E2M3, FP4 E2M1): max = (2 - 2^-M)·2^(2^E - 1 - bias);
  "fn"   — no Inf, NaN only at S.1…1.1…1 (OCP FP8 E4M3): max = (2 - 2^(1-M))·2^(2^E - 1 - bias);
  "ieee" — top exponent reserved for Inf/NaN (OCP FP8 E5M2, fp16, bf16, fp32): max = (2 - 2^-M)·2^(2^E - 2 - bias).
Overflow either saturates to ±max (default) or, with saturate=False, becomes ±Inf ("ieee") or NaN.
Without subnormals, magnitudes below the smallest normal round to 0 or to that normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.formats import kernels
from hwsim.formats.element import Element

SPECIALS = ("none", "fn", "ieee")
_MAX_ENUMERATED = 1 << 17  # values() lists grids up to this size (fp16, bf16); fp32 → None


@dataclass(frozen=True)
class MinifloatElement(Element):
    bias: int = 0
    subnormals: bool = True
    specials: str = "none"
    saturate: bool = True

    kind = kernels.KIND_MINIFLOAT

    @classmethod
    def make(
        cls,
        e: int,
        m: int,
        *,
        bias: int | None = None,
        subnormals: bool = True,
        specials: str = "none",
        saturate: bool = True,
    ) -> "MinifloatElement":
        return cls(
            bits=1 + e + m,
            exponent_bits=e,
            mantissa_bits=m,
            signed=True,
            is_float=True,
            bias=2 ** (e - 1) - 1 if bias is None else bias,
            subnormals=subnormals,
            specials=specials,
            saturate=saturate,
        )

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal (exponent field 1)."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        top = 2**self.exponent_bits - 1 - self.bias
        return top - 1 if self.specials == "ieee" else top

    @property
    def max_abs(self) -> float:
        ulp_units = 2 if self.specials == "fn" else 1  # E4M3 gives up its top mantissa code to NaN
        return float((2.0 - ulp_units * 2.0**-self.mantissa_bits) * 2.0**self.emax)

    @property
    def min_subnormal(self) -> float:
        return float(2.0 ** (self.emin - self.mantissa_bits))

    def kernel_params(self) -> np.ndarray:
        return np.array(
            [
                self.mantissa_bits,
                self.emin,
                self.max_abs,
                float(self.saturate),
                float(self.subnormals),
                float(self.specials == "ieee"),
            ],
            dtype=np.float64,
        )

    def values(self) -> np.ndarray | None:
        m = self.mantissa_bits
        count = 2**m * (self.emax - self.emin + 2)
        if count > _MAX_ENUMERATED:
            return None
        frac = np.arange(2**m) / 2.0**m
        pos = [(1.0 + frac) * 2.0**e for e in range(self.emin, self.emax + 1)]
        if self.subnormals:
            pos.insert(0, frac * 2.0**self.emin)
        else:
            pos.insert(0, np.zeros(1))
        p = np.concatenate(pos)
        p = np.unique(p[p <= self.max_abs])
        return np.concatenate([-p[::-1][:-1], p]) if p[0] == 0 else np.concatenate([-p[::-1], p])
