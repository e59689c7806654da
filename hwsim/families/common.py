"""Pieces shared by several families."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.ops import OpColumns, shape_of

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def cdiv(a: ArrayLike, b: float | np.ndarray) -> np.ndarray:
    """Ceiling division on float arrays holding integers (exact below 2**53)."""
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


def vector_cycles(ops: OpColumns, lanes: float | np.ndarray) -> np.ndarray:
    """Elementwise ops on `lanes` parallel units, one operation per lane per cycle."""
    return np.where(ops.is_kind("elementwise"), cdiv(ops.vector_ops, lanes), 0.0)


def gemm_and_vector_cycles(ops: OpColumns, gemm: np.ndarray, lanes: float | np.ndarray) -> np.ndarray:
    """`np.where(ops.gemm, gemm, 0.0) + vector_cycles(ops, lanes)`: GEMM ops take `gemm` (cycles over every op),
    elementwise ops their vector cycles. When every op is a GEMM (one design point's lanes, `gemm` over the ops)
    that is `gemm + 0.0`, bit for bit, in one numpy call instead of five."""
    if ops.only("linear", "attention") and getattr(lanes, "ndim", 0) == 0 and shape_of(gemm)[-1:] == (len(ops),):
        return gemm + 0.0
    return np.where(ops.gemm, gemm, 0.0) + vector_cycles(ops, lanes)


def array_fold_reads(
    ops: OpColumns, tile_m: float | np.ndarray, tile_n: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An array that holds tile_m rows of A and tile_n columns of B per pass re-reads A once per
    n-fold and B once per m-fold (the standard output-tiled reuse)."""
    return cdiv(ops.n, tile_n), cdiv(ops.m, tile_m)
