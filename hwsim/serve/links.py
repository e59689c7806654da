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

n = 1 costs nothing; every formula is non-decreasing in B and in n for n ≥ 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwsim.core.schema import Field
from hwsim.errors import HwsimError
from hwsim.fileio import read_mapping
from hwsim.paths import preset_names, resolve_preset

TOPOLOGIES = ("switch", "ring")
_FIELDS = {"bandwidth": Field("bandwidth"), "latency": Field("time", positive=False)}


@dataclass(frozen=True)
class Link:
    name: str
    bandwidth: float  # bytes/s, one direction of one device's port
    latency: float  # seconds per collective step
    topology: str = "switch"
    description: str = ""
    sources: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.bandwidth > 0 or not np.isfinite(self.bandwidth) or not self.latency >= 0:
            raise HwsimError(f"link {self.name}: bandwidth must be > 0 and latency >= 0", field="link")
        if self.topology not in TOPOLOGIES:
            raise HwsimError(f"must be one of {', '.join(TOPOLOGIES)}, got {self.topology!r}", field="link.topology")

    # --- collectives (seconds; `nbytes` may be an array) -------------------------------------------------
    def all_reduce(self, nbytes, n: int):
        if n <= 1:
            return np.zeros_like(np.asarray(nbytes, dtype=np.float64))
        return 2 * (n - 1) * self.latency + 2 * (n - 1) / n * np.asarray(nbytes, dtype=np.float64) / self.bandwidth

    def all_gather(self, nbytes, n: int):
        if n <= 1:
            return np.zeros_like(np.asarray(nbytes, dtype=np.float64))
        return (n - 1) * self.latency + (n - 1) / n * np.asarray(nbytes, dtype=np.float64) / self.bandwidth

    def all_to_all(self, nbytes, n: int):
        if n <= 1:
            return np.zeros_like(np.asarray(nbytes, dtype=np.float64))
        hops = (n - 1) / n if self.topology == "switch" else (n - 1) / 2
        return (n - 1) * self.latency + hops * np.asarray(nbytes, dtype=np.float64) / self.bandwidth

    def send(self, nbytes):
        return self.latency + np.asarray(nbytes, dtype=np.float64) / self.bandwidth


def load_link(name_or_path: str | Path) -> Link:
    """A link preset name (hwsim/presets/links) or a YAML path; errors name the file and field."""
    path = resolve_preset(name_or_path, "links", what="link")
    raw = read_mapping(path, what="a link spec")
    unknown = sorted(set(raw) - {"description", "topology", *_FIELDS})
    if unknown:
        raise HwsimError(f"unknown field {unknown[0]!r}; valid keys: description, topology, bandwidth, latency",
                         file=path, field=unknown[0])
    vals, sources = {}, []
    for key, fld in _FIELDS.items():
        node = raw.get(key)
        if not isinstance(node, dict) or "value" not in node or not node.get("source"):
            raise HwsimError("missing or unsourced: write {value: ..., source: '...'} (datasheet or 'assumed: why')",
                             file=path, field=key)
        vals[key] = fld.parse(node["value"], file=path, field=key)
        sources.append((key, str(node["source"])))
    topo = raw.get("topology", "switch")
    if topo not in TOPOLOGIES:
        raise HwsimError(f"must be one of {', '.join(TOPOLOGIES)}, got {topo!r}", file=path, field="topology")
    return Link(name=path.stem, bandwidth=vals["bandwidth"], latency=vals["latency"], topology=topo,
                description=str(raw.get("description", "")), sources=tuple(sources))


def link_for(arch, name: str | None) -> Link:
    """The link given on the command line, else the one the arch spec names (`link:`)."""
    chosen = name or getattr(arch, "link", None)
    if not chosen:
        raise HwsimError(f"{arch.name} names no link between devices: give `link` ({', '.join(preset_names('links'))}) "
                         "or a link YAML", field="link")
    return load_link(chosen)
