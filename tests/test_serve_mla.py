"""Serving an MLA model (DeepSeek): each iteration runs its one-token sequences in the absorbed form (q_absorb and
v_up batched over their tokens, attention over the latent cache) and its prompt chunks in the expanding form
(kv_b_proj batched over their cached and new tokens), as vLLM's MLA does (hwsim.serve.basis / stepcost)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.engine import Precision, evaluate
from hwsim.serve import StepCost, generate
from hwsim.serve.basis import build_basis
from hwsim.serve.links import load_link
from hwsim.serve.parallel import ParallelStepCost
from hwsim.serve.replay import serve
from hwsim.serve.requests import Requests, poisson_requests
from hwsim.serve.scheduler import SchedulerConfig
from hwsim.serve.shard import Parallel, stage_ranges
from hwsim.workload import load_model, trace

DS = load_model("deepseek-v2-lite")
LLAMA = load_model("llama-3-8b")
H100 = load_arch("h100-sxm")
ATTN = r"\.attn(?:\.|$)"  # the attention kernel's rows: the fused `attn`, or qk / softmax / av
_COSTS: dict = {}


def step_cost(arch="h100-sxm", prec=None, model=DS) -> StepCost:
    key = (arch, repr(prec), model.name)
    if key not in _COSTS:
        _COSTS[key] = StepCost(load_arch(arch), model, prec)
    return _COSTS[key]


def engine(arch, b, t, c, prec=None, rows=None, model=DS, phase="prefill") -> np.ndarray:
    """(seconds, joules) of the engine on a real trace: all its rows, the attention kernel's or the others."""
    tr = trace(model, "decode", batch=b, context=c) if phase == "decode" else trace(model, phase, b, t, c)
    ops = evaluate(load_arch(arch), tr, prec).ops
    if rows is not None:
        att = ops["name"].str.contains(ATTN)
        ops = ops[att if rows == "attn" else ~att]
    return np.array([ops["seconds"].sum(), ops["energy_j"].sum()])


def cost(c) -> np.ndarray:
    return np.array([float(c.seconds), float(c.energy_j)])


def test_each_form_is_fitted_on_its_own_shapes():
    basis = build_basis(DS)
    assert basis.forms and basis.one is not None and basis.one.exact and basis.context.exact and basis.seq.exact
    for rs, batched in ((basis.one, {"q_absorb", "v_up"}), (basis.context, {"kv_b_proj"})):
        ops = set(rs.frame["op"][rs.batched()])
        assert ops == batched  # one op over all the form's sequences; attention (qk, softmax, av) per sequence
    assert "layers.0.kv_b_proj" not in basis.one.names and "layers.0.q_absorb" not in basis.context.names
    assert not build_basis(LLAMA).forms and not build_basis(LLAMA).context.batched().any()


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 9), t=st.integers(1, 300), c=st.integers(0, 5000))
def test_form_rows_reproduce_the_trace_exactly(b, t, c):
    basis = build_basis(DS)
    rs = basis.form(t == 1)
    ops = trace(DS, "prefill", batch=b, seq=t, context=c).ops
    real = ops[ops["name"].isin(set(rs.names))]
    rows = rs.rows(rs.at(np.array([b]), np.array([t]), np.array([t + c])))
    for col in ("m", "macs", "weight_elems", "kv_read_elems", "act_in_elems", "act_out_elems", "vector_ops"):
        assert (rows[col].to_numpy() * rs.mult).sum() == real[col].sum()
    # a form's batched rows over b identical sequences are its rows at the sum of one sequence's terms
    one = rs.subset(rs.batched())
    many = one.rows(one.summed(np.full(b, t), np.full(b, t + c)))
    assert many.equals(one.rows(one.at(np.array([b]), np.array([t]), np.array([t + c]))))


@pytest.mark.parametrize(
    "arch,prec", [("h100-sxm", None), ("h100-sxm", Precision(weights="int4_g128", kv="int8")), ("tpu-like", None)]
)
def test_an_iteration_of_decode_sequences_is_the_engine_on_the_absorbed_form(arch, prec):
    sc = step_cost(arch, prec)
    one = sc.iteration(np.array([1]), np.array([700]), 1)
    assert cost(one) == pytest.approx(engine(arch, 1, 1, 700, prec, phase="decode"), rel=1e-9)
    # B sequences over one context: the decode trace of batch B (attention one op over the B sequences)
    four = sc.iteration(np.ones(4, dtype=np.int64), np.full(4, 700), 4)
    assert cost(four) == pytest.approx(engine(arch, 4, 1, 700, prec, phase="decode"), rel=1e-9)
    # B sequences over their own contexts, the per-sequence rule: q_absorb, v_up and every linear once over the B
    # tokens (the decode trace of batch B), attention one varlen kernel: each sequence's own, one launch for all
    per_seq = StepCost(load_arch(arch), DS, prec, batched_decode=False)
    ctx = np.array([5, 700, 3000, 64])
    other = engine(arch, 4, 1, 0, prec, "other", phase="decode")
    assert np.array_equal(other, engine(arch, 4, 1, 3000, prec, "other", phase="decode"))  # no context in them
    att = sum(engine(arch, 1, 1, int(c), prec, "attn", phase="decode") for c in ctx)
    got = per_seq.iteration(np.ones(4, dtype=np.int64), ctx, 4)
    assert cost(got) == pytest.approx(other + att - 3 * cost(sc.fixed_one), rel=1e-9)
    # the default: the same work as one op, never above the per-sequence rule here
    assert np.all(cost(sc.iteration(np.ones(4, dtype=np.int64), ctx, 4)) <= cost(got) * (1 + 1e-12))
    if arch == "h100-sxm":  # one fused attention kernel per layer × h100's launch_overhead
        assert sc.fixed_one.seconds == pytest.approx(DS.layers * H100.compute["launch_overhead"])


@pytest.mark.parametrize("arch", ["h100-sxm", "tpu-like"])
def test_prompt_chunks_run_kv_b_proj_once_over_their_cached_and_new_tokens(arch):
    sc = step_cost(arch)
    one = sc.iteration(np.array([300]), np.array([200]), 1)
    assert cost(one) == pytest.approx(engine(arch, 1, 300, 200), rel=1e-9)
    # two chunks: kv_b_proj (and every linear) once over both, the sizes of one sequence of both chunks' tokens
    # over both caches; attention each chunk's own in one varlen kernel
    two = sc.iteration(np.array([300, 45]), np.array([200, 1000]), 1)
    other = engine(arch, 1, 345, 1200, rows="other")
    att = engine(arch, 1, 300, 200, rows="attn") + engine(arch, 1, 45, 1000, rows="attn")
    assert cost(two) == pytest.approx(other + att - cost(sc.fixed), rel=1e-9)


@pytest.mark.parametrize("model", [DS, LLAMA])
def test_a_mixed_iteration_is_both_forms_less_what_they_share(model):
    """Decode sequences + a prompt chunk = each part's iteration alone, less the rows both run once over all
    tokens (token rows, lm_head; from real traces). An MLA model's two forms run two attention kernels; any
    other model's sequences share one varlen kernel, so its mixed batch also saves that kernel's launch."""
    sc = step_cost(model=model)
    basis = sc.basis

    def rows(b, t, cls):  # token rows: all but context and lm_head rows (MoE expert groups vary with the tokens)
        ops = evaluate(H100, trace(model, "prefill", batch=b, seq=t, context=0)).ops
        seq = ops["name"].isin(basis.names["seq"])
        ops = ops[seq if cls == "seq" else ~seq & ~ops["name"].isin(basis.names["context"])]
        return np.array([ops["seconds"].sum(), ops["energy_j"].sum()])

    new, ctx = np.array([1, 1, 200]), np.array([300, 41, 100])
    mixed = sc.iteration(new, ctx, 3)
    dec, pre = sc.iteration(new[:2], ctx[:2], 2), sc.iteration(new[2:], ctx[2:], 1)
    tok, seq = "token", "seq"
    shared = rows(1, 2, tok) + rows(1, 200, tok) - rows(1, 202, tok) + rows(2, 1, seq) + rows(1, 1, seq)
    shared -= rows(3, 1, seq)
    launch = cost(sc.fixed) if not basis.forms else 0.0
    assert cost(mixed) == pytest.approx(cost(dec) + cost(pre) - shared - launch, rel=1e-9)


def test_one_request_served_alone_is_its_generation():
    sc = step_cost()
    reqs = Requests(np.array([0.0]), np.array([512]), np.array([64]))
    res = serve(H100, DS, reqs, kv_blocks=1000, step_cost=sc)
    gen = generate(sc, prompt=512, output=64)
    r = res.requests.iloc[0]
    assert r.ttft_s == pytest.approx(gen.ttft_s, rel=1e-9) and r.tpot_s == pytest.approx(gen.tpot_s, rel=1e-9)


def test_serving_invariants_hold_with_preemption():
    reqs = poisson_requests(50.0, 24, "uniform:20:400", "uniform:2:40", seed=5)
    need = int((-(-(reqs.input_tokens + reqs.output_tokens - 1) // 16)).max())
    cfg = SchedulerConfig(max_num_seqs=6, max_batched_tokens=256, block_size=16)
    res = serve(H100, DS, reqs, config=cfg, kv_blocks=need + 4, step_cost=step_cost())
    req, it = res.requests, res.iterations
    assert res.replay.preemptions > 0
    assert (req["generated_tokens"] == req["output_tokens"]).all() and it["emitted"].sum() == reqs.output_tokens.sum()
    assert it["kv_blocks_used"].max() <= need + 4 and (it["seqs"] <= 6).all()
    assert (it["prefill_tokens"] + it["decode_tokens"] <= 256).all()
    sc = step_cost()
    for r in req.itertuples():
        assert r.ttft_s >= float(sc.uniform(1, min(r.input_tokens, 256), 0).seconds[0]) * (1 - 1e-9)
        if r.output_tokens > 1:
            assert r.tpot_s >= sc.iteration(np.array([1]), np.array([r.input_tokens]), 1).seconds * (1 - 1e-9)


def test_pipeline_stages_sum_to_the_whole_iteration():
    whole = step_cost()
    stages = [StepCost(H100, DS, stage=r) for r in stage_ranges(DS.layers, 3)]
    new, ctx = np.array([1, 1, 200, 7]), np.array([300, 41, 100, 0])
    got = sum(cost(s.iteration(new, ctx, 3)) for s in stages)
    assert got == pytest.approx(cost(whole.iteration(new, ctx, 3)), rel=1e-9)
    # tensor parallel: the sharded model's forms (MLA's latent projections replicated) run as on one device
    tp2 = ParallelStepCost(H100, DS, None, Parallel(tp=2), load_link("nvlink4")).stages[0]
    assert tp2.basis.forms and tp2.iteration(new, ctx, 3).seconds < whole.iteration(new, ctx, 3).seconds
