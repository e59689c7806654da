"""Node scaling rule for energy and area.

Rule (assumed, stated): area scales with the square of the feature size (A ∝ L²); dynamic energy
per operation scales linearly with it (E ∝ C·V², C ∝ L, V held ~constant at 0.8-1.0 V since the end
of Dennard scaling around 45 nm, so E ∝ L). Both are first-order; published per-node tables (e.g.
Stillmaker & Baas 2017) show energy falling somewhat faster than linear below 28 nm, so energies
scaled to 7 nm from 45 nm are on the high side.

Voltage (when a preset gives `tech.voltage`): dynamic switching energy is C·V², so energy per action
scales with (V / V_ref)², V_ref the voltage of the reference table (Horowitz: 0.9 V at 45 nm). Leakage
is not part of these per-action energies (it is the preset's static power).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

RULE = "assumed: area ∝ L², energy ∝ L (C ∝ L, V ≈ const after Dennard scaling)"
VOLTAGE_RULE = "dynamic energy C·V²: energy ∝ (V / 0.9 V)², 0.9 V the reference table's supply"


def scale_energy(energy: float | np.ndarray, from_nm: float, to_nm: float | np.ndarray) -> float | np.ndarray:
    return energy * (to_nm / from_nm)


def scale_area(area: float | np.ndarray, from_nm: float, to_nm: float | np.ndarray) -> float | np.ndarray:
    return area * (to_nm / from_nm) ** 2
