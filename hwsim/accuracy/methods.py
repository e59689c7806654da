"""Quantization methods as transforms applied to a linear layer before it is measured
(REFERENCES.md "Quantization methods").

A method is a name: transforms then at most one rounding, joined by "+" (`rotate+gptq`,
`smoothquant+rtn`, `awq`); no rounding named means `rtn`.

  rtn              round to nearest with the format (the baseline)
  gptq[_noact]     GPTQ with H from calibration inputs, 1% dampening, act-order (unless _noact), blocks of 128
  awq              AWQ: input-channel scales s = mean|X|^α (normalised), α from {0, 0.05, …, 0.95}
                   minimising the layer's output error with the quantized weight; W·diag(s) is quantized
                   and 1/s is folded into the input (the preceding op in a deployment)
  smoothquant[_aA] SmoothQuant: s_j = max|X_j|^α / max|W_j|^(1−α) (α = A, default 0.5); X/s, W·s
  rotate           orthogonal (randomized Hadamard) rotation R of the input channels: X·R, W·R

Every transform leaves the float layer exactly equivalent (y = x·Wᵀ); what changes is what the weight
and activation quantizers see. `PreparedLinear.input(x)` applies the input side (the activation
quantizer then sees it); `effective_weight()` maps the quantized weight back to the original basis.
Per-layer rotations are what QuaRot fuses into the neighbouring weights (the residual-stream rotation) or
runs online (before down_proj). MiniLM (post-LN) applies them per layer; the decoder forward pass (llm)
rotates its residual stream with the norms folded and keeps per-layer rotations for o_proj and down_proj.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hwsim.errors import HwsimError, closest

if TYPE_CHECKING:
    from hwsim.formats import Format

ROUNDINGS = ("rtn", "gptq", "gptq_noact")
TRANSFORMS = ("rotate", "smoothquant", "awq")
KNOWN_METHODS = (
    "rtn",
    "gptq",
    "gptq_noact",
    "awq",
    "smoothquant",
    "rotate",
    "rotate+gptq",
    "awq+gptq",
    "smoothquant+gptq",
)
AWQ_GRID = tuple(i / 20 for i in range(20))  # AWQ's grid of 20 ratios
AWQ_TOKENS = 128  # calibration rows the α search uses (evenly spaced)
_SQ = re.compile(r"smoothquant(?:_a(\d*\.?\d+))?")


@dataclass(frozen=True)
class Method:
    name: str
    transforms: tuple[tuple[str, float], ...]  # (kind, parameter)
    rounding: str

    @property
    def rotates(self) -> bool:
        return any(k == "rotate" for k, _ in self.transforms)

    @property
    def needs_calibration(self) -> bool:
        return self.rounding != "rtn" or any(k in ("awq", "smoothquant") for k, _ in self.transforms)


def parse_method(name: str | Method | None) -> Method:
    """`rotate+gptq` → Method; unknown parts raise HwsimError with the closest names."""
    if isinstance(name, Method):
        return name
    text = "rtn" if name is None else str(name).strip().lower()
    parts = [p.strip() for p in text.split("+")] if text else []
    if not parts or any(not p for p in parts):
        raise HwsimError(f"a method is names joined by '+', got {name!r}", field="method")
    transforms, rounding = [], None
    for i, p in enumerate(parts):
        if p in ROUNDINGS:
            if i != len(parts) - 1:
                raise HwsimError(f"{p!r} rounds the weights: it must come last in {text!r}", field="method")
            rounding = p
        elif p in ("rotate", "awq"):
            transforms.append((p, 0.0))
        elif m := _SQ.fullmatch(p):
            alpha = float(m[1]) if m[1] else 0.5
            if not 0.0 <= alpha <= 1.0:
                raise HwsimError(f"smoothquant α must be in [0, 1], got {alpha}", field="method")
            transforms.append(("smoothquant", alpha))
        else:
            raise HwsimError(
                f"unknown method {p!r}: methods are {', '.join(ROUNDINGS + TRANSFORMS)}, "
                f"joined by '+' (e.g. rotate+gptq){closest(p, ROUNDINGS + TRANSFORMS)}",
                field="method",
            )
    kinds = [k for k, _ in transforms]
    twice = next((k for k in kinds if kinds.count(k) > 1), None)
    if twice is not None:  # rotate+rotate applied the same seeded rotation twice (R·R), awq+awq searched twice
        raise HwsimError(f"{twice!r} is given twice in {text!r}: give each transform once", field="method")
    return Method(text, tuple(transforms), rounding or "rtn")


def check_applies(method: Method, fmt: Format | None) -> None:
    """One clear error when a method cannot use a format (GPTQ needs a scale fixed before rounding)."""
    if fmt is None or method.rounding == "rtn":
        return
    if fmt.scaling in ("absmean", "ggml") or fmt.stochastic:
        why = {
            "absmean": "its absmean scale depends on the whole rounded tensor (BitNet models are trained "
            "quantized, not post-trained)",
            "ggml": "llama.cpp block types are not supported by GPTQ here",
        }.get(fmt.scaling, "it rounds stochastically")
        raise HwsimError(f"{method.rounding} does not apply to {fmt.name}: {why}; use rtn", field="method")


@dataclass
class PreparedLinear:
    """A linear layer after a method: the quantized weight in the transformed basis and the input
    transforms (applied in order: ("scale", s) divides channels by s, ("rotate", seed) multiplies by
    `hadamard.rotation(n, seed)`, computed as a fast Walsh-Hadamard transform by `hadamard.rotate`)."""

    weight: np.ndarray
    ops: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ops = [(k, int(v) if k == "rotate" else np.asarray(v, dtype=np.float32)) for k, v in self.ops]

    def input(self, x: np.ndarray) -> np.ndarray:
        from hwsim.accuracy.hadamard import rotate

        x = np.asarray(x, dtype=np.float32)
        for kind, v in self.ops:
            x = x / v if kind == "scale" else rotate(x, v)
        return x

    def effective_weight(self) -> np.ndarray:
        """The quantized weight in the original basis: y = x·W_effᵀ when activations are not quantized."""
        from hwsim.accuracy.hadamard import rotate

        w = np.asarray(self.weight, dtype=np.float32)
        for kind, v in reversed(self.ops):
            w = w / v if kind == "scale" else rotate(w, v, transpose=True)
        return w


def _awq_scale(w: np.ndarray, x: np.ndarray, fmt: Format) -> np.ndarray:
    """AWQ's per-input-channel scale: α grid search on the layer output error (activations fp)."""
    mean_abs = np.maximum(np.abs(x).mean(0), 1e-8)
    xs = x[np.linspace(0, x.shape[0] - 1, min(x.shape[0], AWQ_TOKENS)).astype(np.int64)].astype(np.float32)
    w32 = w.astype(np.float32)  # the search runs in float32 (2× faster GEMMs); the chosen s stays float64
    best, best_s = np.inf, np.ones(w.shape[1])
    ws = np.empty_like(w32)
    for a in AWQ_GRID:
        s = mean_abs**a
        s = s / np.sqrt(s.max() * s.min())
        s32 = s.astype(np.float32)
        delta = np.asarray(fmt.quantize(np.multiply(w32, s32, out=ws), axis=-1), dtype=np.float32)
        delta = np.subtract(w32, np.divide(delta, s32, out=delta), out=delta)  # W − Q(W·s)/s, in place
        y = xs @ delta.T
        err = float(np.square(y, out=y).sum())  # ‖X(W − Ŵ)ᵀ‖²: the reference output is common to all α
        if err < best:
            best, best_s = err, s
    return best_s


def _smooth_scale(w: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    xa = np.maximum(np.abs(x).max(0), 1e-5)
    wa = np.maximum(np.abs(w).max(0), 1e-5)
    return xa**alpha / wa ** (1.0 - alpha)


def prepare_linear(
    w: np.ndarray, fmt: Format | None, method: Method | str | None = None, x: np.ndarray | None = None, *, seed: int = 0
) -> PreparedLinear:
    """Apply a method to one linear layer W (out × in) with calibration inputs x (tokens × in).
    fmt None keeps the weight unquantized (transforms still apply: activations may be quantized)."""
    from hwsim.accuracy.gptq import gptq
    from hwsim.accuracy.hadamard import rotate

    method = parse_method(method)
    check_applies(method, fmt)
    if method.needs_calibration and x is None:
        raise HwsimError(f"method {method.name} needs calibration activations", field="calibration")
    dtype = np.float32 if np.asarray(w).dtype == np.float32 else np.float64
    w = np.asarray(w, dtype=np.float64)
    xc = None if x is None else np.asarray(x, dtype=np.float64).reshape(-1, w.shape[1])
    ops: list[tuple[str, np.ndarray | int]] = []  # ("scale", s) or ("rotate", seed)
    for kind, param in method.transforms:
        if kind == "rotate":
            w, ops = rotate(w, seed), ops + [("rotate", seed)]
            xc = None if xc is None else rotate(xc, seed)
            continue
        if fmt is None and kind == "awq":
            continue  # AWQ protects weights: nothing to do without a weight format
        assert xc is not None, f"{kind} scales from calibration activations (refused above without them)"
        # awq with fmt None continued above: fmt is a Format here (mypy does not narrow through the `and`)
        s = _awq_scale(w, xc, fmt) if kind == "awq" else _smooth_scale(w, xc, param)  # type: ignore[arg-type]
        w, ops = w * s, ops + [("scale", s)]
        xc = xc / s
    if fmt is None:
        wq = w
    elif method.rounding == "rtn":
        wq = fmt.quantize(w, axis=-1)
    else:
        wq = gptq(w, fmt, xc, act_order=method.rounding == "gptq")
    return PreparedLinear(np.asarray(wq, dtype=dtype), ops)
