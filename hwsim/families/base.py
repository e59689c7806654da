"""The family plugin interface: what a family must say about its hardware.

The engine (hwsim.engine.cost) owns everything shared — operand bytes, tiling against buffer
capacities, memory cycles, energy accounting, bound, totals. A family supplies only:

- `params`: its `compute.*` fields (hwsim.arch.Field) — loading, --set and sweeps validate them;
- `compute_cycles(arch, ops, prec)`: cycles of the compute units per op (numpy, broadcasting);
- `peak_macs_per_cycle(arch, prec)`: for roofline bounds and property tests;
- `energy_terms(arch, ops, prec, compute_cycles)`: the datapath's energy as components of
  hwsim.tech.components × per-op action counts (compute_energy is their sum, and `hwsim simulate
  --explain` prints them), or `compute_energy` directly (then explained as one line, not itemised);
- `area_terms(arch, prec)`: the area as components × instances (area_mm2 is their sum), or `area_mm2`;
- `cycle_model`: the module (the family package's cycle.py) whose `simulate_op(ctx, i)` simulates
  op i at cycle level (hwsim.sim.models: tiles or simpy stages); or override `simulate_op`;
- optionally `array_reads` (on-chip re-reads per operand), `latency` (compute/memory overlap),
  `tile_shape` and `startup_parts` (the tiles and once-per-op work of the shared start-up/drain rule,
  hwsim.engine.machine.exposed_cycles; BatchedFamily for simpy pipeline families),
  `spill_bytes` (bytes through the backing store besides the operands: computed once with the traffic and
  passed to compute_parts/startup_parts as `spill`), `memory_round`, `validate`, `configure` (the machine as it
  runs at a precision, e.g. a clock derated by utilisation), `resident` (operands kept on chip, no backing-store traffic) and
  `point_totals` (per-design-point results such as feasibility that do not sum over ops).

Arrays: every op column has shape (n_ops,); in sweeps, arch parameters are arrays of shape
(n_points, 1), so write family code with numpy broadcasting and never branch on a parameter value.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hwsim.core.schema import Field
from hwsim.core.spec import Accelerator
from hwsim.core.ops import OpColumns
from hwsim.core.precision import ResolvedPrecision
from hwsim.tech.components import Component, Term, block, sum_area_mm2, sum_energy

if TYPE_CHECKING:  # the cycle-level kit (numba, simpy) loads only when the cycle engine runs
    from numpy.typing import ArrayLike

    from hwsim.sim.models import OpSim, SimContext


# a family that prices its datapath in one sum (compute_energy) is explained as that sum: 1 J per joule
NOT_ITEMISED_ENERGY = Component(
    "datapath (not itemised by the family)",
    "joule",
    1.0,
    0.0,
    "the family's compute_energy (no per-component breakdown)",
)


class Family:
    name: ClassVar[str]
    params: ClassVar[dict[str, Field]]
    #: how attention runs unless the spec's `attention:` says otherwise (hwsim.engine.attention), and why
    attention: ClassVar[str] = "unfused"
    attention_source: ClassVar[str] = (
        "assumed: the accelerator's paper maps attention onto its GEMM array as "
        "separate qk and av GEMMs with the scores through memory"
    )
    #: True when compute_cycles costs `attn_fused` rows with the family's own fused kernel model; else the
    #: engine computes a fused row as its qk and av GEMMs chained on chip (hwsim.engine.attention)
    fused_attention_kernel: ClassVar[bool] = False
    #: False where the analytical model reproduces a reference simulator that overlaps memory and compute
    #: fully (then only the cycle engine shows the tile pipeline's start-up and drain, see tile_shape)
    exposes_pipeline_ends: ClassVar[bool] = True
    #: True where the cycle model runs an op as one batch pipeline (BatchedFamily): its tiles span all
    #: `count` instances, and re-reads of an operand that does not fit stream along instead of blocking
    batch_pipeline: ClassVar[bool] = False
    #: rounding of memory cycles (bytes / bytes-per-cycle); np.ceil unless a reference model floors
    memory_round = staticmethod(np.ceil)
    #: module of the cycle-level model (a `simulate_op(ctx, i)` function), imported on first use
    cycle_model: ClassVar[str | None] = None

    def validate(self, arch: Accelerator) -> None:
        """Cross-field checks beyond the per-field schema (raise HwsimError naming the field)."""

    def compute_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        raise NotImplementedError

    def peak_macs_per_cycle(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        raise NotImplementedError

    def energy_terms(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> list[Term]:
        """The datapath energy per op as components × action counts, in the order compute_energy sums
        them. A family that overrides compute_energy instead is shown as one line holding its joules."""
        if type(self).compute_energy is Family.compute_energy:
            raise NotImplementedError(f"family {self.name!r} defines neither energy_terms nor compute_energy")
        return self.itemised_energy(arch, ops, prec, compute_cycles)[1]

    def itemised_energy(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> tuple[np.ndarray, list[Term]]:
        """(compute_energy, energy_terms), each computed once: the joules the engine sums and the terms
        `explain` prints (a family that overrides compute_energy: its joules as one line)."""
        if type(self).compute_energy is Family.compute_energy:
            terms = self.energy_terms(arch, ops, prec, compute_cycles)
            return sum_energy(terms, np.shape(compute_cycles)), terms
        joules = self.compute_energy(arch, ops, prec, compute_cycles)
        arr = np.asarray(joules, dtype=np.float64)
        return joules, [Term(NOT_ITEMISED_ENERGY, arr)] if np.any(arr) else []

    def compute_energy(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> np.ndarray:
        """Joules of the datapath per op: the sum of energy_terms."""
        return sum_energy(self.energy_terms(arch, ops, prec, compute_cycles), np.shape(compute_cycles))

    def area_terms(self, arch: Accelerator, prec: ResolvedPrecision) -> list[Term]:
        """The design's area as components × instances. A family that overrides area_mm2 instead is shown
        as one line holding its mm² (none when it prices no area: NaN)."""
        if type(self).area_mm2 is Family.area_mm2:
            raise NotImplementedError(f"family {self.name!r} defines neither area_terms nor area_mm2")
        return self.area_terms_of_total(self.area_mm2(arch, prec))

    def area_terms_of_total(self, area_mm2: ArrayLike) -> list[Term]:
        """The one line a family that prices area as a sum (area_mm2, not area_terms) is shown as."""
        mm2 = np.asarray(area_mm2, dtype=np.float64)
        if np.all(np.isnan(mm2)):
            return []
        return [
            Term(
                block(
                    f"{self.name} design (not itemised by the family)",
                    mm2 * 1e-6,
                    f"the {self.name} family's area model",
                ),
                1.0,
            )
        ]

    def area_mm2(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        """mm² of the design: the sum of area_terms."""
        return sum_area_mm2(self.area_terms(arch, prec))

    def simulate_op(self, ctx: SimContext, i: int) -> OpSim:
        """Cycle-level simulation of op i of ctx.ops (all its `count` instances); see hwsim.sim.models."""
        if self.cycle_model is None:
            raise NotImplementedError(f"family {self.name!r} has no cycle-level model")
        return importlib.import_module(self.cycle_model).simulate_op(ctx, i)

    def array_reads(self, arch: Accelerator, ops: OpColumns) -> tuple[np.ndarray, np.ndarray]:
        """How many times the compute array reads A (activations) and B (weights/KV) from their
        on-chip buffers; default: an output-stationary-like array with no reuse beyond one pass."""
        one = np.ones(len(ops))
        return one, one

    def latency(self, arch: Accelerator, ops: OpColumns, compute: np.ndarray, memory: np.ndarray) -> np.ndarray:
        """Cycles of an op given compute and memory cycles; default: double-buffered full overlap (the
        engine adds the pipeline's exposed start-up and drain to `compute`, see tile_shape)."""
        return np.maximum(compute, memory)

    def tile_shape(self, arch: Accelerator, ops: OpColumns) -> tuple | None:
        """(tile_m, tile_n[, k, whole_a]): the output tiles a double-buffered pipeline computes GEMMs in,
        one pass of the array each (the cycle model's tiles, hwsim.sim.models.simulate_tiles). Both engines
        then expose the first tile's load and the last tile's store and compute
        (hwsim.sim.blocking.pipeline_ends). With k (the reduction depth) and whole_a (a mask of ops whose A
        does not run along k and loads whole with the first slice) the tile is the whole op (batch
        pipelines) and streams its reduction in K_STEP-deep slices: only the first slice's load and the
        drain of the last slices are exposed (hwsim.sim.blocking.k_slice_ends; hwsim.sim.models.stream_op).
        None (default): the family does not run GEMMs as such tiles."""
        return None

    def compute_parts(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, spill: np.ndarray | float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(compute_cycles, startup_parts) of the same ops: what the engine calls, once per cost. A family
        whose compute cycles include its start-up work overrides this to compute that work once. `spill`:
        spill_bytes of these ops, which the engine has already (OpTraffic.spill: the shared memory model
        computes them once per costing and every step that needs them takes them from there); None: the
        family computes them itself where it needs them (a caller without the traffic)."""
        return self.compute_cycles(arch, ops, prec), self.startup_parts(arch, ops, prec, spill)

    def spill_bytes(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> float | np.ndarray:
        """Bytes per op the family writes to the backing store and reads back during its start-up work,
        besides the GEMM operands (LUT tables of a separate precompute kernel; their transfer time is a
        startup_parts part). The shared memory model counts them both ways (hwsim.engine.memory.traffic),
        as the cycle models do; the engine computes them there (hwsim.engine.machine.op_traffic) and hands
        them to compute_parts/startup_parts and the cycle model (SimContext.spill). Default: none."""
        return 0.0

    def startup_parts(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, spill: np.ndarray | float | None = None
    ) -> dict[str, np.ndarray]:
        """Work done once per op before its first tile, which every tile waits for (LUT tables built from all
        activations): cycles per op on each resource named as the cycle model names it, a part of
        compute_cycles. Both engines overlap it with nothing (hwsim.engine.machine.exposed_cycles; the cycle
        models run it as `once` stages, hwsim.sim.pipelines). `spill`: as compute_parts. Default: none."""
        return {}

    def configure(self, arch: Accelerator, prec: ResolvedPrecision) -> tuple[Accelerator, ResolvedPrecision]:
        """The machine as it runs at this precision (derived clock, bandwidth or storage bits);
        the engine costs ops on what this returns. Default: unchanged."""
        return arch, prec

    def resident(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision
    ) -> tuple[bool | np.ndarray, bool | np.ndarray]:
        """Masks (broadcastable to the op columns) of A (activations) and B (weights/KV) kept on
        chip for the whole run: they move no backing-store bytes. Default: neither."""
        return False, False

    def point_totals(self, arch: Accelerator, prec: ResolvedPrecision, ops: OpColumns, mult: np.ndarray) -> dict:
        """Per-design-point results that do not sum over ops (feasibility, utilisation): scalars,
        on the design as specified (`arch`) at the precision as configured (`prec`, after `configure`);
        or arrays of shape (n_points,) in sweeps; `mult` = occurrences of each op row. Default: none."""
        return {}


class BatchedFamily(Family):
    """A family whose cycle model runs an op as pipeline batches through simpy stages (lut, pim, fpga;
    hwsim.sim.models.io_stages): every activation of a GEMM loads first (each output reduces over all
    of them, and LUT tables are built from them; an elementwise op's stream with its slices), then
    weights stream through the compute one output column at a time (assumed: the simulated batches are
    coarse slices of that stream, see hwsim.sim.pipelines). So the tile of the shared start-up/drain rule is one output column of every
    token, over all `count` instances at once: both engines expose all activations' load and one
    column's weights before the compute, and one column's compute and store after the last load."""

    batch_pipeline = True

    def tile_shape(self, arch: Accelerator, ops: OpColumns) -> tuple:
        return ops.m, 1.0
