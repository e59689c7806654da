"""The analytical engine: trace × precision × accelerator → CostTable (vectorised over ops and,
through sweep_cost, over design points)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hwsim.arch.spec import Accelerator
from hwsim.engine.memory import traffic
from hwsim.engine.ops import OpColumns, operand_bytes
from hwsim.engine.precision import resolve_precision

TOTAL_KEYS = ("cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j", "area_mm2")


def _ops_frame(trace) -> pd.DataFrame:
    return trace.ops if hasattr(trace, "ops") else trace


def cost_columns(arch: Accelerator, ops: OpColumns, prec) -> dict[str, np.ndarray]:
    """Every per-op cost column as arrays (shape (n_ops,), or (n_points, n_ops) in sweeps)."""
    fam = arch.family_model
    arch, prec = fam.configure(arch, prec)
    compute = np.asarray(fam.compute_cycles(arch, ops, prec), dtype=np.float64)
    ob = operand_bytes(ops, prec)
    a_reads, b_reads = fam.array_reads(arch, ops)
    tr = traffic(arch, ops, ob, a_reads, b_reads, fam.memory_round, *fam.resident(arch, ops, prec))
    memory = np.maximum.reduce([np.broadcast_to(c, np.broadcast(compute, c).shape) for c in tr.cycles.values()])
    memory = np.where(np.isfinite(memory), memory, 0.0)
    cycles = np.asarray(fam.latency(arch, ops, compute, memory), dtype=np.float64)
    compute, memory = np.broadcast_arrays(compute, memory)
    cycles = np.broadcast_to(cycles, compute.shape)
    seconds = cycles / np.asarray(arch.clock_hz)
    out = {"cycles": cycles, "compute_cycles": compute, "memory_cycles": memory, "seconds": seconds}
    energy = {"compute": np.asarray(fam.compute_energy(arch, ops, prec, compute), dtype=np.float64)}
    for name, moved in tr.levels.items():
        out[f"bytes_{name}"] = np.broadcast_to(moved, compute.shape)
        energy[name] = moved * np.asarray(arch.level(name).energy)
    energy["static"] = seconds * np.asarray(arch.static_power_w)
    total = 0.0
    for part, e in energy.items():
        e = np.broadcast_to(e, compute.shape)
        out[f"energy_{part}_j"] = e
        total = total + e
    out["energy_j"] = np.broadcast_to(total, compute.shape)
    return out


@dataclass(frozen=True)
class CostTable:
    """Per-op costs (`ops` DataFrame) and whole-trace `totals`."""

    arch: str
    ops: pd.DataFrame
    totals: dict
    extra_keys: tuple = ()  # family point totals (Family.point_totals), e.g. feasible

    def to_json(self) -> dict:
        cols = ["name", "kind", "cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j", "bound"]
        return {"arch": self.arch, "totals": {k: self.totals[k] for k in (*TOTAL_KEYS, *self.extra_keys)},
                "ops": self.ops[cols].to_dict(orient="records")}


def bound_of(compute, memory) -> np.ndarray:
    return np.where(compute >= memory, "compute", "memory")


def evaluate(arch: Accelerator, trace, precision=None) -> CostTable:
    prec = resolve_precision(precision)
    df = _ops_frame(trace)
    ops = OpColumns.from_frame(df)
    cols = cost_columns(arch, ops, prec)
    frame = pd.DataFrame({"name": df["name"].to_numpy(), "kind": df["kind"].to_numpy(), **cols})
    frame["bound"] = bound_of(cols["compute_cycles"], cols["memory_cycles"])
    totals = {k: float(frame[k].sum()) for k in cols}
    totals["area_mm2"] = float(arch.family_model.area_mm2(arch, prec))
    extra = arch.family_model.point_totals(arch, prec, ops, np.ones(len(ops)))
    totals.update({k: np.asarray(v).reshape(-1)[0].item() for k, v in extra.items()})
    return CostTable(arch=arch.name, ops=frame, totals=totals, extra_keys=tuple(extra))
