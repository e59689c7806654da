"""Properties (hypothesis): never faster than the roofline; more PEs or bandwidth never slower."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops
from hwsim.engine import evaluate
from hwsim.families import get_family

ARCHS = {"bitmod": load_arch("bitmod"), "tpu-like": load_arch("tpu-like"), "h100-sxm": load_arch("h100-sxm")}
dims = st.integers(1, 3000)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(ARCHS)), dims, dims, dims, st.sampled_from([3.0625, 4, 8, 16]))
def test_cycles_never_below_roofline(name, m, n, k, wbits):
    arch = ARCHS[name]
    prec = Precision(weights=wbits).resolve()
    op = evaluate(arch, gemm_ops([("g", m, n, k)]), prec).ops.iloc[0]
    peak = get_family(arch.family).peak_macs_per_cycle(arch, prec)
    bw = arch.backing.bytes_per_cycle(arch.clock_hz)
    dram_bytes = m * k * 2 + np.ceil(n * k * wbits / 8) + m * n * 2  # each operand at least once
    assert op["cycles"] >= np.floor(max(m * n * k / peak, dram_bytes / bw)) - 1e-6


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["bitmod", "tpu-like"]),
    dims,
    dims,
    dims,
    st.integers(1, 64),
    st.integers(1, 64),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_more_pes_or_bandwidth_never_slower(name, m, n, k, rows, cols, grow_r, grow_bw):
    """More bandwidth never slower (both families, every dataflow). More bit-serial PE rows never slower in the
    steady state max(compute, memory) that BitMoD's simulator reports; the total cycles add the overlap rule's
    pipeline ends (docs/engine.md), and a taller array cuts fewer, wider output tiles, so the last tile's compute
    exposed after the last load can grow: bitmod 35 cols, 97×97×2703 takes 55,156 cycles on 49 rows and 55,178 on
    98 (compute 32,448 → 16,224, memory 49,748 both; hypothesis found it). Systolic rows are exempt altogether:
    a taller array pays a longer fill/drain per fold (test_systolic_fill_drain_can_make_a_bigger_array_slower)."""
    base = ARCHS[name]
    bw = base.backing.bandwidth
    ops = gemm_ops([("g", m, n, k)])
    small = base.with_values({"compute.rows": rows, "compute.cols": cols})
    wider = small.with_values({f"memory.{base.backing.name}.bandwidth": bw * grow_bw})
    taller = small.with_values({"compute.rows": rows * grow_r})
    for df in ["os", "ws", "is"] if name == "tpu-like" else [None]:
        s, w = small, wider
        if df:
            s = s.with_values({"compute.dataflow": df})
            w = w.with_values({"compute.dataflow": df})
        assert evaluate(w, ops).totals["cycles"] <= evaluate(s, ops).totals["cycles"]
    if name != "tpu-like":
        steady = [evaluate(a, ops).totals for a in (small, taller)]
        t_small, t_tall = (max(x["compute_cycles"], x["memory_cycles"]) for x in steady)
        assert t_tall <= t_small


def test_a_taller_bit_serial_array_can_expose_more_pipeline_end():
    """The example above, pinned: twice the PE rows, half the compute, the same memory, 22 cycles more in all."""
    ops = gemm_ops([("g", 97, 97, 2703)])
    short, tall = (ARCHS["bitmod"].with_values({"compute.rows": r, "compute.cols": 35}) for r in (49, 98))
    a, b = (evaluate(x, ops).totals for x in (short, tall))
    assert (a["compute_cycles"], b["compute_cycles"]) == (32448, 16224)
    assert a["memory_cycles"] == b["memory_cycles"] == 49748
    assert b["cycles"] > a["cycles"]


def test_systolic_fill_drain_can_make_a_bigger_array_slower():
    """os closed form ceil(M/H)·ceil(N/W)·(K+H+W−2)−1 (REFERENCES.md, SCALE-Sim): for a 1×1×1 GEMM a 2-row array
    takes one cycle more to fill and drain than a 1-row array, so PE monotonicity does not hold for systolic."""
    ops = gemm_ops([("g", 1, 1, 1)])
    one = ARCHS["tpu-like"].with_values({"compute.rows": 1, "compute.cols": 1, "compute.dataflow": "os"})
    two = one.with_values({"compute.rows": 2})

    def os_closed_form(m, n, k, h, w):
        return -(-m // h) * -(-n // w) * (k + h + w - 2) - 1

    c1, c2 = (evaluate(a, ops).totals["compute_cycles"] for a in (one, two))
    assert (c1, c2) == (os_closed_form(1, 1, 1, 1, 1), os_closed_form(1, 1, 1, 2, 1))
    assert c2 > c1


def _random_gemms(n, seed):
    rng = np.random.default_rng(seed)
    return [(f"g{i}", *(int(x) for x in rng.integers(1, (3000, 20000, 20000)))) for i in range(n)]


@pytest.mark.parametrize("name", ["bitmod", "bitmod-ant", "tpu-like", "h100-sxm", "u280"])
def test_an_ops_cost_does_not_depend_on_the_other_ops_in_its_table(name):
    """Costing is per op: an op costs the same alone as in a table of other ops. It did not, by a cycle: the
    held super-blocks' compute imbalance was computed for every op once any op had a ragged last tile, and a
    rounding residue of the ops without one was rounded up to a cycle (bitmod: 3 of these 300 GEMMs)."""
    arch = load_arch(name)
    shapes = _random_gemms(300, 1)
    for prec in ("int4_g128", None if arch.family != "fpga" else "int8"):
        whole = evaluate(arch, gemm_ops(shapes), prec).column("cycles")
        alone = [evaluate(arch, gemm_ops([s]), prec).column("cycles")[0] for s in shapes]
        assert whole.tolist() == alone, name
