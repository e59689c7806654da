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
    # 8 KB SRAM: 10 pJ per 64-bit read (= 5 pJ per 32 bits, the low end of REFERENCES.md's 5-10 pJ per
    # 32-bit read; Horowitz's 32-bit figure is 5 pJ): 0.156 pJ/bit
    "sram_8kb_read_64b_pj": Entry(10.0, "pJ", HOROWITZ + " (8 KB SRAM, 64-bit read; 5 pJ per 32-bit read)"),
    # DRAM: Horowitz gives 1.3-2.6 nJ per 64-bit access (REFERENCES.md: 640-1300 pJ per 32 bits); midpoint
    "dram_read_64b_pj": Entry(1950.0, "pJ", HOROWITZ + " (DRAM 1.3-2.6 nJ per 64-bit access; midpoint, assumed)"),
}

BITMOD = "BitMoD (HPCA 2025) and its public simulator, 28 nm at 1 GHz (REFERENCES.md)"

# 28 nm processing elements of the BitMoD evaluation (synthesis; x1.5 power for place-and-route)
BITMOD_28NM_PE: dict[str, dict[str, Entry]] = {
    "bitmod": {"area": Entry(1507.7, "um2", BITMOD), "power": Entry(0.56, "mW", BITMOD)},
    "fp16": {"area": Entry(1968.7, "um2", BITMOD), "power": Entry(0.77, "mW", BITMOD)},
    "ant": {"area": Entry(1318.6, "um2", BITMOD), "power": Entry(0.56, "mW", BITMOD)},
    "olive": {"area": Entry(1318.6, "um2", BITMOD), "power": Entry(0.613, "mW", BITMOD)},
}

CACTI_28NM = (
    "CACTI 7 (binary bundled with ZigZag 3.9.1), run as BitMoD's simulator configures it "
    "(bitmod_sim/accelerator.py _init_mem, mem/cacti_simulation.py): 512 KiB as 8 banks of 64 KiB, "
    "each bank 1 read + 1 write port and width/8 bits wide (block size ceil(width/8/64)*8 B), "
    "28 nm, itrs-hp cells and periphery, 360 K, ED^2 objective; per-access figures x 8 banks"
)

# 28 nm SRAM of the BitMoD simulator (512 KiB, 8 banks) by access width in bits: read energy per
# access (pJ), write energy per 64-bit fill (pJ), standby leakage (mW), area (mm²). The simulator
# charges one read of each SRAM per array tile and one write per 64 bits filled from DRAM; it does
# not count the leakage.
CACTI_28NM_SRAM_512KIB: dict[int, dict[str, Entry]] = {
    width: {
        "read_pj": Entry(r, "pJ", CACTI_28NM),
        "write_64b_pj": Entry(w, "pJ", CACTI_28NM),
        "leakage_mw": Entry(leak, "mW", CACTI_28NM),
        "area_mm2": Entry(area, "mm2", CACTI_28NM),
    }
    for width, (r, w, leak, area) in {
        144: (61.54, 17.09, 336.7, 1.436),
        192: (66.58, 14.44, 331.5, 1.529),
        256: (70.09, 12.93, 341.7, 1.485),
        288: (72.60, 12.03, 337.0, 1.500),
        384: (82.83, 10.67, 329.7, 1.590),
        512: (92.79, 10.42, 341.1, 1.602),
        1024: (138.44, 9.76, 339.1, 1.571),
    }.items()
}
