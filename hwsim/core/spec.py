"""Typed accelerator specs: what load_arch returns and what families read.

Pure data: an Accelerator knows its fields and memory roles, not how it is costed (hwsim.engine.evaluate,
hwsim.families.get_family(arch.family))."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from hwsim.core.schema import spec_path
from hwsim.errors import HwsimError
from hwsim.kept import kept_by


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

    def bytes_per_cycle(self, clock_hz: float | np.ndarray) -> float | np.ndarray:
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

    def __getstate__(self) -> dict:
        """The fields only: what is kept beside them (buffer capacities, configured machines) is derived
        again where a pickled spec lands (a sweep's worker processes), not shipped with it."""
        return {f: self.__dict__[f] for f in self.__dataclass_fields__}

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

    def buffer_capacity(
        self, role: str, op_roles: tuple[str, ...] = ("activations", "weights", "outputs")
    ) -> float | np.ndarray:
        """On-chip bytes available to one operand role in an op that uses `op_roles`: the smallest
        on-chip level holding it, split equally among the roles of that op the level holds
        (assumed: static partitioning). Unbounded when no on-chip level holds the role (the operand
        then streams from the backing store once). Kept per spec (a spec is not changed after it is
        built: with_values and dataclasses.replace build new ones); every engine call asks."""
        return kept_by(self, "_buffer_capacities", (role, op_roles), lambda: self._buffer_capacity(role, op_roles))

    def _buffer_capacity(self, role: str, op_roles: tuple[str, ...]) -> float | np.ndarray:
        caps = [lv.capacity / len(set(lv.holds) & {role, *op_roles}) for lv in self.on_chip if role in lv.holds]
        if not caps:
            return math.inf
        out = caps[0]
        for c in caps[1:]:
            out = np.minimum(out, c)
        return out

    def with_values(self, values: Mapping[str, Any]) -> "Accelerator":
        """A copy with already-parsed SI values (scalars or numpy arrays) at dotted paths (the walker of
        hwsim.core.schema.spec_path checks each). Used by sweeps and calibration."""
        arch = self
        for path, v in values.items():
            at = spec_path(path, arch.compute, [lv.name for lv in arch.memory], file=arch.file)
            if at.section == "compute":
                arch = replace(arch, compute={**arch.compute, at.key: v})
            elif at.section == "memory":
                arch = replace(
                    arch, memory=tuple(replace(lv, **{at.key: v}) if lv.name == at.level else lv for lv in arch.memory)
                )
            elif at.section == "tech":
                if arch.tech is None:
                    raise HwsimError("the spec has no tech section to set a field of", file=arch.file, field=path)
                arch = replace(arch, tech=replace(arch.tech, **{_TECH_ATTR.get(at.key, at.key): v}))
            elif at.key in _TOP_ATTR:
                arch = replace(arch, **{_TOP_ATTR[at.key]: v})
            else:
                raise HwsimError("not a value a design point can set", file=arch.file, field=path)
        return arch


# spec key → attribute, where they differ (memory level keys are their attributes)
_TOP_ATTR = {"clock": "clock_hz", "static_power": "static_power_w", "price": "price_usd"}
_TECH_ATTR = {"node": "node_nm"}
