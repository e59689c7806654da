"""Quantities with units: '1 GHz', '512 KiB', '3.35 TB/s', '1200 pJ/64bit', '0.56 mW' → SI floats.

Inside hwsim everything is SI (s, Hz, B, J, W, m²); `cycle` and `op` are dimensions of their own so
that '256 bit/cycle' stays a per-cycle bandwidth until the clock is known.
"""

from __future__ import annotations

import math
import re

from hwsim.errors import HwsimError

# Every physical quantity hwsim reads sits far inside this range in SI units (from 1e-18 m² of a transistor to
# 1e22 B of storage); outside it, products of a few quantities overflow or vanish to 0 in float64 (assumed
# bounds, chosen so that no product of three in-range values leaves float64).
SI_MIN, SI_MAX = 1e-30, 1e30

# dimension vector order: seconds, bytes, joules, metres, cycles, ops
_DIMS = ("s", "B", "J", "m", "cycle", "op")


def _d(**kw: int) -> tuple[int, ...]:
    return tuple(kw.get(k, 0) for k in _DIMS)


# base unit symbol → (scale to SI, dimension vector)
_BASE: dict[str, tuple[float, tuple[int, ...]]] = {
    "s": (1.0, _d(s=1)),
    "Hz": (1.0, _d(s=-1)),
    "B": (1.0, _d(B=1)),
    "byte": (1.0, _d(B=1)),
    "bit": (0.125, _d(B=1)),
    "b": (0.125, _d(B=1)),
    "J": (1.0, _d(J=1)),
    "W": (1.0, _d(J=1, s=-1)),
    "m": (1.0, _d(m=1)),
    "m2": (1.0, _d(m=2)),
    "m²": (1.0, _d(m=2)),
    "m^2": (1.0, _d(m=2)),
    "cycle": (1.0, _d(cycle=1)),
    "cycles": (1.0, _d(cycle=1)),
    "op": (1.0, _d(op=1)),
    "ops": (1.0, _d(op=1)),
    "OP": (1.0, _d(op=1)),
    "OPS": (1.0, _d(op=1, s=-1)),
    "FLOP": (1.0, _d(op=1)),
    "FLOPS": (1.0, _d(op=1, s=-1)),
    "MAC": (2.0, _d(op=1)),  # one multiply-accumulate = 2 ops
}
_SI_PREFIX = {
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "μ": 1e-6,
    "m": 1e-3,
    "c": 1e-2,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
}
_BIN_PREFIX = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}

# expected kinds → dimension vector (and a hint used in error messages)
KINDS: dict[str, tuple[tuple[int, ...], str]] = {
    "frequency": (_d(s=-1), "'1 GHz'"),
    "time": (_d(s=1), "'10 us'"),
    "bytes": (_d(B=1), "'512 KiB'"),
    "bandwidth": (_d(B=1, s=-1), "'3.35 TB/s'"),
    "bytes_per_cycle": (_d(B=1, cycle=-1), "'256 bit/cycle'"),
    "energy": (_d(J=1), "'1.1 pJ'"),
    "energy_per_byte": (_d(J=1, B=-1), "'1200 pJ/64bit'"),
    "power": (_d(J=1, s=-1), "'0.56 mW'"),
    "area": (_d(m=2), "'1507.7 um2'"),
    "ops_per_s": (_d(op=1, s=-1), "'989 TFLOPS'"),
    "dimensionless": (_d(), "'0.9'"),
}

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QTY = re.compile(rf"^\s*({_NUM})\s*(.*?)\s*$")
_TERM = re.compile(rf"^({_NUM})?\s*(.+)$")


def _unit_term(term: str) -> tuple[float, tuple[int, ...]]:
    """One unit term such as 'GHz', 'KiB', '64bit' (a count before the unit multiplies it)."""
    m = _TERM.match(term.strip())
    if not m:
        raise ValueError(term)
    count = float(m.group(1)) if m.group(1) else 1.0
    sym = m.group(2).strip()
    if sym in _BASE:
        scale, dim = _BASE[sym]
        return count * scale, dim
    for pre, mult in _BIN_PREFIX.items():
        if sym.startswith(pre) and sym[len(pre) :] in _BASE:
            scale, dim = _BASE[sym[len(pre) :]]
            return count * mult * scale, dim
    for pre, mult in _SI_PREFIX.items():
        rest = sym[len(pre) :]
        if sym.startswith(pre) and rest in _BASE:
            scale, dim = _BASE[rest]
            # area prefixes apply squared: 1 mm2 = 1e-6 m2
            power = 2 if rest in ("m2", "m²", "m^2") else 1
            return count * mult**power * scale, dim
    raise ValueError(sym)


def _unit(expr: str) -> tuple[float, tuple[int, ...]]:
    parts = expr.split("/")
    scale, dim = _unit_term(parts[0]) if parts[0].strip() else (1.0, _d())
    for den in parts[1:]:
        s2, d2 = _unit_term(den)
        scale /= s2
        dim = tuple(a - b for a, b in zip(dim, d2))
    return scale, dim


# how a message names a quantity kind ("'5 ms' is not a size in bytes", not "not a bytes")
_NOUNS = {"bytes": "size in bytes", "dimensionless": "plain number", "ops_per_s": "rate in op/s"}


def _a(kind: str) -> str:
    noun = _NOUNS.get(kind, kind.replace("_", " "))
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def parse_quantity(value: object, kind: str, *, file: object | None = None, field: str | None = None) -> float:
    """Parse a number or a '<number> <unit>' string of the given kind into SI.

    Plain numbers are taken as already SI. Raises HwsimError naming file and field otherwise.
    """
    dim_expected, hint = KINDS[kind]
    if isinstance(value, bool):
        raise HwsimError(f"expected {_a(kind)} such as {hint}, got {value!r}", file=file, field=field)
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        text = str(value)
        m = _QTY.match(text)
        if not m:
            raise HwsimError(f"expected {_a(kind)} such as {hint}, got {text!r}", file=file, field=field)
        number, unit = float(m.group(1)), m.group(2)
        if not unit:
            out = number
        else:
            try:
                scale, dim = _unit(unit)
            except ValueError:
                raise HwsimError(
                    f"unknown unit {unit!r} in {text!r}; expected {_a(kind)} such as {hint}",
                    file=file,
                    field=field,
                ) from None
            if dim != dim_expected:
                raise HwsimError(
                    f"{text!r} is not {_a(kind)}; expected something like {hint}",
                    file=file,
                    field=field,
                )
            out = number * scale
    if not math.isfinite(out):
        raise HwsimError(f"must be a finite number, got {value!r}", file=file, field=field)
    if out != 0 and not SI_MIN <= abs(out) <= SI_MAX:
        raise HwsimError(
            f"{value!r} is out of range: in SI units a quantity must be 0 or between {SI_MIN:g} and {SI_MAX:g} in size",
            file=file,
            field=field,
        )
    return out


# the SI unit each quantity kind is written back in when values go to the engine: plain numbers
# are SI there too, except that a bandwidth's unit says whether it is per cycle or per second
SI_UNIT = {
    "frequency": "Hz",
    "time": "s",
    "bytes": "B",
    "bandwidth": "B/s",
    "bytes_per_cycle": "B/cycle",
    "energy": "J",
    "energy_per_byte": "J/B",
    "power": "W",
    "area": "m2",
    "ops_per_s": "OPS",
}


def si_column(path: str, unit: str | None) -> str:
    """A results column of SI values: the dotted path, plus the SI unit when the values had units
    (memory.dram.bandwidth_B_per_cycle); si_column_path reads it back."""
    return path if unit is None else f"{path}_{unit.replace('/', '_per_')}"


# longest suffix first: "_B_per_s" must not be read as "_s"
_SI_SUFFIX = sorted(((si_column("", u), kind) for kind, u in SI_UNIT.items()), key=lambda s: -len(s[0]))


def si_column_path(column: str) -> tuple[str, str] | None:
    """(dotted path, hwsim.units kind) of a column named by si_column with a unit, else None."""
    for suffix, kind in _SI_SUFFIX:
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)], kind
    return None
