"""The engine's one-op fast paths (OpColumns.single / kinds / has / only, Traffic.once, _by_role's float
capacities, values kept per spec) against the general path they stand in for.

Source: the rule each fast path states in its docstring (hwsim.core.ops, hwsim.engine.memory,
hwsim.engine.machine, hwsim.sim.blocking): it returns what the masked, per-instance, per-point path returns.
The general path is reached here by costing the same op inside a table that defeats every shortcut (another
kind of op, an op of several instances, an op too large for any buffer) and by costing design points as a
sweep's arrays rather than one spec at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.engine import evaluate, gemm_ops, sweep_cost
from hwsim.engine.sweep import arch_at
from hwsim.workload import load_model, trace

# one preset per family (gpu, bitserial, pim, fpga, lut, systolic) and the host-mode pim of the llama.cpp rows
ARCHS = ("h100-sxm", "bitmod", "neural-cache", "u280", "tmac-orin", "tpu-like", "llamacpp-orin")
PRECISIONS = ("int4_g128", "int8", "q4_k", "tq2_0")  # integer weights: every family runs them
PER_OP = ("cycles", "compute_cycles", "memory_cycles", "seconds", "energy_j")


@pytest.fixture(scope="module")
def others() -> pd.DataFrame:
    """An attention op of several instances and an elementwise op of a Llama-2-7B decode step."""
    decode = trace(load_model("llama-2-7b"), "decode", context=64).ops
    got = decode[decode["kind"].isin(["elementwise", "attention"])].groupby("kind").head(1)
    assert (got["count"] > 1).any()
    return got.reset_index(drop=True)


def _gemm(m: int, n: int, k: int, count: int) -> pd.DataFrame:
    """A linear op of `count` instances (count 0: a table row that runs nothing)."""
    g = gemm_ops([("g", m, n, k)])
    for col in ("macs", "weight_elems", "act_in_elems", "act_out_elems"):
        g[col] = g[col] * count
    g["count"] = float(count)
    return g


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b)))


dims = st.integers(1, 6).map(lambda e: int(2 ** (e * 2))) | st.integers(1, 5000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(ARCHS),
    prec=st.sampled_from(PRECISIONS),
    m=dims,
    n=dims,
    k=dims,
    count=st.sampled_from([0, 1, 2, 5]),
    at=st.integers(0, 3),
)
def test_an_op_costs_the_same_alone_and_inside_a_mixed_table(others, name, prec, m, n, k, count, at):
    """A linear op (and an attention op) costed alone, where the one-kind / one-instance / fetched-once
    shortcuts apply, has the per-op costs it has at any row of a table of every kind, bit for bit."""
    arch = load_arch(name)
    alone = _gemm(m, n, k, count)
    rest = [others[alone.columns], gemm_ops([("big", 8192, 32000, 8192)])]
    mixed = pd.concat(rest, ignore_index=True)
    mixed = pd.concat([mixed.iloc[:at], alone, mixed.iloc[at:]], ignore_index=True)
    one, many = evaluate(arch, alone, prec), evaluate(arch, mixed, prec)
    for col in PER_OP:
        assert _same(one.column(col)[:1], many.column(col)[at : at + 1]), (col, one.column(col), many.column(col))
    # the attention op, and the GEMM too large for any buffer (it re-fetches: each role's own capacities)
    for part in (others[others["kind"] == "attention"][alone.columns], rest[1]):
        part_alone = evaluate(arch, part, prec)
        row = int(np.flatnonzero(mixed["name"].to_numpy() == part["name"].iloc[0])[0])
        for col in PER_OP:
            assert _same(part_alone.column(col)[:1], many.column(col)[row : row + 1]), (part["name"].iloc[0], col)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(ARCHS),
    prec=st.sampled_from(PRECISIONS),
    m=dims,
    n=dims,
    k=dims,
    scale=st.sampled_from([1.0, 0.5, 3.0]),
    shrink=st.sampled_from([1.0, 1 / 64, 1 / 4096]),
    mixed=st.booleans(),
)
def test_a_sweeps_arrays_cost_each_point_as_that_point_alone(others, name, prec, m, n, k, scale, shrink, mixed):
    """Design points as a sweep's arrays (the backing store's bandwidth, an on-chip buffer's capacity: small
    enough to re-fetch) give the totals of each point's own spec (arch_at: the point sweep_cost evaluates),
    for one GEMM (every shortcut's case) and for a table of every kind."""
    arch = load_arch(name)
    table = _gemm(m, n, k, 1)
    if mixed:
        table = pd.concat([table, others[table.columns]], ignore_index=True)
    back = arch.backing
    bw = f"{back.bandwidth} B/cycle" if back.per_cycle else f"{back.bandwidth} B/s"
    bw2 = f"{back.bandwidth * scale} B/cycle" if back.per_cycle else f"{back.bandwidth * scale} B/s"
    grid = {f"memory.{back.name}.bandwidth": [bw, bw2]}
    finite = [lv for lv in arch.on_chip if np.isfinite(lv.capacity)]
    if finite:
        lv = finite[0]
        grid[f"memory.{lv.name}.capacity"] = [f"{lv.capacity} B", f"{max(lv.capacity * shrink, 64.0)} B"]
    swept = sweep_cost(arch, grid, table, prec, product=False)
    for i in range(2):
        point = arch_at(arch, {p: v[i] for p, v in grid.items()})
        totals = evaluate(point, table, prec).totals
        for col in ("cycles", "compute_cycles", "memory_cycles", "energy_j", "bytes_" + back.name):
            if col in totals and col in swept.columns:
                got, want = float(swept[col].iloc[i]), float(totals[col])
                assert got == pytest.approx(want, rel=1e-12, abs=0.0), (col, i, got, want)


def test_kept_values_follow_a_spec_changed_between_calls():
    """Values kept beside a spec (bytes per cycle per level, machines, buffer capacities) are the changed
    spec's after with_values, asked in the order a script would: the original first, then the change."""
    arch = load_arch("tpu-like")
    ops = gemm_ops([("g", 512, 4096, 4096)])
    before = evaluate(arch, ops).totals
    back = arch.backing.name
    slow = arch.with_values({f"memory.{back}.bandwidth": arch.backing.bandwidth / 4})
    fast_clock = arch.with_values({"clock": arch.clock_hz * 2})
    assert evaluate(slow, ops).totals["memory_cycles"] > before["memory_cycles"]
    # bytes per cycle at twice the clock: the backing store's per-second bandwidth gives half as many per cycle
    if not arch.backing.per_cycle:
        assert evaluate(fast_clock, ops).totals["memory_cycles"] > before["memory_cycles"]
    assert evaluate(arch, ops).totals == before


def test_a_swept_conversion_width_costs_each_point():
    """neural-cache converts fp16 activations to compute.convert_bits integers (hwsim.families.pim): swept as a
    design axis (an array) it costs each point as that point's own spec, as every other numeric compute field
    does (it raised TypeError: float() of the swept array, then Python max() of arrays)."""
    arch = load_arch("neural-cache")
    ops = gemm_ops([("g", 300, 4096, 4096)])
    swept = sweep_cost(arch, {"compute.convert_bits": [8, 16]}, ops, "int4_g128")
    for i, bits in enumerate((8, 16)):
        totals = evaluate(arch_at(arch, {"compute.convert_bits": bits}), ops, "int4_g128").totals
        for col in ("cycles", "energy_j"):
            assert float(swept[col].iloc[i]) == pytest.approx(totals[col], rel=1e-12)
    assert swept["cycles"].iloc[1] > swept["cycles"].iloc[0]  # wider converted activations: more bit-serial steps
    # the family's peak (roofline, reports) at the swept spec: each point's own
    from hwsim.core.precision import resolve_precision
    from hwsim.engine.sweep import parse_grid
    from hwsim.families import get_family

    spec, parsed = parse_grid(arch, {"compute.convert_bits": [8, 16]})
    prec, pim = resolve_precision("int4_g128"), get_family("pim")
    peak = pim.peak_macs_per_cycle(spec.with_values(parsed), prec)
    for i, bits in enumerate((8, 16)):
        assert peak[i] == pim.peak_macs_per_cycle(arch_at(arch, {"compute.convert_bits": bits}), prec)
