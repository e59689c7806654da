"""Bit-serial PE arrays (BitMoD, HPCA 2025; Stripes): H×W PEs, each a `dot_width`-wide dot product
of full-precision activations with B-operand terms processed `bits_per_cycle` bits per cycle.

Mapping (BitMoD's simulator): the H rows take output channels (n), the W columns take tokens (m),
and a PE walks the reduction (k) dot_width at a time, so a GEMM costs
    ceil(k/dp) · ceil(n/H) · ceil(m/W) · lat,   lat = ceil(b_element_bits/bits_per_cycle)
cycles per instance (lat = 1 and dp = 1 for non-bit-serial baselines such as ANT, OliVe, FP16).

Attention convention (the paper's published means include it; its simulator's own handling is not
public in REFERENCES.md): QKᵀ and PV run on the same array with the KV cache as the B operand, so a
bit-serial PE processes KV bit-serially (16-bit KV → 8 cycles per term pair) — the PE has one
datapath. Elementwise ops run on a vector unit of `vector_lanes` lanes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.schema import Field
from hwsim.families.base import Family
from hwsim.families.common import array_fold_reads, cdiv, gemm_and_vector_cycles
from hwsim.tech.components import Term, block, busy_cycle, show

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import ResolvedPrecision
    from hwsim.core.spec import Accelerator


def serial_latency(arch: Accelerator, b_bits: ArrayLike) -> np.ndarray:
    """Cycles per dot-product step: ceil(element bits/bits_per_cycle) when bit-serial, else 1. The PE
    walks the element's bits; group scales (storage bits) are applied once per group and priced as bytes."""
    if not arch.compute["bit_serial"]:
        return np.ones_like(np.asarray(b_bits, dtype=np.float64))
    return np.ceil(np.asarray(b_bits, dtype=np.float64) / arch.compute["bits_per_cycle"])


class BitSerial(Family):
    name = "bitserial"
    cycle_model = "hwsim.families.bitserial.cycle"
    params = {
        "rows": Field("int", doc="H: PE rows, mapped to output channels"),
        "cols": Field("int", doc="W: PE columns, mapped to tokens"),
        "dot_width": Field("int", required=False, default=1, doc="dp: terms per PE dot product"),
        "bits_per_cycle": Field("int", required=False, default=2, doc="weight bits consumed per cycle"),
        "bit_serial": Field("bool", required=False, default=True, doc="false: one cycle per dot product"),
        "pe_area": Field("area", doc="area of one PE"),
        "pe_power": Field("power", doc="power of one PE while computing (synthesis)"),
        "power_factor": Field(
            "dimensionless", required=False, default=1.0, doc="multiplier on pe_power for place-and-route"
        ),
        "vector_lanes": Field("int", required=False, default=None, doc="elementwise lanes (default rows·cols)"),
    }
    memory_round = staticmethod(np.floor)  # BitMoD: floor(bytes·8/bandwidth_bits)
    # The shared overlap rule applies (first tile's load, last tile's store and compute exposed).
    # BitMoD's simulator reports max(compute, dram) per layer (steady state, no start-up): its tables are
    # reproduced by those two columns, compute_cycles and memory_cycles (tests/validation/test_bitmod.py).

    def _lanes(self, arch: Accelerator) -> float | np.ndarray:
        c = arch.compute
        return c["vector_lanes"] if c["vector_lanes"] is not None else c["rows"] * c["cols"]

    def tile_shape(self, arch: Accelerator, ops: OpColumns) -> tuple:
        return arch.compute["cols"], arch.compute["rows"]  # cols tokens × rows output channels per pass

    def compute_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        c = arch.compute
        b_bits = np.where(ops.is_attention, prec.kv.element_bits, prec.weights.element_bits)
        gemm = cdiv(ops.k, c["dot_width"]) * cdiv(ops.n, c["rows"]) * cdiv(ops.m, c["cols"])
        gemm = gemm * serial_latency(arch, b_bits) * ops.count
        return gemm_and_vector_cycles(ops, gemm, self._lanes(arch))

    def peak_macs_per_cycle(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        c = arch.compute
        return c["rows"] * c["cols"] * c["dot_width"] / serial_latency(arch, prec.weights.element_bits)

    def array_reads(self, arch: Accelerator, ops: OpColumns) -> tuple[np.ndarray, np.ndarray]:
        return array_fold_reads(ops, arch.compute["cols"], arch.compute["rows"])

    def energy_terms(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> list[Term]:
        c = arch.compute
        watts = c["rows"] * c["cols"] * c["pe_power"] * c["power_factor"]
        src = (
            f"{show(c['rows'])}x{show(c['cols'])} PEs x pe_power ({arch.sources.get('compute.pe_power', 'preset')})"
            f" x power_factor {show(c['power_factor'])} ({arch.sources.get('compute.power_factor', 'default 1')})"
        )
        return [Term(busy_cycle("PE array", watts, arch.clock_hz, src), compute_cycles)]

    def area_terms(self, arch: Accelerator, prec: ResolvedPrecision) -> list[Term]:
        c = arch.compute
        return [Term(block("PE", c["pe_area"], arch.sources.get("compute.pe_area", "preset")), c["rows"] * c["cols"])]
