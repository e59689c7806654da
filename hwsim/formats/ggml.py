"""llama.cpp's block quantization types (GGUF): q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k,
iq4_nl, iq4_xs, tq1_0, tq2_0.

Layouts and bits per weight from llama.cpp's ggml-common.h block structs (bits = 8 × sizeof(block_<type>) /
weights per block; REFERENCES.md "Added for the second wave / Formats"); the `gguf` PyPI package's reference
dequantization is the check (tests decode our packed blocks with it and compare value for value):

  q8_0    32: fp16 d, 32 int8 codes;                           x̂ = d·q                      8.5 bits
  q4_0    32: fp16 d, 4-bit codes;                             x̂ = d·(q − 8)                4.5 bits
  q4_1    32: fp16 d, m, 4-bit codes;                          x̂ = d·q + m                  5 bits
  q5_0    32: fp16 d, 5-bit codes (fifth bits in qh);          x̂ = d·(q − 16)               5.5 bits
  q5_1    32: fp16 d, m, 5-bit codes;                          x̂ = d·q + m                  6 bits
  q2_k    256: fp16 d, dmin; 16 × (4-bit sc, 4-bit m); 2-bit;  x̂ = d·sc·q − dmin·m          2.625 bits
  q3_k    256: fp16 d; 16 × 6-bit sc; 3-bit codes (hmask);     x̂ = d·(sc − 32)·(q − 4)      3.4375 bits
  q4_k    256: fp16 d, dmin; 8 × (6-bit sc, 6-bit m); 4-bit;   x̂ = d·sc·q − dmin·m          4.5 bits
  q5_k    as q4_k with 5-bit codes                                                          5.5 bits
  q6_k    256: fp16 d; 16 × int8 sc; 6-bit codes;              x̂ = d·sc·(q − 32)            6.5625 bits
  iq4_nl  32: fp16 d, 4-bit codes into kvalues_iq4nl (16 values, −127…113);  x̂ = d·K[q]     4.5 bits
  iq4_xs  256: fp16 d; 8 × 6-bit sc; 4-bit codes into the same table;  x̂ = d·(sc − 32)·K[q]  4.25 bits
  tq1_0   256: fp16 d; ternary codes, 5 per byte (then 4);      x̂ = d·t, t ∈ {−1, 0, 1}      1.6875 bits
  tq2_0   256: fp16 d; ternary codes, 2 bits each;              x̂ = d·t                      2.0625 bits

Quantization mirrors llama.cpp's reference code where it is closed-form (q8_0, q4_0, q4_1, q5_0, q5_1, and tq1_0 /
tq2_0 with d = the block's amax: the same
float32 arithmetic, so the packed bytes equal `gguf.quants.quantize`). For the K-quants and IQ4 the sub-block
scales come from each sub-block's min/max (q2_k, q4_k, q5_k) or signed absmax over the lowest code value
(q3_k: −4, q6_k: −32, iq4_nl / iq4_xs: −127), not from llama.cpp's iterative, weighted scale searches
(make_qkx2_quants, make_q3_quants, make_qx_quants, quantize_row_iq4_nl_impl), which lower error further; the
super-block scale quantization and the final rounding with the stored scales follow llama.cpp (IQ4: nearest
table value). Arithmetic is float32 throughout, as in ggml (float64 input is rounded to float32 first).
IQ4 codes index a table (hwsim's codebook element): hardware looks them up, so the datapath sees fp16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hwsim.formats import kernels
from hwsim.formats.codebook import GridElement
from hwsim.formats.element import Element
from hwsim.formats.format import Format
from hwsim.formats.grouping import to_groups
from hwsim.formats.integer import IntElement

QK_K = 256
F32 = np.float32

# type → (block size, element bits, metadata bits per block, code grid lo, hi); element bits × block + metadata
# bits = 8 × sizeof(block_<type>) in ggml-common.h (TYPE_SIZE; tests check it against gguf.GGML_QUANT_SIZES)
TYPES = {
    "q8_0": (32, 8, 16, -127, 127),
    "q4_0": (32, 4, 16, -8, 7),
    "q4_1": (32, 4, 16 + 16, 0, 15),
    "q5_0": (32, 5, 16, -16, 15),
    "q5_1": (32, 5, 16 + 16, 0, 31),
    "q2_k": (QK_K, 2, 128 + 16 + 16, 0, 3),
    "q3_k": (QK_K, 3, 96 + 16, -4, 3),
    "q4_k": (QK_K, 4, 16 + 16 + 96, 0, 15),
    "q5_k": (QK_K, 5, 16 + 16 + 96, 0, 31),
    "q6_k": (QK_K, 6, 16 + 128, -32, 31),
    "iq4_nl": (32, 4, 16, -127, 113),
    "iq4_xs": (QK_K, 4, 16 + 48, -127, 113),
    "tq1_0": (QK_K, 2, 16, -1, 1),  # ternary codes; storage packs 5 per byte (1.6 bits): bits_per_element
    "tq2_0": (QK_K, 2, 16, -1, 1),
}
TYPE_SIZE = {  # bytes per block: sizeof(block_<type>)
    "q8_0": 34,
    "q4_0": 18,
    "q4_1": 20,
    "q5_0": 22,
    "q5_1": 24,
    "q2_k": 84,
    "q3_k": 110,
    "q4_k": 144,
    "q5_k": 176,
    "q6_k": 210,
    "iq4_nl": 18,
    "iq4_xs": 136,
    "tq1_0": 54,
    "tq2_0": 66,
}
# ggml-common.h kvalues_iq4nl: the 16 values an IQ4 code stands for (before the block scale)
IQ4_VALUES = (-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)
# types whose encoder is llama.cpp's closed-form reference quantizer (the packed bytes equal gguf.quants.quantize)
CLOSED_FORM = ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "tq1_0", "tq2_0")
CODEBOOK = {"iq4_nl": IQ4_VALUES, "iq4_xs": IQ4_VALUES}
_SUB = {"q2_k": 16, "q3_k": 16, "q4_k": 32, "q5_k": 32, "q6_k": 16, "iq4_xs": 32}  # sub-block sizes
# blocks with mins: block_q2_K / q4_K / q5_K carry dmin and a min per sub-block, block_q4_1 / q5_1 one min m
_WITH_MINS = ("q2_k", "q4_k", "q5_k", "q4_1", "q5_1")


def _fp16(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float16).astype(F32)


def _rint(a: np.ndarray) -> np.ndarray:
    return np.rint(a)  # ggml's nearest_int: the 1.5·2^23 trick, round half to even


def _roundf(a: np.ndarray) -> np.ndarray:
    return np.sign(a) * np.floor(np.abs(a) + F32(0.5))  # C roundf: half away from zero


def _safe_inv(d: np.ndarray, num: float = 1.0) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(d == 0, F32(0), F32(num) / d).astype(F32)


def _nearest_code(t: np.ndarray, kind: str) -> np.ndarray:
    """Index of the codebook value nearest each t (a tie takes the lower value)."""
    v = np.asarray(CODEBOOK[kind], dtype=F32)
    return np.searchsorted((v[:-1] + v[1:]) / F32(2), t).astype(np.uint8)


def _signed_max(b: np.ndarray, half: int) -> dict[str, np.ndarray]:
    """q4_0 / q5_0 (llama.cpp's closed-form reference): d = the block's signed max / −half, q = d⁻¹x + half."""
    imax = np.abs(b).argmax(-1)[:, None]
    d = (np.take_along_axis(b, imax, -1) / F32(-half)).astype(F32)
    q = np.clip(np.trunc(b * _safe_inv(d) + F32(half + 0.5)), 0, 2 * half - 1).astype(np.uint8)
    return {"d": _fp16(d), "q": q}


def _min_max(b: np.ndarray, top: int) -> dict[str, np.ndarray]:
    """q4_1 / q5_1 (closed-form reference): d = (max − min)/top, m = min, q = (x − min)/d rounded half up."""
    lo = b.min(-1, keepdims=True)
    d = ((b.max(-1, keepdims=True) - lo) / F32(top)).astype(F32)
    q = np.clip(np.trunc((b - lo) * _safe_inv(d) + F32(0.5)), 0, top).astype(np.uint8)
    return {"d": _fp16(d), "m": _fp16(lo), "q": q}


def _affine_k(b: np.ndarray, sub: int, top: int, levels: int) -> dict[str, np.ndarray]:
    """q2_k / q4_k / q5_k: per sub-block scale (max − min)/top and min −min (min clipped at 0), both quantized
    to `levels` steps of the super-block's fp16 d / dmin; codes rounded with the stored scales."""
    n = b.shape[0]
    sb = b.reshape(n, -1, sub)
    lo = np.minimum(sb.min(-1), F32(0))
    scale = ((sb.max(-1) - lo) / F32(top)).astype(F32)
    mins = -lo
    ms, mm = scale.max(-1, keepdims=True), mins.max(-1, keepdims=True)
    sc = np.clip(_rint(_safe_inv(ms, levels) * scale), 0, levels).astype(np.uint8)
    m = np.clip(_rint(_safe_inv(mm, levels) * mins), 0, levels).astype(np.uint8)
    d, dmin = _fp16(ms / F32(levels)), _fp16(mm / F32(levels))
    ds = (d * sc.astype(F32))[..., None]
    dm = (dmin * m.astype(F32))[..., None]
    q = np.where(ds > 0, np.clip(_rint((sb + dm) * _safe_inv(ds)), 0, top), 0).astype(np.uint8)
    return {"d": d, "dmin": dmin, "sc": sc, "m": m, "q": q.reshape(n, -1)}


def _signed_k(b: np.ndarray, kind: str, nmax: int) -> dict[str, np.ndarray]:
    """q3_k / q6_k / iq4_xs: per sub-block scale = signed absmax / (lowest code value), quantized to a signed
    integer in [−nmax, nmax) of the super-block's fp16 d (the largest maps to −nmax); codes rounded with the
    stored scales (integer grid, or the nearest IQ4 codebook value)."""
    n, lo, hi = b.shape[0], TYPES[kind][3], TYPES[kind][4]
    sb = b.reshape(n, -1, _SUB[kind])
    imax = np.abs(sb).argmax(-1)[..., None]
    scale = (np.take_along_axis(sb, imax, -1)[..., 0] / F32(lo)).astype(F32)
    jmax = np.abs(scale).argmax(-1)[:, None]
    iscale = _safe_inv(np.take_along_axis(scale, jmax, -1), -nmax)
    d = _fp16(_safe_inv(iscale))
    sc = np.clip(_rint(iscale * scale), -nmax, nmax - 1).astype(np.int8)
    ds = (d * sc.astype(F32))[..., None]
    t = sb * _safe_inv(ds)
    if kind in CODEBOOK:
        q = np.where(ds != 0, _nearest_code(t, kind), 8).astype(np.uint8)  # code 8 (value 1) × a zero scale
    else:
        q = (np.where(ds != 0, np.clip(_rint(t), lo, hi), 0) - lo).astype(np.uint8)
    return {"d": d, "sc": sc, "q": q.reshape(n, -1)}


def encode(kind: str, blocks: np.ndarray) -> dict[str, np.ndarray]:
    """Codes and scales of float32 blocks (n × block size), as llama.cpp stores them."""
    b = np.asarray(blocks, dtype=F32)
    if kind == "q8_0":
        d = (np.abs(b).max(-1, keepdims=True) / F32(127)).astype(F32)
        q = _roundf(b * _safe_inv(d)).astype(np.int8)
        return {"d": _fp16(d), "q": q}
    if kind in ("q4_0", "q5_0"):
        return _signed_max(b, -TYPES[kind][3])
    if kind in ("q4_1", "q5_1"):
        return _min_max(b, TYPES[kind][4])
    if kind in ("q2_k", "q4_k", "q5_k"):
        return _affine_k(b, _SUB[kind], TYPES[kind][4], 15 if kind == "q2_k" else 63)
    if kind in ("q3_k", "q6_k", "iq4_xs"):
        return _signed_k(b, kind, 128 if kind == "q6_k" else 32)
    if kind in ("tq1_0", "tq2_0"):  # llama.cpp's closed form: d = amax, q = roundf(x/d) ∈ {−1, 0, 1}
        d = np.abs(b).max(-1, keepdims=True)
        return {"d": _fp16(d), "q": (_roundf(b * _safe_inv(d)) + 1).astype(np.uint8)}
    if kind == "iq4_nl":  # d = the signed max / −127 (that weight lands on the code −127 exactly)
        imax = np.abs(b).argmax(-1)[:, None]
        d = _fp16((np.take_along_axis(b, imax, -1) / F32(IQ4_VALUES[0])).astype(F32))
        return {"d": d, "q": np.where(d != 0, _nearest_code(b * _safe_inv(d), kind), 8).astype(np.uint8)}
    raise KeyError(kind)


def decode(kind: str, enc: dict[str, np.ndarray]) -> np.ndarray:
    """float32 blocks from codes and scales (the same float32 operations as gguf's dequantize)."""
    q = enc["q"]
    n = q.shape[0]
    lo = TYPES[kind][3]
    if kind == "q8_0":
        return q.astype(F32) * enc["d"]
    if kind in ("q4_0", "q5_0", "tq1_0", "tq2_0"):
        return enc["d"] * (q.astype(np.int8) - np.int8(-lo)).astype(F32)
    if kind in ("q4_1", "q5_1"):
        return enc["d"] * q.astype(F32) + enc["m"]
    if kind == "iq4_nl":
        return enc["d"] * np.asarray(IQ4_VALUES, dtype=F32)[q]
    sub = q.reshape(n, -1, _SUB[kind])
    d = (enc["d"] * enc["sc"].astype(F32))[..., None]
    if kind in ("q2_k", "q4_k", "q5_k"):
        dm = (enc["dmin"] * enc["m"].astype(F32))[..., None]
        return (d * sub.astype(F32) - dm).reshape(n, -1)
    if kind == "iq4_xs":
        return (d * np.asarray(IQ4_VALUES, dtype=F32)[sub]).reshape(n, -1)
    return (d * (sub.astype(np.int8) - np.int8(-lo)).astype(F32)).reshape(n, -1)


def _k_scales(sc: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Pack 8 six-bit scales and mins into llama.cpp's 12 bytes (get_scale_min_k4's inverse)."""
    out = np.zeros((sc.shape[0], 12), np.uint8)
    out[:, 0:4] = (sc[:, :4] & 0x3F) | ((sc[:, 4:] >> 4) << 6)
    out[:, 4:8] = (m[:, :4] & 0x3F) | ((m[:, 4:] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:] & 0x0F) | ((m[:, 4:] & 0x0F) << 4)
    return out


def _q3_scales(ls: np.ndarray) -> np.ndarray:
    """16 six-bit scales (stored +32) → block_q3_K's 12 bytes: low nibbles of j and j+8 in byte j (j < 8),
    then the top two bits of scale 4k + j at bits 2k of byte 8 + j."""
    low = (ls[:, :8] & 0x0F) | ((ls[:, 8:] & 0x0F) << 4)
    top = ((ls >> 4) & 3).reshape(-1, 4, 4) << (2 * np.arange(4, dtype=np.uint8))[None, :, None]
    return np.concatenate([low, top.sum(1).astype(np.uint8)], 1)


def _bit_planes(bits: np.ndarray, width: int) -> np.ndarray:
    """Bit b of byte i is the bit of weight width·b + i (q5_k's qh, q3_k's hmask)."""
    n = bits.shape[0]
    planes = bits.reshape(n, -1, width)
    return (planes << np.arange(planes.shape[1], dtype=np.uint8)[None, :, None]).sum(1).astype(np.uint8)


def _nibbles(q: np.ndarray, half: int) -> np.ndarray:
    """Pairs of 4-bit codes per byte: in each run of 2·half codes, code i low and code i + half high."""
    c = q.reshape(q.shape[0], -1, 2, half)
    return ((c[:, :, 0] & 0x0F) | ((c[:, :, 1] & 0x0F) << 4)).reshape(q.shape[0], -1)


def _crumbs(q: np.ndarray) -> np.ndarray:
    """2-bit codes, four per byte: in each 128 weights, byte i holds weights i, 32 + i, 64 + i, 96 + i."""
    c = q.reshape(q.shape[0], -1, 4, 32) & 3
    return (
        (c << (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]).sum(2).astype(np.uint8).reshape(q.shape[0], -1)
    )


def _trits(q: np.ndarray) -> np.ndarray:
    """block_tq1_0's qs and qh: 5 ternary digits per byte (weights 0–159: byte i holds weights i, 32 + i, … 128 + i;
    160–239: byte 32 + i holds 160 + i, 176 + i, … 224 + i), then 4 per byte (240–255: byte i holds 240 + i, 244 + i,
    248 + i, 252 + i). A byte stores its digits t₀…t₄ (t₀ first) as ⌈256·Σ tₖ·3^(4−k) / 243⌉, so that multiplying
    by 3^k (mod 256) brings digit k to the top and (·3) >> 8 reads it."""
    n = q.shape[0]
    groups = [q[:, :160].reshape(n, 5, 32), q[:, 160:240].reshape(n, 5, 16), q[:, 240:].reshape(n, 4, 4)]
    out = []
    for g in groups:
        weights = 3 ** np.arange(4, 4 - g.shape[1], -1)  # 81, 27, 9, 3 (, 1)
        value = (g.astype(np.uint16) * weights[None, :, None].astype(np.uint16)).sum(1)
        out.append(((value * 256 + 242) // 243).astype(np.uint8))
    return np.concatenate(out, 1)


def pack(kind: str, enc: dict[str, np.ndarray]) -> np.ndarray:
    """GGUF bytes (n blocks × TYPE_SIZE[kind], uint8) of encoded blocks (field order of block_<type>)."""
    q = enc["q"]
    n = q.shape[0]
    f16 = lambda a: a.astype(np.float16).reshape(n, 1).view(np.uint8)  # noqa: E731
    if kind == "q8_0":
        return np.concatenate([f16(enc["d"]), q.view(np.uint8)], 1)
    if kind in ("q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"):
        parts = [f16(enc["d"])] + ([f16(enc["m"])] if "m" in enc else [])
        if kind in ("q5_0", "q5_1"):  # qh: bit j of a little-endian uint32 is the fifth bit of weight j
            parts.append(np.packbits((q >> 4) & 1, axis=-1, bitorder="little"))
        return np.concatenate(parts + [_nibbles(q, 16)], 1)
    if kind in ("q4_k", "q5_k"):
        parts = [f16(enc["d"]), f16(enc["dmin"]), _k_scales(enc["sc"], enc["m"])]
        if kind == "q5_k":
            parts.append(_bit_planes((q >> 4) & 1, 32))
        return np.concatenate(parts + [_nibbles(q, 32)], 1)  # 64-weight chunks: low nibbles 32, high the next 32
    if kind == "q2_k":
        scales = (enc["sc"] & 0x0F) | (enc["m"] << 4)
        return np.concatenate([scales, _crumbs(q), f16(enc["d"]), f16(enc["dmin"])], 1)
    if kind == "q3_k":
        ls = (enc["sc"].astype(np.int16) + 32).astype(np.uint8)
        return np.concatenate([_bit_planes((q >> 2) & 1, 32), _crumbs(q), _q3_scales(ls), f16(enc["d"])], 1)
    if kind == "tq2_0":
        return np.concatenate([_crumbs(q), f16(enc["d"])], 1)
    if kind == "tq1_0":
        return np.concatenate([_trits(q), f16(enc["d"])], 1)
    if kind == "iq4_xs":
        ls = (enc["sc"].astype(np.int16) + 32).astype(np.uint16)
        high = ((ls >> 4) & 3) << (2 * np.arange(8, dtype=np.uint16))
        low = ((ls[:, 0::2] & 0x0F) | ((ls[:, 1::2] & 0x0F) << 4)).astype(np.uint8)
        scales_h = high.sum(1, dtype=np.uint16).astype("<u2").reshape(n, 1).view(np.uint8)
        return np.concatenate([f16(enc["d"]), scales_h, low, _nibbles(q, 16)], 1)
    c = q.reshape(n, 2, 4, 32)  # q6_k: halves of 128, four 32-weight quarters
    ql = np.concatenate(
        [(c[:, :, 0] & 0x0F) | ((c[:, :, 2] & 0x0F) << 4), (c[:, :, 1] & 0x0F) | ((c[:, :, 3] & 0x0F) << 4)], 2
    )
    qh = ((c >> 4) << (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]).sum(2).astype(np.uint8)
    return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), enc["sc"].view(np.uint8), f16(enc["d"])], 1)


@dataclass(frozen=True)
class GgmlFormat(Format):
    """A llama.cpp block type: quantize runs its own block code instead of the element kernels."""

    kind: str = ""

    @property
    def bits_per_element(self) -> float:
        """Storage bits: the block's bytes × 8 / its weights (tq1_0 packs its 2-bit ternary codes 5 to a byte)."""
        return TYPE_SIZE[self.kind] * 8 / TYPES[self.kind][0]

    @property
    def scale_bits(self) -> int:
        return TYPES[self.kind][2]

    @property
    def scale_multiplies(self) -> int:
        """Per block and output, one multiply per stored scale and min as llama.cpp's dot products apply
        them (ggml-cpu/quants.c): each sub-block's integer partial sum by its scale sc, with mins each
        sub-block's activation sum by its min, then the block's sums by d and (with mins) dmin; a type
        without sub-blocks multiplies by d and (q4_1 / q5_1) adds its min m times the activation block's
        precomputed sum s. Counts from ggml-common.h's block structs:
          block_q2_K 16 scales + 16 mins + d + dmin = 34 (ggml_vec_dot_q2_K_q8_K_generic: `isum += d * isuml`,
          `summs += bsums[j] * (sc[j] >> 4)`, `dall * isum - dmin * summs`), block_q3_K 16 + d = 17,
          block_q4_K / block_q5_K 8 + 8 + 2 = 18, block_q6_K 16 + d = 17;
          block_iq4_xs 8 six-bit sub-block scales + d = 9 (arch/x86/quants.c ggml_vec_dot_iq4_xs_q8_K, AVX2:
          the partial sums times each `ls - 32`, the block's sum times d·d8 once);
          block_q4_1 / block_q5_1 d + m = 2 (ggml_vec_dot_q4_1_q8_1_generic: `(d * y.d) * sumi + m * y.s`);
          q8_0, q4_0, q5_0, iq4_nl, tq1_0, tq2_0: d = 1."""
        mins = self.kind in _WITH_MINS
        block = TYPES[self.kind][0]
        sub_blocks = block // _SUB[self.kind] if self.kind in _SUB else 0
        return sub_blocks * (1 + mins) + 1 + mins

    def values(self) -> np.ndarray:
        if self.kind in CODEBOOK:
            return np.asarray(CODEBOOK[self.kind], dtype=np.float64)
        _, _, _, lo, hi = TYPES[self.kind]
        return np.arange(lo, hi + 1, dtype=np.float64)

    def quantize(self, x: ArrayLike, axis: int = -1, *, seed: int | None = None) -> np.ndarray:
        # a block whose fp16 scale overflows reads back as NaN (as a NaN/Inf block does), without numpy's
        # overflow/invalid warnings (a dozen stderr lines for one such tensor)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._quantize(np.asarray(x), axis)

    def _quantize(self, x: np.ndarray, axis: int) -> np.ndarray:
        dtype = np.float32 if x.dtype in (np.float32, np.float16) else np.float64
        if x.size == 0:
            return x.astype(dtype)
        if x.ndim == 0:
            return self._quantize(x.reshape(1), -1).reshape(())
        block = self.group_size
        assert block is not None, "llama.cpp types always have a block size"
        g3, _, restore = to_groups(x.astype(F32, copy=False), axis, "group", block)
        blocks = g3.reshape(-1, block)
        if self.kind == "q4_0":  # the common type, fused in numba (same float32 operations, same bytes)
            d, q = kernels.q4_0_scales(blocks)
            out = kernels.q4_0_dequant(blocks, _fp16(d), q, np.empty_like(blocks))
            return restore(out.reshape(g3.shape)).astype(dtype, copy=False)
        out = decode(self.kind, encode(self.kind, blocks)).reshape(g3.shape)
        bad = ~np.isfinite(blocks).all(-1)  # no scale can represent NaN/Inf: the block reads as NaN
        out.reshape(-1, block)[bad] = np.nan
        res = restore(out).astype(dtype)
        return np.where(res == 0, np.copysign(np.zeros((), dtype), x), res)


def ggml_format(kind: str) -> GgmlFormat:
    block, bits, _, lo, _ = TYPES[kind]
    el: Element  # IQ4 codes index a table of non-uniform values: hwsim's codebook element (the datapath sees fp16)
    el = (
        GridElement.make(CODEBOOK[kind], bits, codebook=True)
        if kind in CODEBOOK
        else IntElement.make(bits, asymmetric=lo == 0)
    )
    return GgmlFormat(
        name=kind, family="gguf", element=el, scaling="ggml", granularity="group", group_size=block, kind=kind
    )
