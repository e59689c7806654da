"""MAC systolic arrays (SCALE-Sim's model): H×W MACs, dataflow os | ws | is, double-buffered SRAMs.

Compute cycles are SCALE-Sim's stall-free cycles (REFERENCES.md, verified there on 75 runs), per
GEMM instance with M = tokens (m), N = outputs (n), K = reduction (k):
    os: ceil(M/H)·ceil(N/W)·(K + H + W − 2) − 1
    ws: ceil(K/H)·ceil(N/W)·(M + 2H + W − 2) − 1
    is: ceil(K/H)·ceil(M/W)·(N + 2H + W − 2) − 1
Memory stalls come on top from the shared memory model: with double buffering an op takes
max(compute, memory) cycles. Datapath energy and area come from the component library
(hwsim.tech.components: MAC per format pair, node-scaled, times pe_overhead); elementwise ops run on a vector unit of `vector_lanes` lanes (default W).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.schema import Field
from hwsim.errors import HwsimError
from hwsim.families.base import Family
from hwsim.families.common import cdiv, gemm_and_vector_cycles
from hwsim.kept import kept
from hwsim.tech import components as C

if TYPE_CHECKING:
    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import OperandType, ResolvedPrecision
    from hwsim.core.spec import Accelerator

DATAFLOWS = ("os", "ws", "is")


def stall_free_cycles(
    dataflow: str,
    m: float | np.ndarray,
    n: float | np.ndarray,
    k: float | np.ndarray,
    rows: float | np.ndarray,
    cols: float | np.ndarray,
) -> np.ndarray:
    """SCALE-Sim stall-free cycles of one GEMM (numpy broadcasting over shapes and arrays)."""
    if dataflow == "os":
        return cdiv(m, rows) * cdiv(n, cols) * (k + rows + cols - 2) - 1
    if dataflow == "ws":
        return cdiv(k, rows) * cdiv(n, cols) * (m + 2 * rows + cols - 2) - 1
    if dataflow == "is":
        return cdiv(k, rows) * cdiv(m, cols) * (n + 2 * rows + cols - 2) - 1
    raise ValueError(dataflow)


class Systolic(Family):
    name = "systolic"
    cycle_model = "hwsim.families.systolic.cycle"
    params = {
        "rows": Field("int", doc="H: PE rows"),
        "cols": Field("int", doc="W: PE columns"),
        "dataflow": Field("choice", choices=DATAFLOWS, doc="os | ws | is"),
        "vector_lanes": Field("int", required=False, default=None, doc="elementwise lanes (default cols)"),
        "pe_overhead": Field(
            "dimensionless",
            required=False,
            default=1.0,
            doc="PE area and energy over the bare MAC (registers, control)",
        ),
    }

    def validate(self, arch: Accelerator) -> None:
        if arch.tech is None:
            raise HwsimError(
                "missing field: the systolic family prices its MACs from a tech table", file=arch.file, field="tech"
            )

    def compute_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        c = arch.compute
        gemm = stall_free_cycles(c["dataflow"], ops.m, ops.n, ops.k, c["rows"], c["cols"]) * ops.count
        lanes = c["vector_lanes"] if c["vector_lanes"] is not None else c["cols"]
        return gemm_and_vector_cycles(ops, gemm, lanes)

    def peak_macs_per_cycle(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        return arch.compute["rows"] * arch.compute["cols"]

    def tile_shape(self, arch: Accelerator, ops: OpColumns) -> tuple | None:
        c = arch.compute  # os: one array pass per rows × cols outputs; ws: all m tokens per column fold
        if c["dataflow"] == "is":
            return None  # input-stationary folds stream K (hwsim.families.systolic.cycle)
        return (c["rows"] if c["dataflow"] == "os" else ops.m), c["cols"]

    def array_reads(self, arch: Accelerator, ops: OpColumns) -> tuple[np.ndarray, np.ndarray]:
        c = arch.compute
        one = np.ones(len(ops))
        df = c["dataflow"]
        if df == "os":  # A re-streamed per column fold, B per row fold
            return cdiv(ops.n, c["cols"]), cdiv(ops.m, c["rows"])
        if df == "ws":  # weights stay; activations re-streamed per column fold
            return cdiv(ops.n, c["cols"]), one
        return one, cdiv(ops.m, c["cols"])  # is: inputs stay; weights re-streamed per column fold

    def _mac(self, arch: Accelerator, prec: ResolvedPrecision, b: OperandType) -> C.Component:
        """The PE: the MAC of the tech table times pe_overhead (its registers and control)."""
        node, volts = C.tech_point(arch)
        pe = arch.compute["pe_overhead"]
        why = arch.sources.get("compute.pe_overhead", "PE overhead over the bare MAC")
        return C.mac(prec.activations, b, node, volts).times(pe, why)

    def energy_terms(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> list[C.Term]:
        mac_w, mac_kv, adder = kept(arch, "_systolic_parts", lambda: self._parts(arch, prec), on=(prec,))
        if ops.only("linear"):  # the counts the masks below pick: MACs on the weights' MAC, nothing else
            zero = np.zeros(len(ops))
            return [C.Term(mac_w, ops.macs), C.Term(mac_kv, zero), C.Term(adder, zero)]
        att = ops.is_attention
        return [
            C.Term(mac_w, np.where(ops.gemm & ~att, ops.macs, 0.0)),
            C.Term(mac_kv, np.where(ops.gemm & att, ops.macs, 0.0)),
            C.Term(adder, np.where(ops.gemm, 0.0, ops.vector_ops)),
        ]  # one fp16 add per op

    def _parts(self, arch: Accelerator, prec: ResolvedPrecision) -> tuple[C.Component, C.Component, C.Component]:
        """The priced parts of energy_terms (the PE at the weights and at the KV, an fp16 adder): per design and
        precision, so kept beside the spec (hwsim.kept), not looked up in the price tables every call."""
        node, volts = C.tech_point(arch)
        return self._mac(arch, prec, prec.weights), self._mac(arch, prec, prec.kv), C.fp_adder(16, node, volts)

    def area_terms(self, arch: Accelerator, prec: ResolvedPrecision) -> list[C.Term]:
        c = arch.compute
        return [C.Term(self._mac(arch, prec, prec.weights), c["rows"] * c["cols"])]
