"""BitMoD (Chen et al., HPCA 2025) as modelled by its public simulator — REFERENCES.md,
"Bit-serial PEs": the linear-layer cycle table for Llama-2-7B (prefill 256 tokens with lm_head on
every token, decode with context 256, batch 1) reproduced to the cycle, and the published mean
speedups over ANT (1.69x) and OliVe (1.48x).

What the table's "total cycles" are: the simulator's steady state. Its `Accelerator.calc_cycle`
(github.com/abdelfattah-lab/BitMoD-HPCA-25, bitmod_sim/accelerator.py) sums max(compute, dram) over
layers and models no DRAM start-up or drain. hwsim's totals follow the shared overlap rule (both
engines; docs/cycle.md "Where the engines differ"): the first tile's load, the last tile's store and
compute, and the refills of the held buffer are exposed, +0.3% to +1.3% on these rows. So the table is compared with the two terms the
engine reports per op, Σ max(compute_cycles, memory_cycles): the same model, without the pipeline ends.

Attention convention (ours): QK^T and PV run on the same PE array with the fp16 KV cache as the
B operand (bit-serial PEs take 8 cycles per 16-bit term), elementwise ops excluded as in the
paper's simulator. Speedup = mean over prefill and decode of (baseline cycles / BitMoD cycles).
"""

from functools import lru_cache

import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate

DECODE_ARRAY = {"bitmod": (64, 16), "bitmod-ant": (64, 16), "bitmod-olive": (72, 16), "bitmod-fp16": (64, 12)}
WEIGHT_BITS = {"bitmod-ant": 5, "bitmod-olive": 4, "bitmod-fp16": 16}  # BitMoD lossy: 4.0625 / 3.0625


@lru_cache(maxsize=None)
def _trace(phase):
    m = load_model("llama-2-7b")
    return trace(m, "prefill", seq=256, logits="all") if phase == "prefill" else trace(m, "decode", context=256)


def cost(arch, phase, w_bits):
    rows, cols = DECODE_ARRAY[arch]
    over = {"compute.rows": rows, "compute.cols": cols} if phase == "decode" else None
    return evaluate(load_arch(arch, over), _trace(phase), Precision(weights=w_bits))


TABLE = [  # design, phase, w bits, compute cycles, total cycles (REFERENCES.md, BitMoD table)
    ("bitmod-fp16", "prefill", 16, 2_271_182_848, 2_774_892_544),
    ("bitmod-fp16", "decode", 16, 103_235_584, 413_100_752),
    ("bitmod-ant", "prefill", 5, 1_651_769_344, 1_651_769_344),
    ("bitmod-olive", "decode", 4, 91_893_760, 103_394_000),
    ("bitmod", "prefill", 4.0625, 825_884_672, 905_125_888),
    ("bitmod", "decode", 3.0625, 51_617_792, 79_198_160),
    ("bitmod", "prefill", 6.0625, 1_238_827_008, 1_351_884_800),
]


@pytest.mark.parametrize("arch, phase, bits, compute, total", TABLE)
def test_linear_cycle_table_exact(arch, phase, bits, compute, total):
    ops = cost(arch, phase, bits).ops
    lin = ops[ops["kind"] == "linear"]
    assert len(lin) == 32 * 7 + 1
    assert int(lin["compute_cycles"].sum()) == compute
    assert int(lin[["compute_cycles", "memory_cycles"]].max(axis=1).sum()) == total  # the simulator's steady state
    # hwsim's own total adds the pipeline ends: above the steady state (by 0.28% to 1.28% on these rows)
    assert total < lin["cycles"].sum() <= 1.015 * total


def _cycles(arch, phase, kinds):
    bits = WEIGHT_BITS.get(arch, 4.0625 if phase == "prefill" else 3.0625)
    ops = cost(arch, phase, bits).ops
    return ops[ops["kind"].isin(kinds)]["cycles"].sum()


def mean_speedup(base, kinds=("linear", "attention")):
    return sum(_cycles(base, ph, kinds) / _cycles("bitmod", ph, kinds) for ph in ("prefill", "decode")) / 2


@pytest.mark.parametrize("base, published, ours", [("bitmod-ant", 1.69, 1.687), ("bitmod-olive", 1.48, 1.438)])
def test_mean_speedup_within_5_percent(base, published, ours):
    s = mean_speedup(base)
    assert s == pytest.approx(ours, abs=0.001)  # pins our number (reported in docs/engine.md)
    assert abs(s / published - 1) < 0.05


def test_linear_only_speedup_also_within_5_percent():
    # without attention the means are 1.726 (ANT) and 1.465 (OliVe): attention moves them by ~2-3%
    assert mean_speedup("bitmod-ant", ("linear",)) == pytest.approx(1.726, abs=0.001)
    assert mean_speedup("bitmod-olive", ("linear",)) == pytest.approx(1.465, abs=0.001)


# Energy. BitMoD's public simulator (github.com/abdelfattah-lab/BitMoD-HPCA-25, bitmod_sim/accelerator.py)
# counts PE power x 1.5 x compute cycles, DRAM at 1200 pJ/64 bit, one read of each 512 KiB SRAM per array
# tile and one write per 64 bits filled, with CACTI (28 nm) per-access energies, and no leakage. The presets
# carry those CACTI figures per byte (hwsim.tech.tables.CACTI_28NM_SRAM_512KIB). The paper's bars come from
# the authors' notebook (github.com/yc2367/BitMoD, figures/energy/energy.ipynb; energies in uJ): its 0.339
# is the mean over six models of the prefill ratio, its 0.241 the mean over six models of the ratio for
# a 256-token prefill plus 20 decoded tokens. Its Llama-2-7B entries: prefill 5,388,371 / 15,511,220 uJ
# (0.347), one decode step 434,198 / 2,113,617 uJ (0.2054), prefill + 20 steps 0.2435.
NOTEBOOK_L2_7B = {
    "prefill": 5_388_371 / 15_511_220,
    "decode": 434_198 / 2_113_617,
    "generation": (5_388_371 + 20 * 434_198) / (15_511_220 + 20 * 2_113_617),
}


def _energy(arch, phase, part="energy_j"):
    ops = cost(arch, phase, WEIGHT_BITS.get(arch, 4.0625 if phase == "prefill" else 3.0625)).ops
    return ops.loc[ops["kind"].isin(("linear", "attention")), part].sum()  # the simulator's scope


def test_energy_vs_fp16_beside_published():
    r = {ph: _energy("bitmod", ph) / _energy("bitmod-fp16", ph) for ph in ("prefill", "decode")}
    gen = (_energy("bitmod", "prefill") + 20 * _energy("bitmod", "decode")) / (
        _energy("bitmod-fp16", "prefill") + 20 * _energy("bitmod-fp16", "decode")
    )
    assert r["prefill"] == pytest.approx(0.289, abs=0.002)  # pins ours (docs/engine.md)
    assert r["decode"] == pytest.approx(0.213, abs=0.002)
    assert gen == pytest.approx(0.232, abs=0.002)
    assert abs(r["decode"] / NOTEBOOK_L2_7B["decode"] - 1) < 0.05  # +3.7%
    assert abs(gen / NOTEBOOK_L2_7B["generation"] - 1) < 0.06  # -4.9%
    assert abs(gen / 0.241 - 1) < 0.05  # the published decode-task mean: -3.9%
    # prefill: -17% vs the notebook's 0.347; the public simulator's own formulas give 0.283 for
    # Llama-2-7B (its prefill DRAM is 1.3 J below the notebook's, in every design: an unreleased variant)
    assert abs(r["prefill"] / NOTEBOOK_L2_7B["prefill"] - 1) < 0.20


@pytest.mark.parametrize(
    "arch, phase, simulator_j, rel",
    [
        # SRAM read + write energy of the public simulator's formulas with the same CACTI figures, linear +
        # attention (attention with the simulator's KV bits: 16 for FP16, 8 for BitMoD; decode one token)
        ("bitmod-fp16", "prefill", 0.5013, 0.02),
        ("bitmod-fp16", "decode", 0.0377, 0.05),
        ("bitmod", "decode", 0.0082, 0.05),
        # bit-serial prefill: the simulator charges one half-width input access per tile (1024 of the 2048
        # activation bits a 32x32 tile of 4-wide PEs consumes); hwsim charges every byte the array reads
        ("bitmod", "prefill", 0.1231, 0.55),
    ],
)
def test_sram_energy_matches_simulator_accounting(arch, phase, simulator_j, rel):
    sram = _energy(arch, phase, "energy_weight_sram_j") + _energy(arch, phase, "energy_input_sram_j")
    assert sram == pytest.approx(simulator_j, rel=rel)
