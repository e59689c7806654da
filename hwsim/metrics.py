"""Cost metrics the seed papers compare designs by: tokens per second, per joule and per dollar,
compute density (TOPS/mm²), and iso-area / iso-power ratios of two designs.

Definitions (SI inside; prices in US dollars, the preset's sourced `price` field):
- tokens_per_s         tokens made by one step / its seconds
- tokens_per_joule     tokens / joules (the reciprocal of energy per token; "energy efficiency")
- tokens_per_s_per_usd tokens_per_s / device price: throughput per dollar of hardware
                       (FlightLLM's "cost efficiency", assumed: the paper's definition is not in
                       REFERENCES.md; it is the usual one, throughput over purchase price)
- tokens_per_usd       tokens over a service life per dollar of purchase price plus electricity
                       (a TCO form; with lifetime and electricity price given by the caller)
- tops_per_mm2         2 · peak MACs per cycle · clock / area ("compute density")
A ratio of two designs' metric is "A over B"; iso-area and iso-power scale throughput by area or
power before taking it (the comparison at equal silicon or equal power budget).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

import numpy as np

from hwsim.errors import HwsimError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hwsim.core.precision import Precision, ResolvedPrecision
    from hwsim.core.spec import Accelerator
    from hwsim.workload.trace import Trace

SECONDS_PER_YEAR = 365.25 * 24 * 3600
JOULES_PER_KWH = 3.6e6


def _num(x: ArrayLike | None) -> float:
    return float(np.asarray(x, dtype=np.float64).reshape(-1)[0]) if x is not None else math.nan


def step_tokens(trace: Trace) -> int:
    """Tokens one step of a trace makes: batch × new tokens per sequence (1 in decode)."""
    return int(trace.batch * trace.seq)


def token_metrics(totals: Mapping, tokens: float, price_usd: float | None = None) -> dict[str, float]:
    """Per-token and per-dollar figures of one costed step (`totals` of a CostTable)."""
    if tokens <= 0:
        raise HwsimError(f"a step makes no tokens (got {tokens})", field="tokens")
    seconds, energy = _num(totals["seconds"]), _num(totals["energy_j"])
    tps = tokens / seconds if seconds > 0 else math.inf
    price = _num(price_usd)
    out = {
        "tokens_per_s": tps,
        "energy_per_token_j": energy / tokens,
        "tokens_per_joule": tokens / energy if energy > 0 else math.inf,
        "power_w": energy / seconds if seconds > 0 else math.nan,
        "tokens_per_s_per_usd": tps / price if price > 0 else math.nan,
    }
    return out


def tokens_per_usd(
    tokens_per_s: float,
    price_usd: float,
    *,
    lifetime_s: float = 3 * SECONDS_PER_YEAR,
    power_w: float = 0.0,
    usd_per_kwh: float = 0.0,
    utilisation: float = 1.0,
) -> float:
    """Tokens a device makes over its service life per dollar spent on it (purchase + electricity).
    Defaults: 3 years (assumed: a usual depreciation period), fully busy, electricity not counted."""
    if not (price_usd and price_usd > 0):
        raise HwsimError("needs the device price: give the preset a sourced `price` (US dollars)", field="price")
    busy = lifetime_s * utilisation
    dollars = price_usd + power_w * busy / JOULES_PER_KWH * usd_per_kwh
    return tokens_per_s * busy / dollars


def tops_per_mm2(arch: Accelerator, precision: Precision | ResolvedPrecision | None = None) -> float:
    """Peak compute density: 2 operations per MAC × peak MACs per cycle × clock / area (TOPS/mm²).
    NaN when the family gives no area (e.g. an FPGA without a die area)."""
    from hwsim.core.precision import resolve_precision
    from hwsim.families import get_family

    prec = resolve_precision(precision)
    fam = get_family(arch.family)
    arch_p, prec = fam.configure(arch, prec)
    area = _num(fam.area_mm2(arch_p, prec))
    peak = _num(fam.peak_macs_per_cycle(arch_p, prec)) * _num(arch_p.clock_hz)
    return 2 * peak / area / 1e12 if area > 0 else math.nan


def compare(a: Mapping, b: Mapping, *, area_a: float | None = None, area_b: float | None = None) -> dict[str, float]:
    """Design A over design B from their token_metrics: speedup (throughput), energy efficiency
    (tokens per joule), cost efficiency (throughput per dollar), iso-power (throughput per watt of
    average power: at steady state the same number as energy efficiency, kept under the name papers
    use) and, with both areas, iso-area (throughput per mm²)."""
    out = {
        "speedup": a["tokens_per_s"] / b["tokens_per_s"],
        "energy_efficiency": a["tokens_per_joule"] / b["tokens_per_joule"],
        "cost_efficiency": a["tokens_per_s_per_usd"] / b["tokens_per_s_per_usd"],
        "iso_power": (a["tokens_per_s"] / a["power_w"]) / (b["tokens_per_s"] / b["power_w"]),
    }
    if area_a and area_b:
        out["iso_area"] = (a["tokens_per_s"] / area_a) / (b["tokens_per_s"] / area_b)
    return out
