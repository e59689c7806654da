"""MAC systolic arrays (SCALE-Sim's model): H×W MACs, dataflow os | ws | is, double-buffered SRAMs.

Compute cycles are SCALE-Sim's stall-free cycles (REFERENCES.md, verified there on 75 runs), per
GEMM instance with M = tokens (m), N = outputs (n), K = reduction (k):
    os: ceil(M/H)·ceil(N/W)·(K + H + W − 2) − 1
    ws: ceil(K/H)·ceil(N/W)·(M + 2H + W − 2) − 1
    is: ceil(K/H)·ceil(M/W)·(N + 2H + W − 2) − 1
Memory stalls come on top from the shared memory model: with double buffering an op takes
max(compute, memory) cycles. Datapath energy and area come from hwsim.tech.datapath (per format
pair, node-scaled); elementwise ops run on a vector unit of `vector_lanes` lanes (default W).
"""
from __future__ import annotations

import numpy as np

from hwsim.core.schema import Field
from hwsim.errors import HwsimError
from hwsim.families.base import Family
from hwsim.families.common import cdiv, vector_cycles
from hwsim.tech.datapath import NODE, fp_add, mac_cost
from hwsim.tech.scaling import scale_energy

DATAFLOWS = ("os", "ws", "is")


def stall_free_cycles(dataflow: str, m, n, k, rows, cols):
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
        "pe_overhead": Field("dimensionless", required=False, default=1.0,
                             doc="PE area and energy over the bare MAC (registers, control)"),
    }

    def validate(self, arch):
        if arch.tech is None:
            raise HwsimError("missing field: the systolic family prices its MACs from a tech table",
                             file=arch.file, field="tech")

    def compute_cycles(self, arch, ops, prec):
        c = arch.compute
        gemm = stall_free_cycles(c["dataflow"], ops.m, ops.n, ops.k, c["rows"], c["cols"]) * ops.count
        lanes = c["vector_lanes"] if c["vector_lanes"] is not None else c["cols"]
        return np.where(ops.gemm, gemm, 0.0) + vector_cycles(ops, lanes)

    def peak_macs_per_cycle(self, arch, prec):
        return arch.compute["rows"] * arch.compute["cols"]

    def array_reads(self, arch, ops):
        c = arch.compute
        one = np.ones(len(ops))
        df = c["dataflow"]
        if df == "os":  # A re-streamed per column fold, B per row fold
            return cdiv(ops.n, c["cols"]), cdiv(ops.m, c["rows"])
        if df == "ws":  # weights stay; activations re-streamed per column fold
            return cdiv(ops.n, c["cols"]), one
        return one, cdiv(ops.m, c["cols"])  # is: inputs stay; weights re-streamed per column fold

    def _mac(self, arch, prec, b):
        return mac_cost(prec.activations, b, arch.tech.node_nm)

    def compute_energy(self, arch, ops, prec, compute_cycles):
        att = ops.kind == "attention"
        e_lin = self._mac(arch, prec, prec.weights).energy_pj
        e_att = self._mac(arch, prec, prec.kv).energy_pj
        per_mac = np.where(att, e_att, e_lin) * arch.compute["pe_overhead"] * 1e-12
        vec = scale_energy(float(fp_add(16)), NODE, arch.tech.node_nm) * 1e-12  # one fp16 add per op
        return np.where(ops.gemm, ops.macs * per_mac, ops.vector_ops * vec)

    def area_mm2(self, arch, prec):
        c = arch.compute
        return c["rows"] * c["cols"] * self._mac(arch, prec, prec.weights).area_um2 * c["pe_overhead"] * 1e-6

