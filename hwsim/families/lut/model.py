"""LUT-based mixed-precision GEMM: LUT Tensor Core (ISCA 2025) as an accelerator and T-MAC
(EuroSys 2025) on CPUs. Operation counts and the LUT tile are in hwsim.families.lut_core, the
vector lanes (host SIMD) in hwsim.families.host_cpu.

A linear op is executed as steps of a LUT tile: `tile_m` tokens × `tile_n` outputs × one group of g
inputs × one weight bit-plane per step (one bit-plane per cycle). Per instance
    steps = ceil(m/tile_m) · ceil(n/tile_n) · ceil(k/g) · planes
spread over `cores × lut_units` LUT units (accelerator), each step taking one cycle; on a CPU a step
is one SIMD vector of lookups (tile_m = 1, tile_n = simd_bits/table_bits lanes: TBL/PSHUFB) taking
`instr_per_vector` instructions on `simd_pipes` pipes per core. Cost is linear in weight bits.

Table precompute (one add per table entry, 2^(g-1) entries with symmetry) runs on the vector lanes.
Its tables still have to reach the LUT units: `precompute: separate` writes them to the backing store
and reads them back (T-MAC and LUT Tensor Core's unfused kernel), paying `precompute_launch` per
kernel (a GPU kernel launch; 0 on CPUs, where it is a function call); `fused` folds the precompute into
the preceding norm, whose tables are written to and read back from the on-chip level at
`table_bandwidth` (LUT Tensor Core: the A100 L2; no table traffic when it is not given). Tables are loaded into the tile once per n-tile (the elongated
tile reuses a table over tile_n outputs); `table_storage` (registers | sram) prices the lookup reads.
Table precision (fp16 | int8) halves table bytes and doubles CPU lanes at int8, at the error of
lut_core.table_quantisation_error. Attention (fp16 KV) and elementwise ops run on the vector lanes.
Bit-plane combine and group dequantisation run on the vector lanes on CPUs and in the tile's output
stage on the accelerator (energy only). Float weights are refused (`float_weights: error`) unless a
CPU is told to run those of 16 bits or more on its dense fp FMA kernels (`float_weights: host`), as
llama.cpp does around T-MAC's kernels for the unquantised lm_head; the accelerator has no dense path.

Energy and area: accelerator from the component library (hwsim.tech.components, node-scaled): per lookup a
table read, an accumulate and a sign negate; the precompute, combine, dequantise and table-load actions;
per lane the mux, accumulator and negate, plus the table storage bits. CPU: busy cores × core_power ×
time (assumed: a core running SIMD kernels draws about its rated per-core power).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.schema import Field
from hwsim.errors import HwsimError
from hwsim.families import lut_core as L
from hwsim.families.base import BatchedFamily
from hwsim.families.common import cdiv
from hwsim.families.host_cpu import HOST_PARAMS, fp_bits, host_area_terms, host_cycles, host_energy_term, host_lanes
from hwsim.tech import components as C
from hwsim.tech.components import show

if TYPE_CHECKING:
    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import OperandType, ResolvedPrecision
    from hwsim.core.spec import Accelerator

TARGETS = ("accelerator", "cpu")


def _fp16() -> OperandType:
    from hwsim.core.precision import operand_type

    return operand_type(16)


class Lut(BatchedFamily):
    name = "lut"
    cycle_model = "hwsim.families.lut.cycle"
    params = {
        "target": Field("choice", choices=TARGETS, doc="accelerator (LUT units in an SM-like array) | cpu (T-MAC)"),
        **HOST_PARAMS,
        "group": Field("int", required=False, default=4, doc="g: activations per table"),
        "symmetric": Field("bool", required=False, default=True, doc="2^(g-1) entries, sign from one bit"),
        "table_precision": Field("choice", choices=("fp16", "int8"), required=False, default="fp16"),
        "table_storage": Field("choice", choices=("registers", "sram"), required=False, default="registers"),
        "precompute": Field("choice", choices=("fused", "separate"), required=False, default="separate"),
        "float_weights": Field(
            "choice",
            choices=("error", "host"),
            required=False,
            default="error",
            doc="cpu: float weights of >= 16 bits run on the dense host kernels (host) or are refused",
        ),
        "precompute_launch": Field(
            "time",
            required=False,
            default=0.0,
            positive=False,
            doc="fixed time of each separate precompute kernel (launch and sync), per linear op",
        ),
        "table_bandwidth": Field(
            "bytes_per_cycle",
            required=False,
            default=None,
            doc="on-chip bandwidth carrying fused tables from the precompute to the LUT units",
        ),
        # accelerator
        "lut_units": Field(
            "int", required=False, default=None, doc="LUT units per core (SM), in place of tensor cores"
        ),
        "tile_m": Field("int", required=False, default=None, doc="tokens per LUT tile (LUT Tensor Core: 2)"),
        "tile_n": Field("int", required=False, default=None, doc="outputs per LUT tile (elongated: 64)"),
        # cpu
        "instr_per_vector": Field(
            "dimensionless",
            required=False,
            default=None,
            doc="SIMD instructions per vector of lookups (table lookup, index unpack, accumulate)",
        ),
    }

    def validate(self, arch: Accelerator) -> None:
        c = arch.compute
        need = {"accelerator": ("lut_units", "tile_m", "tile_n"), "cpu": ("instr_per_vector",)}[c["target"]]
        for key in need:
            if c[key] is None:
                raise HwsimError(f"required for target {c['target']}", file=arch.file, field=f"compute.{key}")
        if c["target"] == "accelerator" and c["float_weights"] == "host":
            raise HwsimError(
                "the LUT accelerator has no dense path for float weights: use error",
                file=arch.file,
                field="compute.float_weights",
            )
        if c["target"] == "accelerator" and arch.tech is None:
            raise HwsimError("the LUT accelerator prices its units from a tech table", file=arch.file, field="tech")
        if c["target"] == "cpu" and np.any(np.asarray(c["simd_bits"]) % 16):
            raise HwsimError("must be a multiple of 16", file=arch.file, field="compute.simd_bits")

    # --- dense fallback (LUT tile geometry: lut_core.lut_tile) ---------------------------------
    @staticmethod
    def host_dense(arch: Accelerator, prec: ResolvedPrecision) -> bool:
        """Float weights of >= 16 bits on a CPU told to run them densely (float_weights: host)."""
        w = prec.weights
        return arch.compute["float_weights"] == "host" and w.is_float and w.element_bits >= 16

    # --- cycles ----------------------------------------------------------------------------------
    def spill_bytes(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray | float:
        """precompute: separate writes the tables to the backing store and the LUT GEMM reads them back."""
        if arch.compute["precompute"] != "separate" or self.host_dense(arch, prec):
            return 0.0
        return L.arch_table_bytes(arch, ops)

    def table_io(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, spill: np.ndarray | float | None = None
    ) -> tuple[str, np.ndarray | float]:
        """(resource, cycles) of the tables written once by the precompute and read once by the LUT GEMM: through
        the backing store in a kernel of its own ("dram", precompute: separate: spill_bytes both ways; `spill`:
        those bytes when the caller has them), through the on-chip level when fused into the norm ("tables",
        at table_bandwidth), or none."""
        c = arch.compute
        if c["precompute"] == "separate":
            spilled = self.spill_bytes(arch, ops, prec) if spill is None else spill
            return "dram", 2 * spilled / arch.backing.bytes_per_cycle(arch.clock_hz)
        if c["table_bandwidth"] is not None:
            return "tables", 2 * L.arch_table_bytes(arch, ops) / c["table_bandwidth"]
        return "tables", 0.0

    def startup_parts(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, spill: np.ndarray | float | None = None
    ) -> dict[str, np.ndarray]:
        """The tables, which every batch of lookups needs: built on the vector lanes (after the separate
        kernel's launch), then written out and read back (table_io; `spill`: Family.startup_parts)."""
        if self.host_dense(arch, prec):
            return {}
        where, io = self.table_io(arch, ops, prec, spill)
        return {"vector": L.precompute_cycles(arch, ops) + L.precompute_launch_cycles(arch, ops), where: io}

    def compute_parts(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, spill: np.ndarray | float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The lookups, the tables' start-up (computed once, shared with startup_parts' caller; `spill`:
        Family.compute_parts) and, on CPUs, the combine/dequantise and host work."""
        if self.host_dense(arch, prec):
            dense = np.where(L.lut_mask(ops), ops.macs / host_lanes(arch, fp_bits(prec.weights)), 0.0)
            return np.ceil(dense) + host_cycles(arch, ops, prec), {}
        parts = self.startup_parts(arch, ops, prec, spill)
        planes = L.weight_planes(arch, prec)
        vector = L.output_stage_cycles(arch, ops, prec, planes) + sum(parts.values())
        return L.lut_unit_cycles(arch, ops, planes) + np.ceil(vector) + host_cycles(arch, ops, prec), parts

    def compute_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        return self.compute_parts(arch, ops, prec)[0]

    def peak_macs_per_cycle(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        if self.host_dense(arch, prec):
            return host_lanes(arch, fp_bits(prec.weights))
        t = L.lut_tile(arch)
        lut = t.units * t.tile_m * t.tile_n * arch.compute["group"] / (t.cycles_per_step * L.weight_planes(arch, prec))
        return np.maximum(lut, host_lanes(arch, 16.0))

    # --- energy and area (components: hwsim.tech.components) -----------------------------------
    @staticmethod
    def lane_parts(
        arch: Accelerator, node: float | np.ndarray = C.REF_NODE_NM, volts: float | np.ndarray | None = None
    ) -> list[C.Component]:
        """One lookup lane of a LUT unit: the table-entry mux, the accumulator, the sign negate."""
        c = arch.compute
        tb = L.table_bits(arch)
        mux = replace(
            C.int_adder(tb, node, volts),
            name=f"table mux ({show(tb)}-bit entries)",
            action="lookup",
            source=f"{MUX_ASSUMED}; " + C.int_adder(tb, node, volts).source,
        )
        acc = C.fp_adder(16, node, volts) if tb == 16 else C.int_adder(32, node, volts)
        acc = replace(acc, name=f"accumulate ({acc.name})", action="lookup")
        neg = [replace(C.int_adder(tb, node, volts), name=f"sign negate ({show(tb)}-bit)", action="lookup")]
        return [mux, acc, *(neg if c["symmetric"] else [])]

    @classmethod
    def lookup_parts(
        cls, arch: Accelerator, node: float | np.ndarray = C.REF_NODE_NM, volts: float | np.ndarray | None = None
    ) -> list[C.Component]:
        """The energy of one lookup on the accelerator: table read (the mux from registers, or the entry's
        bits from SRAM), accumulate, sign negate."""
        parts = cls.lane_parts(arch, node, volts)
        if arch.compute["table_storage"] == "sram":
            parts[0] = C.sram_entry_read(L.table_bits(arch), node, volts)
        return parts

    @staticmethod
    def table_cell(
        arch: Accelerator, node: float | np.ndarray = C.REF_NODE_NM, volts: float | np.ndarray | None = None
    ) -> C.Component:
        return C.sram_bit(node, volts) if arch.compute["table_storage"] == "sram" else C.register_bit(node, volts)

    def energy_terms(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> list[C.Term]:
        c = arch.compute
        if c["target"] == "cpu":
            return [host_energy_term(arch, compute_cycles)]
        node, volts = C.tech_point(arch)
        planes = L.weight_planes(arch, prec)
        fp16 = _fp16()
        looks = L.lookups(ops, c["group"], planes)
        reloads = L.arch_table_bytes(arch, ops) * cdiv(ops.n, L.lut_tile(arch).tile_n) * 8  # table bits per n-tile
        return [
            *(C.Term(part, looks) for part in self.lookup_parts(arch, node, volts)),
            C.Term(
                _named(C.fp_adder(16, node, volts), "table precompute"),
                L.precompute_adds(ops, c["group"], c["symmetric"]),
            ),
            C.Term(_named(C.int_adder(32, node, volts), "bit-plane combine"), L.combine_ops(ops, planes)),
            C.Term(_named(C.multiplier(fp16, fp16, node, volts), "group dequantise"), L.dequant_ops(ops, prec)),
            C.Term(_named(C.sram_bit(node, volts), "table load into the LUT tile"), reloads),
            C.Term(C.mac(prec.activations, prec.kv, node, volts), np.where(ops.is_attention, ops.macs, 0.0)),
            C.Term(
                _named(C.fp_adder(32, node, volts), "vector op"),
                np.where(ops.is_kind("elementwise"), ops.vector_ops, 0.0),
            ),
        ]

    def area_terms(self, arch: Accelerator, prec: ResolvedPrecision) -> list[C.Term]:
        c = arch.compute
        if c["target"] == "cpu":
            return host_area_terms(arch)
        node, volts = C.tech_point(arch)
        units = c["cores"] * c["lut_units"]
        lanes = units * c["tile_m"] * c["tile_n"]
        bits = units * c["tile_m"] * L.table_entries(c["group"], c["symmetric"]) * L.table_bits(arch)
        vec_lanes = c["cores"] * c["simd_pipes"] * c["simd_bits"] / 16
        fp16 = _fp16()
        return [
            *(C.Term(part, lanes) for part in self.lane_parts(arch, node, volts)),
            C.Term(_named(self.table_cell(arch, node, volts), "table storage"), bits),
            C.Term(_named(C.mac(fp16, fp16, node, volts), "vector lane"), vec_lanes),
        ]


MUX_ASSUMED = "assumed: an N:1 mux read of a w-bit table entry ≈ a w-bit adder"


@C.priced_once  # every costing names the same few components: built once per (component, role)
def _named(comp: C.Component, role: str) -> C.Component:
    return replace(comp, name=f"{role} ({comp.name})")


def unit_vs_mac(arch: Accelerator, movement: bool = False) -> dict[str, float]:
    """LUT unit vs an FP16×FP16 MAC unit at the same node (the LUT Tensor Core comparison):
    ops per cycle per mm² (compute density) and ops per joule (energy efficiency) for INT1×FP16,
    one bit-plane per cycle. A lane does g 1-bit MACs per lookup; the MAC does one MAC per cycle.

    `movement` adds, on both sides, the register writes and wires the datapath tables leave out
    (components: register_bit, wire at the lane pitch = √area): the LUT lane writes its accumulator and
    every step broadcasts the tile_m tables along the row of tile_n lanes; the MAC writes its fp32
    accumulator and two fp16 operand registers and receives two fp16 operands from a neighbour one pitch
    away (a systolic array)."""
    fp16 = _fp16()
    c = arch.compute
    g = c["group"]
    table_bits = L.table_entries(g, c["symmetric"]) * L.table_bits(arch)  # one table
    lane_m2 = sum(p.area_m2 for p in Lut.lane_parts(arch)) + table_bits * Lut.table_cell(arch).area_m2 / c["tile_n"]
    lookup_j = sum(p.energy_j for p in Lut.lookup_parts(arch))
    mac = C.mac(fp16, fp16)
    mac_j = mac.energy_j
    if movement:
        reg, wire = C.register_bit(), C.wire(C.REF_NODE_NM)
        acc_bits = 16 if L.table_bits(arch) == 16 else 32  # the lane's accumulator (lane_parts)
        row_mm = c["tile_n"] * np.sqrt(lane_m2) * 1e3
        lookup_j += acc_bits * reg.energy_j + c["tile_m"] * table_bits * row_mm * wire.energy_j / (
            c["tile_m"] * c["tile_n"]
        )
        mac_j += (32 + 2 * 16) * reg.energy_j + 2 * 16 * np.sqrt(mac.area_m2) * 1e3 * wire.energy_j
    return {"density": float((g / lane_m2) / (1 / mac.area_m2)), "efficiency": float((g / lookup_j) / (1 / mac_j))}
