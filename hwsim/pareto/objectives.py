"""Objective specs: 'energy_j:min,seconds:min' → [Objective('energy_j', False), ...]."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hwsim.errors import HwsimError, closest

DIRECTIONS = {"min": False, "max": True}


@dataclass(frozen=True)
class Objective:
    column: str
    maximize: bool = False

    def __str__(self) -> str:
        return f"{self.column}:{'max' if self.maximize else 'min'}"


def parse_objective(text: str, *, file: object = None, field: str | None = None) -> Objective:
    """'col:min' or 'col:max'. A bare 'col' is an error: tokens_per_s wants max, energy_j min, and a silent
    default would hand back the worst designs for one of them."""
    if not isinstance(text, str) or not text.strip():
        raise HwsimError(f"expected 'column:min' or 'column:max', got {text!r}", file=file, field=field)
    col, sep, direction = text.strip().rpartition(":")
    if not sep:
        raise HwsimError(
            f"objective {text.strip()!r} needs a direction: write '{text.strip()}:min' or '{text.strip()}:max'",
            file=file,
            field=field,
        )
    col, direction = col.strip(), direction.strip().lower()
    if not col:
        raise HwsimError(f"objective {text!r} names no column", file=file, field=field)
    if direction not in DIRECTIONS:
        raise HwsimError(f"objective {text!r}: direction must be min or max, got {direction!r}", file=file, field=field)
    return Objective(col, DIRECTIONS[direction])


def parse_objectives(spec: str | Sequence[str], *, file: object = None, field: str | None = None) -> list[Objective]:
    """A comma-separated string or a list of 'col:dir' strings → Objectives (at least one, no repeats)."""
    items = spec.split(",") if isinstance(spec, str) else spec
    if not isinstance(items, (list, tuple)) or not items:
        raise HwsimError("expected at least one objective such as 'energy_j:min'", file=file, field=field)
    objs = [
        parse_objective(t, file=file, field=field if isinstance(spec, str) else f"{field}[{i}]" if field else None)
        for i, t in enumerate(items)
    ]
    cols = [o.column for o in objs]
    dup = {c for c in cols if cols.count(c) > 1}
    if dup:
        raise HwsimError(f"objective column repeated: {', '.join(sorted(dup))}", file=file, field=field)
    return objs


def check_columns(
    objectives: Iterable[Objective], columns: Iterable[str], *, file: object = None, field: str | None = None
) -> None:
    """Every objective names an existing column (HwsimError listing close names otherwise)."""
    columns = list(columns)
    for o in objectives:
        if o.column not in columns:
            raise HwsimError(f"unknown column {o.column!r}{closest(o.column, columns)}", file=file, field=field)
