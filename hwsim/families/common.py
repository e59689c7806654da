"""Pieces shared by several families."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.ops import OpColumns

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def cdiv(a: ArrayLike, b: float | np.ndarray) -> np.ndarray:
    """Ceiling division on float arrays holding integers (exact below 2**53)."""
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


def vector_cycles(ops: OpColumns, lanes: float | np.ndarray) -> np.ndarray:
    """Elementwise ops on `lanes` parallel units, one operation per lane per cycle."""
    return np.where(ops.is_kind("elementwise"), cdiv(ops.vector_ops, lanes), 0.0)


def array_fold_reads(
    ops: OpColumns, tile_m: float | np.ndarray, tile_n: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An array that holds tile_m rows of A and tile_n columns of B per pass re-reads A once per
    n-fold and B once per m-fold (the standard output-tiled reuse)."""
    return cdiv(ops.n, tile_n), cdiv(ops.m, tile_m)
