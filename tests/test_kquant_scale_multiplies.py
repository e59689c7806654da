"""llama.cpp K-quants' sub-block scales and mins are multiplies in compute energy, through the mechanism that
prices every group format's scales (hwsim.tech.datapath.mac_cost, the lut family's dequantise step).

Counts from ggml-common.h's block structs (block_q2_K: uint8 scales[QK_K/16] of 4-bit scale + 4-bit min, fp16
d and dmin; block_q3_K: 16 6-bit scales in scales[12], fp16 d; block_q4_K / block_q5_K: 8 6-bit scales and 8
6-bit mins in scales[12], fp16 d and dmin; block_q6_K: int8 scales[QK_K/16], fp16 d) and the order llama.cpp's
dot product applies them (ggml-cpu/quants.c ggml_vec_dot_q2_K_q8_K_generic: `isum += d * isuml` per sub-block,
`summs += bsums[j] * (sc[j] >> 4)` per sub-block, `dall * isum - dmin * summs` per block)."""

from dataclasses import replace

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.core.ops import OpColumns
from hwsim.core.precision import Precision, operand_type
from hwsim.engine import evaluate, gemm_ops
from hwsim.families import lut_core
from hwsim.formats import get_format, list_formats
from hwsim.formats.ggml import QK_K, TYPES
from hwsim.tech.datapath import mac_cost, multiplier
from hwsim.tech.scaling import scale_energy

# type → (bits of one sub-block's scale metadata, whether it has dmin and mins): ggml-common.h
SUB_META = {"q2_k": (4 + 4, True), "q3_k": (6, False), "q4_k": (6 + 6, True), "q5_k": (6 + 6, True), "q6_k": (8, False)}
WANT = {"q2_k": 34, "q3_k": 17, "q4_k": 18, "q5_k": 18, "q6_k": 17}
FP16 = operand_type("fp16")


@pytest.mark.parametrize("kind", sorted(WANT))
def test_counts_are_what_the_block_struct_holds(kind):
    """Sub-blocks = the struct's sub-block metadata bits / bits per sub-block; each has a scale (and a min),
    the block a d (and a dmin): the same count as the literal from the structs."""
    meta, mins = SUB_META[kind]
    fp16s = 2 if mins else 1
    sub_blocks = (TYPES[kind][2] - 16 * fp16s) // meta
    assert (TYPES[kind][2] - 16 * fp16s) % meta == 0
    assert sub_blocks * (2 if mins else 1) + fp16s == WANT[kind] == get_format(kind).scale_multiplies
    assert operand_type(kind).scale_multiplies == WANT[kind]


def test_every_other_format_keeps_one_multiply_per_group():
    names = [n for n in list_formats() if n not in WANT]
    assert len(names) >= 40 and "int4_g128" in names and "q4_0" in names and "mxfp4" in names
    assert {n: get_format(n).scale_multiplies for n in names} == {n: 1 for n in names}


@pytest.mark.parametrize("kind", sorted(WANT))
@pytest.mark.parametrize("act", ["int8", "fp16"])
def test_mac_energy_counts_every_scale_and_min(kind, act):
    """Per MAC: the block's scale_multiplies fp16 multiplies / 256 weights (before: 1 / 256)."""
    a, w = operand_type(act), operand_type(kind)
    got = mac_cost(a, w, 7).energy_pj - mac_cost(a, replace(w, scale_multiplies=1), 7).energy_pj
    want = scale_energy(multiplier(FP16, FP16, "pj") * (WANT[kind] - 1) / QK_K, 45, 7)
    assert got == pytest.approx(want, rel=1e-12)


def test_q2_k_mac_at_7nm_and_one_scale_formats_unchanged():
    """int8 × q2_k: 0.0204 pJ (one fp16 multiply per 256) → 0.0425 pJ (34 per 256), fp16 multiplies at
    1.1 pJ at 45 nm (Horowitz ISSCC 2014) scaled to 7 nm; int4_g128 still pays exactly one per 128."""
    i8 = operand_type("int8")
    assert mac_cost(i8, operand_type("q2_k"), 7).energy_pj == pytest.approx(0.04246, abs=5e-5)
    g128 = operand_type("int4_g128")
    extra = mac_cost(i8, g128).energy_pj - mac_cost(i8, replace(g128, group_size=None, scale_bits=0)).energy_pj
    assert extra == pytest.approx(multiplier(FP16, FP16, "pj") / 128, rel=1e-12)


@pytest.mark.parametrize("arch, terms", [("tpu-like", 4096), ("u280", "accumulate_terms")])
def test_family_compute_energy_takes_the_count(arch, terms):
    """A MAC family's compute energy of a q2_k GEMM grows as its MAC does over the same format priced with
    one scale per block (systolic: 2.08x at 28 nm; FPGA DSP chains, their accumulator length, 2.01x)."""
    a = load_arch(arch)
    n = a.compute[terms] if isinstance(terms, str) else terms
    ops = gemm_ops([("g", 16, 4096, 4096)])
    q2, one, i8 = operand_type("q2_k"), replace(operand_type("q2_k"), scale_multiplies=1), operand_type("int8")
    e = evaluate(a, ops, Precision(weights=q2, activations="int8")).totals["energy_compute_j"]
    e1 = evaluate(a, ops, Precision(weights=one, activations="int8")).totals["energy_compute_j"]
    node = a.tech.node_nm
    ratio = mac_cost(i8, q2, node, n).energy_pj / mac_cost(i8, one, node, n).energy_pj
    assert e / e1 == pytest.approx(ratio, rel=1e-9) and ratio > 2.0


def test_lut_dequantise_step_takes_the_count():
    """The lut family's group dequantise: per output, scale_multiplies per 256-weight block along k."""
    ops = OpColumns.from_frame(gemm_ops([("g", 4, 4096, 4096)]))
    for kind in WANT:
        prec = Precision(weights=kind).resolve()
        assert lut_core.dequant_ops(ops, prec)[0] == 4 * 4096 * (4096 / QK_K) * WANT[kind]
    g128 = Precision(weights="int4_g128").resolve()
    assert lut_core.dequant_ops(ops, g128)[0] == 4 * 4096 * 4096 / 128
    per_channel = Precision(weights="int4").resolve()
    assert lut_core.dequant_ops(ops, per_channel)[0] == 4 * 4096
    assert np.isfinite(lut_core.dequant_ops(ops, prec)).all()
