"""FPGA design-point resources: what a design uses of its device, whether it fits, and its clock.

A design point is an FPGA family arch (device fields + design fields, arrays in sweeps) at one
precision. Everything here broadcasts over design points; per-precision quantities are scalars.

- DSPs: `dsps` slices in cascade chains of `chain_length`.
- LUTs: `base_luts` (control, special-function units, memory interfaces) + fabric accumulators of
  the DSP chains' outputs (one per output lane when products are packed, or when the accumulator
  outgrows the slice's 48/58 bits) + `lut_macs` LUT multiply-accumulate lanes + float→fixed
  converters in front of each DSP (float_mode convert). FFs: the same accumulators and LUT lanes'
  pipeline registers (operands + accumulator) + `base_ffs`.
- On-chip memory: the sum of the on-chip memory levels' capacities, placed in URAM first
  (36,864 B each) then BRAM36 (2 × 2,304 B each; REFERENCES.md FPGA section).
- Weights on chip (`weights_on_chip`): the model's weight bytes must fit the on-chip levels that
  hold weights.
- HBM: `hbm_channels` of the device's pseudo-channels; bandwidth scales with the fraction used.

Feasible ⇔ every utilisation ≤ `max_utilisation`; the limiting resource is the most used one.
Clock rule (assumed, stated): routing congestion lowers the achievable clock once utilisation
passes a knee — f = clock·(1 − derate_slope·max(0, u − derate_knee)), u = the highest of the LUT,
FF, DSP, BRAM and URAM utilisations (capped at 1). Defaults knee 0.7, slope 1.0 (30% lower at a
full device); AMD UG949 advises keeping utilisation below ~70–80% for timing closure, and the
slope is an assumption to be replaced by a measured curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.precision import OperandType
from hwsim.errors import HwsimError
from hwsim.kept import kept
from hwsim.families.fpga import arith as fa
from hwsim.tech.datapath import as_scalar

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hwsim.core.precision import ResolvedPrecision
    from hwsim.core.spec import Accelerator

URAM_BYTES = 36_864  # REFERENCES.md: URAM 288 Kb
BRAM36_BYTES = 2 * 2_304  # REFERENCES.md: BRAM18K holds 2,304 B; a BRAM36 is two
DSP_ACC_BITS = {"dsp48e2": 48, "dsp58": 58}  # UG579 / AM004
RESOURCES = ("dsp", "lut", "ff", "uram", "bram", "weights", "hbm")  # ties: the first is named


@dataclass(frozen=True)
class PairCost:
    """How one operand pair (activations × weights, or × KV) runs on the design."""

    dsp_products: float  # products per DSP slice per cycle (0: the DSPs cannot run it)
    # the next three depend on compute.accumulate_terms: ints, or arrays over design points
    lut_mac_luts: float | np.ndarray  # LUTs of one LUT multiply-accumulate lane
    acc_bits: float | np.ndarray  # accumulator width (REFERENCES.md formulas)
    convert_luts: int  # float→fixed converters per DSP slice (float_mode convert)
    ffs_per_lane: float | np.ndarray  # pipeline registers of one LUT lane
    on_dsp: bool  # the DSP chains execute it (else only LUT lanes)


def pair_cost(arch: Accelerator, a: OperandType, b: OperandType) -> PairCost:
    c = arch.compute
    terms = c["accumulate_terms"]
    acc, _ = fa.accumulator(a, b, terms)
    lut = fa.lut_mac(a, b, terms, conversion=bool(c["lut_conversion"]))
    ffs = acc + a.element_bits + b.element_bits
    if not a.is_float and not b.is_float:
        return PairCost(fa.dsp_products(c["dsp_kind"], a.element_bits, b.element_bits), lut, acc, 0, ffs, True)
    mode = c["float_mode"]
    if mode == "error":
        name = a.name if a.is_float else b.name
        raise HwsimError(
            f"format {name!r} is floating point and this design's DSP chains are integer-only: "
            "set compute.float_mode to 'lut' (LUT multipliers, compute.lut_macs > 0) or "
            "'convert' (exact fixed-point conversion in LUTs before the DSPs)",
            file=arch.file,
            field="compute.float_mode",
        )
    if mode == "lut":
        return PairCost(0.0, lut, acc, 0, ffs, False)
    wa, wb = fa.fixed_bits(a), fa.fixed_bits(b)
    p = fa.dsp_products(c["dsp_kind"], wa, wb)
    log_n = np.ceil(np.log2(np.maximum(terms, 2))).astype(np.int64)
    acc_fixed = as_scalar(wa + wb + log_n + 1)  # integer rule on the fixed images
    conv = fa.conversion_luts(a) + math.ceil(p) * fa.conversion_luts(b)
    return PairCost(p, lut, acc_fixed, conv, ffs, True)


def pairs(arch: Accelerator, prec: ResolvedPrecision) -> tuple[PairCost, PairCost]:
    """(linear pair, attention pair): activations × weights and activations × KV, computed once per (design,
    precision) (hwsim.kept): configure, compute cycles, peak and energy of every costing ask for them."""
    return kept(
        arch,
        "_fpga_pairs",
        lambda: (pair_cost(arch, prec.activations, prec.weights), pair_cost(arch, prec.activations, prec.kv)),
        on=(prec,),
    )


def chains(arch: Accelerator) -> np.ndarray:
    return np.floor(np.asarray(arch.compute["dsps"], dtype=np.float64) / arch.compute["chain_length"])


def lut_units(arch: Accelerator) -> np.ndarray:
    return np.floor(np.asarray(arch.compute["lut_macs"], dtype=np.float64) / arch.compute["chain_length"])


def on_chip_bytes(arch: Accelerator, role: str | None = None) -> float | np.ndarray:
    """Capacity of the on-chip levels (those holding `role`, or all)."""
    total: float | np.ndarray = 0.0
    for lv in arch.on_chip:
        if role is None or role in lv.holds:
            total = total + np.asarray(lv.capacity, dtype=np.float64)
    return total


def utilisation(arch: Accelerator, prec: ResolvedPrecision, weight_bytes: ArrayLike = 0.0) -> dict[str, np.ndarray]:
    """Fraction of each device resource a design point uses (arrays over design points); `weights`: the
    share of the on-chip weight store that `weight_bytes` fill (0 unless weights_on_chip)."""
    c = arch.compute
    w_cap = on_chip_bytes(arch, "weights")
    with np.errstate(divide="ignore", invalid="ignore"):
        w_util = np.where(bool(c["weights_on_chip"]), np.asarray(weight_bytes) / w_cap, 0.0)
    return {**design_use(arch, prec), "weights": np.nan_to_num(w_util, nan=0.0)}


def design_use(arch: Accelerator, prec: ResolvedPrecision) -> dict[str, np.ndarray]:
    """utilisation's resources that do not depend on the trace, computed once per (design, precision):
    configure, area and point totals of one costing ask for them (kept beside the design with the
    precision it was computed at, which is held so that no other object can take its address)."""
    return kept(arch, "_fpga_design_use", lambda: resource_use(arch, prec), on=(prec,))


def resource_use(arch: Accelerator, prec: ResolvedPrecision) -> dict[str, np.ndarray]:
    """Fraction of each device resource (DSP, LUT, FF, URAM, BRAM, HBM channels) the design uses."""
    c = arch.compute
    lin, att = pairs(arch, prec)
    p_hw = max(lin.dsp_products, att.dsp_products)
    acc_hw = np.maximum(lin.acc_bits, att.acc_bits)
    fabric_acc = (p_hw > 1) | (acc_hw > DSP_ACC_BITS[c["dsp_kind"]])
    acc_luts = chains(arch) * math.ceil(p_hw) * acc_hw * fabric_acc
    lut_lane = np.maximum(lin.lut_mac_luts, att.lut_mac_luts)
    luts = (
        c["base_luts"]
        + acc_luts
        + c["lut_macs"] * lut_lane
        + np.asarray(c["dsps"], dtype=np.float64) * max(lin.convert_luts, att.convert_luts)
    )
    ffs = c["base_ffs"] + acc_luts + c["lut_macs"] * np.maximum(lin.ffs_per_lane, att.ffs_per_lane)
    mem = on_chip_bytes(arch)
    uram_cap = c["device_uram"] * URAM_BYTES
    channels = c["hbm_channels"] if c["hbm_channels"] is not None else c["device_hbm_channels"]
    return {
        "dsp": np.asarray(c["dsps"], dtype=np.float64) / c["device_dsps"],
        "lut": luts / c["device_luts"],
        "ff": ffs / c["device_ffs"],
        "uram": np.minimum(mem, uram_cap) / uram_cap,
        "bram": np.maximum(mem - uram_cap, 0.0) / (c["device_bram36"] * BRAM36_BYTES),
        "hbm": np.asarray(channels, dtype=np.float64) / c["device_hbm_channels"],
    }


def achieved_clock(arch: Accelerator, util: dict[str, np.ndarray]) -> np.ndarray:
    """The clock after the utilisation derate (module docstring)."""
    c = arch.compute
    u = np.minimum(
        np.maximum.reduce(
            np.broadcast_arrays(*[np.asarray(util[k], dtype=np.float64) for k in ("dsp", "lut", "ff", "bram", "uram")])
        ),
        1.0,
    )
    return arch.clock_hz * (1.0 - c["derate_slope"] * np.maximum(0.0, u - c["derate_knee"]))


def feasibility(arch: Accelerator, util: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`feasible`, `limiting_resource` and `util_<resource>` per design point."""
    *cols, cap = np.broadcast_arrays(
        *[np.asarray(util[k], dtype=np.float64) for k in RESOURCES],
        np.asarray(arch.compute["max_utilisation"], dtype=np.float64),
    )
    stack = np.stack(cols)
    # all HBM channels in use is the norm, not a limit: HBM is named only when over-subscribed
    hbm = RESOURCES.index("hbm")
    rank = stack.copy()
    rank[hbm] = np.where(stack[hbm] > cap, stack[hbm], 0.0)
    limit = np.asarray(RESOURCES, dtype=object)[np.argmax(rank, axis=0)]
    out = {"feasible": np.all(stack <= cap, axis=0), "limiting_resource": limit}
    out.update({f"util_{k}": stack[i] for i, k in enumerate(RESOURCES)})
    return out
