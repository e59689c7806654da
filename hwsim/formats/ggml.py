"""llama.cpp's block quantization types (GGUF): q4_0, q8_0, q4_k, q5_k, q6_k.

Layouts and bits per weight from llama.cpp's ggml-quants (REFERENCES.md "Added for the second
wave / Formats"); the `gguf` PyPI package's reference dequantization is the check (tests decode
our packed blocks with it and compare value for value):

  q8_0  32 weights: fp16 d, 32 int8 codes;                     x̂ = d·q                     8.5 bits
  q4_0  32 weights: fp16 d, 32 4-bit codes;                    x̂ = d·(q − 8)               4.5 bits
  q4_k  256 weights: fp16 d, dmin; 8 × (6-bit sc, 6-bit m); 4-bit codes; x̂ = d·sc·q − dmin·m  4.5 bits
  q5_k  as q4_k with 5-bit codes                                                          5.5 bits
  q6_k  256 weights: fp16 d; 16 × int8 sc; 6-bit codes;        x̂ = d·sc·(q − 32)           6.5625 bits

Quantization mirrors llama.cpp's reference code where it is closed-form (q4_0, q8_0: the same
float32 arithmetic, so the packed bytes equal `gguf.quants.quantize`). For the K-quants the
sub-block scales come from each sub-block's min/max (q4_k, q5_k) or signed absmax (q6_k), not from
llama.cpp's iterative scale search (make_qkx2_quants / make_qx_quants), which lowers error a little
further; the super-block scale quantization and the final rounding with the stored scales follow
llama.cpp. Arithmetic is float32 throughout, as in ggml (float64 input is rounded to float32 first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hwsim.formats import kernels
from hwsim.formats.format import Format
from hwsim.formats.grouping import to_groups
from hwsim.formats.integer import IntElement

QK_K = 256
F32 = np.float32

# type → (block size, element bits, metadata bits per block, code grid lo, hi)
TYPES = {
    "q8_0": (32, 8, 16, -127, 127),
    "q4_0": (32, 4, 16, -8, 7),
    "q4_k": (QK_K, 4, 16 + 16 + 96, 0, 15),
    "q5_k": (QK_K, 5, 16 + 16 + 96, 0, 31),
    "q6_k": (QK_K, 6, 16 + 128, -32, 31),
}
TYPE_SIZE = {"q8_0": 34, "q4_0": 18, "q4_k": 144, "q5_k": 176, "q6_k": 210}  # bytes per block


def _fp16(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float16).astype(F32)


def _rint(a: np.ndarray) -> np.ndarray:
    return np.rint(a)  # ggml's nearest_int: the 1.5·2^23 trick, round half to even


def _roundf(a: np.ndarray) -> np.ndarray:
    return np.sign(a) * np.floor(np.abs(a) + F32(0.5))  # C roundf: half away from zero


def _safe_inv(d: np.ndarray, num: float = 1.0) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(d == 0, F32(0), F32(num) / d).astype(F32)


def encode(kind: str, blocks: np.ndarray) -> dict[str, np.ndarray]:
    """Codes and scales of float32 blocks (n × block size), as llama.cpp stores them."""
    b = np.asarray(blocks, dtype=F32)
    n = b.shape[0]
    if kind == "q8_0":
        d = (np.abs(b).max(-1, keepdims=True) / F32(127)).astype(F32)
        q = _roundf(b * _safe_inv(d)).astype(np.int8)
        return {"d": _fp16(d), "q": q}
    if kind == "q4_0":
        imax = np.abs(b).argmax(-1)[:, None]
        d = (np.take_along_axis(b, imax, -1) / F32(-8)).astype(F32)
        q = np.clip(np.trunc(b * _safe_inv(d) + F32(8.5)), 0, 15).astype(np.uint8)
        return {"d": _fp16(d), "q": q}
    if kind in ("q4_k", "q5_k"):
        top = 15 if kind == "q4_k" else 31
        sb = b.reshape(n, 8, 32)
        lo = np.minimum(sb.min(-1), F32(0))
        scale = ((sb.max(-1) - lo) / F32(top)).astype(F32)
        mins = -lo
        ms, mm = scale.max(-1, keepdims=True), mins.max(-1, keepdims=True)
        sc = np.clip(_rint(_safe_inv(ms, 63.0) * scale), 0, 63).astype(np.uint8)
        m = np.clip(_rint(_safe_inv(mm, 63.0) * mins), 0, 63).astype(np.uint8)
        d, dmin = _fp16(ms / F32(63)), _fp16(mm / F32(63))
        ds = (d * sc.astype(F32))[..., None]
        dm = (dmin * m.astype(F32))[..., None]
        q = np.where(ds > 0, np.clip(_rint((sb + dm) * _safe_inv(ds)), 0, top), 0).astype(np.uint8)
        return {"d": d, "dmin": dmin, "sc": sc, "m": m, "q": q.reshape(n, QK_K)}
    if kind == "q6_k":
        sb = b.reshape(n, 16, 16)
        imax = np.abs(sb).argmax(-1)[..., None]
        scale = (np.take_along_axis(sb, imax, -1)[..., 0] / F32(-32)).astype(F32)
        jmax = np.abs(scale).argmax(-1)[:, None]
        max_scale = np.take_along_axis(scale, jmax, -1)
        iscale = _safe_inv(max_scale, -128.0)
        d = _fp16(_safe_inv(iscale))
        sc = np.minimum(_rint(iscale * scale), 127).astype(np.int8)
        ds = (d * sc.astype(F32))[..., None]
        q = np.where(ds != 0, np.clip(_rint(sb * _safe_inv(ds)), -32, 31), 0) + 32
        return {"d": d, "sc": sc, "q": q.astype(np.uint8).reshape(n, QK_K)}
    raise KeyError(kind)


def decode(kind: str, enc: dict[str, np.ndarray]) -> np.ndarray:
    """float32 blocks from codes and scales (the same float32 operations as gguf's dequantize)."""
    q = enc["q"]
    n = q.shape[0]
    if kind == "q8_0":
        return q.astype(F32) * enc["d"]
    if kind == "q4_0":
        return enc["d"] * (q.astype(np.int8) - np.int8(8)).astype(F32)
    if kind in ("q4_k", "q5_k"):
        d = (enc["d"] * enc["sc"].astype(F32))[..., None]
        dm = (enc["dmin"] * enc["m"].astype(F32))[..., None]
        return (d * q.reshape(n, 8, 32).astype(F32) - dm).reshape(n, QK_K)
    d = (enc["d"] * enc["sc"].astype(F32))[..., None]
    return (d * (q.astype(np.int8) - np.int8(32)).reshape(n, 16, 16).astype(F32)).reshape(n, QK_K)


def _k_scales(sc: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Pack 8 six-bit scales and mins into llama.cpp's 12 bytes (get_scale_min_k4's inverse)."""
    out = np.zeros((sc.shape[0], 12), np.uint8)
    out[:, 0:4] = (sc[:, :4] & 0x3F) | ((sc[:, 4:] >> 4) << 6)
    out[:, 4:8] = (m[:, :4] & 0x3F) | ((m[:, 4:] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:] & 0x0F) | ((m[:, 4:] & 0x0F) << 4)
    return out


def pack(kind: str, enc: dict[str, np.ndarray]) -> np.ndarray:
    """GGUF bytes (n blocks × TYPE_SIZE[kind], uint8) of encoded blocks."""
    q = enc["q"]
    n = q.shape[0]
    f16 = lambda a: a.astype(np.float16).reshape(n, 1).view(np.uint8)  # noqa: E731
    if kind == "q8_0":
        return np.concatenate([f16(enc["d"]), q.view(np.uint8)], 1)
    if kind == "q4_0":
        return np.concatenate([f16(enc["d"]), q[:, :16] | (q[:, 16:] << 4)], 1)
    if kind in ("q4_k", "q5_k"):
        c = q.reshape(n, 4, 2, 32)  # 64-weight chunks: low nibbles the first 32, high the next 32
        ql = (c[:, :, 0] & 0x0F) | ((c[:, :, 1] & 0x0F) << 4)
        parts = [f16(enc["d"]), f16(enc["dmin"]), _k_scales(enc["sc"], enc["m"])]
        if kind == "q5_k":  # bit b of qh[i] is the fifth bit of weight 32·b + i
            hi = (q.reshape(n, 8, 32) >> 4) & 1
            parts.append((hi << np.arange(8, dtype=np.uint8)[None, :, None]).sum(1).astype(np.uint8))
        return np.concatenate(parts + [ql.reshape(n, 128)], 1)
    c = q.reshape(n, 2, 4, 32)  # halves of 128: four 32-weight quarters
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
    def scale_bits(self) -> int:
        return TYPES[self.kind][2]

    def values(self) -> np.ndarray:
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
    el = IntElement.make(bits, asymmetric=lo == 0)
    return GgmlFormat(
        name=kind, family="gguf", element=el, scaling="ggml", granularity="group", group_size=block, kind=kind
    )
