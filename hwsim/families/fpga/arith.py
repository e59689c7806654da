"""FPGA arithmetic: what one multiply-accumulate of a format pair costs in DSP slices or LUTs.

Pure functions of operand types (hwsim.core.precision.OperandType); no arch. The accumulated
term count may be an array over design points (a swept compute.accumulate_terms).

DSP packing (products per slice per cycle, one operand shared between the packed products):
- DSP48E2 (27×18 multiplier, 48-bit accumulator, UG579): two INT8 products per slice (Xilinx WP486
  "Deep learning with INT8 optimization", 2016; WP487 reaches 1.75–2 per slice in dot products);
  four ≤4-bit products (AMD FINN RTL MVU `mvu_4sx4u`, DSP48E2 and DSP58; assumed to hold for
  signed × signed 4-bit).
- DSP58 (27×24 multiplier, 58-bit accumulator, AMD AM004): three INT8 products (FINN `mvu_8sx9`,
  the DSP58 INT8 dot-product mode); four ≤4-bit products (FINN `mvu_4sx4u`).
- One product when it fits the multiplier; wider products tile ceil(a/27)·ceil(b/B) slices
  (assumed: schoolbook tiling, B = 18 or 24).

LUT costs (LUT6 fabric):
- integer a×b multiplier: (2·ceil((a+b)/6) − 1)·(a+b) LUTs (the FINN-R cost model, Blott et al.,
  TRETS 2018, as in FINN's `lut_estimation`); an accumulator or adder costs one LUT per bit
  (LUT + carry chain; FINN counts acc_luts = acc_bits).
- minifloat ExMy × ExMy with exact (Kulisch) accumulation — assumed construction, each term named:
  mantissa multiplier (Ma+1)×(Mb+1) by the FINN-R formula, + hidden-bit detect (1 LUT per operand),
  + exponent adder (max(Ea, Eb) + 1), + conditional negate of the product (Ma+Mb+2),
  + alignment shifter (Ma+Mb+2+S)·ceil(log2(S)/2) with S = 2^Ea + 2^Eb − 1 positions
  (a LUT6 is a 4:1 multiplexer), + the Kulisch accumulator.
- "with conversion": the unit's output is normalised back to a float of the wider input mantissa Mo
  (leading-zero count on the accumulator, one LUT per 2 bits, + a shifter selecting Mo+2 bits out of
  the accumulator's positions + a rounding adder of Mo+2 bits); an integer unit needs none.

Accumulator widths follow REFERENCES.md (hwsim.tech.datapath.accumulator_bits): integer a + b +
ceil(log2 n) + 1; minifloat Kulisch 2^Ea + Ma + 2^Eb + Mb + ceil(log2 n) − 1; wider floats (fp16,
bf16) accumulate in fp32 (its adder priced with the same shifter/LZC terms on a 24-bit mantissa).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, overload

import numpy as np

from hwsim.core.precision import OperandType
from hwsim.tech.datapath import accumulator_bits, as_scalar

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

DSP_MULT = {"dsp48e2": (27, 18), "dsp58": (27, 24)}  # UG579 / AM004 multiplier port widths
# products per slice for operands up to 4 and up to 8 bits (sources in the module docstring)
DSP_PACK = {"dsp48e2": {4: 4, 8: 2}, "dsp58": {4: 4, 8: 3}}
FP32_MANTISSA = 24


def is_minifloat(t: OperandType) -> bool:
    return t.is_float and t.element_bits < 16


def fixed_bits(t: OperandType) -> int:
    """Bits of the exact signed fixed-point image of an operand: integers as they are; a float
    ExMy spans mantissa + all binades: M + 2^E − 1 magnitude bits + sign (E2M1 → 5, E4M3 → 19)."""
    if not t.is_float:
        return int(t.element_bits)
    return int(t.mantissa_bits + 2**t.exponent_bits)


def dsp_products(dsp: str, a_bits: int, b_bits: int) -> float:
    """Products per DSP slice per cycle for an a-bit × b-bit integer multiply (a is shared)."""
    widest = max(a_bits, b_bits)
    for limit, packed in sorted(DSP_PACK[dsp].items()):
        if widest <= limit:
            return float(packed)
    big, small = DSP_MULT[dsp]
    hi, lo = max(a_bits, b_bits), min(a_bits, b_bits)
    return 1.0 / (math.ceil(hi / big) * math.ceil(lo / small))


def lut_int_multiplier(a_bits: int, b_bits: int) -> int:
    """FINN-R LUT cost of an a×b integer multiplier."""
    w = a_bits + b_bits
    return (2 * math.ceil(w / 6) - 1) * w


@overload
def shifter_luts(width: int, positions: int) -> int: ...
@overload
def shifter_luts(width: int, positions: np.ndarray) -> np.ndarray: ...


def shifter_luts(width: int, positions: int | np.ndarray) -> int | np.ndarray:
    """A barrel shifter moving `width` bits over `positions` places, built from 4:1 LUT6 muxes.
    `positions` may be an array (an accumulator width over design points)."""
    p = np.asarray(positions, dtype=np.int64)
    levels = np.ceil(np.log2(np.maximum(p, 1)) / 2).astype(np.int64)
    return as_scalar(np.where(p <= 1, 0, (width + p) * levels))


def _float_fields(t: OperandType) -> tuple[int, int]:
    """(exponent bits, mantissa bits) as a float multiplier sees an operand (integer: E0, M = bits−1)."""
    if t.is_float:
        return int(t.exponent_bits), int(t.mantissa_bits)
    return 0, max(int(t.element_bits) - 1, 1)


def accumulator(a: OperandType, b: OperandType, terms: ArrayLike) -> tuple:
    """(bits, is_float) of the accumulator of `terms` products, REFERENCES.md formulas (arrays when
    `terms` is an array over design points)."""
    return accumulator_bits(a, b, terms)


def fp32_adder_luts() -> int:
    """An fp32 adder in LUTs: align + add + leading-zero count + normalise on a 24-bit mantissa
    (assumed construction, same terms as the minifloat unit)."""
    m = FP32_MANTISSA + 2
    return 2 * shifter_luts(m, m) + m + math.ceil(m / 2) + 8


def lut_mac(a: OperandType, b: OperandType, terms: ArrayLike, conversion: bool = False) -> int | np.ndarray:
    """LUTs of one multiply-accumulate unit for the pair, accumulating `terms` products (an int, or
    an array when `terms` is one)."""
    acc, acc_float = accumulator(a, b, terms)
    acc_luts = as_scalar(np.where(acc_float, fp32_adder_luts(), acc))
    if not a.is_float and not b.is_float:
        return lut_int_multiplier(a.element_bits, b.element_bits) + acc_luts
    (ea, ma), (eb, mb) = _float_fields(a), _float_fields(b)
    prod = ma + mb + 2
    positions = 2**ea + 2**eb - 1
    luts = lut_int_multiplier(ma + 1, mb + 1) + 2 + max(ea, eb) + 1 + prod + shifter_luts(prod, positions) + acc_luts
    if conversion:  # normalise the accumulator to an output float of the wider mantissa
        out = max(ma, mb) + 2
        luts = luts + (acc + 1) // 2 + shifter_luts(out, acc) + out
    return luts


def conversion_luts(t: OperandType) -> int:
    """LUTs converting one float operand to its exact fixed-point image (a shift by the exponent);
    integers need none."""
    if not t.is_float:
        return 0
    return shifter_luts(t.mantissa_bits + 1, 2**t.exponent_bits - 1) + 1
