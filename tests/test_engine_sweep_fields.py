"""Every numeric field of every preset sweeps: sweep_cost rows equal point-by-point evaluation.

A swept field that changes only energy, clock or power (not compute cycles) used to crash the
vectorised engine; so did tech.node and several FPGA fields. Here each preset × each numeric
schema field it sets (compute fields, clock, static_power, memory.<level>.{capacity, bandwidth,
energy, efficiency}, tech.node) is swept over two valid values on a small trace (GEMMs + a short
decode step of a small model), and each row must equal `evaluate(load_arch(preset, {field: v}), ...)`.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops, sweep_cost
from hwsim.errors import HwsimError
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate
from hwsim.families import get_family

PRESETS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "archs").glob("*.yaml"))
_decode = trace(load_model("bitnet-b1.58-2b4t"), "decode", batch=2, context=24).ops
TRACE = pd.concat(
    [gemm_ops([("g1", 8, 512, 256), ("g2", 1, 1024, 512), ("g3", 64, 256, 256)]), _decode[_decode["layer"] <= 0]],
    ignore_index=True,
)
# integer activations for the families whose presets have integer-only datapaths
PRECISIONS = (Precision(weights="int4_g128", activations="int8", kv="int8"), Precision(weights="int4_g128"))
REL = 1e-9
NOT_SWEEPABLE = "cannot be swept"  # documented error for a field that picks a discrete structure


def _precision(arch):
    for prec in PRECISIONS:
        try:
            evaluate(arch, TRACE, prec)
            return prec
        except HwsimError:
            continue
    raise AssertionError(f"{arch.name}: no test precision runs")


def _numeric_fields(arch):
    """(dotted path, value as --set takes it, kind) for every numeric field the preset sets."""
    out = []
    for key, fld in get_family(arch.family).params.items():
        v = arch.compute.get(key)
        if fld.is_constant and v is not None and not isinstance(v, (str, bool)) and np.ndim(v) == 0:
            out.append((f"compute.{key}", float(v), fld.kind))
    out += [("clock", float(arch.clock_hz), "frequency"), ("static_power", float(arch.static_power_w), "power")]
    for lv in arch.memory:
        for key in ("capacity", "bandwidth", "energy", "efficiency"):
            v = float(getattr(lv, key))
            if np.isfinite(v) and v > 0:
                out.append(
                    (f"memory.{lv.name}.{key}", v, "bandwidth_cycle" if key == "bandwidth" and lv.per_cycle else key)
                )
    if arch.tech is not None:
        out.append(("tech.node", float(arch.tech.node_nm), "dimensionless"))
    return out


def _candidates(v, kind):
    """Second values to try, nearest-to-plausible first: integers step by 1.5× or ±1; fractions ≤ 1
    (efficiencies, utilisation knees) shrink; everything else grows 1.5×."""
    if kind == "int":
        return [c for c in dict.fromkeys([int(round(v * 1.5)), int(v) + 1, int(v) - 1]) if c != v and c > 0]
    if kind in ("dimensionless", "efficiency") and v <= 1:
        return [v * 0.75]
    return [v * 1.5, v * 0.5]


def _as_set(v, kind):
    return f"{v!r} B/cycle" if kind == "bandwidth_cycle" else v


def _second_value(name, path, v, kind, prec):
    """The first candidate that is a valid single design point (schema and family checks)."""
    for c in _candidates(v, kind):
        try:
            evaluate(load_arch(name, {path: _as_set(c, kind)}), TRACE, prec)
            return _as_set(c, kind)
        except HwsimError:
            continue
    return None


def _same(a, b):
    if isinstance(b, (str, bool, np.bool_)):
        return a == b
    a, b = float(a), float(b)
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= REL * max(abs(b), 1e-30)


@pytest.mark.parametrize("name", PRESETS)
def test_every_numeric_field_sweeps_like_points(name):
    arch = load_arch(name)
    prec = _precision(arch)
    checked, problems = 0, []
    for path, v, kind in _numeric_fields(arch):
        second = _second_value(name, path, v, kind, prec)
        if second is None:
            continue  # no valid neighbour (e.g. sparsity_n = sparsity_m = 1)
        values = [_as_set(v, kind), second]
        try:
            df = sweep_cost(arch, {path: values}, TRACE, prec)
        except HwsimError as e:
            assert NOT_SWEEPABLE in str(e) and path in str(e), f"{name}: {path}: {e}"
            continue
        for i, val in enumerate(values):
            totals = evaluate(load_arch(name, {path: val}), TRACE, prec).totals
            for key, want in totals.items():
                if not _same(df[key].iloc[i], want):
                    problems.append(f"{path}={val}: {key} sweep {df[key].iloc[i]!r} vs point {want!r}")
        checked += 1
    assert not problems, f"{name}: " + "; ".join(problems[:10])
    assert checked >= 5, f"{name}: only {checked} fields checked"


@pytest.mark.parametrize("name", PRESETS)
def test_all_fields_together_zipped(name):
    """Every numeric field varied at once (zipped points, product=False): the fields' arrays broadcast
    against each other inside the families as they do one at a time."""
    arch = load_arch(name)
    prec = _precision(arch)
    fields = _numeric_fields(arch)
    seconds = {p: _second_value(name, p, v, k, prec) for p, v, k in fields}
    rng = np.random.default_rng(7)
    cols = {
        p: [
            (_as_set(v, k), seconds[p])[int(rng.integers(2))] if seconds[p] is not None else _as_set(v, k)
            for _ in range(3)
        ]
        for p, v, k in fields
    }
    df = sweep_cost(arch, cols, TRACE, prec, product=False)
    for i in range(3):
        totals = evaluate(load_arch(name, {p: c[i] for p, c in cols.items()}), TRACE, prec).totals
        bad = [k for k, want in totals.items() if not _same(df[k].iloc[i], want)]
        assert not bad, f"{name} point {i}: {bad}"
