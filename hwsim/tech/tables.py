"""Technology tables: energy and area of arithmetic and memory, each number with its source."""
from __future__ import annotations

from dataclasses import dataclass

HOROWITZ = "M. Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm, 0.9 V)"


@dataclass(frozen=True)
class Entry:
    value: float
    unit: str
    source: str


# 45 nm, Horowitz ISSCC 2014: energy (pJ) and area (µm²) per operation
HOROWITZ_45NM: dict[str, Entry] = {
    "int_add_8_pj": Entry(0.03, "pJ", HOROWITZ),
    "int_add_16_pj": Entry(0.05, "pJ", HOROWITZ),
    "int_add_32_pj": Entry(0.1, "pJ", HOROWITZ),
    "int_mult_8_pj": Entry(0.2, "pJ", HOROWITZ),
    "int_mult_32_pj": Entry(3.1, "pJ", HOROWITZ),
    "fp_add_16_pj": Entry(0.4, "pJ", HOROWITZ),
    "fp_add_32_pj": Entry(0.9, "pJ", HOROWITZ),
    "fp_mult_16_pj": Entry(1.1, "pJ", HOROWITZ),
    "fp_mult_32_pj": Entry(3.7, "pJ", HOROWITZ),
    "int_add_8_um2": Entry(36, "um2", HOROWITZ),
    "int_add_16_um2": Entry(67, "um2", HOROWITZ),
    "int_add_32_um2": Entry(137, "um2", HOROWITZ),
    "int_mult_8_um2": Entry(282, "um2", HOROWITZ),
    "int_mult_32_um2": Entry(3495, "um2", HOROWITZ),
    "fp_add_16_um2": Entry(1360, "um2", HOROWITZ),
    "fp_add_32_um2": Entry(4184, "um2", HOROWITZ),
    "fp_mult_16_um2": Entry(1640, "um2", HOROWITZ),
    "fp_mult_32_um2": Entry(7700, "um2", HOROWITZ),
    "sram_8kb_read_64b_pj": Entry(10.0, "pJ", HOROWITZ + " (8 KB SRAM, 64-bit read)"),
    "dram_read_64b_pj": Entry(1300.0, "pJ", HOROWITZ + " (DRAM, upper end of 640-1300 pJ)"),
}

BITMOD = "BitMoD (HPCA 2025) and its public simulator, 28 nm at 1 GHz (REFERENCES.md)"

# 28 nm processing elements of the BitMoD evaluation (synthesis; x1.5 power for place-and-route)
BITMOD_28NM_PE: dict[str, dict[str, Entry]] = {
    "bitmod": {"area": Entry(1507.7, "um2", BITMOD), "power": Entry(0.56, "mW", BITMOD)},
    "fp16": {"area": Entry(1968.7, "um2", BITMOD), "power": Entry(0.77, "mW", BITMOD)},
    "ant": {"area": Entry(1318.6, "um2", BITMOD), "power": Entry(0.56, "mW", BITMOD)},
    "olive": {"area": Entry(1318.6, "um2", BITMOD), "power": Entry(0.613, "mW", BITMOD)},
}

TABLES = {"horowitz-45nm": (45.0, HOROWITZ_45NM), "bitmod-28nm": (28.0, BITMOD_28NM_PE)}
