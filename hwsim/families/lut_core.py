"""LUT-GEMM operation counts, shared by the `lut` and `pim` families.

LUT-GEMM (T-MAC, EuroSys 2025; LUT Tensor Core, ISCA 2025; SAIL): integer weights are split into
1-bit planes; activations are grouped by g; for every group a table holds the partial sums of the g
activations under all 2^g sign patterns (2^(g-1) with the symmetry trick: the table for pattern p̄
is −table[p], so one bit selects the sign). Per output, per bit-plane, per group: one lookup and one
add. Planes are combined by shift-and-add; group scales dequantise the result.

The functions taking `arch` read the table settings of its `compute` section (group, symmetric,
table_precision: both families have them); the LUT-tile geometry is the `lut` family's (target,
lut_units, tile_m, tile_n, instr_per_vector). The host CPU that builds the tables and runs the rest
of a layer is hwsim.families.host_cpu.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from hwsim.errors import HwsimError
from hwsim.families.common import cdiv
from hwsim.families.host_cpu import host_lanes

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import ResolvedPrecision
    from hwsim.core.spec import Accelerator

# --- LUT-GEMM counts ------------------------------------------------------------------------------


def weight_planes(arch: Accelerator, prec: ResolvedPrecision) -> int:
    """Bit-planes of the weights; the LUT datapath only decomposes integer weights."""
    w = prec.weights
    if w.codebook:
        raise HwsimError(
            f"the {arch.family} family splits integer weights into 1-bit planes, and {w.name!r} codes "
            f"index a table of non-uniform values that are no sum of bit-planes: give integer weights "
            f"(e.g. int4_g128)",
            file=arch.file,
            field="precision.weights",
        )
    if w.is_float:
        raise HwsimError(
            f"the {arch.family} family splits integer weights into 1-bit planes and cannot "
            f"execute floating-point weights {w.name!r}: give integer weights (e.g. int4_g128 "
            f"or 2 bits)",
            file=arch.file,
            field="precision.weights",
        )
    return int(w.element_bits)


def lut_mask(ops: OpColumns) -> np.ndarray:
    """Ops that run as LUT-GEMM: linear layers (attention's B operand is the fp16 KV cache)."""
    return ops.is_kind("linear")


def table_entries(group: ArrayLike, symmetric: ArrayLike) -> np.ndarray:
    """Entries per table: 2^g, or 2^(g-1) with the symmetry trick."""
    return np.where(symmetric, 2.0 ** (np.asarray(group) - 1), 2.0 ** np.asarray(group))


def lookups(ops: OpColumns, group: float | np.ndarray, planes: int) -> np.ndarray:
    """Table lookups (each followed by one add) of the linear ops: m·n·ceil(k/g)·planes per instance."""
    return np.where(lut_mask(ops), ops.m * ops.n * cdiv(ops.k, group) * planes * ops.count, 0.0)


def precompute_adds(ops: OpColumns, group: float | np.ndarray, symmetric: ArrayLike) -> np.ndarray:
    """Adds to build the tables: one add per entry (each entry is a neighbour ± one activation),
    one table per token and group of g inputs; shared by all n outputs."""
    return np.where(lut_mask(ops), ops.m * cdiv(ops.k, group) * table_entries(group, symmetric) * ops.count, 0.0)


def table_bytes(ops: OpColumns, group: float | np.ndarray, symmetric: ArrayLike, table_bits: float) -> np.ndarray:
    """Bytes of all tables of an op (what a separate precompute kernel writes and the GEMM reads)."""
    return precompute_adds(ops, group, symmetric) * table_bits / 8


def combine_ops(ops: OpColumns, planes: int) -> np.ndarray:
    """Shift-and-adds combining the per-plane partial sums: one per output per plane."""
    return np.where(lut_mask(ops), ops.m * ops.n * planes * ops.count, 0.0)


def dequant_ops(ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
    """Scale multiplies of group dequantisation: per output, the weight format's scale_multiplies (one
    for a plain group scale; two with an asymmetric INT group's zero point or q4_1 / q5_1's min; a llama.cpp
    K-quant's sub-block scales and mins and its d, dmin) per weight group along k (per-tensor or per-channel
    scales: one per output)."""
    w = prec.weights
    groups = cdiv(ops.k, w.group_size) * w.scale_multiplies if w.group_size else 1.0
    return np.where(lut_mask(ops), ops.m * ops.n * groups * ops.count, 0.0)


def table_quantisation_error(table_bits: int, group: int) -> float:
    """Relative RMS error that int8 tables add to one lookup (uniform rounding of a table whose
    range is the sum of g activations: step = range/2^bits, RMS = step/√12, relative to range);
    fp16 tables keep a 10-bit mantissa, so their error is the fp16 rounding of the sum (2^-11/√3)."""
    if table_bits >= 16:
        return 2.0**-11 / math.sqrt(3)
    return 1.0 / (2**table_bits * math.sqrt(12))


# --- an architecture's tables and LUT tiles -------------------------------------------------------


def table_bits(arch: Accelerator) -> float:
    """Bits of one table entry: compute.table_precision fp16 → 16, int8 → 8."""
    return 16.0 if arch.compute["table_precision"] == "fp16" else 8.0


def arch_table_bytes(arch: Accelerator, ops: OpColumns) -> np.ndarray:
    """table_bytes of every op with the architecture's group, symmetry and table precision."""
    c = arch.compute
    return table_bytes(ops, c["group"], c["symmetric"], table_bits(arch))


def precompute_launch_cycles(arch: Accelerator, ops: OpColumns) -> np.ndarray:
    """Fixed cycles of a separate precompute kernel per linear op (`compute.precompute_launch`, a GPU
    kernel launch; 0 when fused or not given)."""
    c = arch.compute
    if c.get("precompute") != "separate":
        return np.zeros(np.shape(ops.m))
    return np.where(lut_mask(ops), c.get("precompute_launch", 0.0) * arch.clock_hz * ops.count, 0.0)


def precompute_cycles(arch: Accelerator, ops: OpColumns) -> np.ndarray:
    """Cycles (not rounded) of the table precompute on the host's fp16 SIMD lanes."""
    c = arch.compute
    return precompute_adds(ops, c["group"], c["symmetric"]) / host_lanes(arch, 16.0)


class LutTile(NamedTuple):
    """Geometry of one step of the `lut` family's datapath."""

    tile_m: float  # tokens per step
    tile_n: float  # outputs per step
    cycles_per_step: float  # 1 on the accelerator; SIMD instructions per lookup vector on a CPU
    units: float  # steps in flight: LUT units (accelerator) or SIMD pipes (CPU), all cores


def lut_tile(arch: Accelerator) -> LutTile:
    """The LUT tile of a `lut`-family architecture: tile_m × tile_n LUT units on the accelerator;
    on a CPU one SIMD vector of lookups (1 token × simd_bits/table_bits outputs: TBL/PSHUFB)."""
    c = arch.compute
    if c["target"] == "accelerator":
        return LutTile(c["tile_m"], c["tile_n"], 1.0, c["cores"] * c["lut_units"])
    return LutTile(1.0, c["simd_bits"] / table_bits(arch), c["instr_per_vector"], c["cores"] * c["simd_pipes"])


def lut_steps(arch: Accelerator, ops: OpColumns, planes: int) -> np.ndarray:
    """LUT-tile steps of the linear ops: ceil(m/tile_m)·ceil(n/tile_n)·ceil(k/g)·planes per instance."""
    t = lut_tile(arch)
    steps = cdiv(ops.m, t.tile_m) * cdiv(ops.n, t.tile_n) * cdiv(ops.k, arch.compute["group"]) * planes * ops.count
    return np.where(lut_mask(ops), steps, 0.0)


def lut_unit_cycles(arch: Accelerator, ops: OpColumns, planes: int) -> np.ndarray:
    """Cycles of the lookups of a `lut`-family architecture: steps spread over its units."""
    t = lut_tile(arch)
    return np.ceil(lut_steps(arch, ops, planes) * t.cycles_per_step / t.units)


def output_stage_cycles(arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, planes: int) -> np.ndarray:
    """Cycles of bit-plane combine and group dequantisation on the host's fp16 lanes for a `lut`
    CPU target (not rounded); 0 on the accelerator, whose tile output stage does them in flight."""
    if arch.compute["target"] != "cpu":
        return np.zeros(np.shape(ops.m))
    return (combine_ops(ops, planes) + dequant_ops(ops, prec)) / host_lanes(arch, 16.0)
