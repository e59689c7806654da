"""Pieces shared by the `lut` and `pim` families: LUT-GEMM operation counts and a host CPU model.

LUT-GEMM (T-MAC, EuroSys 2025; LUT Tensor Core, ISCA 2025; SAIL): integer weights are split into
1-bit planes; activations are grouped by g; for every group a table holds the partial sums of the g
activations under all 2^g sign patterns (2^(g-1) with the symmetry trick: the table for pattern p̄
is −table[p], so one bit selects the sign). Per output, per bit-plane, per group: one lookup and one
add. Planes are combined by shift-and-add; group scales dequantise the result.

The host CPU model (cores × SIMD pipes × lanes) runs what the LUT or PIM datapath cannot: attention
with the fp16 KV cache, elementwise ops, table precompute on CPUs, and whole layers on the baseline.
"""
from __future__ import annotations

import math

import numpy as np

from hwsim.arch.schema import Field
from hwsim.errors import HwsimError
from hwsim.families.common import cdiv

# --- LUT-GEMM counts ------------------------------------------------------------------------------


def weight_planes(arch, prec) -> int:
    """Bit-planes of the weights; the LUT datapath only decomposes integer weights."""
    w = prec.weights
    if w.is_float:
        raise HwsimError(f"the {arch.family} family splits integer weights into 1-bit planes and cannot "
                         f"execute floating-point weights {w.name!r}: give integer weights (e.g. --weights "
                         f"int4_g128 or --weights 2)", file=arch.file, field="--weights")
    return int(w.element_bits)


def lut_mask(ops) -> np.ndarray:
    """Ops that run as LUT-GEMM: linear layers (attention's B operand is the fp16 KV cache)."""
    return ops.kind == "linear"


def table_entries(group, symmetric):
    """Entries per table: 2^g, or 2^(g-1) with the symmetry trick."""
    return np.where(symmetric, 2.0 ** (np.asarray(group) - 1), 2.0 ** np.asarray(group))


def lookups(ops, group, planes) -> np.ndarray:
    """Table lookups (each followed by one add) of the linear ops: m·n·ceil(k/g)·planes per instance."""
    return np.where(lut_mask(ops), ops.m * ops.n * cdiv(ops.k, group) * planes * ops.count, 0.0)


def precompute_adds(ops, group, symmetric) -> np.ndarray:
    """Adds to build the tables: one add per entry (each entry is a neighbour ± one activation),
    one table per token and group of g inputs; shared by all n outputs."""
    return np.where(lut_mask(ops), ops.m * cdiv(ops.k, group) * table_entries(group, symmetric) * ops.count, 0.0)


def table_bytes(ops, group, symmetric, table_bits) -> np.ndarray:
    """Bytes of all tables of an op (what a separate precompute kernel writes and the GEMM reads)."""
    return precompute_adds(ops, group, symmetric) * table_bits / 8


def combine_ops(ops, planes) -> np.ndarray:
    """Shift-and-adds combining the per-plane partial sums: one per output per plane."""
    return np.where(lut_mask(ops), ops.m * ops.n * planes * ops.count, 0.0)


def dequant_ops(ops, prec) -> np.ndarray:
    """Scale multiplies of group dequantisation: one per output per weight group along k
    (per-tensor or per-channel scales: one per output)."""
    gs = prec.weights.group_size
    groups = cdiv(ops.k, gs) if gs else 1.0
    return np.where(lut_mask(ops), ops.m * ops.n * groups * ops.count, 0.0)


def table_quantisation_error(table_bits: int, group: int) -> float:
    """Relative RMS error that int8 tables add to one lookup (uniform rounding of a table whose
    range is the sum of g activations: step = range/2^bits, RMS = step/√12, relative to range);
    fp16 tables keep a 10-bit mantissa, so their error is the fp16 rounding of the sum (2^-11/√3)."""
    if table_bits >= 16:
        return 2.0 ** -11 / math.sqrt(3)
    return 1.0 / (2 ** table_bits * math.sqrt(12))


# --- host CPU ---------------------------------------------------------------------------------------

HOST_PARAMS = {
    "cores": Field("int", doc="CPU cores (threads) in use"),
    "simd_bits": Field("int", required=False, default=128, doc="SIMD register width (NEON: 128)"),
    "simd_pipes": Field("int", doc="SIMD instructions issued per cycle per core"),
    "host_efficiency": Field("dimensionless", required=False, default=1.0,
                             doc="achieved / peak SIMD throughput of the host kernels"),
    "core_power": Field("power", required=False, default=None, doc="power of one busy core (energy)"),
    "core_area": Field("area", required=False, default=None, doc="area of one core with its L2 share"),
}


def host_lanes(arch, bits):
    """Element operations per cycle of all host cores on `bits`-wide elements."""
    c = arch.compute
    return c["cores"] * c["simd_pipes"] * (c["simd_bits"] / np.asarray(bits, dtype=np.float64)) * c["host_efficiency"]


def fp_bits(t) -> float:
    """Arithmetic width the host uses for an operand: fp16 lanes for ≤16-bit types, else fp32."""
    return 16.0 if t.bits <= 16 else 32.0


def host_cycles(arch, ops, prec) -> np.ndarray:
    """Attention (fp FMA lanes at the KV width) and elementwise ops (fp32 lanes) on the host."""
    att = np.where(ops.kind == "attention", ops.macs / host_lanes(arch, fp_bits(prec.kv)), 0.0)
    vec = np.where(ops.kind == "elementwise", ops.vector_ops / host_lanes(arch, 32.0), 0.0)
    return np.ceil(att + vec)


def host_power(arch):
    """Watts of the busy host cores (0 when core_power is not given)."""
    c = arch.compute
    return 0.0 if c["core_power"] is None else c["cores"] * c["core_power"]


def host_area_mm2(arch):
    c = arch.compute
    return 0.0 if c["core_area"] is None else c["cores"] * c["core_area"] * 1e6
