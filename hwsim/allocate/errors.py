"""Accuracy cost of every (unit, format): sensitivity × quantization error, from real or synthetic tensors.

Per op and format, with Ŵ = format.quantize(W) (groups along the input dimension):
  weight error  ε_w = ‖W − Ŵ‖² / ‖W‖²                    (noise-to-signal ratio of the weights)
  output error  ε_o = ‖X(W − Ŵ)ᵀ‖² / ‖XWᵀ‖²              (on calibration activations X)
Proxies (REFERENCES.md "Mixed-precision allocation by integer programming"):
  uniform — every op equally sensitive: cost = ε_w;
  output  — the layer's relative output error on calibration activations: cost = ε_o (default);
  table   — a user sensitivity per op: cost = s · ε_w (file: CSV `name,sensitivity` or JSON {name: s});
  measured — end to end. A decoder checkpoint with --text (hwsim.accuracy.probes): cost = the mean KL of the
            next-token distribution vs the unquantized model with only unit u at format f, after the method,
            measured for every (unit, format). MiniLM, CalibTIP-style: s_u = Δloss_u / ε_o(u, ref), the loss
            increase (1 − mean cosine) with only unit u at a reference format (the lower-median candidate by
            bits); cost = s_u · ε_o.
  hessian  — HAWQ-V2-style (Dong et al. 2020), without quantizing in the loop: per op,
            g · Σ_i H_ii·‖W_:,i − Ŵ_:,i‖², with H = XᵀX/m the layer-local (GPTQ) Hessian from real calibration
            inputs X and g the loss curvature at the op's output from Hutchinson's estimator: KL(fp ‖ output
            + η·rms(y)·v) / (η² · E‖y‖²), v Rademacher, one noise probe per op instead of one per (op, format).
            A decoder checkpoint with calibration text (streamed one layer at a time); weights only.
KV units cost the mean noise-to-signal ratio of their key and value samples (× s under `table`).
With a method (`hwsim.accuracy.methods`: gptq, awq, rotate+gptq, …) Ŵ is the weight after the method,
mapped back to the original basis, fitted on the source's calibration inputs; `measured` runs the
model with the method too, so sensitivities are those of the deployed recipe.
A unit's cost is the sum over its ops; the objective `error` is the sum over units.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
from typing import TYPE_CHECKING

import numpy as np

from hwsim.allocate.costs import bits_per_element
from hwsim.allocate.units import KV_ROLE, Unit
from hwsim.errors import HwsimError
from hwsim.fileio import input_path, read_text, value_error

if TYPE_CHECKING:
    from hwsim.accuracy.methods import Method
    from hwsim.allocate.tensors import TensorSource
    from hwsim.formats import Format
    from hwsim.workload.trace import Trace

PROXIES = ("output", "uniform", "table", "measured", "hessian")


def _op_errors(w: np.ndarray, w_hats: list[np.ndarray], x: np.ndarray | None) -> np.ndarray:
    """ε_o for each Ŵ (with x) or ε_w (x None). One GEMM for all formats: X·[W; W−Ŵ_1; …]ᵀ."""
    w = np.asarray(w, dtype=np.float64)
    deltas = [w - np.asarray(h, dtype=np.float64) for h in w_hats]
    if x is None:
        signal = float(np.vdot(w, w))
        return np.array([float(np.vdot(d, d)) / signal if signal > 0 else 0.0 for d in deltas])
    y = np.asarray(x, dtype=np.float64) @ np.concatenate([w, *deltas]).T  # tokens × (F+1)·rows
    energy = (y * y).sum(axis=0).reshape(len(deltas) + 1, w.shape[0]).sum(axis=1)
    return energy[1:] / energy[0] if energy[0] > 0 else np.zeros(len(deltas))


def _hessian_errors(w: np.ndarray, w_hats: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Σ_i H_ii·‖W_:,i − Ŵ_:,i‖² for each Ŵ, H_ii = mean over tokens of x_i²."""
    w = np.asarray(w, dtype=np.float64)
    h = np.square(np.asarray(x, dtype=np.float64)).mean(axis=0)
    return np.array([float(np.square(w - np.asarray(wh, dtype=np.float64)).sum(axis=0) @ h) for wh in w_hats])


class _Pairs(list):
    """A JSON object as its (key, value) pairs, in order, repeats kept."""


def load_sensitivity(path: str | os.PathLike[str]) -> dict[str, float]:
    """A sensitivity table: CSV with columns name,sensitivity or a JSON object {name: value}.
    Names are op names (`layers.3.q_proj`), roles (`q_proj`, `kv`) or glob patterns (`layers.*.down_proj`)."""
    path = input_path(path, field="sensitivity")
    text = read_text(path, what="a sensitivity table", form="CSV or JSON")  # was a UnicodeDecodeError traceback
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_Pairs)  # pairs, so that a name given twice is seen
        except json.JSONDecodeError as exc:
            raise HwsimError(f"not valid JSON: {exc.msg} (line {exc.lineno})", file=path) from None
        except ValueError as exc:  # an integer of over 4300 digits
            raise HwsimError(f"cannot read a value: {value_error(exc)}", file=path) from None
        if not isinstance(data, _Pairs):
            raise HwsimError("expected a JSON object {name: sensitivity}", file=path)
        items = list(data)
    else:
        try:
            rows = list(csv.DictReader(text.splitlines()))
        except csv.Error as exc:  # a field beyond csv's 128 KiB limit, a NUL byte
            raise HwsimError(f"not a CSV table: {exc}", file=path) from None
        if not rows or not {"name", "sensitivity"} <= set(rows[0]):
            raise HwsimError("expected a CSV header with columns name,sensitivity", file=path)
        items = [(r["name"], r["sensitivity"]) for r in rows]
    table = {}
    for name, value in items:
        if str(name) in table:  # the last (JSON) or a later row (CSV) won silently
            raise HwsimError("given twice: keep one sensitivity per name", file=path, field=str(name))
        try:
            v = float("nan") if isinstance(value, bool) else float(value)  # JSON true read as 1.0
        except (TypeError, ValueError):
            v = float("nan")
        if not np.isfinite(v) or v < 0:
            shown = dict(value) if isinstance(value, _Pairs) else value
            raise HwsimError(f"sensitivity must be a finite number ≥ 0, got {shown!r}", file=path, field=str(name))
        table[str(name)] = v
    return table


def lookup(table: dict[str, float], name: str, role: str) -> float:
    """Exact op name first, then the role, then the first matching glob in table order."""
    if name in table:
        return table[name]
    if role in table:
        return table[role]
    for pattern, v in table.items():
        if fnmatch.fnmatchcase(name, pattern):
            return v
    raise HwsimError(
        f"no sensitivity for {name!r} (give its name, its role {role!r} or a glob pattern)", field="sensitivity"
    )


def _quantized(w: np.ndarray, fmt: Format, method: Method, calib: np.ndarray | None, seed: int) -> np.ndarray:
    """Ŵ after the method, in the original basis (RTN: the format's own rounding)."""
    if method.rounding == "rtn" and not method.transforms:
        return fmt.quantize(w, axis=-1, seed=seed)
    from hwsim.accuracy.methods import prepare_linear

    return prepare_linear(w, fmt, method, calib, seed=seed).effective_weight()


def accuracy_costs(
    trace: Trace,
    units: list[Unit],
    formats: tuple[str, ...],
    allowed: np.ndarray,
    source: TensorSource,
    *,
    proxy: str = "output",
    sensitivity: dict | None = None,
    seed: int = 0,
    method: Method | str | None = None,
) -> np.ndarray:
    """U × F accuracy cost (0 where a format is not a unit's candidate)."""
    from hwsim.accuracy.methods import check_applies, parse_method
    from hwsim.formats import get_format

    method = parse_method(method)

    if proxy not in PROXIES:
        raise HwsimError(f"must be one of {', '.join(PROXIES)}, got {proxy!r}", field="proxy")
    if proxy == "table" and sensitivity is None:
        raise HwsimError(
            "the table proxy needs a sensitivity table (`sensitivity`: a CSV or JSON file)", field="sensitivity"
        )
    if sensitivity is not None and proxy != "table":  # it was read, then ignored: the costs were the proxy's
        raise HwsimError(
            f"a sensitivity table is what the table proxy prices with, not {proxy}: drop `sensitivity` or use "
            "`proxy` table",
            field="sensitivity",
        )
    table: dict[str, float] = sensitivity or {}
    fmts = [get_format(f) for f in formats]
    for u, unit in enumerate(units):
        if unit.kind != KV_ROLE:
            for j in np.flatnonzero(allowed[u]):
                check_applies(method, fmts[j])
    if proxy == "hessian":
        if not hasattr(source, "output_curvature"):
            raise HwsimError(
                "the hessian proxy needs real calibration inputs and noise probes: give a decoder "
                "checkpoint folder with `calibration` FILE (or `text` FILE)",
                field="proxy",
            )
        if any(unit.kind == KV_ROLE for unit in units):
            raise HwsimError(
                "the hessian proxy prices weights only: drop `kv_formats` or use `proxy` output or measured",
                field="proxy",
            )
    if proxy == "measured" and hasattr(source, "measured_costs"):
        return source.measured_costs(units, formats, allowed, method)
    ops = trace.ops
    names, roles = ops["name"].to_numpy(), ops["op"].to_numpy()
    out = np.zeros((len(units), len(formats)))
    for u, unit in enumerate(units):
        cols = np.flatnonzero(allowed[u])
        if unit.kind == KV_ROLE:
            layer = int(unit.name.split(".")[1])
            s = lookup(table, unit.name, KV_ROLE) if proxy == "table" else 1.0
            k, v = source.kv(layer, trace.model.kv_dim)
            for t in (k, v):
                out[u, cols] += s * 0.5 * _op_errors(t, [fmts[j].quantize(t, axis=-1, seed=seed) for j in cols], None)
            continue
        for r in unit.rows:
            name, role = str(names[r]), str(roles[r])
            w = source.weight(name, role, int(ops["n"].iat[r]), int(ops["k"].iat[r]))
            x = source.activations(name, w.shape[1]) if proxy in ("output", "measured", "hessian") else None
            s = lookup(table, name, role) if proxy == "table" else 1.0
            calib = None
            if method.needs_calibration:  # the source's calibration inputs when it has them
                calib = (
                    source.calibration(name, w.shape[1])
                    if hasattr(source, "calibration")
                    else source.activations(name, w.shape[1])
                )
            hats = [_quantized(w, fmts[j], method, calib, seed) for j in cols]
            if proxy == "hessian":
                assert x is not None, "the hessian proxy reads the source's activations (fetched above)"
                assert hasattr(source, "output_curvature")  # checked on entry
                out[u, cols] += source.output_curvature(name) * _hessian_errors(w, hats, x)
            else:
                out[u, cols] += s * _op_errors(w, hats, x)
    if proxy == "measured":
        out *= measured_sensitivity(units, formats, allowed, out, source, method)[:, None]
    return out


def measured_sensitivity(
    units: list[Unit],
    formats: tuple[str, ...],
    allowed: np.ndarray,
    errors: np.ndarray,
    source: TensorSource,
    method: Method | str | None = None,
) -> np.ndarray:
    """Per unit: loss increase with only that unit at the reference format, over its error there."""
    if not hasattr(source, "loss"):
        raise HwsimError(
            "the measured proxy runs the model end to end: give `checkpoint` minilm, or a decoder "
            "checkpoint folder with `text` FILE",
            field="proxy",
        )
    bits = np.array([bits_per_element(f) for f in formats])
    sens = np.ones(len(units))
    for u, unit in enumerate(units):
        cols = np.flatnonzero(allowed[u])
        ref = cols[np.argsort(bits[cols], kind="stable")[(cols.size - 1) // 2]]
        if errors[u, ref] > 0:
            sens[u] = max(source.loss({op: formats[ref] for op in unit.ops}, method), 0.0) / errors[u, ref]
    return sens
