"""The allocation problem: units × candidate formats, one cost matrix per quantity.

A unit is what receives one format (a linear op, a layer, a user group, a layer's KV cache).
For every quantity q the whole step's total under a choice c (one format index per unit) is

    total_q(c) = fixed[q] + Σ_u A_q[u, c_u]

which is what makes the problem a multiple-choice knapsack: every quantity is additive over units.
`avg_bits` fits the same form with A[u, f] = elems_u · bits_per_element_f / Σ elems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

from hwsim.errors import HwsimError

# quantities a budget or an objective may name; "error" is the accuracy cost, the rest hardware
QUANTITIES = ("error", "seconds", "energy_j", "memory_bytes", "avg_bits")
_ADDITIVE = ("error", "seconds", "energy_j", "memory_bytes")


@dataclass(frozen=True)
class Problem:
    units: tuple[str, ...]
    formats: tuple[str, ...]  # candidate columns (the union of every unit's candidates)
    allowed: np.ndarray  # U × F bool: the unit's candidate set (weights and KV may differ)
    costs: dict  # "error" | "seconds" | "energy_j" | "memory_bytes" → U × F float, "bits" → F bits/element
    elems: np.ndarray  # U: elements weighing the average bits (weight parameters; 0 = not averaged)
    fixed: dict = field(default_factory=dict)  # quantity → constant part of the total (ops not allocated)
    members: tuple[tuple[str, ...], ...] = ()  # op names of each unit (default: the unit name itself)
    stored: tuple[int, ...] | None = None  # a quantized checkpoint's own format of each unit, when all are candidates

    def __post_init__(self) -> None:
        U, F = len(self.units), len(self.formats)
        allowed = np.asarray(self.allowed, dtype=bool)
        if U == 0 or F == 0:
            raise HwsimError("needs at least one allocation unit and one candidate format", field="formats")
        if allowed.shape != (U, F):
            raise ValueError(f"allowed has shape {allowed.shape}, expected {(U, F)}")
        empty = np.flatnonzero(~allowed.any(axis=1))
        if empty.size:
            raise HwsimError(f"unit {self.units[empty[0]]!r} has no candidate format", field="formats")
        costs = {}
        for q in _ADDITIVE:
            a = np.asarray(self.costs[q], dtype=np.float64)
            if a.shape != (U, F):
                raise ValueError(f"{q} costs have shape {a.shape}, expected {(U, F)}")
            if not np.isfinite(a[allowed]).all():
                raise ValueError(f"{q} costs must be finite for every allowed (unit, format)")
            costs[q] = np.where(allowed, a, np.inf)  # a format outside a unit's set can never be chosen
        costs["bits"] = np.asarray(self.costs["bits"], dtype=np.float64).reshape(F)
        elems = np.asarray(self.elems, dtype=np.float64).reshape(U)
        members = self.members or tuple((u,) for u in self.units)
        if len(members) != U:
            raise ValueError("members needs one tuple of op names per unit")
        object.__setattr__(self, "allowed", allowed)
        object.__setattr__(self, "costs", costs)
        object.__setattr__(self, "elems", elems)
        object.__setattr__(self, "members", tuple(tuple(m) for m in members))
        if self.stored is not None and (len(self.stored) != U or not allowed[np.arange(U), list(self.stored)].all()):
            raise ValueError("stored needs one allowed format index per unit")
        object.__setattr__(self, "fixed", {q: float(self.fixed.get(q, 0.0)) for q in QUANTITIES})

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.units), len(self.formats)

    def matrix(self, quantity: str) -> np.ndarray:
        """A_q: the U × F coefficients of `quantity` (inf where a format is not a unit's candidate)."""
        if quantity == "avg_bits":
            total = self.elems.sum()
            if total <= 0:
                raise HwsimError("no allocation unit has weight parameters to average bits over", field="avg_bits")
            return np.where(self.allowed, self.elems[:, None] * self.costs["bits"][None, :] / total, np.inf)
        if quantity not in QUANTITIES:
            raise HwsimError(f"unknown quantity {quantity!r}; one of {', '.join(QUANTITIES)}", field="quantity")
        return self.costs[quantity]

    def totals(self, choice: ArrayLike) -> dict[str, float]:
        """Every quantity's total for a choice (format index per unit)."""
        choice = np.asarray(choice, dtype=np.int64)
        rows = np.arange(len(self.units))
        return {q: self.fixed[q] + float(self.matrix(q)[rows, choice].sum()) for q in QUANTITIES}

    def min_total(self, quantity: str) -> float:
        """The least total `quantity` can reach with no other budget (each unit at its own minimum)."""
        return self.fixed[quantity] + float(self.matrix(quantity).min(axis=1).sum())

    def uniform_choice(self, fmt: str) -> np.ndarray | None:
        """Every unit at `fmt`, or None when some unit does not have it among its candidates."""
        j = self.formats.index(fmt)
        return np.full(len(self.units), j, dtype=np.int64) if self.allowed[:, j].all() else None

    def assignment(self, choice: Iterable[int]) -> dict[str, str]:
        """op name → format for a choice (a unit's format goes to each of its ops)."""
        return {op: self.formats[int(j)] for ops, j in zip(self.members, choice) for op in ops}
