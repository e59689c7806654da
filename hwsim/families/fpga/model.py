"""FPGA accelerators (FlightLLM-like): MACs on DSP48E2/DSP58 cascade chains with operand packing,
LUT multiply-accumulate lanes for minifloats and odd widths, on-chip URAM/BRAM buffers, HBM.

Mapping: `dsps` slices form floor(dsps/L) cascade chains of L = `chain_length` slices; a chain
sums L products per cycle into each of its p output lanes (p = products packed per slice,
hwsim.families.fpga.arith). LUT lanes form floor(lut_macs/L) dot-product units alike. A GEMM
instance (m tokens × n outputs × k terms) takes
    ceil(m·n / (chains·p + lut_units)) · ceil(k / (L·s))
cycles, s = the sparse speedup on linear ops with N:M weights (FlightLLM's configurable sparse DSP
chain, N:M = sparsity_n:sparsity_m: min(M/N, sparse_speedup), 1.6× published) and 1 otherwise; elementwise ops run on
`vector_lanes` special-function lanes. Memory stalls come from the shared memory model
(double buffering: max(compute, memory)); sparse weights are stored as N/M of the values plus
ceil(log2 M) index bits per kept value (assumed: the usual N:M metadata).

Formats: integer pairs run on the DSPs (and LUT lanes). A float pair runs as `float_mode` says:
`error` (integer-only chains: a clear HwsimError), `lut` (LUT lanes only) or `convert` (exact
fixed-point images of the floats, converted in LUTs, on the DSPs). Nothing falls back silently.

Weights on chip (`weights_on_chip`) keep linear-layer weights resident (no HBM traffic; the
design is infeasible when the model's weights do not fit the on-chip levels holding weights);
`activations_on_chip` (FlightLLM's always-on-chip decode) keeps each op's input activations on chip
when they fit their buffer. Resources, feasibility and the utilisation-derated clock:
hwsim.families.fpga.resources. Energy: each MAC costs the technology table's MAC energy for the
pair at the device node (hwsim.tech.datapath) times a fabric factor (`dsp_energy_factor`,
`lut_energy_factor`), plus memory bytes × energy and static power (engine).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.schema import Field
from hwsim.errors import HwsimError
from hwsim.families.fpga import resources as fr
from hwsim.families.base import BatchedFamily
from hwsim.families.common import cdiv, gemm_and_vector_cycles
from hwsim.kept import kept
from hwsim.tech import components as C
from hwsim.tech.components import show

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import ResolvedPrecision
    from hwsim.core.spec import Accelerator

FLOAT_MODES = ("error", "lut", "convert")


def sparsity(arch: Accelerator) -> tuple[int | np.ndarray, int | np.ndarray]:
    """(N, M): N weights kept of every M (1:1 = dense); HwsimError unless 0 < N <= M."""
    n, m = arch.compute["sparsity_n"], arch.compute["sparsity_m"]
    bad = np.asarray(n) > np.asarray(m)
    if np.any(bad):
        n_bad, m_bad = (np.broadcast_to(v, bad.shape)[bad].flat[0] for v in (n, m))
        raise HwsimError(
            f"N:M sparsity needs N <= M, got {n_bad:g}:{m_bad:g}", file=arch.file, field="compute.sparsity_n"
        )
    return n, m


def sparse_speedup(arch: Accelerator) -> np.ndarray:
    """Sparse DSP chain speedup on N:M weights: min(M/N, sparse_speedup); 1 when dense."""
    n, m = sparsity(arch)
    ratio = np.asarray(m, dtype=np.float64) / n
    return np.where(ratio > 1, np.minimum(ratio, arch.compute["sparse_speedup"]), 1.0)


class Fpga(BatchedFamily):
    name = "fpga"
    cycle_model = "hwsim.families.fpga.cycle"
    params = {
        "dsp_kind": Field("choice", choices=("dsp48e2", "dsp58"), doc="DSP slice type"),
        "device_dsps": Field("int", doc="DSP slices on the device"),
        "device_luts": Field("int", doc="LUT6 on the device"),
        "device_ffs": Field("int", doc="flip-flops on the device"),
        "device_bram36": Field("int", doc="36 Kb block RAMs on the device"),
        "device_uram": Field("int", doc="288 Kb UltraRAMs on the device"),
        "device_hbm_channels": Field("int", doc="HBM pseudo-channels on the device"),
        "dsps": Field("int", doc="DSP slices the design puts in MAC chains"),
        "chain_length": Field("int", doc="L: DSP slices per cascade chain (terms summed per cycle)"),
        "lut_macs": Field("int", required=False, default=0, positive=False, doc="LUT multiply-accumulate lanes"),
        "float_mode": Field(
            "choice",
            choices=FLOAT_MODES,
            required=False,
            default="error",
            doc="float operands: error | lut (LUT lanes) | convert (fixed point on DSPs)",
        ),
        "lut_conversion": Field(
            "bool", required=False, default=False, doc="LUT float lanes normalise their output back to a float"
        ),
        "accumulate_terms": Field(
            "int", required=False, default=32768, doc="n the accumulators are sized for (longest reduction)"
        ),
        "base_luts": Field(
            "int",
            required=False,
            default=0,
            positive=False,
            doc="LUTs of control, special-function units and memory interfaces",
        ),
        "base_ffs": Field("int", required=False, default=0, positive=False, doc="FFs of the same"),
        "vector_lanes": Field("int", required=False, default=64, doc="elementwise (special-function) lanes"),
        "sparsity_n": Field("int", required=False, default=1, doc="N of N:M weight sparsity (kept values)"),
        "sparsity_m": Field("int", required=False, default=1, doc="M of N:M weight sparsity (group size; 1 = dense)"),
        "sparse_speedup": Field(
            "dimensionless",
            required=False,
            default=1.6,
            doc="achieved speedup of the sparse DSP chain (FlightLLM: 1.6x)",
        ),
        "weights_on_chip": Field("bool", required=False, default=False, doc="linear weights resident on chip"),
        "activations_on_chip": Field(
            "bool", required=False, default=False, doc="always-on-chip decode: op inputs stay on chip when they fit"
        ),
        "hbm_channels": Field("int", required=False, default=None, doc="HBM pseudo-channels used (default all)"),
        "derate_knee": Field(
            "dimensionless",
            required=False,
            default=0.7,
            positive=False,
            maximum=1.0,
            doc="utilisation above which the clock derates",
        ),
        "derate_slope": Field(
            "dimensionless",
            required=False,
            default=1.0,
            positive=False,
            doc="clock fraction lost per unit of utilisation above the knee",
        ),
        "max_utilisation": Field(
            "dimensionless",
            required=False,
            default=1.0,
            doc="highest utilisation of any resource that still counts as feasible",
        ),
        "dsp_energy_factor": Field("dimensionless", doc="DSP MAC energy over the ASIC MAC of the tech table"),
        "lut_energy_factor": Field("dimensionless", doc="LUT-fabric energy over the ASIC equivalent"),
        "die_area": Field("area", required=False, default=None, doc="die area (area = max utilisation × it)"),
    }

    def validate(self, arch: Accelerator) -> None:
        if arch.tech is None:
            raise HwsimError(
                "missing field: the fpga family prices MAC energy from a tech table", file=arch.file, field="tech"
            )
        sparsity(arch)
        # the derated clock, clock·(1 − slope·(u − knee)), must stay positive up to full utilisation
        loss = np.asarray(arch.compute["derate_slope"] * (1.0 - arch.compute["derate_knee"]), dtype=np.float64)
        if np.any(loss >= 1.0):
            raise HwsimError(
                f"derate_slope × (1 − derate_knee) must be below 1 (else the clock reaches zero at "
                f"full utilisation), got {float(np.max(loss)):.4g}",
                file=arch.file,
                field="compute.derate_slope",
            )

    # --- the machine as it runs ------------------------------------------------------
    def configure(self, arch: Accelerator, prec: ResolvedPrecision) -> tuple[Accelerator, ResolvedPrecision]:
        util = fr.utilisation(arch, prec)  # raises for formats the datapath cannot run
        self._check_units(arch, prec)
        n, m = (np.asarray(v, dtype=np.float64) for v in sparsity(arch))
        if np.any(m > 1):  # N/M of the values plus ceil(log2 M) index bits per kept value
            w = prec.weights
            bits = np.where(m > 1, (w.bits + np.ceil(np.log2(m))) * n / m, w.bits)
            # OperandType.bits is declared float; swept sparsity makes it an array over design points here
            prec = replace(prec, weights=replace(w, bits=bits.item() if bits.ndim == 0 else bits))  # type: ignore[arg-type]
        clock = fr.achieved_clock(arch, util)
        bw_frac = util["hbm"]
        hbm = arch.backing
        arch = replace(arch, clock_hz=clock, memory=(replace(hbm, bandwidth=hbm.bandwidth * bw_frac), *arch.on_chip))
        return arch, prec

    def _check_units(self, arch: Accelerator, prec: ResolvedPrecision) -> None:
        lin, att = fr.pairs(arch, prec)
        for pc in (lin, att):
            units = fr.chains(arch) * pc.dsp_products + fr.lut_units(arch)
            if np.any(units <= 0):
                field = "compute.lut_macs" if not pc.on_dsp else "compute.dsps"
                raise HwsimError(
                    f"no MAC units for this precision: need at least chain_length "
                    f"({arch.compute['chain_length']:g}) {'LUT lanes' if not pc.on_dsp else 'DSPs'}",
                    file=arch.file,
                    field=field,
                )

    def _speedup(self, arch: Accelerator, ops: OpColumns) -> np.ndarray:
        return np.where(ops.is_kind("linear"), sparse_speedup(arch), 1.0)

    def _units(self, arch: Accelerator, prec: ResolvedPrecision, ops: OpColumns) -> np.ndarray:
        lin, att = fr.pairs(arch, prec)
        p = np.where(ops.is_attention, att.dsp_products, lin.dsp_products)
        return fr.chains(arch) * p + fr.lut_units(arch)

    def compute_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        c = arch.compute
        gemm = (
            cdiv(ops.m * ops.n, self._units(arch, prec, ops))
            * cdiv(ops.k, c["chain_length"] * self._speedup(arch, ops))
            * ops.count
        )
        return gemm_and_vector_cycles(ops, gemm, c["vector_lanes"])

    def peak_macs_per_cycle(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        """Linear-layer MACs per cycle, the sparse speedup included."""
        lin, _ = fr.pairs(arch, prec)
        units = fr.chains(arch) * lin.dsp_products + fr.lut_units(arch)
        return units * arch.compute["chain_length"] * sparse_speedup(arch)

    def resident(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision
    ) -> tuple[bool | np.ndarray, bool | np.ndarray]:
        c = arch.compute
        a_bytes = np.ceil(ops.act_in_elems / np.maximum(ops.count, 1.0) * ops.act_bits(prec.activations) / 8)
        a_res = bool(c["activations_on_chip"]) & (a_bytes <= arch.buffer_capacity("activations"))
        b_res = bool(c["weights_on_chip"]) & ops.is_kind("linear")
        return a_res, b_res

    # --- energy, area, feasibility -----------------------------------------------------
    def energy_terms(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> list[C.Term]:
        """MACs at the tech table's ASIC energy (accumulator sized for accumulate_terms, as in resources)
        times the fabric factor of the units running them: DSP and LUT-fabric MACs weighted by their
        share of the units; vector ops at an fp16 add times the LUT-fabric factor."""
        att_op = ops.is_attention
        macs = ops.macs / self._speedup(arch, ops)  # zeros skipped by the sparse chain
        lin, att, vec = kept(arch, "_fpga_energy_parts", lambda: self._energy_parts(arch, prec), on=(prec,))
        return [
            C.Term(lin, np.where(ops.gemm & ~att_op, macs, 0.0)),
            C.Term(att, np.where(ops.gemm & att_op, macs, 0.0)),
            C.Term(vec, np.where(ops.gemm, 0.0, ops.vector_ops)),
        ]

    def _energy_parts(self, arch: Accelerator, prec: ResolvedPrecision) -> tuple[C.Component, ...]:
        """The priced parts of energy_terms, which depend on the design and precision only: the MAC of the
        linear and of the attention operand pair at the fabric factor of its units, and the vector add."""
        c = arch.compute
        node, volts = C.tech_point(arch)
        macs = []
        for pair, b in zip(fr.pairs(arch, prec), (prec.weights, prec.kv)):
            dsp_units = fr.chains(arch) * pair.dsp_products
            with np.errstate(invalid="ignore", divide="ignore"):
                dsp_share = np.nan_to_num(dsp_units / (dsp_units + fr.lut_units(arch)))
            factor = dsp_share * c["dsp_energy_factor"] + (1 - dsp_share) * c["lut_energy_factor"]
            why = (
                f"fabric factor: DSP share {show(dsp_share)} x dsp_energy_factor + the rest x lut_energy_factor "
                f"({arch.sources.get('compute.dsp_energy_factor', 'preset')})"
            )
            macs.append(C.mac(prec.activations, b, node, volts, c["accumulate_terms"]).times(factor, why))
        vec = C.fp_adder(16, node, volts).times(
            c["lut_energy_factor"], arch.sources.get("compute.lut_energy_factor", "LUT fabric")
        )
        return (*macs, vec)

    def _util(
        self, arch: Accelerator, prec: ResolvedPrecision, ops: OpColumns | None = None, mult: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        w_bytes = 0.0
        if ops is not None:
            # each linear's weights on their rows of K (OpColumns.weight_bits: the B bytes the engine moves)
            w = np.where(ops.is_kind("linear"), np.ceil(ops.weight_elems * ops.weight_bits(prec.weights) / 8), 0.0)
            w_bytes = w @ mult
            if np.ndim(w_bytes):  # weight bits vary over design points (sparsity_m): keep the (n_points, 1) axis
                w_bytes = w_bytes[:, None]
        return fr.utilisation(arch, prec, w_bytes)

    def area_mm2(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        if arch.compute["die_area"] is None:
            return np.nan  # FPGAs report utilisation; area only with a sourced die area
        util = self._util(arch, prec)
        used = np.maximum.reduce(np.broadcast_arrays(*[util[k] for k in ("dsp", "lut", "ff", "bram", "uram")]))
        return np.minimum(used, 1.0) * arch.compute["die_area"] * 1e6

    def point_totals(
        self, arch: Accelerator, prec: ResolvedPrecision, ops: OpColumns, mult: np.ndarray
    ) -> dict[str, np.ndarray]:
        util = self._util(arch, prec, ops, mult)  # prec as configured: sparse weights' storage bits
        out = fr.feasibility(arch, util)
        out["clock_hz"] = fr.achieved_clock(arch, util)
        shape = np.broadcast_shapes(*(np.shape(v) for v in out.values()))
        return {k: _read_only(v, shape) for k, v in out.items()}


def _read_only(value: ArrayLike, shape: tuple) -> np.ndarray:
    """np.broadcast_to(value, shape), a read-only view: taken directly when `value` has that shape already
    (broadcast_to's own checks cost ~1.5 µs, a point total of one design has ~10 values)."""
    arr = np.asarray(value)
    if arr.shape != shape:
        return np.broadcast_to(arr, shape)
    view = arr.view()
    view.flags.writeable = False
    return view
