"""`Format`: an element codec plus a scaling rule, a granularity and a scale format.

Scaling rules (each maps a group's statistic to a scale, then elements round in the scaled domain):
  none     — elements are the values (fp8_e4m3, fp16 …);
  absmax   — s = max|x| / max|element|, rounded to the scale format (INT sym, NF4, scaled minifloats);
  minmax   — asymmetric INT (GPTQ convention: the range always contains 0):
             s = (max - min) / (2^k - 1), z = round(-min / s), q = clamp(round(x/s) + z, 0, 2^k - 1);
  pow2     — OCP MX rule 2^(floor(log2 amax) - emax_elem), E8M0 (MX, BFP, any `_se8m0`); with
             scale_rule "ceil" the exponent rounds up instead so the block max never clips;
  absmean  — s = mean|x| (BitNet b1.58 ternary, binary);
  bitmod   — absmax per candidate grid; each group keeps the grid with the lowest squared error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hwsim.errors import HwsimError
from hwsim.formats import kernels, scales
from hwsim.formats.element import _NO_NOISE, Element
from hwsim.formats.integer import IntElement
from hwsim.formats.grouping import to_groups
from hwsim.formats.scales import ScaleFormat


@dataclass(frozen=True)
class FixedScales:
    """Per-row, per-group scales (rows × groups), zero points and BitMoD grid choices of one matrix."""

    scale: np.ndarray
    zero: np.ndarray | None
    choice: np.ndarray | None
    width: int  # columns per group (the whole row for per-channel / per-tensor scales)


@dataclass(frozen=True)
class Format:
    name: str
    family: str
    element: Element
    scaling: str = "none"
    granularity: str = "none"  # none | tensor | channel | group
    group_size: int | None = None
    scale_format: ScaleFormat | None = None
    stochastic: bool = False
    variants: tuple = ()  # BitMoD candidate grids
    scale_rule: str = "floor"  # pow2 scaling: "floor" (OCP MX) or "ceil" (no block-max clipping)

    # ---- attributes the cost engine prices datapaths from -------------------------------------
    @property
    def element_bits(self) -> int:
        return self.element.bits

    @property
    def exponent_bits(self) -> int:
        return self.element.exponent_bits

    @property
    def mantissa_bits(self) -> int:
        return self.element.mantissa_bits

    @property
    def signed(self) -> bool:
        return self.element.signed

    @property
    def is_float(self) -> bool:
        return self.element.is_float

    @property
    def is_codebook(self) -> bool:
        """Codes index a table of non-uniform values (NF4): hardware looks them up and computes on the
        dequantized value, so the datapath sees a float, not the stored code."""
        return bool(self.element.codebook)

    @property
    def scale_bits(self) -> int:
        """Bits of one group's metadata: its scale, plus the k-bit zero point of asymmetric INT.
        Per-tensor and per-channel scales are amortised over the tensor/row and count 0."""
        if self.granularity != "group":
            return 0
        zero = self.element.bits if self.scaling == "minmax" else 0
        assert self.scale_format is not None, f"{self.name}: group scaling without a scale format"
        return self.scale_format.bits + zero

    @property
    def scale_multiplies(self) -> int:
        """Scale (and min) multiplies per group per output of a dot product that applies them to partial
        sums (hwsim.tech.datapath, the lut family's dequantise step): one scale per group, and with
        asymmetric INT groups (minmax, x = s·(q − z)) a second for the zero point: Σ a·x = s·Σ a·q − (s·z)·Σ a,
        the precomputed s·z times the group's activation sum, one multiply-add per group per output (T-MAC,
        microsoft/T-MAC python/t_mac/intrins/tbl.cc, tbl_g4_int8_float_update_impl with ZeroPoint: zero
        points stored beside the scales, `c + c_group * s + z * partial_sum` per output, partial_sum the
        group's activation sum). Per-channel and per-tensor scales are not priced per group (scale_bits 0).
        llama.cpp block types have their own counts (GgmlFormat)."""
        return 2 if self.scaling == "minmax" and self.granularity == "group" else 1

    @property
    def bits_per_element(self) -> float:
        if self.granularity != "group":
            return float(self.element_bits)
        assert self.group_size is not None, f"{self.name}: group scaling without a group size (the grammar needs g<N>)"
        return self.element_bits + self.scale_bits / self.group_size

    def values(self) -> np.ndarray | None:
        """Sorted element grid (before group scaling); BitMoD: every value any group may use."""
        if self.variants:
            return np.unique(np.concatenate([v.values() for v in self.variants]))
        return self.element.values()

    # ---- quantize → dequantize ------------------------------------------------------------------
    def quantize(self, x: ArrayLike, axis: int = -1, *, seed: int | None = None) -> np.ndarray:
        """Round x to this format and return the dequantized values (float32 stays float32,
        anything else becomes float64). Groups run along `axis`. `seed` feeds stochastic rounding
        (formats named with `_sr`; default seed 0); nearest-rounding formats ignore it."""
        x = np.asarray(x)
        dtype = np.float32 if x.dtype in (np.float32, np.float16) else np.float64
        x = x.astype(dtype, copy=False)
        if x.size == 0:
            return x.copy()
        if x.ndim == 0:
            return self.quantize(x.reshape(1), seed=seed).reshape(())
        if not -x.ndim <= axis < x.ndim:
            raise HwsimError(f"axis {axis} is out of range for a tensor of shape {x.shape}", field="axis")
        g3, counts, restore = to_groups(x, axis, self.granularity, self.group_size)
        rows, ngroups, gsize = g3.shape
        g2 = g3.reshape(rows * ngroups, gsize)
        noise = None
        if self.stochastic:
            noise = np.random.default_rng(0 if seed is None else seed).random(g2.shape)
        if self.scaling == "bitmod":
            out = self._bitmod(g2, rows, ngroups, noise)
        else:
            scale, zero = self._scales(g2, counts, rows, ngroups)
            out = self.element.apply(g2, scale, zero, noise)
        return restore(out.reshape(g3.shape))

    # ---- scales fixed once, elements rounded later (GPTQ quantizes column by column) -------------
    def fit(self, w2: np.ndarray) -> "FixedScales":
        """Scales of a rows × n matrix (groups along its last axis), to round columns with later.
        Formats whose scale depends on the rounded values (absmean) or llama.cpp block types have
        no fixed per-group scale: HwsimError."""
        if self.scaling in ("absmean", "ggml"):
            raise HwsimError(
                f"{self.name} has no per-group scale that can be fixed before rounding "
                f"({self.family}); use a scaled grid format",
                field="format",
            )
        w2 = np.ascontiguousarray(w2, dtype=np.float32 if np.asarray(w2).dtype == np.float32 else np.float64)
        rows, n = w2.shape
        g3, counts, _ = to_groups(w2, -1, self.granularity, self.group_size)
        grows, ngroups, gsize = g3.shape
        g2 = g3.reshape(grows * ngroups, gsize)
        width = n if self.granularity != "group" or self.group_size is None else self.group_size
        if self.scaling == "bitmod":
            assert self.scale_format is not None, f"{self.name}: BitMoD scaling without a scale format"
            amax = scales.absmax(g2).reshape(grows, ngroups)
            per_grid = np.stack(
                [scales.linear_scale(amax / v.max_abs, self.scale_format).reshape(-1) for v in self.variants]
            )
            grids = np.stack([v.kernel_grid() for v in self.variants])
            choice = kernels.quantize_rows_best(g2, per_grid, grids, _NO_NOISE, np.empty_like(g2))
            scale = np.take_along_axis(per_grid, choice[None], 0)[0]
            return FixedScales(scale.reshape(rows, ngroups), None, choice.reshape(rows, ngroups), width)
        scale, zero = self._scales(g2, counts, grows, ngroups)
        scale = np.broadcast_to(np.asarray(scale).reshape(grows, ngroups), (rows, ngroups))
        zero = None if zero is None else np.broadcast_to(np.asarray(zero).reshape(grows, ngroups), (rows, ngroups))
        return FixedScales(
            np.ascontiguousarray(scale), None if zero is None else np.ascontiguousarray(zero), None, width
        )

    def round_columns(self, cols: np.ndarray, fixed: "FixedScales", group: int) -> np.ndarray:
        """Round a rows × c block whose columns all lie in group `group`, with the fixed scales."""
        cols = np.ascontiguousarray(cols, dtype=np.float64)
        scale = fixed.scale[:, group]
        zero = None if fixed.zero is None else fixed.zero[:, group]
        if fixed.choice is None:
            return self.element.apply(cols, scale, zero)
        out = np.empty_like(cols)
        choice = fixed.choice[:, group]
        for v, el in enumerate(self.variants):
            rows = np.flatnonzero(choice == v)
            if rows.size:
                out[rows] = el.apply(np.ascontiguousarray(cols[rows]), scale[rows])
        return out

    def kernel_tables(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(kind, params, grids, mids, luts, los, inv_ws) of the element(s), stacked per BitMoD variant,
        for kernels that round one value at a time (kernels.gptq_block)."""
        els = self.variants or (self.element,)
        each = [np.asarray(e.kernel_grid(), dtype=np.float64) for e in els]
        width = max(g.size for g in each)
        grids = np.stack([np.pad(g, (0, width - g.size), mode="edge") for g in each])
        looks = [kernels.grid_lookup(g) for g in grids]
        return (
            els[0].kind,
            els[0].kernel_params(),
            grids,
            np.stack([lk[0] for lk in looks]),
            np.stack([lk[1] for lk in looks]),
            np.array([lk[2] for lk in looks]),
            np.array([lk[3] for lk in looks]),
        )

    def _scales(
        self, g2: np.ndarray, counts: np.ndarray, rows: int, ngroups: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        el = self.element
        if self.scaling == "none":
            return np.ones(g2.shape[0]), None
        if self.scaling == "pow2":
            return scales.pow2_scale(scales.absmax(g2), el.emax, el.max_abs, self.scale_rule), None
        fmt = self.scale_format
        assert fmt is not None, f"{self.name}: {self.scaling} scaling without a scale format"
        if self.scaling == "absmax":
            ideal = scales.absmax(g2) / el.max_abs
        elif self.scaling == "absmean":
            ideal = kernels.row_stats(g2, 3) / counts.reshape(-1)
        else:  # minmax
            assert isinstance(el, IntElement), f"{self.name}: min-max scaling is for integer grids"
            lo, hi = kernels.row_stats(g2, 1), kernels.row_stats(g2, 2)
            s = scales.linear_scale((hi - lo).reshape(rows, ngroups) / el.qmax, fmt).reshape(-1)
            zero = np.clip(np.rint(-lo / s), 0, el.qmax)
            return s, np.where(np.isfinite(zero), zero, 0.0)
        return scales.linear_scale(ideal.reshape(rows, ngroups), fmt).reshape(-1), None

    def _bitmod(self, g2: np.ndarray, rows: int, ngroups: int, noise: np.ndarray | None) -> np.ndarray:
        amax = scales.absmax(g2).reshape(rows, ngroups)
        assert self.scale_format is not None, f"{self.name}: BitMoD scaling without a scale format"
        per_grid = [scales.linear_scale(amax / v.max_abs, self.scale_format).reshape(-1) for v in self.variants]
        grids = np.stack([v.kernel_grid() for v in self.variants])
        out = np.empty_like(g2)
        kernels.quantize_rows_best(g2, np.stack(per_grid), grids, _NO_NOISE if noise is None else noise, out)
        return out
