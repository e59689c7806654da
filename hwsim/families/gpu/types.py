"""Tensor-core input types of a GPU and the type a pair of operands runs at.

A GPU multiplies two operands on its tensor cores in one of a few input types. A pair runs at the
rate of the narrowest type that both operands convert to without loss and that the GPU supports
(its preset lists a rate, `tc_fma_<type>`); among types of the same width the faster wins. Why
lossless: a kernel may widen an operand (weight-only int4 is dequantised to fp16) but never
narrow one, which would change the numbers the user asked for.

Conversion rules (hardware sees a format only through its OperandType):
- integer → integer type: element bits ≤ the type's bits;
- float → float type: exponent bits and mantissa bits both ≤ one of the type's encodings;
- n-bit signed integer → float type: exact when n ≤ mantissa + 2 (|x| ≤ 2^(n-1) ≤ 2^(mantissa+1));
  the exponent range of every type here covers those magnitudes;
- float → integer type: never.
Codebook formats (NF4) reach the GPU as integers of their code width; kernels dequantise them, so
paired with fp16 activations they run at the fp16 rate as they should.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any, Mapping

import numpy as np

from hwsim.core.schema import Field
from hwsim.core.precision import OperandType
from hwsim.tech.components import priced_once


@dataclass(frozen=True)
class TensorType:
    name: str
    width: int  # bits of one element, for "narrowest"
    integer_bits: int = 0  # a signed integer type of this many bits, or 0
    floats: tuple[tuple[int, int], ...] = ()  # (exponent bits, mantissa bits) encodings of a float type

    @property
    def field(self) -> str:
        return f"tc_fma_{self.name}"

    def holds(self, t: OperandType) -> bool:
        """Whether every value of operand type `t` is exact in this type."""
        if self.integer_bits:
            return not t.is_float and t.element_bits <= self.integer_bits
        if t.is_float:
            return any(t.exponent_bits <= e and t.mantissa_bits <= m for e, m in self.floats)
        return any(t.element_bits <= m + 2 for _, m in self.floats)


# narrowest first; fp8 covers OCP E4M3 and E5M2 (Hopper multiplies either with either)
TENSOR_TYPES: tuple[TensorType, ...] = (
    TensorType("int4", 4, integer_bits=4),
    TensorType("fp4", 4, floats=((2, 1),)),
    TensorType("fp6", 6, floats=((2, 3), (3, 2))),  # OCP E2M3 / E3M2 (Blackwell: at the fp8 rate)
    TensorType("int8", 8, integer_bits=8),
    TensorType("fp8", 8, floats=((4, 3), (5, 2))),
    TensorType("fp16", 16, floats=((5, 10),)),
    TensorType("bf16", 16, floats=((8, 7),)),
    TensorType("tf32", 19, floats=((8, 10),)),
)

_RATE_FIELDS = tuple(tt.field for tt in TENSOR_TYPES)
TC_RATE_FIELDS: dict[str, Field] = {
    tt.field: Field(
        "int",
        required=tt.name == "fp16",
        default=None,
        doc=f"dense {tt.name} FMA per tensor core per clock"
        + ("" if tt.name == "fp16" else f" (omitted: no {tt.name} tensor-core path)"),
    )
    for tt in TENSOR_TYPES
}


def pair_types(compute: Mapping[str, Any], a: OperandType, b: OperandType) -> tuple[TensorType, ...]:
    """The narrowest supported tensor types that hold both operands of an a × b product on a GPU
    with these `compute` fields (several only when types of one width tie); () → CUDA cores."""
    return _pair_types(tuple(compute.get(f) is not None for f in _RATE_FIELDS), a, b)


@priced_once  # every engine call asks for its pairs' types: kept per (types the GPU has, a, b)
def _pair_types(supported: tuple[bool, ...], a: OperandType, b: OperandType) -> tuple[TensorType, ...]:
    usable = [tt for tt, has in zip(TENSOR_TYPES, supported) if has and tt.holds(a) and tt.holds(b)]
    return tuple(tt for tt in usable if tt.width == usable[0].width)


def pair_fma(compute: Mapping[str, Any], a: OperandType, b: OperandType) -> float | np.ndarray | None:
    """Dense FMA per tensor core per clock of an a × b product (the fastest of tied types; arrays
    in sweeps broadcast), or None when it runs on the CUDA cores."""
    types = pair_types(compute, a, b)
    return reduce(np.maximum, [compute[tt.field] for tt in types]) if types else None
