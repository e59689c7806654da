"""Energy and area a user can reconcile by hand (`hwsim simulate --explain`, `explain()`).

Every line is one component: the energy of one action (or the area of one instance), the count that
multiplied it over the whole trace, their product, and where the constant comes from. The lines are the
very terms the engine sums — the family's datapath terms (Family.energy_terms / area_terms, built from
hwsim.tech.components), bytes read and written per memory level × the level's energy per byte, and
static power × time — so they add up to the engine's totals (to floating-point rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hwsim.arch.loader import load_arch
from hwsim.core.precision import Precision
from hwsim.core.spec import Accelerator
from hwsim.engine.cost import CostTable, Itemised, cost_table
from hwsim.engine.machine import Machine, configure
from hwsim.engine.memory import level_reads_writes

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hwsim.engine.cost import PrecisionLike, TraceLike

ENERGY_COLUMNS = ("part", "component", "action", "per_action_j", "count", "energy_j", "source")
AREA_COLUMNS = ("component", "per_instance_mm2", "count", "area_mm2", "source")


@dataclass(frozen=True)
class Explanation:
    """`energy`: one row per component (ENERGY_COLUMNS), `part` = compute | a memory level | static;
    `area`: one row per component (AREA_COLUMNS); `table`: the engine's CostTable they reconcile with."""

    arch: str
    energy: pd.DataFrame
    area: pd.DataFrame
    table: CostTable

    def part_sums(self) -> dict[str, float]:
        """Energy (J) per part, summed from the lines (compare with the table's energy_<part>_j)."""
        return {str(k): float(v) for k, v in self.energy.groupby("part", sort=False)["energy_j"].sum().items()}

    def to_json(self) -> dict:
        t = self.table.totals
        return {
            "arch": self.arch,
            "energy": self.energy.to_dict(orient="records"),
            "area": self.area.to_dict(orient="records"),
            "sums": {
                "energy_j": float(self.energy["energy_j"].sum()),
                "area_mm2": float(self.area["area_mm2"].sum()),
                "energy_j_by_part": self.part_sums(),
            },
            "engine": {
                "energy_j": t["energy_j"],
                "area_mm2": t["area_mm2"],
                "energy_j_by_part": {
                    k[len("energy_") : -len("_j")]: v
                    for k, v in t.items()
                    if k.startswith("energy_") and k.endswith("_j") and k != "energy_j"
                },
            },
        }

    def format(self) -> str:
        """A text table; sources as numbered notes below it (one note per distinct source)."""
        notes: dict[str, int] = {}

        def ref(src: str) -> str:
            return f"[{notes.setdefault(src, len(notes) + 1)}]"

        pw = max([len("part"), *map(len, self.energy["part"])]) + 2
        cw = min(max([len("component"), *map(len, self.energy["component"])]) + 2, 62)
        lines = [
            f"energy by component ({self.arch}): per action x count = energy",
            f"{'part':<{pw}}{'component':<{cw}}{'per action':>28} {'count':>12}{'energy J':>12}  source",
        ]
        for r in self.energy.itertuples():
            lines.append(
                f"{r.part:<{pw}}{r.component[: cw - 1]:<{cw}}{_g(r.per_action_j)} J per {r.action:<11}"
                f" {r.count:>12.4g}{r.energy_j:>12.4g}  {ref(r.source)}"
            )
        t = self.table.totals
        lines.append(f"sum {self.energy['energy_j'].sum():.6g} J (engine total {t['energy_j']:.6g} J)")
        lines += [
            "",
            "area by component: per instance x count = area",
            f"{'component':<62}{'per instance':>16} {'count':>12}{'area mm²':>12}  source",
        ]
        for r in self.area.itertuples():
            lines.append(
                f"{r.component[:61]:<62}  {_g(r.per_instance_mm2)} mm² {r.count:>12.4g}"
                f"{r.area_mm2:>12.4g}  {ref(r.source)}"
            )
        area = "n/a" if math.isnan(t["area_mm2"]) else f"{t['area_mm2']:.6g} mm²"  # NaN: FPGAs report utilisation
        lines.append(
            f"sum {self.area['area_mm2'].sum():.6g} mm² (engine total {area}; memory arrays are priced in energy only)"
        )
        lines += ["", "sources:"] + [f"[{i}] {src}" for src, i in notes.items()]
        return "\n".join(lines)


def _g(x: float) -> str:
    """A per-action value, or 'per op' when it varies between ops (the line's total still holds)."""
    return f"{x:>10.4g}" if np.isfinite(x) else f"{'per op':>10}"


def _total(x: ArrayLike, n: int, keep: np.ndarray | None = None) -> float:
    """`x` (per row of n, or one value for all) summed over the rows, those `keep` marks when given."""
    rows = np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))
    return float(np.sum(rows if keep is None else rows[keep]))


def _value(x: ArrayLike) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else float("nan")  # varies per op: only the line's total is meaningful


def energy_lines(m: Machine, table: CostTable, parts: list[Itemised]) -> pd.DataFrame:
    """The energy lines of a configured machine's cost `table` of an ops table, from the parts the engine costed
    it in (`parts`, Itemised: the whole table at the machine's precision first, then each group of rows it
    re-costed at formats of their own, hwsim.engine.machine.with_fixed_rows): each part's datapath terms on its
    compute view and its memory traffic, over the rows whose costs the table keeps. A line that several parts
    have (the same component, action and part) is one line, its counts and energy summed ('per op' when its
    energy per action differs between them); static power × time is the table's."""
    whole, others = parts[0], parts[1:]
    replaced = np.zeros(len(whole.ops), dtype=bool)
    for p in others:
        replaced |= np.asarray(p.rows, dtype=bool)
    compute: dict = {}
    memory: dict = {}
    for p in parts:
        keep = ~replaced if others and p.rows is None else None  # the whole table's rows no other part re-costs
        view_keep = None if keep is None else np.concatenate([keep, keep[p.fused]])
        seen: dict = {}
        for term in p.terms:
            c = term.component
            name = (c.name, c.action, c.source)
            seen[name] = seen.get(name, -1) + 1  # two terms of one part stay two lines
            _add(
                compute,
                (*name, seen[name]),
                ("compute", c.name, c.action, _value(c.energy_j), _total(term.count, len(p.view), view_keep)),
                _total(term.energy_j, len(p.view), view_keep),
                c.source,
            )
        arch, ot, n = p.machine.arch, p.traffic, len(p.ops)
        a_reads, b_reads = ot.array_reads
        split = level_reads_writes(
            arch, p.ops.is_attention, ot.bytes, ot.traffic.a_fetch, ot.traffic.b_fetch, a_reads, b_reads, ot.spill
        )
        for name, (reads, writes) in split.items():
            per_byte = np.asarray(arch.level(name).energy, dtype=np.float64)
            src = m.spec.sources.get(f"memory.{name}.energy", "not given: 0 J per byte")
            for action, moved in (("read", reads), ("write", writes)):
                _add(
                    memory,
                    (name, action),
                    (name, f"{name} bytes {action}", "byte", _value(per_byte), _total(moved, n, keep)),
                    _total(moved * per_byte, n, keep),
                    src,
                )
    rows = list(compute.values()) + list(memory.values())
    n = len(whole.ops)
    watts = np.asarray(m.arch.static_power_w, dtype=np.float64)
    seconds = table.ops["seconds"].to_numpy(dtype=np.float64)
    rows.append(
        (
            "static",
            "static power x time",
            "second",
            _value(watts),
            _total(seconds, n),
            _total(seconds * watts, n),
            m.spec.sources.get("static_power", "not given: 0 W"),
        )
    )
    return pd.DataFrame(rows, columns=list(ENERGY_COLUMNS))


def _add(lines: dict, key: tuple, head: tuple, energy: float, source: str) -> None:
    """Line `key` of `lines`: (part, component, action, per action, count) + (energy, source), or, when a part
    before gave it already, its count and energy added (its per-action value NaN, 'per op', if they differ)."""
    got = lines.get(key)
    if got is None:
        lines[key] = (*head, energy, source)
        return
    per_action = got[3] if got[3] == head[3] else float("nan")
    lines[key] = (*got[:3], per_action, got[4] + head[4], got[5] + energy, source)


def area_lines(m: Machine) -> pd.DataFrame:
    rows = [
        (
            t.component.name,
            _value(t.component.area_m2) * 1e6,
            float(np.asarray(t.count)),
            float(np.asarray(t.area_m2)) * 1e6,
            t.component.source,
        )
        for t in m.area_terms
    ]
    return pd.DataFrame(rows, columns=list(AREA_COLUMNS))


def explain(arch: Accelerator | str, trace: TraceLike, precision: PrecisionLike = None) -> Explanation:
    """The engine's cost of `trace` on `arch` (as hwsim.engine.evaluate) with its energy and area itemised."""
    if isinstance(arch, str):
        arch = load_arch(arch)
    if isinstance(precision, (str, int, float)) and not isinstance(precision, bool):
        precision = Precision(weights=precision)
    m = configure(arch, precision)  # type: ignore[arg-type]  # a bool passes through as in evaluate
    itemised: list[Itemised] = []  # the parts the engine costed (traffic, compute energy terms), as it summed them
    table = cost_table(m, trace, None, itemised)
    return Explanation(m.spec.name, energy_lines(m, table, itemised), area_lines(m), table)
