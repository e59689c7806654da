"""Datapath cost per format pair: area and energy of one multiply-accumulate.

Built from the Horowitz 45 nm table (hwsim.tech.tables) with two-point fits, then node-scaled:
- integer a×b multiplier: E = α·a·b + γ, fitted through int8 (0.2 pJ) and int32 (3.1 pJ); area alike;
- float multiplier: mantissa product α_f·(ma+1)(mb+1) plus exponent add and normalisation
  β·(ea_max + 1 + ma + mb + 2), fitted through fp16 (1.1 pJ) and fp32 (3.7 pJ); an integer operand
  enters a float multiply with no exponent and its magnitude bits as mantissa;
- adders interpolate int 8/16/32-bit and fp 16/32-bit linearly in width;
- accumulator: integer products of a-bit × b-bit over n terms need a + b + ceil(log2 n) + 1 bits;
  float × float accumulates exactly (Kulisch) in 2^Ea + Ma + 2^Eb + Mb + ceil(log2 n) - 1 bits when
  that is ≤ 64 (minifloats), else in an fp32 adder (fp16/bf16 inputs: the usual tensor-core choice);
- group scales: one scale multiply (fp16-class) per group, amortised over the group; a format with several
  scales per group multiplies each (OperandType.scale_multiplies: a llama.cpp K-quant's or iq4_xs's sub-block
  scales and mins and its super-block d and dmin, q4_1 / q5_1's d and m, an asymmetric INT group's scale and
  zero point; hwsim.formats).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hwsim.core.precision import OperandType
from hwsim.tech.scaling import scale_area, scale_energy
from hwsim.tech.tables import HOROWITZ_45NM as H

NODE = 45.0


def _fit2(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    slope = (y2 - y1) / (x2 - x1)
    return slope, y1 - slope * x1


_INT_MUL_E = _fit2(64, H["int_mult_8_pj"].value, 1024, H["int_mult_32_pj"].value)
_INT_MUL_A = _fit2(64, H["int_mult_8_um2"].value, 1024, H["int_mult_32_um2"].value)


def _fp_fit(key: str) -> tuple[float, float]:
    # y = α·P + β·W with P = (m+1)², W = e + 1 + 2m + 2 for fp16 (e5 m10) and fp32 (e8 m23)
    p1, w1, p2, w2 = 11 * 11, 5 + 1 + 22, 24 * 24, 8 + 1 + 48
    y1, y2 = H[f"fp_mult_16_{key}"].value, H[f"fp_mult_32_{key}"].value
    alpha = (y2 - y1 * w2 / w1) / (p2 - p1 * w2 / w1)
    return alpha, (y1 - alpha * p1) / w1


_FP_MUL_E, _FP_MUL_A = _fp_fit("pj"), _fp_fit("um2")


def _interp(width: ArrayLike, table: dict[int, float]) -> np.ndarray:
    xs = sorted(table)
    ys = [table[x] for x in xs]
    slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    w = np.asarray(width, dtype=np.float64)
    inside = np.interp(w, xs, ys)
    return np.where(w > xs[-1], ys[-1] + slope * (w - xs[-1]), np.where(w < xs[0], ys[0] * w / xs[0], inside))


def int_add(width: ArrayLike, key: str = "pj") -> np.ndarray:
    return _interp(width, {b: H[f"int_add_{b}_{key}"].value for b in (8, 16, 32)})


def fp_add(width: ArrayLike, key: str = "pj") -> np.ndarray:
    return _interp(width, {b: H[f"fp_add_{b}_{key}"].value for b in (16, 32)})


def _mantissa(t: OperandType) -> int:
    return t.mantissa_bits if t.is_float else max(t.element_bits - 1, 1)


def multiplier(a: OperandType, b: OperandType, key: str = "pj") -> float:
    if not a.is_float and not b.is_float:
        alpha, gamma = _INT_MUL_E if key == "pj" else _INT_MUL_A
        return alpha * a.element_bits * b.element_bits + gamma
    alpha, beta = _FP_MUL_E if key == "pj" else _FP_MUL_A
    ma, mb = _mantissa(a), _mantissa(b)
    exp = max(a.exponent_bits if a.is_float else 0, b.exponent_bits if b.is_float else 0)
    return alpha * (ma + 1) * (mb + 1) + beta * (exp + 1 + ma + mb + 2)


# Any: a Python scalar of x's dtype (bool, int or float; numpy's stubs cannot tell which) or the array
def as_scalar(x: ArrayLike) -> Any:
    """Python scalars for scalar inputs (single design points), arrays over design points in sweeps."""
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


def accumulator_bits(a: OperandType, b: OperandType, terms: ArrayLike) -> tuple:
    """(width, is_float) of the accumulator for `terms` products (REFERENCES.md FPGA section rules).
    `terms` may be an array over design points; so are the results then."""
    log_n = np.ceil(np.log2(np.maximum(np.asarray(terms, dtype=np.float64), 2.0))).astype(np.int64)
    if not a.is_float and not b.is_float:
        return as_scalar(a.element_bits + b.element_bits + log_n + 1), False
    kulisch = (
        2 ** (a.exponent_bits if a.is_float else 0)
        + _mantissa(a)
        + 2 ** (b.exponent_bits if b.is_float else 0)
        + _mantissa(b)
        + log_n
        - 1
    )
    return as_scalar(np.where(kulisch <= 64, kulisch, 32)), as_scalar(kulisch > 64)


@dataclass(frozen=True)
class MacCost:
    energy_pj: float | np.ndarray  # float, or an array over design points (node or terms swept)
    area_um2: float | np.ndarray
    accumulator_bits: float | np.ndarray
    node_nm: float | np.ndarray


def mac_cost(
    a: OperandType, b: OperandType, node_nm: float | np.ndarray = NODE, terms: float | np.ndarray = 4096
) -> MacCost:
    """Energy (pJ) and area (µm²) of one a×b multiply-accumulate at a node (rule: hwsim.tech.scaling).
    `node_nm` and `terms` broadcast (arrays over design points in sweeps)."""
    try:  # one design point: the same few operand pairs are priced on every engine call
        return _mac_cost_at(a, b, node_nm, terms)  # type: ignore[arg-type]  # arrays: the TypeError below
    except TypeError:  # arrays (sweeps) are not hashable
        return _mac_cost(a, b, node_nm, terms)


def _mac_cost(a: OperandType, b: OperandType, node_nm: float | np.ndarray, terms: float | np.ndarray) -> MacCost:
    acc, acc_float = accumulator_bits(a, b, terms)
    e = multiplier(a, b, "pj") + np.where(acc_float, fp_add(acc, "pj"), int_add(acc, "pj"))
    ar = multiplier(a, b, "um2") + np.where(acc_float, fp_add(acc, "um2"), int_add(acc, "um2"))
    for t in (a, b):  # group dequantisation: fp16 scale multiplies, scale_multiplies per group (usually 1)
        if t.group_size and t.scale_bits:
            fp16 = OperandType("fp16", 16, 16, True, 5, 10)
            e = e + multiplier(fp16, fp16, "pj") * t.scale_multiplies / t.group_size
    return MacCost(as_scalar(scale_energy(e, NODE, node_nm)), as_scalar(scale_area(ar, NODE, node_nm)), acc, node_nm)


_mac_cost_at = functools.lru_cache(maxsize=1024, typed=True)(_mac_cost)
