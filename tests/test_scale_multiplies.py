"""Every stored scale, min and zero point of a group is a multiply in compute energy, through the mechanism that
prices every group format's scales (Format.scale_multiplies; hwsim.tech.datapath.mac_cost, the lut family's
dequantise step).

llama.cpp types, counts from ggml-common.h's block structs (block_q2_K: uint8 scales[QK_K/16] of 4-bit scale +
4-bit min, fp16 d and dmin; block_q3_K: 16 6-bit scales in scales[12], fp16 d; block_q4_K / block_q5_K: 8 6-bit
scales and 8 6-bit mins in scales[12], fp16 d and dmin; block_q6_K: int8 scales[QK_K/16], fp16 d; block_iq4_xs:
fp16 d, 8 6-bit scales in scales_h + scales_l[4]; block_q4_1 / block_q5_1: fp16 d and m) and the order llama.cpp's
dot products apply them (ggml-cpu/quants.c ggml_vec_dot_q2_K_q8_K_generic: `isum += d * isuml` per sub-block,
`summs += bsums[j] * (sc[j] >> 4)` per sub-block, `dall * isum - dmin * summs` per block;
ggml_vec_dot_q4_1_q8_1_generic: `(d * y.d) * sumi + m * y.s` per block; arch/x86/quants.c
ggml_vec_dot_iq4_xs_q8_K, AVX2: each sub-block's partial sums times `ls - 32`, the block's sum times d·d8).

Asymmetric INT groups (x = s·(q − z)): Σ a·x = s·Σ a·q − (s·z)·Σ a, one multiply for the scale and one
multiply-add of the stored zero term with the group's activation sum per group and output, as T-MAC's kernel
does (microsoft/T-MAC python/t_mac/intrins/tbl.cc, tbl_g4_int8_float_update_impl with ZeroPoint:
`c + c_group * s + z * partial_sum`)."""

from dataclasses import replace

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.core.ops import OpColumns
from hwsim.core.precision import Precision, operand_type
from hwsim.engine import evaluate, gemm_ops
from hwsim.families import lut_core
from hwsim.formats import get_format, list_formats
from hwsim.formats.ggml import TYPES
from hwsim.tech.datapath import mac_cost, multiplier
from hwsim.tech.scaling import scale_energy

# llama.cpp type → (bits of one sub-block's scale metadata, 0 without sub-blocks; whether it has mins): ggml-common.h
SUB_META = {
    "q2_k": (4 + 4, True),
    "q3_k": (6, False),
    "q4_k": (6 + 6, True),
    "q5_k": (6 + 6, True),
    "q6_k": (8, False),
    "iq4_xs": (6, False),
    "q4_1": (0, True),
    "q5_1": (0, True),
}
GGML_WANT = {"q2_k": 34, "q3_k": 17, "q4_k": 18, "q5_k": 18, "q6_k": 17, "iq4_xs": 9, "q4_1": 2, "q5_1": 2}
ASYM_INT = ("int4a_g128", "int4a_g64", "int3a_g128", "int2a_g64")  # the shipped asymmetric INT group formats
WANT = {**GGML_WANT, **{n: 2 for n in ASYM_INT}}
FP16 = operand_type("fp16")


@pytest.mark.parametrize("kind", sorted(GGML_WANT))
def test_ggml_counts_are_what_the_block_struct_holds(kind):
    """Sub-blocks = the struct's sub-block metadata bits / bits per sub-block; each has a scale (and a min), the
    block its fp16 fields (d; with mins dmin, or q4_1 / q5_1's m): the same count as the literal from the structs."""
    meta, mins = SUB_META[kind]
    fp16s = 2 if mins else 1
    rest = TYPES[kind][2] - 16 * fp16s
    sub_blocks = rest // meta if meta else 0
    assert rest == sub_blocks * meta
    assert sub_blocks * (2 if mins else 1) + fp16s == GGML_WANT[kind] == get_format(kind).scale_multiplies
    assert operand_type(kind).scale_multiplies == GGML_WANT[kind]


@pytest.mark.parametrize("name", [*ASYM_INT, "int8a_g32", "int4a_g128_sbf16"])
def test_asymmetric_int_groups_pay_scale_and_zero_point(name):
    """A zero point per group (its bits are in scale_bits beside the scale's): 2 per group and output."""
    fmt = get_format(name)
    assert fmt.scaling == "minmax" and fmt.scale_bits == fmt.scale_format.bits + fmt.element_bits
    assert fmt.scale_multiplies == operand_type(name).scale_multiplies == 2
    sym = get_format(name.replace("a_", "_", 1))  # the same grouping without the zero point keeps 1
    assert sym.scaling == "absmax" and sym.group_size == fmt.group_size and sym.scale_multiplies == 1


def test_per_channel_zero_points_are_not_priced_per_group():
    """Per-channel and per-tensor scales (asymmetric or not) carry no group metadata (scale_bits 0): 1."""
    for name in ("int4a_pc", "int8a", "int4a"):
        fmt = get_format(name)
        assert fmt.scale_bits == 0 and fmt.scale_multiplies == 1


def test_every_other_format_keeps_one_multiply_per_group():
    names = [n for n in list_formats() if n not in WANT]
    assert len(names) >= 40 and {"int4_g128", "q4_0", "q5_0", "q8_0", "iq4_nl", "mxfp4", "tq2_0"} <= set(names)
    assert {n: get_format(n).scale_multiplies for n in names} == {n: 1 for n in names}
    assert all(get_format(n).scaling != "minmax" for n in names if get_format(n).granularity == "group")


@pytest.mark.parametrize("kind", sorted(WANT))
@pytest.mark.parametrize("act", ["int8", "fp16"])
def test_mac_energy_counts_every_scale_min_and_zero_point(kind, act):
    """Per MAC: scale_multiplies fp16 multiplies per group (before: 1 per group)."""
    a, w = operand_type(act), operand_type(kind)
    got = mac_cost(a, w, 7).energy_pj - mac_cost(a, replace(w, scale_multiplies=1), 7).energy_pj
    want = scale_energy(multiplier(FP16, FP16, "pj") * (WANT[kind] - 1) / w.group_size, 45, 7)
    assert got == pytest.approx(want, rel=1e-12)


def test_mac_at_7nm_and_one_scale_formats_unchanged():
    """int8 × q2_k: 0.0204 pJ (one fp16 multiply per 256) → 0.0425 pJ (34 per 256); int8 × q4_1 0.0336 → 0.0389
    (2 per 32); int8 × int4a_g128 0.0296 → 0.0309 (2 per 128, the cost of int4a_g64's one-per-64 before); fp16
    multiplies at 1.1 pJ at 45 nm (Horowitz ISSCC 2014) scaled to 7 nm. int4_g128 still pays exactly one per 128."""
    i8 = operand_type("int8")
    assert mac_cost(i8, operand_type("q2_k"), 7).energy_pj == pytest.approx(0.04246, abs=5e-5)
    assert mac_cost(i8, operand_type("q4_1"), 7).energy_pj == pytest.approx(0.03892, abs=5e-5)
    a128, a64 = operand_type("int4a_g128"), operand_type("int4a_g64")
    assert mac_cost(i8, a128, 7).energy_pj == pytest.approx(0.03090, abs=5e-5)
    assert mac_cost(i8, a128, 7).energy_pj == pytest.approx(mac_cost(i8, replace(a64, scale_multiplies=1), 7).energy_pj)
    g128 = operand_type("int4_g128")
    extra = mac_cost(i8, g128).energy_pj - mac_cost(i8, replace(g128, group_size=None, scale_bits=0)).energy_pj
    assert extra == pytest.approx(multiplier(FP16, FP16, "pj") / 128, rel=1e-12)


@pytest.mark.parametrize("kind", ["q2_k", "q4_1", "iq4_xs", "int4a_g128"])
@pytest.mark.parametrize("arch, terms", [("tpu-like", 4096), ("u280", "accumulate_terms")])
def test_family_compute_energy_takes_the_count(arch, terms, kind):
    """A MAC family's compute energy of a GEMM grows as its MAC does over the same format priced with one
    scale per group (q2_k: systolic 2.08x at 28 nm; FPGA DSP chains, their accumulator length, 2.01x)."""
    a = load_arch(arch)
    n = a.compute[terms] if isinstance(terms, str) else terms
    ops = gemm_ops([("g", 16, 4096, 4096)])
    w, one, i8 = operand_type(kind), replace(operand_type(kind), scale_multiplies=1), operand_type("int8")
    e = evaluate(a, ops, Precision(weights=w, activations="int8")).totals["energy_compute_j"]
    e1 = evaluate(a, ops, Precision(weights=one, activations="int8")).totals["energy_compute_j"]
    node = a.tech.node_nm
    ratio = mac_cost(i8, w, node, n).energy_pj / mac_cost(i8, one, node, n).energy_pj
    assert e / e1 == pytest.approx(ratio, rel=1e-9) and ratio > (2.0 if kind == "q2_k" else 1.01)


def test_lut_dequantise_step_takes_the_count():
    """The lut family's group dequantise: per output, scale_multiplies per group along k."""
    ops = OpColumns.from_frame(gemm_ops([("g", 4, 4096, 4096)]))
    for kind, count in WANT.items():
        prec = Precision(weights=kind).resolve()
        assert lut_core.dequant_ops(ops, prec)[0] == 4 * 4096 * (4096 / prec.weights.group_size) * count
    g128 = Precision(weights="int4_g128").resolve()
    assert lut_core.dequant_ops(ops, g128)[0] == 4 * 4096 * 4096 / 128
    per_channel = Precision(weights="int4a_pc").resolve()
    assert lut_core.dequant_ops(ops, per_channel)[0] == 4 * 4096
    assert np.isfinite(lut_core.dequant_ops(ops, prec)).all()
