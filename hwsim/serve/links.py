"""Links between identical devices and the time of the collectives that cross them.

A link preset (hwsim/presets/links/*.yaml, or a YAML path) gives the bandwidth of one device's port in one
direction, the latency of one step and the topology: `switch` (every pair one hop apart: NVSwitch, a
PCIe or Ethernet switch, a full mesh) or `ring` (devices cabled to two neighbours). Collectives use
the standard α-β cost model (α = latency per step, β = 1 / bandwidth) of:

- all-reduce, ring algorithm: 2(n−1)·α + 2(n−1)/n · B·β (Thakur, Rabenseifner & Gropp, "Optimization of
  collective communication operations in MPICH", IJHPCA 2005, §4; bandwidth-optimal per Patarasuk &
  Yuan 2009): B is the buffer every device holds before and after;
- all-gather, ring: (n−1)·α + (n−1)/n · B·β, B the gathered (output) buffer (Thakur et al. §3);
- all-to-all (personalised), each device sending B/n to each other one (Grama, Gupta, Karypis & Kumar,
  "Introduction to Parallel Computing", 2nd ed., §4.5): switch (one hop apart) (n−1)·α + (n−1)/n · B·β;
  ring (n−1)·α + (n−1)/2 · B·β (messages relay over n/2 hops on average);
- point-to-point send of B bytes (pipeline stages): α + B·β.

Each formula is steps·α + s·B·β where s·B is what one device sends (relayed bytes included on a ring); the
link's energy is that traffic of every device × `energy` (J per byte sent end to end, from the preset's
pJ/bit: SerDes, switch hops and NIC; static link power is not charged). n = 1 costs nothing; time and
energy are non-decreasing in B and in n for n ≥ 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from hwsim.core.schema import Field
from hwsim.errors import HwsimError
from hwsim.fileio import read_mapping
from hwsim.paths import preset_names, resolve_preset

if TYPE_CHECKING:
    from hwsim.core.spec import Accelerator

TOPOLOGIES = ("switch", "ring")
_FIELDS = {
    "bandwidth": Field("bandwidth"),
    "latency": Field("time", positive=False),
    "energy": Field("energy_per_byte", positive=False),
}


@dataclass(frozen=True)
class Link:
    name: str
    bandwidth: float  # bytes/s, one direction of one device's port
    latency: float  # seconds per collective step
    topology: str = "switch"
    description: str = ""
    sources: tuple[tuple[str, str], ...] = ()
    energy: float = 0.0  # joules per byte a device sends (the preset's pJ/bit × 8)

    def __post_init__(self) -> None:
        if not self.bandwidth > 0 or not np.isfinite(self.bandwidth) or not self.latency >= 0:
            raise HwsimError(f"link {self.name}: bandwidth must be > 0 and latency >= 0", field="link")
        if not (np.isfinite(self.energy) and self.energy >= 0):
            raise HwsimError(f"link {self.name}: energy per bit must be finite and >= 0", field="link.energy")
        if self.topology not in TOPOLOGIES:
            raise HwsimError(f"must be one of {', '.join(TOPOLOGIES)}, got {self.topology!r}", field="link.topology")

    def _shape(self, kind: str, n: int) -> tuple[int, float, int]:
        """(latency steps, bytes one device sends per byte of buffer, devices sending) of a collective."""
        if kind == "send":
            return 1, 1.0, 1
        if n <= 1:
            return 0, 0.0, 0
        if kind == "all_reduce":
            return 2 * (n - 1), 2 * (n - 1) / n, n
        if kind == "all_gather":
            return n - 1, (n - 1) / n, n
        return n - 1, ((n - 1) / n if self.topology == "switch" else (n - 1) / 2), n  # all_to_all

    def seconds(self, kind: str, nbytes: ArrayLike, n: int = 2) -> np.ndarray | float:
        """Time of collective `kind` (all_reduce, all_gather, all_to_all, send) of `nbytes` (may be an array)."""
        steps, share, _ = self._shape(kind, n)
        b = np.asarray(nbytes, dtype=np.float64)
        return steps * self.latency + share * b / self.bandwidth if steps else np.zeros_like(b)

    def joules(self, kind: str, nbytes: ArrayLike, n: int = 2) -> np.ndarray | float:
        """Link energy of the same collective: every sending device's traffic × energy per byte."""
        _, share, senders = self._shape(kind, n)
        return senders * share * np.asarray(nbytes, dtype=np.float64) * self.energy

    # --- collectives (seconds; `nbytes` may be an array) -------------------------------------------------
    def all_reduce(self, nbytes: ArrayLike, n: int) -> np.ndarray | float:
        return self.seconds("all_reduce", nbytes, n)

    def all_gather(self, nbytes: ArrayLike, n: int) -> np.ndarray | float:
        return self.seconds("all_gather", nbytes, n)

    def all_to_all(self, nbytes: ArrayLike, n: int) -> np.ndarray | float:
        return self.seconds("all_to_all", nbytes, n)

    def send(self, nbytes: ArrayLike) -> np.ndarray | float:
        return self.seconds("send", nbytes)


def load_link(name_or_path: str | Path) -> Link:
    """A link preset name (hwsim/presets/links) or a YAML path; errors name the file and field."""
    path = resolve_preset(name_or_path, "links", what="link")
    raw = read_mapping(path, what="a link spec")
    unknown = sorted(set(raw) - {"description", "topology", *_FIELDS})
    if unknown:
        raise HwsimError(
            f"unknown field {unknown[0]!r}; valid keys: description, topology, bandwidth, latency, energy",
            file=path,
            field=unknown[0],
        )
    vals, sources = {}, []
    for key, fld in _FIELDS.items():
        node = raw.get(key)
        if not isinstance(node, dict) or "value" not in node or not node.get("source"):
            raise HwsimError(
                "missing or unsourced: write {value: ..., source: '...'} (datasheet or 'assumed: why')",
                file=path,
                field=key,
            )
        extra = sorted(set(node) - {"value", "source"})  # as the arch loader: a misspelt key was dropped silently
        if extra:
            raise HwsimError(f"a constant takes only 'value' and 'source', not {extra}", file=path, field=key)
        vals[key] = fld.parse(node["value"], file=path, field=key)
        sources.append((key, str(node["source"])))
    topo = raw.get("topology", "switch")
    if topo not in TOPOLOGIES:
        raise HwsimError(f"must be one of {', '.join(TOPOLOGIES)}, got {topo!r}", file=path, field="topology")
    return Link(
        name=path.stem,
        bandwidth=vals["bandwidth"],
        latency=vals["latency"],
        topology=topo,
        description=str(raw.get("description", "")),
        sources=tuple(sources),
        energy=vals["energy"],
    )


def link_for(arch: Accelerator, name: str | None) -> Link:
    """The link given on the command line, else the one the arch spec names (`link:`)."""
    if name is not None and not str(name).strip():  # '' (an unset shell variable) took the arch's link silently
        raise HwsimError(
            f"an empty link name: give a preset ({', '.join(preset_names('links'))}) or a YAML", field="link"
        )
    chosen = name or getattr(arch, "link", None)
    if not chosen:
        raise HwsimError(
            f"{arch.name} names no link between devices: give `link` ({', '.join(preset_names('links'))}) "
            "or a link YAML",
            field="link",
        )
    return load_link(chosen)
