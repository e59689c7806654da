"""Reshape any tensor into (rows, groups, group_size) along one axis and back.

A group size that does not divide the axis pads the last group with zeros (they never change an
absmax, and are excluded from means via `counts`); the padding is cut off again on the way back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


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
        pad = (-n) % g
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
