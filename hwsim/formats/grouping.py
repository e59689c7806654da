"""Reshape any tensor into (rows, groups, group_size) along one axis and back.

A group size that does not divide the axis pads the last group with zeros (they never change an
absmax, and are excluded from means via `counts`); the padding is cut off again on the way back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def groups_per_row(n: Any, group_size: Any) -> Any:
    """Groups a row of `n` elements splits into: a group never spans two rows, so the last one of a row is
    started even when short (to_groups pads it; a row shorter than the group is one group)."""
    return -(-n // group_size)


def row_bits(bits: float, scale_bits: float, group_size: int, row: Any) -> Any:
    """Storage bits per element of a group-scaled format (`bits` per element in whole groups of `group_size`,
    `scale_bits` of metadata per group) on rows of `row` elements, each row holding groups_per_row scales:
    bits + scale_bits · (⌈row/g⌉/row − 1/g), `bits` itself where g divides the row (int4_g128, 4.125 bits, on
    rows of 64: 4 + 16/64 = 4.25). The one rule of what the quantizer stores and what the engines price."""
    return bits + scale_bits * (groups_per_row(row, group_size) / row - 1.0 / group_size)


def to_groups(
    x: np.ndarray, axis: int, granularity: str, group_size: int | None
) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Return (g3, counts, restore) where restore(g3_out) gives the original shape back."""
    moved = np.moveaxis(x, axis, -1)
    shape = moved.shape
    n = shape[-1]
    if granularity in ("none", "tensor"):
        g3 = np.ascontiguousarray(moved).reshape(1, 1, -1)
        counts = np.full((1, 1), g3.shape[-1])
    elif granularity == "channel":
        g3 = np.ascontiguousarray(moved).reshape(-1, 1, n)
        counts = np.full((g3.shape[0], 1), n)
    else:
        assert group_size is not None, "granularity 'group' needs a group size"
        g = int(group_size)
        pad = groups_per_row(n, g) * g - n
        rows = np.ascontiguousarray(moved).reshape(-1, n)
        if pad:
            rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), rows.dtype)], axis=1)
        g3 = rows.reshape(rows.shape[0], -1, g)
        counts = np.full(g3.shape[:2], g)
        counts[:, -1] = g - pad

    def restore(out3: np.ndarray) -> np.ndarray:
        flat = out3.reshape(-1, out3.shape[1] * out3.shape[2])[:, :n] if granularity == "group" else out3
        return np.moveaxis(flat.reshape(shape), -1, axis)

    return g3, counts, restore
