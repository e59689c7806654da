"""Precision: the number formats of weights, activations and KV as the hardware sees them.

Hardware knows a format only through its bits per element (storage, scale overhead included) and
its datapath shape (integer or float, exponent and mantissa bits, element bits). A precision can
be given as a format name (resolved by hwsim.formats), a Format object, or a plain number of bits:
16 → fp16, 32 → fp32, any other number b → an integer datapath of
floor(b) bits whose storage costs b bits per element (4.0625 = int4 plus an 8-bit scale per 128).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from hwsim.formats import get_format
from hwsim.formats.grouping import row_bits

OPERANDS = ("weights", "activations", "kv")


@dataclass(frozen=True)
class OperandType:
    """What the datapath needs of one operand's format."""

    name: str
    bits: float  # storage bits per element, scale overhead included
    element_bits: int  # bits of one element as the multiplier sees it
    is_float: bool
    exponent_bits: int
    mantissa_bits: int  # for integers: magnitude bits
    group_size: int | None = None
    scale_bits: int = 0
    codebook: bool = False  # elements index a table of arbitrary values (NF4): the datapath sees them dequantized
    # scale (and min) multiplies per group per output of a dot product that applies them to partial sums: 1 for
    # one scale per group; asymmetric INT groups 2 (scale, zero point); llama.cpp types every sub-block's scale
    # (and min) plus the block's d (and dmin, or q4_1 / q5_1's m): hwsim.formats Format / GgmlFormat
    scale_multiplies: int = 1
    # one scale per group_size elements along each row, a group never spanning rows (hwsim.formats' group
    # granularity: Format.quantize pads each row's last group); False for bits given as a number, per-channel or
    # per-tensor scales and llama.cpp block types (their blocks tile whole rows)
    row_scaled: bool = False

    def bits_along(self, row: Any) -> Any:
        """Storage bits per element on rows of `row` elements (a number or an array of positive lengths):
        `bits` unless a row is not a whole number of groups (hwsim.formats.grouping.row_bits)."""
        if not self.row_scaled or self.group_size is None:
            return self.bits
        return row_bits(self.bits, self.scale_bits, self.group_size, row)

    def bits_on_rows(self, k_row: Any, v_row: Any) -> Any:
        """Storage bits per element of a KV cache holding, per token and head, one key row of `k_row` elements and
        one value row of `v_row` (numbers or arrays; 0 and 0: rows not known, `bits`): the quantizer groups keys
        and values per token and head along the row (hwsim.accuracy), so a group never spans two heads."""
        if not self.row_scaled or self.group_size is None:
            return self.bits
        k, v = np.asarray(k_row, dtype=np.float64), np.asarray(v_row, dtype=np.float64)
        total = k + v
        with np.errstate(divide="ignore", invalid="ignore"):
            got = (
                k * np.where(k > 0, self.bits_along(np.maximum(k, 1.0)), 0.0)
                + v * np.where(v > 0, self.bits_along(np.maximum(v, 1.0)), 0.0)
            ) / total
        got = np.where(total > 0, got, self.bits)
        return float(got) if got.ndim == 0 else got


_IEEE = {16: ("fp16", 5, 10), 32: ("fp32", 8, 23)}


def check_bits(bits: float, field: str) -> float:
    """A number of bits per element as every flag and field takes one (--weights/--activations/--kv numbers,
    trace --kv-bits): [1, 64]; below 1 bit no datapath has an element to work on."""
    if not math.isfinite(bits) or bits < 1 or bits > 64:
        raise HwsimError(
            f"bits must be in [1, 64] (1 = binary, 1.58 = ternary, 4.125 = int4 + scales), got {bits!r}", field=field
        )
    return bits


def _from_bits(bits: float, field: str) -> OperandType:
    check_bits(bits, field)
    if bits in _IEEE:
        name, e, m = _IEEE[int(bits)]
        return OperandType(name, float(bits), int(bits), True, e, m)
    el = max(1, math.floor(bits))
    return OperandType(f"{bits:g}b", float(bits), el, False, 0, max(el - 1, 1))


def _row_scaled(fmt: Any) -> bool:
    """Whether `fmt` keeps one scale per group along each row (OperandType.row_scaled)."""
    return (
        getattr(fmt, "granularity", None) == "group"
        and getattr(fmt, "scaling", None) != "ggml"
        and bool(getattr(fmt, "group_size", None))
        and bool(getattr(fmt, "scale_bits", 0))
    )


def _from_format(fmt: Any, field: str) -> OperandType:  # a Format, or anything else (→ 'not a Format')
    # codebook codes (Format.is_codebook) reach the datapath dequantized, as fp16 (as QLoRA's kernels do)
    if getattr(fmt, "is_codebook", False):
        name, e, m = _IEEE[16]
        return OperandType(
            str(fmt.name),
            float(fmt.bits_per_element),
            16,
            True,
            e,
            m,
            fmt.group_size,
            int(fmt.scale_bits or 0),
            codebook=True,
            scale_multiplies=int(getattr(fmt, "scale_multiplies", 1)),
            row_scaled=_row_scaled(fmt),
        )
    try:
        return OperandType(
            name=str(fmt.name),
            bits=float(fmt.bits_per_element),
            element_bits=int(fmt.element_bits),
            is_float=bool(fmt.is_float),
            exponent_bits=int(fmt.exponent_bits or 0),
            mantissa_bits=int(fmt.mantissa_bits or 0),
            group_size=fmt.group_size,
            scale_bits=int(fmt.scale_bits or 0),
            scale_multiplies=int(getattr(fmt, "scale_multiplies", 1)),
            row_scaled=_row_scaled(fmt),
        )
    except AttributeError as exc:
        raise HwsimError(f"not a Format (missing {exc.name!r})", field=field) from None


def operand_type(value: object, field: str = "precision") -> OperandType:
    """Resolve a format name, a Format, an OperandType or a number of bits."""
    if isinstance(value, OperandType):
        return value
    if isinstance(value, bool):
        raise HwsimError(f"expected a format name or a number of bits, got {value!r}", field=field)
    if isinstance(value, (int, float)):
        return _from_bits(float(value), field)
    if isinstance(value, str):
        text = value.strip()
        try:
            return _from_bits(float(text), field)
        except ValueError:
            pass
        try:
            fmt = get_format(text)
        except HwsimError as exc:
            raise HwsimError(exc.detail, field=field) from None
        return _from_format(fmt, field)
    return _from_format(value, field)


@dataclass(frozen=True)
class Precision:
    """Formats of weights, activations and KV cache (default fp16 everywhere)."""

    weights: object = 16
    activations: object = 16
    kv: object = 16

    def resolve(self) -> "ResolvedPrecision":
        return ResolvedPrecision(*(operand_type(getattr(self, o), f"precision.{o}") for o in OPERANDS))


@dataclass(frozen=True)
class ResolvedPrecision:
    weights: OperandType
    activations: OperandType
    kv: OperandType


_DEFAULT = Precision()
_RESOLVED: dict = {}  # (precision, its operands' types) → ResolvedPrecision: format names resolve for good
_KEPT_IDS: set = set()  # ids of the values of _RESOLVED (held there for good, so no id is reused)
# None, a format name or a number of bits as given (type and value: True is not 1, 4 is not 4.0) → the value kept
# in _RESOLVED for it, so a repeated call skips building its Precision and key (~2 µs of a one-GEMM cost())
_SHORT: dict = {}
_SHORT_TYPES = (type(None), str, int, float)


def resolve_precision(precision: "Precision | ResolvedPrecision | str | float | None") -> ResolvedPrecision:
    """The operand types of a precision, resolved once per distinct precision (every engine call asks; a
    format name always resolves alike, hwsim.formats.get_format). The key holds each operand's type, so
    True is never taken for 1 nor 4 for 4.0; an unhashable operand resolves every call."""
    short = (type(precision), precision)  # None, a format name or bits: the answer kept for it below
    got = _SHORT.get(short) if type(precision) in _SHORT_TYPES else None
    if got is not None:
        return got
    if precision is None:
        precision = _DEFAULT
    if isinstance(precision, ResolvedPrecision):
        return precision
    if not isinstance(precision, Precision):
        if isinstance(precision, bool) or not isinstance(precision, (str, int, float)):
            raise HwsimError(
                f"expected a Precision, a format name or a number of bits, got {type(precision).__name__} "
                f"({precision!r:.60})",
                field="precision",
            )
        precision = Precision(weights=precision)  # one format for the weights, as evaluate() always took
    try:
        key = (type(precision), precision, tuple(type(getattr(precision, o)) for o in OPERANDS))
        hit = _RESOLVED.get(key)
    except (TypeError, AttributeError):
        return precision.resolve()
    if hit is None:
        hit = precision.resolve()
        if len(_RESOLVED) < 4096:
            _RESOLVED[key] = hit
            _KEPT_IDS.add(id(hit))
    got_kept: ResolvedPrecision = hit
    if short[0] in _SHORT_TYPES and id(got_kept) in _KEPT_IDS and len(_SHORT) < 4096:
        _SHORT[short] = got_kept
    return got_kept


def is_kept(prec: ResolvedPrecision) -> bool:
    """Whether `prec` is one resolve_precision keeps (hashable, held for good: its identity stands for its value)."""
    return id(prec) in _KEPT_IDS
