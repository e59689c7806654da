"""Host CPU model shared by the `lut` and `pim` families: cores × SIMD pipes × lanes.

It runs what a LUT or PIM datapath cannot: attention with the fp16 KV cache, elementwise ops,
table precompute on CPUs, and whole layers on the CPU baseline (pim mode `host`, T-MAC's dense
fallback for float weights). Its parameters are part of both families' `compute` section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.schema import Field
from hwsim.tech.components import Term, block, busy_cycle, show

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import OperandType, ResolvedPrecision
    from hwsim.core.spec import Accelerator

HOST_PARAMS = {
    "cores": Field("int", doc="CPU cores (threads) in use"),
    "simd_bits": Field("int", required=False, default=128, doc="SIMD register width (NEON: 128)"),
    "simd_pipes": Field("int", doc="SIMD instructions issued per cycle per core"),
    "host_efficiency": Field(
        "dimensionless", required=False, default=1.0, doc="achieved / peak SIMD throughput of the host kernels"
    ),
    "core_power": Field("power", required=False, default=None, doc="power of one busy core (energy)"),
    "core_area": Field("area", required=False, default=None, doc="area of one core with its L2 share"),
}


def host_lanes(arch: Accelerator, bits: ArrayLike) -> float | np.ndarray:
    """Element operations per cycle of all host cores on `bits`-wide elements."""
    c = arch.compute
    return c["cores"] * c["simd_pipes"] * (c["simd_bits"] / np.asarray(bits, dtype=np.float64)) * c["host_efficiency"]


def fp_bits(t: OperandType) -> float:
    """Arithmetic width the host uses for an operand: fp16 lanes for ≤16-bit types, else fp32."""
    return 16.0 if t.element_bits <= 16 else 32.0


def host_cycles(arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
    """Attention (fp FMA lanes at the KV width) and elementwise ops (fp32 lanes) on the host."""
    att = np.where(ops.is_attention, ops.macs / host_lanes(arch, fp_bits(prec.kv)), 0.0)
    vec = np.where(ops.is_kind("elementwise"), ops.vector_ops / host_lanes(arch, 32.0), 0.0)
    return np.ceil(att + vec)


def host_power(arch: Accelerator) -> float | np.ndarray:
    """Watts of the busy host cores (0 when core_power is not given)."""
    c = arch.compute
    return 0.0 if c["core_power"] is None else c["cores"] * c["core_power"]


def host_energy_term(arch: Accelerator, busy_cycles: ArrayLike) -> Term:
    """The busy host cores as an energy term: cores × core_power per busy cycle (0 W when not given)."""
    c = arch.compute
    src = f"{show(c['cores'])} cores x core_power ({arch.sources.get('compute.core_power', 'not given: 0 W')})"
    return Term(busy_cycle("host cores", host_power(arch), arch.clock_hz, src), busy_cycles)


def host_area_terms(arch: Accelerator) -> list[Term]:
    """The host cores with their L2 shares as area terms (none when core_area is not given)."""
    c = arch.compute
    if c["core_area"] is None:
        return []
    return [Term(block("core with its L2 share", c["core_area"], arch.sources["compute.core_area"]), c["cores"])]
