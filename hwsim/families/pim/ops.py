"""Bit-serial in-SRAM arithmetic: row reads, row writes and logic steps per operation.

Vertical layout (Neural Cache, ISCA 2018; PIMeval's bit-serial model): an n-bit operand occupies n
rows of one bitline column; every column of every sub-array computes at once. Counts per
operation (REFERENCES.md "SRAM processing-in-memory"):
    ADD n-bit: 2n reads, n writes, 3n+1 logic steps
    MUL n-bit: n(n+1) reads, n(n+1)/2 writes, 2n²+n logic steps
    time = t_read·reads + t_write·writes + t_logic·logic
A MOVE of n bits (copy a column's value to a neighbour for reduction) is n reads and n writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclass(frozen=True)
class RowOps:
    """Row reads, row writes and logic steps (numpy arrays or floats; they add and scale)."""

    reads: float | np.ndarray
    writes: float | np.ndarray
    logic: float | np.ndarray

    def __add__(self, other: "RowOps") -> "RowOps":
        return RowOps(self.reads + other.reads, self.writes + other.writes, self.logic + other.logic)

    def __mul__(self, k: float | np.ndarray) -> "RowOps":
        return RowOps(self.reads * k, self.writes * k, self.logic * k)

    __rmul__ = __mul__

    def at(self, i: int) -> "RowOps":
        """Op i's row operations (of per-op arrays; a scalar count is every op's)."""
        return RowOps(
            *(np.asarray(x).reshape(-1)[i] if np.ndim(x) else x for x in (self.reads, self.writes, self.logic))
        )

    def cycles(
        self, t_read: float | np.ndarray, t_write: float | np.ndarray, t_logic: float | np.ndarray
    ) -> float | np.ndarray:
        return t_read * self.reads + t_write * self.writes + t_logic * self.logic


def add(n: ArrayLike) -> RowOps:
    n = np.asarray(n, dtype=np.float64)
    return RowOps(2 * n, n, 3 * n + 1)


def mul(n: ArrayLike) -> RowOps:
    n = np.asarray(n, dtype=np.float64)
    return RowOps(n * (n + 1), n * (n + 1) / 2, 2 * n * n + n)


def move(n: ArrayLike) -> RowOps:
    n = np.asarray(n, dtype=np.float64)
    return RowOps(n, n, np.zeros_like(n))


def write(n: ArrayLike) -> RowOps:
    """Writing an n-bit value into a column (transposed): n row writes."""
    n = np.asarray(n, dtype=np.float64)
    return RowOps(np.zeros_like(n), n, np.zeros_like(n))
