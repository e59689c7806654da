"""Typed accelerator specs: what load_arch returns and what families read.

Pure data: an Accelerator knows its fields and memory roles, not how it is costed (hwsim.engine.evaluate,
hwsim.families.get_family(arch.family))."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy. The first level of a spec is the backing store (DRAM/HBM)."""

    name: str
    holds: tuple[str, ...]
    capacity: Any = math.inf  # bytes (float, or an array in sweeps)
    bandwidth: Any = math.inf  # bytes per cycle if per_cycle else bytes per second
    per_cycle: bool = True
    energy: Any = 0.0  # joules per byte moved
    efficiency: Any = 1.0  # achievable fraction of the peak bandwidth

    def bytes_per_cycle(self, clock_hz):
        peak = self.bandwidth if self.per_cycle else self.bandwidth / clock_hz
        return peak * self.efficiency


@dataclass(frozen=True)
class TechSpec:
    node_nm: float
    voltage: Any = None  # supply volts; None = the reference tables' voltage (no voltage scaling)


@dataclass(frozen=True)
class Accelerator:
    name: str
    family: str
    clock_hz: Any
    compute: Mapping[str, Any]
    memory: tuple[MemoryLevel, ...]
    tech: TechSpec | None = None
    static_power_w: Any = 0.0
    price_usd: Any = None  # purchase price (US dollars) for cost metrics; None = not given
    description: str = ""
    link: str | None = None  # link preset joining devices of this kind (hwsim.serve.links)
    attention: str | None = None  # "fused" | "unfused"; None = the family's default (hwsim.engine.attention)
    file: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    # --- memory roles -------------------------------------------------------------------
    @property
    def backing(self) -> MemoryLevel:
        return self.memory[0]

    @property
    def on_chip(self) -> tuple[MemoryLevel, ...]:
        return self.memory[1:]

    def level(self, name: str) -> MemoryLevel:
        for lv in self.memory:
            if lv.name == name:
                return lv
        raise KeyError(name)

    def buffer_capacity(self, role: str, op_roles: tuple[str, ...] = ("activations", "weights", "outputs")):
        """On-chip bytes available to one operand role in an op that uses `op_roles`: the smallest
        on-chip level holding it, split equally among the roles of that op the level holds
        (assumed: static partitioning). Unbounded when no on-chip level holds the role (the operand
        then streams from the backing store once)."""
        caps = [lv.capacity / len(set(lv.holds) & {role, *op_roles}) for lv in self.on_chip if role in lv.holds]
        if not caps:
            return math.inf
        out = caps[0]
        for c in caps[1:]:
            out = np.minimum(out, c)
        return out

    def with_values(self, values: Mapping[str, Any]) -> "Accelerator":
        """A copy with already-parsed SI values (scalars or numpy arrays) at dotted paths.
        Used by sweeps; paths are checked by hwsim.arch.loader.field_for first."""
        arch = self
        for path, v in values.items():
            parts = path.split(".")
            if parts[0] == "compute":
                arch = replace(arch, compute={**arch.compute, parts[1]: v})
            elif parts[0] == "memory":
                levels = tuple(replace(lv, **{_LEVEL_ATTR[parts[2]]: v}) if lv.name == parts[1] else lv
                               for lv in arch.memory)
                arch = replace(arch, memory=levels)
            elif parts[0] == "clock":
                arch = replace(arch, clock_hz=v)
            elif parts[0] == "static_power":
                arch = replace(arch, static_power_w=v)
            elif parts[0] == "price":
                arch = replace(arch, price_usd=v)
            elif parts[0] == "tech" and arch.tech is not None:
                arch = replace(arch, tech=replace(arch.tech, **{"node_nm" if parts[1] == "node" else parts[1]: v}))
            else:
                raise KeyError(path)
        return arch


_LEVEL_ATTR = {"capacity": "capacity", "bandwidth": "bandwidth", "energy": "energy", "holds": "holds",
               "efficiency": "efficiency"}
