"""The GPU's k slices under the shared start-up/drain rule (hwsim.sim.blocking.k_slice_ends): exact for the
slice pipeline the cycle engine runs, and monotone in k. The GPU ships with the rule on (Dec 2026, refit
with it, docs/cycle.md); these tests turn it on themselves so that they check the mechanism whatever a
preset or family sets. A split-K GEMM's CTAs stream k / split (Gpu.tile_shape). Before the fixed-depth slices (k // 64 slices, 1 to 64) the exposed first
load and last compute were a sawtooth in k: a decode step got cheaper every 64 context tokens."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.cycle import evaluate as cycle
from hwsim.engine import Precision, gemm_ops
from hwsim.engine.cost import evaluate as analytical
from hwsim.families import get_family
from hwsim.serve import StepCost, generate
from hwsim.sim.blocking import K_STEP, k_slice_depths, k_slice_ends
from hwsim.sim.tiles import pipeline
from hwsim.workload import load_model

GPUS = ["h100-sxm", "a100-sxm", "v100s"]


@pytest.fixture
def rule_on(monkeypatch):
    monkeypatch.setattr(get_family("gpu"), "exposes_pipeline_ends", True)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(k=st.floats(1, 3000), load=st.floats(1, 1e6), compute=st.floats(1, 1e6), held=st.floats(0, 1))
def test_k_slice_ends_is_the_slice_pipeline(k, load, compute, held):
    """The rule's three cuts give the double-buffered pipeline of the slices (what stream_op simulates)."""
    k = float(np.ceil(k))
    share = k_slice_depths(k) / k
    assert len(share) == max(int(np.ceil(k / K_STEP)), 1) and share.sum() == pytest.approx(1.0)
    held_bytes = held * load
    loads = (load - held_bytes) * share
    loads[0] += held_bytes
    end = pipeline(loads, compute * share, np.zeros(len(share)), 2, 1, 1.0)[0]
    to_compute, to_memory = k_slice_ends(k, load, 0.0, compute, 1.0, held_bytes, rnd=lambda x: x)
    assert max(compute + to_compute, load + to_memory) == pytest.approx(end, rel=1e-9, abs=1.0)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    gpu=st.sampled_from(GPUS),
    m=st.sampled_from([1, 4, 16, 64, 256, 2048]),
    n=st.sampled_from([128, 4096, 11008]),
    k=st.integers(1, 2000),
    dk=st.integers(1, 130),
)
@example(gpu="h100-sxm", m=16, n=4096, k=640, dk=1)  # a slice appended: the exposed drain falls to 1/641
@example(gpu="h100-sxm", m=16, n=4096, k=641, dk=1)  # compute flat in k (split-K), memory rounded up
@example(gpu="h100-sxm", m=1, n=4096, k=64, dk=1)  # one slice -> two
@example(gpu="h100-sxm", m=1, n=4096, k=1024, dk=1)  # split-K at its cap (4): each CTA's depth k / 4 grows
@example(gpu="v100s", m=256, n=4096, k=511, dk=2)  # split-K below its cap: k / 256 ways, 256 deep each
def test_gemm_cycles_non_decreasing_in_k(gpu, m, n, k, dk):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(get_family("gpu"), "exposes_pipeline_ends", True)
        t = analytical(load_arch(gpu), gemm_ops([("a", m, n, k), ("b", m, n, k + dk)])).ops["cycles"].to_numpy()
    assert t[1] >= t[0]


def test_decode_step_never_cheaper_with_a_longer_context(rule_on):
    """The case that kept the rule off (tests/test_serve_generate.py, rule on): every step of a generation
    over contexts that cross many 64-token slice boundaries costs at least the one before."""
    gen = generate(StepCost(load_arch("h100-sxm"), load_model("llama-3-8b")), prompt=10, output=700)
    assert np.all(np.diff(gen.step_s) >= -1e-15)
    assert np.all(np.diff(gen.step_j) >= -1e-12)


@pytest.mark.parametrize("gpu", GPUS)
@pytest.mark.parametrize("m, k", [(16, 4100), (256, 4100), (256, 100), (1, 4097)])
def test_engines_agree_with_a_partial_last_slice(gpu, m, k, rule_on):
    """Balanced (HBM bandwidth set so memory = compute) fp16 GEMMs whose k is not a multiple of K_STEP."""
    base, ops = load_arch(gpu), gemm_ops([("g", m, 4096, k)])
    t = analytical(base, ops).totals
    arch = load_arch(
        gpu, {"memory.hbm.bandwidth": repr(float(base.backing.bandwidth) * t["memory_cycles"] / t["compute_cycles"])}
    )
    a, c = analytical(arch, ops, Precision()).totals["cycles"], cycle(arch, ops, Precision()).totals["cycles"]
    assert abs(c / a - 1) < 2e-3
