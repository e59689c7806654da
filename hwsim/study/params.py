"""Swept architecture parameters: discrete lists or numeric ranges, and how samples map onto them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwsim.core.schema import SIValues
from hwsim.study.validate import At
from hwsim.units import KINDS, SI_UNIT, parse_quantity, si_column

_RANGE_KEYS = ("min", "max", "num", "log", "integer")

# rows of one study: the results table is assembled in memory for its fronts (tens of columns: ~0.5 kB a row), and
# 10^8 rows already take ~20 min a core at the sweep's 100,000 points in 1.4 s (assumed: a workstation's memory).
# hwsim.sweep.tasks.check_size refuses a bigger study; a range's `num` beyond it is refused here, before its
# values are built (num: 10^12 asked numpy for 7 TiB and ended in a MemoryError traceback)
MAX_ROWS = 10**8
MAX_EXACT = 2**53  # the largest integer every float64 below it holds exactly


_KIND_OF_UNIT = {unit: kind for kind, unit in SI_UNIT.items()}


def parse_value_unit(at: At) -> tuple[float | str, str | None]:
    """(value, SI unit or None): a number, a quantity with units (→ SI float), or a plain name."""
    v = at.value
    if isinstance(v, bool) or v is None or isinstance(v, (list, dict)):
        raise at.error(f"expected a number, a quantity such as '1 GHz', or a name; got {v!r}")
    if isinstance(v, (int, float)):
        return v, None
    text = str(v).strip()
    for kind in KINDS:
        try:
            return parse_quantity(text, kind), SI_UNIT.get(kind)
        except Exception:  # noqa: BLE001 - try the next kind; a name is a valid value too
            continue
    if text and text[0].isdigit():
        raise at.error(f"cannot read {text!r} as a quantity (unknown unit?)")
    return text, None


def parse_value(at: At) -> float | str:
    """A parameter value: a number, a quantity string with units (→ SI float), or a plain string."""
    return parse_value_unit(at)[0]


@dataclass(frozen=True)
class Param:
    """One swept `--set` path: either `values` (discrete) or a [low, high] range."""

    path: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    num: int | None = None  # points of a range under the grid sampler
    log: bool = False
    integer: bool = False
    unit: str | None = None  # SI unit of the values when the YAML gave units (for the engine)
    texts: tuple = ()  # the values as the YAML wrote them ("256 bit/cycle"), when they carry units

    @property
    def si_column(self) -> str:
        """The results column of the SI values: the path, plus the unit when the YAML gave one
        (memory.dram.bandwidth_B_per_cycle); the YAML's own spelling goes in a column named by the path."""
        return si_column(self.path, self.unit)

    def result_columns(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Columns of one swept parameter in a results table: SI values (unit in the name) and the YAML text."""
        if self.unit is None:
            return {self.path: values}
        out = {}
        if self.texts:
            spelled = dict(zip(_array(self.values).tolist(), self.texts))
            out[self.path] = np.array([spelled.get(v, f"{v!r} {self.unit}") for v in values.tolist()], dtype=object)
        out[self.si_column] = values
        return out

    def engine_values(self, si: np.ndarray) -> SIValues | np.ndarray:
        """Values as sweeps take them: the SI numbers parsed from the YAML once (a bandwidth keeps
        whether it was per cycle); names (not numbers) as written."""
        if si.dtype == object:
            return si
        return SIValues(si, kind=_KIND_OF_UNIT.get(self.unit or ""))

    @property
    def is_range(self) -> bool:
        return not self.values

    @property
    def bounds(self) -> tuple[float, float]:
        """[low, high] of a range parameter (the study schema sets both whenever it has no values)."""
        assert self.low is not None and self.high is not None, f"{self.path} is not a range"
        return self.low, self.high

    def grid_values(self) -> np.ndarray:
        if not self.is_range:
            return _array(self.values)
        assert self.num is not None
        space = np.geomspace if self.log else np.linspace
        vals = space(*self.bounds, self.num)
        return np.unique(np.rint(vals).astype(np.int64)) if self.integer else vals

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map samples u in [0, 1) onto the parameter (uniform over values, or over the range)."""
        if not self.is_range:
            vals = _array(self.values)
            return vals[np.minimum((u * len(vals)).astype(np.int64), len(vals) - 1)]
        lo, hi = self.bounds
        if self.integer:  # every integer in [lo, hi] equally likely (or log-uniformly)
            hi = hi + 1
        if self.log:
            x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
        else:
            x = lo + u * (hi - lo)
        if self.integer:
            return np.clip(np.floor(x), *self.bounds).astype(np.int64)
        return x


_INT64 = np.iinfo(np.int64)


def _array(values: tuple) -> np.ndarray:
    if all(isinstance(v, (int, np.integer)) and _INT64.min <= v <= _INT64.max for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float, np.number)) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([str(v) for v in values], dtype=object)


def parse_param(path: str, at: At, sampler: str) -> Param:
    """`path: [v1, v2, ...]` or `path: {min, max, num?, log?, integer?}`."""
    if isinstance(at.value, dict):
        keys = at.mapping(_RANGE_KEYS, required=("min", "max"))
        (lo, unit_lo), (hi, unit_hi) = (parse_value_unit(keys[k]) for k in ("min", "max"))
        for k, v in (("min", lo), ("max", hi)):
            if isinstance(v, str):
                raise keys[k].error(f"a range needs numbers, got {v!r}")
            if not math.isfinite(v):  # .nan ended in a ValueError traceback, .inf in an OverflowError one
                raise keys[k].error(f"a range needs finite numbers, got {v!r}")
        assert not isinstance(lo, str) and not isinstance(hi, str)  # raised just above
        integer = keys["integer"].bool() if "integer" in keys else False
        log = keys["log"].bool() if "log" in keys else False
        if hi < lo:
            raise at.error(f"max ({hi:g}) is below min ({lo:g})")
        if log and lo <= 0:
            raise keys["min"].error("a log range needs min > 0")
        if integer and (lo != int(lo) or hi != int(hi)):
            raise at.error("an integer range needs integer min and max")
        if integer and max(abs(lo), abs(hi)) > MAX_EXACT:  # its samples are floored floats cast to int64
            raise at.error(
                f"an integer range needs min and max within ±2^53 (exact as floats), got {lo:.3g} to {hi:.3g}"
            )
        num = keys["num"].int(minimum=1) if "num" in keys else None
        if num is not None and num > MAX_ROWS:
            raise keys["num"].error(f"must be at most {MAX_ROWS:,} (the rows one study holds), got {num:,}")
        if sampler == "grid" and num is None:
            raise at.error(
                "a range under the grid sampler needs num (how many values); or use sampler kind random or lhs"
            )
        return Param(path, (), float(lo), float(hi), num, log, integer, _one_unit(at, [unit_lo, unit_hi]))
    items = at.list(allow_scalar=True)
    parsed = [parse_value_unit(i) for i in items]
    values = tuple(v for v, _ in parsed)
    if len(set(values)) != len(values):
        raise at.error("values repeat")
    names = [str(v) for v in values if isinstance(v, str)]
    if names and len(names) < len(values):  # the numbers became text too and the arch refused '16', not the name
        raise at.error(f"values mix numbers and names ({', '.join(names)}): a field takes one or the other")
    unit = _one_unit(at, [u for _, u in parsed])
    bare = [str(i.value) for i, (_, u) in zip(items, parsed) if u is None]
    if unit is not None and bare:  # ["128 bit/cycle", 32] read the 32 in the others' unit, not in SI (B/s)
        raise at.error(
            f"values mix quantities with units and without ({', '.join(bare)}): a plain number is in SI units, "
            f"not in those of the others ({unit}); write the unit on every value"
        )
    texts = tuple(str(i.value) for i in items) if unit is not None else ()
    return Param(path, values, unit=unit, texts=texts)


def _one_unit(at: At, units: list[str | None]) -> str | None:
    found = {u for u in units if u is not None}
    if len(found) > 1:
        raise at.error(f"values mix units of different kinds ({', '.join(sorted(found))})")
    return found.pop() if found else None
