"""Step costs of models with sliding-window layers beyond their window (hwsim.serve.basis.RowSet.values): the
attention rows of a windowed layer are piecewise in the keys, and the step costs must equal the engine on real
traces on both sides of the window (they were fitted and checked only below it: Gemma-2-9B's decode step at
8,000 cached tokens cost 20.55 ms against the engine's 20.08 ms on a100-sxm)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.engine import evaluate
from hwsim.serve import StepCost, generate
from hwsim.serve.basis import build_basis
from hwsim.workload import load_model, trace

# (arch, model, window): Gemma-2 (every other layer), gpt-oss (every other layer, 128), Mistral (every layer)
WINDOWED = [("a100-sxm", "gemma-2-9b", 4096), ("h100-sxm", "gpt-oss-20b", 128), ("h100-sxm", "mistral-7b", 4096)]
_COSTS: dict = {}


def step_cost(arch: str, model: str) -> StepCost:
    if (arch, model) not in _COSTS:
        _COSTS[arch, model] = StepCost(load_arch(arch), load_model(model))
    return _COSTS[arch, model]


def _ops(arch, model, b, t, c):
    with np.errstate(divide="ignore", invalid="ignore"):
        return evaluate(load_arch(arch), trace(load_model(model), "prefill", batch=b, seq=t, context=c)).ops


@pytest.mark.parametrize("arch,model,window", WINDOWED)
def test_windowed_layers_are_fitted_past_their_window(arch, model, window):
    basis = build_basis(load_model(model), "fused")
    assert basis.context.exact
    assert (basis.context.window == window).any()
    assert step_cost(arch, model).polynomial["context"]  # gpt-oss's attention was costed from a trace per shape


@settings(max_examples=25, deadline=None)
@given(
    which=st.sampled_from(WINDOWED),
    b=st.integers(1, 5),
    t=st.integers(1, 400),
    c=st.integers(-300, 300) | st.integers(0, 7_500),
)
def test_context_rows_reproduce_the_trace_on_both_sides_of_the_window(which, b, t, c):
    """Contexts around the window (within 300 of it: each query's keys clamp while the step's queries still read
    more) and far beyond it (within Gemma-2's 8,192 positions)."""
    _, name, window = which
    model = load_model(name)
    c = max(0, window + c) if c < 300 else c
    basis = build_basis(model, "fused")
    ops = trace(model, "prefill", batch=b, seq=t, context=c, attention="fused").ops
    real = ops[ops["name"].isin(basis.names["context"])]
    rows = basis.context_rows(np.array([b]), np.array([t]), np.array([t + c]))
    for col in ("k", "macs", "vector_ops", "kv_read_elems", "act_in_elems", "act_out_elems"):
        assert (rows[col].to_numpy() * basis.context.mult).sum() == real[col].sum(), col


@pytest.mark.parametrize("arch,model,window", WINDOWED)
def test_decode_steps_equal_the_engine_below_and_beyond_the_window(arch, model, window):
    """`generate` across the window: the decode steps, and a prompt longer than the window (TTFT)."""
    sc = step_cost(arch, model)
    prompt = window - 20
    gen = generate(sc, prompt=prompt, output=60, batch=2)
    for d in (0, 19, 20, 21, 58):  # step d feeds one token over prompt + d cached tokens: the window is at d = 20
        want = evaluate(load_arch(arch), trace(load_model(model), "decode", batch=2, context=prompt + d)).totals
        assert gen.step_s[d] == pytest.approx(want["seconds"], rel=1e-9)
        assert gen.step_j[d] == pytest.approx(want["energy_j"], rel=1e-9)
    far = sc.uniform(1, 1, [window + 3000, 8000])
    for i, c in enumerate((window + 3000, 8000)):
        assert far.seconds[i] == pytest.approx(_ops(arch, model, 1, 1, c)["seconds"].sum(), rel=1e-9)
    # prefill chunks over a cache beyond the window, and a whole prompt longer than it
    chunks = sc.uniform(2, 300, [window - 100, window + 5, window + 3000])
    for i, c in enumerate((window - 100, window + 5, window + 3000)):
        assert chunks.seconds[i] == pytest.approx(_ops(arch, model, 2, 300, c)["seconds"].sum(), rel=1e-9)
    long = generate(sc, prompt=window + 700, output=2)
    assert long.ttft_s == pytest.approx(_ops(arch, model, 1, window + 700, 0)["seconds"].sum(), rel=1e-9)


@pytest.mark.parametrize("arch,model,window", WINDOWED[:2])
def test_a_serving_iteration_beyond_the_window_is_each_sequences_attention_on_real_traces(arch, model, window):
    """A mixed iteration (decodes below and beyond the window, a prompt chunk across it) under the per-sequence
    rule: token rows and lm_head once, each sequence's attention as the engine costs it on its own trace, one
    launch per form; and decodes over one context beyond the window, batched (the default): the engine on the real
    decode trace of the batch."""
    a, m = load_arch(arch), load_model(model)
    batch = step_cost(arch, model).iteration(np.ones(3, dtype=np.int64), np.full(3, window + 500), emit=3)
    want = evaluate(a, trace(m, "decode", batch=3, context=window + 500)).totals
    assert batch.seconds == pytest.approx(want["seconds"], rel=1e-9)
    assert batch.energy_j == pytest.approx(want["energy_j"], rel=1e-9)
    sc = StepCost(a, m, batched_decode=False)
    new, ctx = np.array([1, 1, 1, 200]), np.array([window - 50, window + 10, window + 3000, window - 30])
    got = sc.iteration(new, ctx, emit=4)
    names = sc.basis.names["context"]
    att_s = att_j = 0.0
    for n, c in zip(new.tolist(), ctx.tolist()):
        ops = _ops(arch, model, 1, n, c)
        ops = ops[ops["name"].isin(names)]
        att_s, att_j = att_s + ops["seconds"].sum(), att_j + ops["energy_j"].sum()
    want_s = sc.token(int(new.sum())).seconds + sc.seq(4).seconds + att_s - 3 * sc.fixed.seconds
    want_j = sc.token(int(new.sum())).energy_j + sc.seq(4).energy_j + att_j - 3 * sc.fixed.energy_j
    assert got.seconds == pytest.approx(want_s, rel=1e-9)
    assert got.energy_j == pytest.approx(want_j, rel=1e-9)
