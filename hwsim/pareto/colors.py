"""Colour groups of a plot: one per value of the `color_by` column, in an order a reader expects.

Numbers sort as numbers (4 before 16, also when a column mixes them with text, as `weights: [int4_g128,
3.0625]` does), text in natural order (`int4` before `int16`), and rows without a value (a column only
some designs have, e.g. a parameter swept for one design of a study) form the last group, "n/a", in grey.
Greys are left out of the palette, so grey means "no value" and nothing else.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

NA_LABEL = "n/a"
RGBA = tuple[float, float, float, float]
NA_COLOR: RGBA = (0.5, 0.5, 0.5, 1.0)  # mid grey: still visible when the dominated rows are faded


@dataclass(frozen=True)
class ColorGroup:
    label: str  # legend text
    rows: np.ndarray  # bool per row of the table
    color: RGBA
    missing: bool = False  # the "n/a" group


def _number(v: object) -> float | None:
    """v as a number when it is one (or text that reads as a finite one: '3.0625'), else None."""
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str) and "_" not in v:
        try:
            x = float(v)
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    return None


_DIGITS = re.compile(r"([0-9]+)")


def sort_key(v: object) -> tuple:
    """Numbers first, by value; then text in natural order ('d2' < 'd10'), ties broken by the plain text."""
    x = _number(v)
    if x is not None:
        return (0, x, (), "")
    text = str(v)
    natural = tuple((0, int(p), "") if p[0].isdigit() else (1, 0, p) for p in _DIGITS.split(text) if p)
    return (1, 0.0, natural, text)


def label(v: object, digits: int = 17) -> str:
    """Legend text: 16.0 → '16', 0.1 → '0.1', 1e9 → '1e9', True → 'True', no value → 'n/a', text as it is. A
    number takes the fewest significant digits that give it back, at most `digits` (then it is rounded)."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return NA_LABEL
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):  # a float32 by its own shortest text (0.1, not 0.10000000149011612)
        return _short(float(str(v)) if isinstance(v, np.floating) else float(v), digits)
    return str(v)


def _short(x: float, digits: int) -> str:
    if x.is_integer() and abs(x) < 1e6:
        return str(int(x))
    texts = [f"{x:.{p}g}" for p in range(1, digits + 1)]
    text = next((t for t in texts if float(t) == x), texts[-1])
    mantissa, _, exponent = text.partition("e")
    return mantissa + (f"e{int(exponent)}" if exponent else "")


def _labels(values: list[object]) -> list[str]:
    """Each value's label, numbers rounded to 4 significant digits or as many more as keep the labels apart
    (a range of 15 clocks reads 6.071e8, 7.143e8, … rather than 607142857.1428572)."""
    for digits in range(4, 18):
        texts = [label(v, digits) for v in values]
        if len(set(texts)) == len(set(label(v) for v in values)):
            return texts
    return [label(v) for v in values]


DISTINCT = 18  # colours before they repeat: tab20 without its two greys


def palette(n: int) -> list[RGBA]:
    """n distinct colours (tab10, tab20 beyond 9), greys left out; they repeat past the palette's length."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 9 else "tab20"]
    colors = [c for c in (cmap(i) for i in range(cmap.N)) if not (c[0] == c[1] == c[2])]
    return [colors[i % len(colors)] for i in range(n)]


def color_groups(column: pd.Series) -> list[ColorGroup]:
    """One group per distinct value, sorted by `sort_key`, then "n/a" for the rows without a value (if any)."""
    missing = column.isna().to_numpy()
    values = sorted(column[~missing].unique(), key=sort_key)
    groups = [
        ColorGroup(text, (column == v).to_numpy(), c)
        for v, text, c in zip(values, _labels(values), palette(len(values)), strict=True)
    ]
    if missing.any():
        groups.append(ColorGroup(NA_LABEL, missing, NA_COLOR, missing=True))
    return groups
