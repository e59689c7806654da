"""Swept architecture parameters: discrete lists or numeric ranges, and how samples map onto them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.study.validate import At
from hwsim.units import KINDS, parse_quantity

_RANGE_KEYS = ("min", "max", "num", "log", "integer")


def parse_value(at: At):
    """A parameter value: a number, a quantity string with units (→ SI float), or a plain string."""
    v = at.value
    if isinstance(v, bool) or v is None or isinstance(v, (list, dict)):
        raise at.error(f"expected a number, a quantity such as '1 GHz', or a name; got {v!r}")
    if isinstance(v, (int, float)):
        return v
    text = str(v).strip()
    for kind in KINDS:
        try:
            return parse_quantity(text, kind)
        except Exception:  # noqa: BLE001 - try the next kind; a name is a valid value too
            continue
    if text and text[0].isdigit():
        raise at.error(f"cannot read {text!r} as a quantity (unknown unit?)")
    return text


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

    @property
    def is_range(self) -> bool:
        return not self.values

    def grid_values(self) -> np.ndarray:
        if not self.is_range:
            return _array(self.values)
        assert self.num is not None
        space = np.geomspace if self.log else np.linspace
        vals = space(self.low, self.high, self.num)
        return np.unique(np.rint(vals).astype(np.int64)) if self.integer else vals

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map samples u in [0, 1) onto the parameter (uniform over values, or over the range)."""
        if not self.is_range:
            vals = _array(self.values)
            return vals[np.minimum((u * len(vals)).astype(np.int64), len(vals) - 1)]
        lo, hi = self.low, self.high
        if self.integer:  # every integer in [lo, hi] equally likely (or log-uniformly)
            hi = hi + 1
        if self.log:
            x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
        else:
            x = lo + u * (hi - lo)
        if self.integer:
            return np.clip(np.floor(x), self.low, self.high).astype(np.int64)
        return x


def _array(values: tuple) -> np.ndarray:
    if all(isinstance(v, (int, np.integer)) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float, np.number)) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([str(v) for v in values], dtype=object)


def parse_param(path: str, at: At, sampler: str) -> Param:
    """`path: [v1, v2, ...]` or `path: {min, max, num?, log?, integer?}`."""
    if isinstance(at.value, dict):
        keys = at.mapping(_RANGE_KEYS, required=("min", "max"))
        lo, hi = (parse_value(keys[k]) for k in ("min", "max"))
        for k, v in (("min", lo), ("max", hi)):
            if isinstance(v, str):
                raise keys[k].error(f"a range needs numbers, got {v!r}")
        integer = keys["integer"].bool() if "integer" in keys else False
        log = keys["log"].bool() if "log" in keys else False
        if hi < lo:
            raise at.error(f"max ({hi:g}) is below min ({lo:g})")
        if log and lo <= 0:
            raise keys["min"].error("a log range needs min > 0")
        if integer and (lo != int(lo) or hi != int(hi)):
            raise at.error("an integer range needs integer min and max")
        num = keys["num"].int(minimum=1) if "num" in keys else None
        if sampler == "grid" and num is None:
            raise at.error("a range under the grid sampler needs num (how many values); "
                           "or use sampler kind random or lhs")
        return Param(path, (), float(lo), float(hi), num, log, integer)
    items = at.list(allow_scalar=True)
    values = tuple(parse_value(i) for i in items)
    if len(set(values)) != len(values):
        raise at.error("values repeat")
    return Param(path, values)
