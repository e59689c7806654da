"""Format names → `Format` objects (the grammar is documented in docs/formats.md).

    name    := base ( "_" option )*
    base    := int<k> | int<k>a | e<E>m<M> | fp8_e4m3 | fp8_e5m2 | fp6_e3m2 | fp6_e2m3 | fp4_e2m1
             | fp16 | bf16 | fp32 | mxfp8_e4m3 | mxfp8_e5m2 | mxfp6_e3m2 | mxfp6_e2m3 | mxfp4 | mxint8
             | nvfp4 | nf4 | bitmod_fp4 | bitmod_fp3 | ternary | binary | bfp<k>
             | q4_0 | q8_0 | q4_k | q5_k | q6_k            (llama.cpp / GGUF block types)
    option  := g<N> (groups of N along the axis) | pc (per channel) | pt (per tensor)
             | s<scale> (fp16 bf16 fp32 e8m0 e4m3 u8 int8) | sr (stochastic rounding)
             | floor | ceil   (power-of-two scales: OCP MX exponent rule, or rounded up: no clipping)
             | b<bias> | nosub | ieee | fn | ovf | sat      (minifloat element options)

Minifloats saturate on overflow by default (OCP conversions); fp16/bf16/fp32 follow IEEE and
overflow to ±Inf unless `_sat` is given.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from hwsim.errors import HwsimError, closest
from hwsim.formats.codebook import SignElement, bitmod_variants, nf4
from hwsim.formats.format import Format
from hwsim.formats.ggml import TYPES as GGML_TYPES
from hwsim.formats.ggml import ggml_format
from hwsim.formats.integer import IntElement
from hwsim.formats.minifloat import MinifloatElement
from hwsim.formats.scales import parse_scale, scale_names

# OCP names → (E, M, specials); REFERENCES.md "Number formats"
_OCP = {
    "e4m3": (4, 3, "fn"),
    "e5m2": (5, 2, "ieee"),
    "e3m2": (3, 2, "none"),
    "e2m3": (2, 3, "none"),
    "e2m1": (2, 1, "none"),
}
_OCP_WIDTH = {"fp8": ("e4m3", "e5m2"), "fp6": ("e3m2", "e2m3"), "fp4": ("e2m1",)}
_IEEE = {"fp16": (5, 10), "bf16": (8, 7), "fp32": (8, 23)}
_MX_ELEMENTS = {"mxfp8": ("e4m3", "e5m2"), "mxfp6": ("e3m2", "e2m3"), "mxfp4": ("e2m1",)}

KNOWN_FORMATS = (
    "fp32",
    "fp16",
    "bf16",
    "fp8_e4m3",
    "fp8_e5m2",
    "fp6_e3m2",
    "fp6_e2m3",
    "fp4_e2m1",
    "mxfp8_e4m3",
    "mxfp8_e5m2",
    "mxfp6_e3m2",
    "mxfp6_e2m3",
    "mxfp4",
    "mxint8",
    "mxfp4_ceil",
    "nvfp4",
    "int8",
    "int8_pc",
    "int8_g128",
    "int4",
    "int4_pc",
    "int4_g128",
    "int4a_g128",
    "int4_g64",
    "int4a_g64",
    "int4_g32",
    "int3_g128",
    "int3a_g128",
    "int2_g64",
    "int2a_g64",
    "e3m2_g32_se8m0",
    "e2m1_g16_sfp16",
    "e4m3_pc",
    "nf4_g64",
    "nf4_g128",
    "bitmod_fp4_g128",
    "bitmod_fp3_g128",
    "ternary",
    "binary",
    "bfp8_g16",
    "bfp4_g16",
    *GGML_TYPES,  # llama.cpp types: q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs
)


def _err(name: str, why: str) -> HwsimError:
    return HwsimError(f"unknown or invalid format {name!r}: {why}{closest(name, KNOWN_FORMATS)}", field="format")


def _int_in(name: str, text: str, lo: int, hi: int, what: str) -> int:
    v = int(text)
    if not lo <= v <= hi:
        raise _err(name, f"{what} must be in {lo}..{hi}, got {v}")
    return v


def _base(name: str, tokens: list[str]) -> dict[str, Any]:
    """Consume the base token(s); return a dict of format settings."""
    t = tokens.pop(0)
    if m := re.fullmatch(r"int(\d+)(a?)", t):
        k = _int_in(name, m[1], 2, 16, "integer bits")
        asym = bool(m[2])
        return dict(
            family="int",
            element=IntElement.make(k, asymmetric=asym),
            scaling="minmax" if asym else "absmax",
            granularity="tensor",
        )
    if m := re.fullmatch(r"e(\d+)m(\d+)", t):
        e = _int_in(name, m[1], 1, 8, "exponent bits")
        return dict(family="minifloat", mf=[e, _int_in(name, m[2], 0, 23, "mantissa bits"), "none"])
    if t in _OCP_WIDTH:
        sub = tokens.pop(0) if tokens else ""
        if sub not in _OCP_WIDTH[t]:
            raise _err(name, f"{t} needs one of {', '.join(t + '_' + s for s in _OCP_WIDTH[t])}")
        return dict(family="minifloat", mf=list(_OCP[sub]))
    if t in _IEEE:
        return dict(family="float", mf=[*_IEEE[t], "ieee"])
    if t in _MX_ELEMENTS:
        allowed = _MX_ELEMENTS[t]
        sub = tokens.pop(0) if tokens and tokens[0] in allowed else (allowed[0] if len(allowed) == 1 else "")
        if not sub:
            raise _err(name, f"{t} needs one of {', '.join(t + '_' + s for s in allowed)}")
        return dict(family="mx", mf=list(_OCP[sub]), granularity="group", group_size=32, scale="e8m0")
    if t == "mxint8":
        return dict(
            family="mx", element=IntElement.make(8, step=2.0**-6), granularity="group", group_size=32, scale="e8m0"
        )
    if m := re.fullmatch(r"bfp(\d+)", t):
        k = _int_in(name, m[1], 2, 16, "mantissa bits")
        return dict(
            family="bfp",
            element=IntElement.make(k, step=2.0 ** -(k - 2)),
            granularity="group",
            group_size=16,
            scale="e8m0",
        )
    if t == "nvfp4":  # E2M1 in blocks of 16, E4M3 block scale under an fp32 per-tensor scale
        return dict(family="nvfp4", mf=list(_OCP["e2m1"]), granularity="group", group_size=16, scale="e4m3")
    if t == "nf4":
        return dict(family="nf4", element=nf4(), scaling="absmax", granularity="group", group_size=64)
    if t == "bitmod":
        sub = tokens.pop(0) if tokens else ""
        if sub not in ("fp4", "fp3"):
            raise _err(name, "bitmod needs bitmod_fp4 or bitmod_fp3")
        variants = bitmod_variants(sub)
        return dict(
            family="bitmod",
            element=variants[0],
            variants=variants,
            scaling="bitmod",
            granularity="group",
            group_size=128,
            scale="u8",
        )
    if t in ("ternary", "binary"):
        el = IntElement.make(2) if t == "ternary" else SignElement.make()
        return dict(family=t, element=el, scaling="absmean", granularity="tensor")
    raise _err(name, f"no base format {t!r}")


# what each option sets: two options of one name setting the same thing conflict (the last one won, silently:
# int4_g128_g64 was int4_g64, int4_pc_pt per tensor, e4m3_fn_ieee IEEE-like)
_SLOTS = (
    (r"g\d+|pc|pt", "grouping"),
    (r"floor|ceil", "exponent rule"),
    (r"sr", "rounding"),
    (r"b-?\d+", "exponent bias"),
    (r"nosub", "subnormals"),
    (r"ovf|sat", "overflow rule"),
    (r"ieee|fn", "special values"),
    (r"s[a-z0-9]+", "scale format"),  # after sr and sat
)


def _check_slots(name: str, tokens: list[str]) -> None:
    seen: dict[str, str] = {}
    for t in tokens:
        slot = next((what for pat, what in _SLOTS if re.fullmatch(pat, t)), None)
        if slot is None:
            continue
        if slot in seen:
            twice = f"option {t!r} is given twice" if seen[slot] == t else f"options {seen[slot]!r} and {t!r} both set"
            raise _err(name, f"{twice} the {slot}: keep one" if seen[slot] != t else f"{twice}: keep one")
        seen[slot] = t


def _options(name: str, tokens: list[str], cfg: dict) -> None:
    mf_opts = {"nosub": ("subnormals", False), "ovf": ("saturate", False), "sat": ("saturate", True)}
    _check_slots(name, tokens)
    for t in tokens:
        if m := re.fullmatch(r"g(\d+)", t):
            cfg["granularity"], cfg["group_size"] = "group", _int_in(name, m[1], 1, 1 << 20, "group size")
        elif t in ("pc", "pt"):
            cfg["granularity"], cfg["group_size"] = ("channel" if t == "pc" else "tensor"), None
        elif t in ("floor", "ceil"):
            cfg["scale_rule"] = t
        elif t == "sr":
            cfg["stochastic"] = True
        elif t.startswith("s") and parse_scale(t[1:]):
            cfg["scale"] = t[1:]
        elif "mf" in cfg and (m := re.fullmatch(r"b(-?\d+)", t)):
            cfg["bias"] = int(m[1])
        elif "mf" in cfg and t in mf_opts:
            key, val = mf_opts[t]
            cfg[key] = val
        elif "mf" in cfg and t in ("ieee", "fn"):
            cfg["mf"][2] = t
        else:
            raise _err(
                name,
                f"unknown option {t!r} (options: g<N>, pc, pt, sr, floor, ceil, s<scale> with scale in "
                f"{', '.join(scale_names())}; minifloats also b<bias>, nosub, ieee, fn, ovf, sat)",
            )


@functools.lru_cache(maxsize=512)
def get_format(name: str | Format) -> Format:
    """Build a Format from its name (see module docstring); a Format passes through."""
    if isinstance(name, Format):
        return name
    if not isinstance(name, str) or not name.strip():
        raise HwsimError(f"a format name must be a non-empty string, got {name!r}", field="format")
    norm = name.strip().lower()
    if norm in GGML_TYPES:
        return ggml_format(norm)
    tokens = norm.split("_")
    cfg = _base(norm, tokens)
    _options(norm, tokens, cfg)
    if "mf" in cfg:
        e, m, specials = cfg.pop("mf")
        cfg["element"] = MinifloatElement.make(
            e,
            m,
            bias=cfg.pop("bias", None),
            specials=specials,
            subnormals=cfg.pop("subnormals", True),
            saturate=cfg.pop("saturate", cfg["family"] != "float"),
        )
        if cfg.get("granularity", "none") != "none" or "scale" in cfg:
            cfg.setdefault("granularity", "tensor")
            cfg.setdefault("scaling", "absmax")
    scale = parse_scale(cfg.pop("scale", "fp16"))
    if scale is None:  # the tokenizer accepts only known scale names: unreachable unless a default changes
        raise _err(norm, "unknown scale format")
    if cfg.get("scale_rule", "floor") != "floor" and not scale.is_pow2:
        raise _err(norm, "floor/ceil choose the exponent rule of power-of-two (e8m0) scales only")
    if cfg.get("granularity", "none") == "group" and cfg["group_size"] is None:
        raise _err(norm, "group granularity needs g<N>")
    if scale.is_pow2:
        if cfg.get("scaling", "pow2") not in ("absmax", "pow2"):
            raise _err(norm, f"{cfg['scaling']} scaling needs a linear scale format, not e8m0")
        cfg["scaling"] = "pow2"
    cfg.setdefault("scaling", "none")
    return Format(name=norm, scale_format=scale if cfg["scaling"] != "none" else None, **cfg)


def list_formats() -> list[str]:
    """Canonical names of the formats hwsim lists (any name the grammar accepts also works)."""
    return list(KNOWN_FORMATS)
