"""Lookup-table elements: NF4, BitMoD grids, and the binary sign element.

NF4 codes are the QLoRA table (Dettmers et al. 2023, via REFERENCES.md). BitMoD grids follow
REFERENCES.md "BitMoD mixture of datatypes": FP4 base ±{0, .5, 1, 1.5, 2, 3, 4, 6} with one extra
value (+5, -5 "extra resolution"; +8, -8 "extra asymmetry") in the code of -0; FP3 base
±{0, .5, 1, 2} with extra ±1.5 or ±3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hwsim.formats import kernels
from hwsim.formats.element import Element

NF4_TABLE = (
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
)

BITMOD_BASE = {
    "fp4": (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
    "fp3": (0.5, 1.0, 2.0),
}
BITMOD_EXTRAS = {"fp4": (5.0, -5.0, 8.0, -8.0), "fp3": (1.5, -1.5, 3.0, -3.0)}


@dataclass(frozen=True)
class GridElement(Element):
    grid: tuple = ()
    codebook: bool = False  # a lookup table of non-uniform values (NF4), not a number format a multiplier takes

    kind = kernels.KIND_GRID

    @classmethod
    def make(
        cls,
        grid: ArrayLike,
        bits: int,
        *,
        exponent_bits: int = 0,
        mantissa_bits: int | None = None,
        is_float: bool = False,
        codebook: bool = False,
    ) -> "GridElement":
        g = tuple(float(v) for v in np.unique(np.asarray(grid, dtype=np.float64)))
        return cls(
            bits=bits,
            exponent_bits=exponent_bits,
            mantissa_bits=bits - 1 if mantissa_bits is None else mantissa_bits,
            signed=g[0] < 0,
            is_float=is_float,
            grid=g,
            codebook=codebook,
        )

    def kernel_params(self) -> np.ndarray:
        return np.zeros(1)

    def kernel_grid(self) -> np.ndarray:
        return np.asarray(self.grid, dtype=np.float64)

    @property
    def max_abs(self) -> float:
        return max(abs(self.grid[0]), abs(self.grid[-1]))

    def values(self) -> np.ndarray:
        return np.asarray(self.grid, dtype=np.float64)


@dataclass(frozen=True)
class SignElement(Element):
    """Binary weights: sign(x) with 0 → +1 (there is no zero code)."""

    kind = kernels.KIND_SIGN

    @classmethod
    def make(cls) -> "SignElement":
        return cls(bits=1, exponent_bits=0, mantissa_bits=0, signed=True, is_float=False)

    def kernel_params(self) -> np.ndarray:
        return np.zeros(1)

    @property
    def max_abs(self) -> float:
        return 1.0

    def values(self) -> np.ndarray:
        return np.array([-1.0, 1.0])


def nf4() -> GridElement:
    return GridElement.make(NF4_TABLE, 4, codebook=True)


def bitmod_variants(base: str) -> tuple[GridElement, ...]:
    """The four BitMoD grids of one base type (FP4: E2M1, FP3: E2M0 with subnormal ±0.5)."""
    pos = np.asarray(BITMOD_BASE[base])
    core = np.concatenate([-pos, [0.0], pos])
    bits = 4 if base == "fp4" else 3
    mbits = 1 if base == "fp4" else 0
    return tuple(
        GridElement.make(np.append(core, extra), bits, exponent_bits=2, mantissa_bits=mbits, is_float=True)
        for extra in BITMOD_EXTRAS[base]
    )
