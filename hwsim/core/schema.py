"""Field schema of an accelerator spec: what each YAML key holds, its unit kind and its limits.

Families declare their `compute.*` fields with the same `Field` type, so loading, `--set`
overrides, sweeps and error messages all use one description of the spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import HwsimError, closest
from hwsim.units import KINDS, parse_quantity

MEMORY_ROLES = ("weights", "activations", "kv", "outputs")
# integer fields count hardware (PEs, DSPs, cores, lanes): beyond this a product of a few of them would
# overflow int64 or leave float precision; nothing real comes close (assumed bound)
MAX_INT = 2**40


@dataclass(frozen=True)
class Field:
    """One spec field. `kind` is a hwsim.units kind, or int | bool | str | choice | roles | bandwidth."""

    kind: str
    required: bool = True
    default: object = None
    positive: bool = True  # numbers must be > 0 (else >= 0)
    choices: tuple = ()
    doc: str = ""
    maximum: float | None = None  # numbers must be <= this
    retired: str = ""  # a field that was removed: any value is an error saying why and what to do

    @property
    def unbounded_when_omitted(self) -> bool:
        """Omission means no limit (a capacity or bandwidth): an explicit empty or null value is refused,
        not read as omitted, since every real memory has a finite one (a blanked value ran unbounded)."""
        return not self.required and isinstance(self.default, float) and math.isinf(self.default)

    @property
    def is_constant(self) -> bool:
        """Numbers that describe hardware: each must carry a source."""
        return self.kind in KINDS or self.kind in ("int", "bandwidth")

    def parse(self, value: object, *, file: object, field: str) -> Any:  # str, bool, int, float or a tuple of roles
        """YAML value → Python/SI value, validated. Raises HwsimError naming file and field."""
        if self.retired:
            raise HwsimError(f"field removed: {self.retired}", file=file, field=field)
        k = self.kind
        if k == "str":
            if not isinstance(value, str) or not value:
                raise HwsimError(f"expected a non-empty string, got {value!r}", file=file, field=field)
            return value
        if k == "bool":
            if not isinstance(value, bool):
                raise HwsimError(f"expected true or false, got {value!r}", file=file, field=field)
            return value
        if k == "choice":
            if value not in self.choices:
                raise HwsimError(
                    f"must be one of {', '.join(map(str, self.choices))}, got {value!r}", file=file, field=field
                )
            return value
        if k == "roles":
            vals = [value] if isinstance(value, str) else value
            if not isinstance(vals, list) or not vals or any(v not in MEMORY_ROLES for v in vals):
                raise HwsimError(f"must be a list of {', '.join(MEMORY_ROLES)}, got {value!r}", file=file, field=field)
            return tuple(vals)
        if k == "int":
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))  # a notebook's np.int64 too
                or not math.isfinite(value)
                or value != int(value)
            ):
                raise HwsimError(f"expected an integer, got {value!r}", file=file, field=field)
            number = float(value)
            if abs(number) > MAX_INT:
                raise HwsimError(f"must be at most {MAX_INT:,} (2^40), got {number:.3g}", file=file, field=field)
            out: float = int(number)
        elif k == "bandwidth":
            out = parse_bandwidth(value, file=file, field=field)[0]
        else:
            out = parse_quantity(value, k, file=file, field=field)
        self.check_range(out, file=file, field=field)
        return out

    def check_range(self, value: float, *, file: object, field: str) -> None:
        bad = (value <= 0) if self.positive else (value < 0)
        if self.maximum is None:
            if bad:
                raise HwsimError(f"must be {'> 0' if self.positive else '>= 0'}, got {value!r}", file=file, field=field)
        elif bad or value > self.maximum:
            what = f" ({self.doc})" if self.doc else ""
            raise HwsimError(
                f"must be in {'(' if self.positive else '['}0, {self.maximum:g}]{what}, got {value!r}",
                file=file,
                field=field,
            )


@dataclass(frozen=True)
class SIValues:
    """Values of one swept field already parsed to SI (a study reads its YAML once): sweeps take them as
    they are, checked against the field, never written back to text. `kind` is the hwsim.units kind their
    units had (None: plain numbers); for a bandwidth it also says per cycle or per second."""

    values: np.ndarray
    kind: str | None = None

    def __len__(self) -> int:
        return int(np.size(self.values))

    def __getitem__(self, index: int | slice | np.ndarray) -> SIValues:
        return SIValues(np.asarray(self.values)[index], self.kind)

    def check(self, fld: Field, *, file: object, field: str) -> bool | None:
        """Validate against `fld` like the YAML would be; returns the bandwidth's per-cycle flag (else None)."""
        fits = ("bandwidth", "bytes_per_cycle") if fld.kind == "bandwidth" else (fld.kind,)
        if self.kind is not None and self.kind not in fits:
            raise HwsimError(f"values given in {self.kind} units do not fit a {fld.kind} field", file=file, field=field)
        for v in np.unique(np.asarray(self.values, dtype=np.float64)).tolist():  # numbers are SI: limits only
            fld.parse(v, file=file, field=field)
        return self.kind == "bytes_per_cycle" if fld.kind == "bandwidth" else None


def parse_bandwidth(value: object, *, file: object, field: str) -> tuple[float, bool]:
    """A bandwidth either per cycle ('256 bit/cycle') or per second ('3.35 TB/s', plain numbers: B/s).
    Returns (value, per_cycle)."""
    if isinstance(value, str) and "cycle" in value:
        return parse_quantity(value, "bytes_per_cycle", file=file, field=field), True
    return parse_quantity(value, "bandwidth", file=file, field=field), False


TOP: dict[str, Field] = {
    "name": Field("str"),
    "family": Field("str"),
    "description": Field("str", required=False, default=""),
    "clock": Field("frequency"),
    "static_power": Field(
        "power", required=False, default=0.0, positive=False, doc="leakage and always-on power of the whole chip"
    ),
    "price": Field(
        "dimensionless",
        required=False,
        default=None,
        doc="purchase price of the device in US dollars (cost metrics: hwsim.metrics)",
    ),
    "link": Field(
        "str",
        required=False,
        default=None,
        doc="interconnect between devices of this kind: a link preset (hwsim/presets/links) or YAML path",
    ),
    "compute": Field("mapping"),
    "memory": Field("mapping"),
    "tech": Field("mapping", required=False, default=None),
    "attention": Field(
        "choice",
        required=False,
        default=None,
        choices=("fused", "unfused"),
        doc="attention kernels: fused (scores on chip, FlashAttention-style) or unfused (qk, "
        "softmax, av through memory); omitted = the family's default (docs/engine.md)",
    ),
}

MEMORY_LEVEL: dict[str, Field] = {
    "capacity": Field("bytes", required=False, default=math.inf, doc="bytes; omitted = unbounded"),
    "bandwidth": Field(
        "bandwidth", required=False, default=math.inf, doc="'256 bit/cycle' or '3.35 TB/s'; omitted = not a bottleneck"
    ),
    "energy": Field(
        "energy_per_byte", required=False, default=0.0, positive=False, doc="energy per byte moved ('1200 pJ/64bit')"
    ),
    "efficiency": Field(
        "dimensionless", required=False, default=1.0, maximum=1.0, doc="achievable fraction of the peak bandwidth"
    ),
    "holds": Field("roles", doc="operands this level holds: weights, activations, kv, outputs"),
}

TECH: dict[str, Field] = {
    "node": Field("dimensionless", doc="process node in nm"),
    "voltage": Field(
        "dimensionless",
        required=False,
        default=None,
        maximum=5.0,
        doc="supply voltage in volts: per-action energies scale by (V/0.9 V)^2 (hwsim.tech.scaling)",
    ),
    # retired: every family that prices from tech tables uses one datapath table (Horowitz 45 nm, scaled to
    # `node` by hwsim.tech.scaling); no other table could be named, so the field only misled
    "table": Field(
        "str",
        required=False,
        default=None,
        retired=(
            "families price MACs and SRAM from the Horowitz 45 nm table scaled to tech.node "
            "(hwsim.tech.scaling); delete this key"
        ),
    ),
}


@dataclass(frozen=True)
class SpecPath:
    """Where a dotted path of an arch spec points: a top-level field (`section` = `key`), a field `key` of
    compute or tech, or a field `key` of memory level `level`."""

    path: str
    section: str
    key: str
    level: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The nested keys of this field in a spec tree (the YAML mapping)."""
        inner = (self.level,) if self.level is not None else ()
        return (self.section, *inner) + ((self.key,) if self.key != self.section else ())

    def field(self, compute: Mapping[str, Field]) -> Field:
        """Its schema Field, `compute` being the family's compute fields."""
        table = {"compute": compute, "memory": MEMORY_LEVEL, "tech": TECH}.get(self.section, TOP)
        return table[self.key]


def spec_path(
    path: str, compute: Collection[str] | Callable[[], Collection[str]], levels: Collection[str], *, file: object = None
) -> SpecPath:
    """The one walker of dotted arch paths (`compute.rows`, `memory.dram.bandwidth`, `clock`): checks every
    step against the schema and names the valid keys where it goes wrong. `compute`: the family's compute
    keys, or a function giving them (called only for a compute path: the family may be unknown until then);
    `levels`: the spec's memory level names."""
    parts = path.split(".")

    def bad(depth: int, valid: Collection[str]) -> HwsimError:
        at, key = ".".join(parts[:depth]), parts[depth]
        return HwsimError(
            f"unknown field {key!r}{closest(key, valid)}; valid keys"
            f"{' under ' + repr(at) if at else ''}: {', '.join(valid)}",
            file=file,
            field=path,
        )

    def scalar(depth: int) -> HwsimError:
        return HwsimError(
            f"{'.'.join(parts[:depth])!r} is a single value, it has no field {parts[depth]!r}", file=file, field=path
        )

    head = parts[0]
    if head not in TOP:
        raise bad(0, list(TOP))
    if TOP[head].kind != "mapping":
        if len(parts) > 1:
            raise scalar(1)
        return SpecPath(path, head, head)
    if len(parts) < 2:
        raise HwsimError(f"{head!r} is a mapping; set one of its fields", file=file, field=path)
    level = None
    if head == "memory":
        if parts[1] not in levels:
            raise bad(1, list(levels))
        if len(parts) < 3:
            raise HwsimError("a memory level is a mapping; set one of its fields", file=file, field=path)
        level, table, depth = parts[1], list(MEMORY_LEVEL), 2
    elif head == "compute":
        table, depth = list(compute() if callable(compute) else compute), 1
    else:
        table, depth = list(TECH), 1
    if parts[depth] not in table:
        raise bad(depth, table)
    if len(parts) > depth + 1:
        raise scalar(depth + 1)
    return SpecPath(path, head, parts[depth], level)
