"""Roofline properties (hypothesis): the attainable point never exceeds either roof, and fewer
weight bits never lower a memory-bound op's attainable performance — on every family present."""

import functools

import numpy as np
from hypothesis import assume, given, settings, strategies as st

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.core.ops import gemm_ops
from hwsim.errors import HwsimError
from hwsim.families import family_names
from hwsim.roofline import roofline

ARCHS = (
    "bitmod",
    "bitmod-ant",
    "tpu-like",
    "h100-sxm",
    "a100-sxm",
    "lut-tensor-core",
    "tmac-rpi5",
    "neural-cache",
    "sail-n1",
    "flightllm-u280",
    "u280",
)
# storage bits with and without scale overhead (4.0625 = int4 + 8-bit scale per 128, 4.25 = MXFP4-like)
BITS = (1, 1.58, 2, 3, 3.0625, 4, 4.0625, 4.25, 5, 6, 8, 8.25, 16)
RTOL = 1e-12


@functools.lru_cache(maxsize=None)
def arch(name, sram_bw):
    overrides = (
        {"memory.weight_sram.bandwidth": f"{sram_bw} bit/cycle"} if sram_bw and name.startswith("bitmod") else None
    )
    return load_arch(name, overrides)


shapes = st.lists(st.tuples(st.integers(1, 2048), st.integers(1, 8192), st.integers(1, 8192)), min_size=1, max_size=4)


def _ops(shape_list):
    return gemm_ops([(f"g{i}", m, n, k) for i, (m, n, k) in enumerate(shape_list)])


def test_presets_cover_every_built_in_family():
    built_in = {f for f in family_names() if not f.startswith("test-")}  # test modules may register fakes
    assert {"bitserial", "systolic", "gpu", "lut", "pim", "fpga"} <= built_in
    assert {load_arch(a).family for a in ARCHS} == built_in


def _roofline(a, ops, prec):
    """The roofline, or a rejected example when the family cannot execute this precision (exit 2 in the CLI)."""
    try:
        return roofline(a, ops, prec)
    except HwsimError:
        assume(False)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(ARCHS), st.sampled_from((0, 128, 1024)), shapes, st.sampled_from(BITS), st.sampled_from((8, 16)))
def test_attainable_never_exceeds_either_roof(name, sram_bw, shape_list, w_bits, a_bits):
    rl = _roofline(arch(name, sram_bw), _ops(shape_list), Precision(weights=w_bits, activations=a_bits))
    o = rl.ops
    att = o["attainable_ops_per_s"].to_numpy()
    assert (att <= o["compute_roof_ops_per_s"].to_numpy() * (1 + RTOL)).all()
    assert (att <= (o["bandwidth_Bps"] * o["intensity"]).to_numpy() * (1 + RTOL)).all()
    # and it is the lowest of them: time bound = the slowest of compute and every level
    per_op = o.groupby("name").agg(
        att=("attainable_ops_per_s", "first"),
        roof=("compute_roof_ops_per_s", "first"),
        mem=("level_roof_ops_per_s", "min"),
    )
    np.testing.assert_allclose(per_op["att"], np.minimum(per_op["roof"], per_op["mem"]), rtol=RTOL)
    # the cost model's attained time is never below the bound, up to one cycle (BitMoD floors memory cycles)
    cycle = 1.0 / float(arch(name, sram_bw).clock_hz)
    assert (o["attained_s"] >= o["time_lower_bound_s"] * (1 - RTOL) - cycle).all()


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(ARCHS),
    st.sampled_from((0, 128)),
    shapes,
    st.lists(st.sampled_from(BITS), min_size=2, max_size=2, unique=True),
    st.sampled_from((8, 16)),
)
def test_fewer_weight_bits_never_lower_a_memory_bound_op(name, sram_bw, shape_list, pair, a_bits):
    lo, hi = sorted(pair)
    a = arch(name, sram_bw)
    ops = _ops(shape_list)
    r_lo, r_hi = (_roofline(a, ops, Precision(weights=b, activations=a_bits, kv=a_bits)).ops for b in (lo, hi))
    mem = (r_hi["bound"] == "memory").to_numpy()
    assert (
        r_lo["attainable_ops_per_s"].to_numpy()[mem] >= r_hi["attainable_ops_per_s"].to_numpy()[mem] * (1 - RTOL)
    ).all()
    assert (r_lo["intensity"].to_numpy() >= r_hi["intensity"].to_numpy() * (1 - RTOL)).all()
