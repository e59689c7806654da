"""The format kernels (numba, hwsim.formats._kernels), imported on first use: costing only reads a
format's bits, so `hwsim simulate` and the engines never load numba; quantizing does.

Element kinds (the kernels' `kind` argument) are plain constants here, read when format classes are defined.
"""

from __future__ import annotations

import importlib
from typing import Any

KIND_INT = 0  # params: qmin, qmax, step (codes on a uniform grid, optional zero point)
KIND_MINIFLOAT = 1  # params: mantissa bits, emin, max value, saturate, subnormals, has_inf
KIND_GRID = 2  # an arbitrary sorted grid (NF4, BitMoD variants)
KIND_SIGN = 3  # binary: +1 for y >= 0, -1 otherwise


def __getattr__(name: str) -> Any:  # a numba-compiled function; its signature lives in _kernels
    """kernels.quantize_rows etc.: the compiled kernel, importing numba on the first call (PEP 562)."""
    return getattr(importlib.import_module("hwsim.formats._kernels"), name)
