"""SRAM processing-in-memory next to CPU caches: bit-serial compute in the cache arrays (Neural
Cache, ISCA 2018; PIMeval) and LUT-GEMV in SRAM beside LLC slices (SAIL), with the host CPU for
the rest of the layer. Mode `host` runs everything on the CPU (the baseline).

Lanes: every bitline column of every sub-array, L = slices · arrays · cols.

bitserial (linear ops), per GEMM instance, operands of n = max(weight, activation) bits and an
accumulator of a = w + x + ceil(log2 k) bits: the m·n outputs are spread over the lanes, r =
clip(floor(L/(m·n)), 1, k) columns per output, each column walks t = ceil(k/r) terms:
    per term   MUL(n) + ADD(a) + write(x bits: the activation transposed in) + write(w bits: the
               streamed weight transposed in, unless the op's weights fit the arrays and
               `weights_resident`)
    reduction  ceil(log2 r) · (MOVE(a) + ADD(a)) to sum the r partial sums
    waves      ceil(m·n / L) when outputs outnumber lanes.
Floating-point activations: `float_operands: convert` turns them into `convert_bits` integers in
the arrays at one ADD(convert_bits) per term (an explicit conversion cost), `error` refuses them.
Weights must be integers (a bit-serial multiplier of integer codes).

lut (SAIL): lookups as in hwsim.families.lut_core, `lut_lanes` per array per cycle; one weight-index
read serves the tables of all m tokens of a batch (batched lookups): cycles = ceil(n·ceil(k/g)·planes
/ (arrays·lut_lanes)) · (index_cycles + m), times (1 − pattern_reuse) (SAIL: 13.8% saved by reusing
lookups of repeated weight patterns); tables are computed on the host and written into the arrays;
results are converted int → fp16 in memory at `convert_steps` bit-serial steps per output.

host: linear ops on the CPU SIMD: integer weights through int8 dot products (simd_bits/8 MACs per
instruction, `dequant_instr` instructions per vector for unpacking and scaling), float weights
through fp16 FMA lanes. Attention and elementwise ops always run on the host (host_cpu.host_cycles).

Energy: row operations priced from the component library (hwsim.tech.components: a row read or write
moves `cols` bits at the 8 KB SRAM read energy per bit; a logic step ≈ a 1-bit full add per column),
node-scaled; host cycles at cores × core_power.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.schema import Field
from hwsim.errors import HwsimError
from hwsim.families import lut_core as L
from hwsim.families.pim import ops as P
from hwsim.families.base import BatchedFamily
from hwsim.families.common import cdiv
from hwsim.families.host_cpu import HOST_PARAMS, host_area_terms, host_cycles, host_energy_term, host_lanes
from hwsim.kept import kept
from hwsim.tech import components as C
from hwsim.tech.datapath import as_scalar

if TYPE_CHECKING:
    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import ResolvedPrecision
    from hwsim.core.spec import Accelerator

MODES = ("bitserial", "lut", "host")


class Pim(BatchedFamily):
    name = "pim"
    cycle_model = "hwsim.families.pim.cycle"
    params = {
        "mode": Field("choice", choices=MODES, doc="bitserial (Neural Cache) | lut (SAIL) | host (CPU only)"),
        **HOST_PARAMS,
        "dequant_instr": Field(
            "dimensionless",
            required=False,
            default=1.0,
            doc="host: SIMD instructions per int8 dot-product vector (dot + unpack/scale)",
        ),
        "slices": Field("int", required=False, default=None, doc="LLC slices with compute arrays"),
        "arrays": Field("int", required=False, default=None, doc="compute sub-arrays per slice"),
        "rows": Field("int", required=False, default=256, doc="word lines per sub-array"),
        "cols": Field("int", required=False, default=256, doc="bit lines per sub-array"),
        "scratch_rows": Field(
            "int",
            required=False,
            default=64,
            positive=False,
            doc="rows kept for activations, products and accumulators",
        ),
        "t_read": Field("dimensionless", required=False, default=1.0, doc="cycles per row read"),
        "t_write": Field("dimensionless", required=False, default=1.0, doc="cycles per row write"),
        "t_logic": Field("dimensionless", required=False, default=1.0, doc="cycles per logic step"),
        "weights_resident": Field(
            "bool",
            required=False,
            default=False,
            doc="if all weights fit the arrays they are preloaded: no DRAM reads, no transpose writes",
        ),
        "float_operands": Field("choice", choices=("error", "convert"), required=False, default="error"),
        "convert_bits": Field("int", required=False, default=8, doc="integer width of converted float activations"),
        # lut (SAIL)
        "lut_lanes": Field("int", required=False, default=None, doc="lookups per array per cycle"),
        "group": Field("int", required=False, default=4),
        "symmetric": Field("bool", required=False, default=True),
        "table_precision": Field("choice", choices=("fp16", "int8"), required=False, default="int8"),
        "index_cycles": Field(
            "dimensionless",
            required=False,
            default=1.0,
            positive=False,
            doc="cycles to read one weight-index pattern, shared by the batch",
        ),
        "pattern_reuse": Field(
            "dimensionless",
            required=False,
            default=0.0,
            positive=False,
            doc="fraction of LUT cycles saved by reusing repeated weight patterns",
        ),
        "convert_steps": Field(
            "dimensionless",
            required=False,
            default=0.0,
            positive=False,
            doc="bit-serial steps to convert one result int → fp16 in memory",
        ),
        "compute_area_overhead": Field(
            "dimensionless",
            required=False,
            default=0.0,
            positive=False,
            doc="compute logic area as a fraction of the arrays' area",
        ),
    }

    def validate(self, arch: Accelerator) -> None:
        c = arch.compute
        need = {"bitserial": ("slices", "arrays"), "lut": ("slices", "arrays", "lut_lanes"), "host": ()}[c["mode"]]
        for key in need:
            if c[key] is None:
                raise HwsimError(f"required for mode {c['mode']}", file=arch.file, field=f"compute.{key}")
        if c["mode"] != "host" and arch.tech is None:
            raise HwsimError("in-SRAM compute is priced from a tech table", file=arch.file, field="tech")
        if np.any(np.asarray(c["pattern_reuse"]) >= 1):
            raise HwsimError("must be < 1", file=arch.file, field="compute.pattern_reuse")

    # --- geometry ------------------------------------------------------------------------------
    @staticmethod
    def arrays_total(arch: Accelerator) -> float | np.ndarray:
        return arch.compute["slices"] * arch.compute["arrays"]

    def lanes(self, arch: Accelerator) -> float | np.ndarray:
        return self.arrays_total(arch) * arch.compute["cols"]

    def _keeps_weights(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        """Weights stay in the arrays across ops only if every linear weight of the trace fits at once
        (beside the scratch rows); otherwise they are streamed in and transposed for every op. A weight fills
        its storage bits (OpColumns.weight_bits: the element bit-planes plus a group-scaled format's scales on
        their rows), the B bytes the resident hook stops reading from DRAM: the scales that dequantise each
        group are held in the arrays beside the planes (assumed: nothing else on the device could hold them)."""
        c = arch.compute
        if c["mode"] == "host" or not c["weights_resident"]:
            return np.zeros(len(ops.m), dtype=bool)
        L.weight_planes(arch, prec)  # refuses float and codebook weights, as before
        total_bits = np.sum(np.where(L.lut_mask(ops), ops.weight_elems * ops.weight_bits(prec.weights), 0.0))
        fits = total_bits <= self.lanes(arch) * (c["rows"] - c["scratch_rows"])
        return fits & L.lut_mask(ops)

    def resident(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision
    ) -> tuple[bool | np.ndarray, bool | np.ndarray]:
        """Preloaded weights move no DRAM bytes (the engine's shared resident-operand hook)."""
        return False, self._keeps_weights(arch, ops, prec)

    def _act_bits(self, arch: Accelerator, prec: ResolvedPrecision) -> tuple[float | np.ndarray, float | np.ndarray]:
        a = prec.activations
        if not a.is_float:
            return float(a.element_bits), 0.0
        if arch.compute["float_operands"] == "error":
            raise HwsimError(
                f"bit-serial SRAM compute is integer-only and cannot take activations {a.name!r}: "
                f"quantise them (e.g. int8) or set compute.float_operands=convert",
                file=arch.file,
                field="precision.activations",
            )
        bits = as_scalar(np.asarray(arch.compute["convert_bits"], dtype=np.float64))  # arrays in sweeps
        return bits, bits

    # --- bit-serial ------------------------------------------------------------------------------
    def bitserial_rowops(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> P.RowOps:
        """Row reads/writes/logic steps of every linear op (all instances), lanes in parallel."""
        wb = float(L.weight_planes(arch, prec))
        xb, conv = self._act_bits(arch, prec)
        n = np.maximum(wb, xb)
        acc = wb + xb + np.ceil(np.log2(np.maximum(ops.k, 2)))
        lanes = self.lanes(arch)
        outs = ops.m * ops.n
        r = np.clip(np.floor(lanes / np.maximum(outs, 1)), 1, ops.k)
        t = cdiv(ops.k, r)
        waves = cdiv(outs, lanes)
        stream = np.where(self._keeps_weights(arch, ops, prec), 0.0, wb)
        term = P.mul(n) + P.add(acc) + P.write(xb) + P.write(stream) + P.add(conv) * (conv > 0)
        steps = np.ceil(np.log2(r))
        per_wave = term * t + (P.move(acc) + P.add(acc)) * steps
        k = np.where(L.lut_mask(ops), waves * ops.count, 0.0)
        return per_wave * k

    def shared_rowops(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> P.RowOps:
        """bitserial_rowops, computed once per (ops, machine, precision): one costing's cycles
        (compute_parts) and energy (energy_terms) take the same row operations. Kept beside the op table
        (as hwsim.engine.cost.per_trace keeps its columns beside a Trace) with the machine and precision it
        was computed on, held so that neither can be replaced by another object at the same address."""
        return kept(ops, "_pim_rowops", lambda: self.bitserial_rowops(arch, ops, prec), on=(arch, prec))

    # --- LUT-GEMV (SAIL) ---------------------------------------------------------------------------
    def lut_cycles(
        self,
        arch: Accelerator,
        ops: OpColumns,
        prec: ResolvedPrecision,
        startup: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Lookups, conversion and the tables' start-up (`startup`: startup_parts when the caller has them)."""
        c = arch.compute
        planes = L.weight_planes(arch, prec)
        patterns = np.where(L.lut_mask(ops), ops.n * cdiv(ops.k, c["group"]) * planes * ops.count, 0.0)
        look = np.ceil(patterns / (self.arrays_total(arch) * c["lut_lanes"])) * (c["index_cycles"] + ops.m)
        look = np.ceil(look * (1 - c["pattern_reuse"]))
        outs = np.where(L.lut_mask(ops), ops.m * ops.n * ops.count, 0.0)
        convert = cdiv(outs, self.lanes(arch)) * c["convert_steps"]
        parts = self.startup_parts(arch, ops, prec) if startup is None else startup
        return look + convert + parts["arrays"] + parts["host"]

    def startup_parts(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, spill: np.ndarray | float | None = None
    ) -> dict[str, np.ndarray]:
        """lut mode: the tables every batch of lookups needs, built on the host once and written into the
        arrays once (part of lut_cycles; they spill nothing to DRAM, so `spill` is not read)."""
        if arch.compute["mode"] != "lut":
            return {}
        return {"host": np.ceil(L.precompute_cycles(arch, ops)), "arrays": self.table_write_cycles(arch, ops)}

    def table_write_cycles(self, arch: Accelerator, ops: OpColumns) -> np.ndarray:
        """Row writes storing the host-built tables in the arrays (one write stores `lanes` bits)."""
        return cdiv(L.arch_table_bytes(arch, ops) * 8, self.lanes(arch))

    # --- host ---------------------------------------------------------------------------------------
    def host_linear_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        c = arch.compute
        w = prec.weights
        rate = host_lanes(arch, 8.0) / c["dequant_instr"] if not w.is_float else host_lanes(arch, 16.0)
        return np.where(L.lut_mask(ops), np.ceil(ops.macs / rate), 0.0)

    def row_times(self, arch: Accelerator) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
        """Cycles per row read, row write and logic step (RowOps.cycles)."""
        return self._t(arch)

    def _t(self, arch: Accelerator) -> tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray]:
        c = arch.compute
        return c["t_read"], c["t_write"], c["t_logic"]

    def pim_cycles(
        self,
        arch: Accelerator,
        ops: OpColumns,
        prec: ResolvedPrecision,
        startup: dict[str, np.ndarray] | None = None,
    ) -> float | np.ndarray:
        mode = arch.compute["mode"]
        if mode == "bitserial":
            return self.shared_rowops(arch, ops, prec).cycles(*self._t(arch))
        if mode == "lut":
            return self.lut_cycles(arch, ops, prec, startup)
        return self.host_linear_cycles(arch, ops, prec)

    def compute_parts(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, spill: np.ndarray | float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """lut mode's tables computed once, for the start-up and the array cycles (`spill`: Family.compute_parts)."""
        parts = self.startup_parts(arch, ops, prec, spill)
        return self.pim_cycles(arch, ops, prec, parts) + host_cycles(arch, ops, prec), parts

    def compute_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        return self.compute_parts(arch, ops, prec)[0]

    def peak_macs_per_cycle(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        c = arch.compute
        host = host_lanes(arch, 16.0)
        mode = c["mode"]
        if mode == "host":
            return np.maximum(host, host_lanes(arch, 8.0) / c["dequant_instr"])
        planes = L.weight_planes(arch, prec)
        if mode == "lut":
            lut = self.arrays_total(arch) * c["lut_lanes"] * c["group"] / (planes * (1 - c["pattern_reuse"]))
            return np.maximum(host, lut)
        xb, _ = self._act_bits(arch, prec)
        n = np.maximum(float(planes), xb)
        per_mac = (P.mul(n) + P.add(planes + xb + 1)).cycles(*self._t(arch))  # cheapest term (k = 2)
        return np.maximum(host, self.lanes(arch) / per_mac)

    # --- energy and area (components: hwsim.tech.components) ----------------------------------------
    def energy_terms(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> list[C.Term]:
        c = arch.compute
        if c["mode"] == "host":
            return [host_energy_term(arch, compute_cycles)]
        # the host's busy cycles, taken from the compute cycles given (not recomputed): the arrays run the
        # linear ops (pim_cycles, 0 on every other op) and the host the rest (host_cycles, 0 on linear ops)
        terms = [host_energy_term(arch, np.where(L.lut_mask(ops), 0.0, compute_cycles))]
        node, volts = C.tech_point(arch)
        bit = C.sram_bit(node, volts)
        if c["mode"] == "bitserial":
            ro = self.shared_rowops(arch, ops, prec)
            per_row = c["cols"] * self.arrays_total(arch)  # all arrays step together
            return [
                *terms,
                C.Term(
                    replace(bit, name="row read/write bit (8 KB array)", action="bit"), per_row * (ro.reads + ro.writes)
                ),
                C.Term(C.logic_bit(node, volts), per_row * ro.logic),
            ]
        planes = L.weight_planes(arch, prec)
        look = L.lookups(ops, c["group"], planes) * (1 - c["pattern_reuse"])
        tb = L.table_bits(arch)
        read = C.sram_entry_read(tb, node, volts)
        acc = replace(C.int_adder(32, node, volts), name="accumulate (int32 adder)", action="lookup")
        return [*terms, C.Term(read, look), C.Term(acc, look)]

    def area_terms(self, arch: Accelerator, prec: ResolvedPrecision) -> list[C.Term]:
        c = arch.compute
        terms = host_area_terms(arch)
        if c["mode"] == "host":
            return terms
        node, volts = C.tech_point(arch)
        bits = self.arrays_total(arch) * c["rows"] * c["cols"]
        why = arch.sources.get("compute.compute_area_overhead", "compute logic over the arrays")
        logic = C.sram_bit(node, volts).times(c["compute_area_overhead"], why)
        return [*terms, C.Term(replace(logic, name="in-array compute logic (per array bit)", energy_j=0.0), bits)]
