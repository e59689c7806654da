"""Automatic prefix caching in `hwsim serve` (vLLM V1's design, docs.vllm.ai design/prefix_caching): full blocks
known by the chain of their contents, leading cached blocks reused (ref-counted) and not prefilled, at least the
last prompt token computed, free cached blocks evicted least recently used first, references dropped on
preemption. Bit-identity with the scheduler before prefix caching, block-table invariants (hypothesis), the
request-file fields, and a validation: a shared P-token prefix gives the TTFT of prompts of (len − P) tokens
attending over the whole context."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.serve.kvcache import BlockTable, SlidingKv
from hwsim.serve.replay import serve
from hwsim.serve.requests import Requests, load_requests, poisson_requests
from hwsim.serve.scheduler import SchedulerConfig, simulate
from hwsim.serve.stepcost import StepCost
from hwsim.workload import load_model

ARCH, MODEL = load_arch("h100-sxm"), load_model("llama-3-8b")
SC = StepCost(ARCH, MODEL)
OFF = SchedulerConfig(prefix_caching=False)


def shared(arrival, inp, out, groups, plen):
    """Requests where request i shares `plen[i]` tokens of prefix `groups[i]` (-1: none)."""
    n = len(arrival)
    return Requests(
        np.asarray(arrival, dtype=float),
        np.asarray(inp, dtype=np.int64),
        np.asarray(out, dtype=np.int64),
        prefix=np.asarray(groups, dtype=np.int64),
        prefix_len=np.asarray(plen, dtype=np.int64),
        name=np.full(n, -1, dtype=np.int64),
    )


# --- no sharing: today's results ------------------------------------------------------------------------
# recorded with the scheduler before prefix caching (main at e68912e, 2026-12-05): a 60-block cache that forces
# preemptions (h100-sxm, Llama-3-8B fp16, 40 requests at t = 0, uniform:100:400 in, uniform:50:200 out, seed 1,
# block 16, 512 tokens per iteration)
TIGHT = dict(ttft_mean=8.97531938139282, preemptions=33, iterations=1991)


def _tight(caching: bool):
    reqs = poisson_requests(float("inf"), 40, "uniform:100:400", "uniform:50:200", 1)
    cfg = SchedulerConfig(block_size=16, max_batched_tokens=512, prefix_caching=caching)
    return serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=60, step_cost=SC)


def test_caching_off_reproduces_the_scheduler_before_it():
    s = _tight(False).summary
    assert (s["ttft_s"]["mean"], s["preemptions"], s["iterations"]) == tuple(TIGHT.values())
    assert s["prefix_cache_hit_rate"] is None


def test_preempted_sequences_reuse_their_own_cached_blocks():
    """vLLM caches every full block, a preempted request's too: resumed, it recomputes only what was evicted.
    The only way results move without shared prefixes (and only with preemptions)."""
    on, off = _tight(True), _tight(False)
    assert on.summary["prefix_cache_hit_tokens"] > 0
    assert on.summary["preemptions"] <= off.summary["preemptions"]
    assert on.iterations["prefill_tokens"].sum() < off.iterations["prefill_tokens"].sum()
    assert (on.requests["generated_tokens"] == on.requests["output_tokens"]).all()


@pytest.mark.parametrize(
    "reqs,cfg,kw",
    [
        (poisson_requests(10, 200, "1024", "128", 0), SchedulerConfig(), {}),
        (
            poisson_requests(20, 300, "lognormal:512:0.8", "lognormal:128:0.8", 3),
            SchedulerConfig(max_batched_tokens=2048),
            {},
        ),
        (poisson_requests(10, 100, "512", "64", 2), SchedulerConfig(), {"dp": 2}),
        (poisson_requests(5, 60, "uniform:10:900", "uniform:1:90", 4), SchedulerConfig(chunked_prefill=False), {}),
    ],
)
def test_no_shared_prefix_is_bit_identical(reqs, cfg, kw):
    on = serve(ARCH, MODEL, reqs, config=cfg, step_cost=SC, **kw)
    off = serve(
        ARCH, MODEL, reqs, config=SchedulerConfig(**{**cfg.__dict__, "prefix_caching": False}), step_cost=SC, **kw
    )
    assert on.summary["preemptions"] == 0
    assert on.requests.drop(columns="cached_tokens").equals(off.requests.drop(columns="cached_tokens"))
    assert on.iterations.drop(columns="cached_tokens").equals(off.iterations.drop(columns="cached_tokens"))
    assert on.summary["prefix_cache_hit_rate"] == 0.0


def test_default_stream_is_unchanged():
    """A stream as a serving study replays it (scheduler defaults, caching on): the same numbers as off."""
    reqs = poisson_requests(2, 20, "lognormal:512:0.8", "lognormal:128:0.8", 0)
    model = load_model("llama-2-7b")
    sc = StepCost(ARCH, model)
    on = serve(ARCH, model, reqs, step_cost=sc).summary
    off = serve(ARCH, model, reqs, config=OFF, step_cost=sc).summary
    assert {k: v for k, v in on.items() if not k.startswith("prefix")} == {
        k: v for k, v in off.items() if not k.startswith("prefix")
    }


# --- sharing ----------------------------------------------------------------------------------------------
def test_shared_prefix_is_not_prefilled_but_attended():
    """Two requests 10 s apart sharing 768 of 1024 tokens: the second prefills 256 tokens over 768 cached ones."""
    reqs = shared([0, 10], [1024, 1024], [4, 4], [0, 0], [768, 768])
    res = serve(ARCH, MODEL, reqs, step_cost=SC)
    assert res.requests["cached_tokens"].tolist() == [0, 768]
    ttft = res.requests["ttft_s"].to_numpy()
    assert ttft[0] == pytest.approx(SC.iteration(np.array([1024]), np.array([0]), 1).seconds, rel=1e-12)
    assert ttft[1] == pytest.approx(SC.iteration(np.array([256]), np.array([768]), 1).seconds, rel=1e-12)
    assert res.summary["prefix_cache_hit_rate"] == pytest.approx(768 / 2048)


def test_last_prompt_token_is_always_computed():
    """A prompt wholly cached recomputes its last block (vLLM caps the hit at tokens − 1, in full blocks)."""
    reqs = shared([0, 10, 20], [512, 512, 500], [2, 2, 2], [0, 0, 0], [512, 512, 500])
    res = serve(ARCH, MODEL, reqs, config=SchedulerConfig(block_size=16), step_cost=SC)
    assert res.requests["cached_tokens"].tolist() == [0, 512 - 16, 496]


def test_partial_blocks_are_not_shared():
    reqs = shared([0, 10], [100, 100], [2, 2], [0, 0], [40, 40])
    res = serve(ARCH, MODEL, reqs, config=SchedulerConfig(block_size=16), step_cost=SC)
    assert res.requests["cached_tokens"].tolist() == [0, 32]


def test_lru_eviction_keeps_the_recent_prefix():
    """Cache of 12 blocks (16 tokens): A (8 blocks of prefix) then B (8) — B's allocation evicts A's oldest
    free blocks — then A again reuses only what is left of A, B again all of B's prefix."""
    t = [0, 10, 20, 30]
    reqs = shared(t, [129, 129, 129, 129], [1, 1, 1, 1], [0, 1, 1, 0], [128, 128, 128, 128])
    res = serve(ARCH, MODEL, reqs, config=SchedulerConfig(block_size=16), kv_blocks=12, step_cost=SC)
    cached = res.requests["cached_tokens"].tolist()
    assert cached[2] == 128  # B, just used: all of its prefix
    assert cached[3] < 128  # A: its tail blocks went first (freed in reverse order), its head may remain
    assert res.summary["kv_evicted_blocks"] > 0


@pytest.mark.parametrize("rate", [1, 10])
def test_validation_shared_prefix_equals_shorter_prompts_over_the_full_context(rate):
    """Every request shares a P-token prefix: TTFT is that of prompts of (len − P) tokens whose attention reads
    P more cached tokens (the reference replays the short prompts with every context shifted by P). Request 0
    differs (it prefills the whole prompt: `extra` longer), and through it the iterations that follow: at 1
    request/s the server idles between requests and the replays agree again at once (identical TTFTs but for
    request 0's busy period); at 10/s it never idles, so every later iteration boundary is shifted and a request
    may wait for a different iteration to end — the step quantisation, bounded by an iteration's length."""
    n, L, P, D = 200, 1024, 768, 128
    base = poisson_requests(rate, n, str(L), str(D), 0)
    sharing = shared(base.arrival, base.input_tokens, base.output_tokens, np.zeros(n), np.full(n, P))
    on = serve(ARCH, MODEL, sharing, step_cost=SC)
    short = Requests(base.arrival, base.input_tokens - P, base.output_tokens)
    ref = simulate(short, lambda new, ctx, emit: SC.iteration(new, ctx + P, emit), 10**6, OFF)
    got = on.requests["ttft_s"].to_numpy()
    d = got - (ref.first_token - base.arrival)
    whole = SC.iteration(np.array([L]), np.array([0]), 1).seconds
    extra = whole - SC.iteration(np.array([L - P]), np.array([P]), 1).seconds
    assert d[0] == pytest.approx(extra, rel=1e-9)
    step = np.asarray(on.replay.iterations["seconds"])
    assert np.abs(d).max() <= step.max() + extra
    if rate == 1:
        assert (np.abs(d[1:]) <= 1e-12).mean() > 0.95
        assert d.mean() == pytest.approx(extra / n, rel=0.5)
    else:  # measured: mean 20.72 against 20.92 ms, median |difference| 0.72 ms, iterations 11.2 ms on average
        assert np.median(np.abs(d)) <= step.mean()
        assert abs(d.mean()) <= 0.1 * step.mean()


# --- hypothesis ------------------------------------------------------------------------------------------
@st.composite
def sharing_streams(draw):
    n = draw(st.integers(1, 20))
    gaps = draw(st.lists(st.floats(0, 0.2), min_size=n, max_size=n))
    inp = np.array(draw(st.lists(st.integers(1, 600), min_size=n, max_size=n)))
    out = np.array(draw(st.lists(st.integers(1, 50), min_size=n, max_size=n)))
    groups = np.array(draw(st.lists(st.integers(-1, 2), min_size=n, max_size=n)))
    plen = np.array([draw(st.integers(1, int(p))) for p in inp])
    return shared(np.cumsum(gaps), inp, out, groups, np.where(groups >= 0, plen, 0))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reqs=sharing_streams(), block=st.sampled_from([1, 16, 32]), spare=st.integers(0, 40), tokens=st.integers(1, 600))
def test_invariants_with_sharing(reqs, block, spare, tokens):
    need = int((-(-(reqs.input_tokens + reqs.output_tokens - 1) // block)).max())
    cfg = SchedulerConfig(max_num_seqs=6, max_batched_tokens=tokens, block_size=block)
    on = serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=need + spare, step_cost=SC)
    req, it = on.requests, on.iterations
    assert (req["generated_tokens"] == req["output_tokens"]).all()
    assert it["kv_blocks_used"].max() <= need + spare  # (BlockTable asserts a referenced block is never evicted)
    assert (req["cached_tokens"] <= req["input_tokens"] - 1).all()  # the last prompt token is computed
    assert (req["cached_tokens"] % block == 0).all()
    # every admitted sequence prefills what it knew less what it reused; a hit that leaves one token of a
    # resumed sequence runs it as a decode step
    s = on.summary
    assert it["prefill_tokens"].sum() <= s["prefix_cache_query_tokens"] - s["prefix_cache_hit_tokens"]
    # with a cache that never preempts, hits only take tokens away from the prefill
    ample = int((-(-(reqs.input_tokens + reqs.output_tokens) // block)).sum())
    big = serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=ample, step_cost=SC)
    off_cfg = SchedulerConfig(**{**cfg.__dict__, "prefix_caching": False})
    off = serve(ARCH, MODEL, reqs, config=off_cfg, kv_blocks=ample, step_cost=SC)
    hits = big.summary["prefix_cache_hit_tokens"]
    assert big.iterations["prefill_tokens"].sum() == off.iterations["prefill_tokens"].sum() - hits


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 3), st.integers(1, 6)), max_size=60),
    sliding=st.sampled_from(
        [
            None,
            SlidingKv(4, 1, ((9, 1),)),
            SlidingKv(4, 2, ((5, 1),), ((8, 3),)),
            (SlidingKv(4, 1, ((9, 1),)), SlidingKv(4, 0, ((9, 2),)), SlidingKv(4, 3, ())),  # three pipeline stages
        ]
    ),
)
def test_block_table_never_evicts_a_referenced_block(ops, sliding):
    """Random admissions (with hits), growth and releases on a 24-block table, per-token or with a window (and a
    chunk) whose blocks are cached apart, or three pipeline stages of their own splits (24 blocks each): referenced blocks stay cached, blocks in use never exceed capacity, the
    free queue holds exactly the free units, and the units in use are each sequence's own plus every referenced
    cached block once."""
    kv = BlockTable(24, 4, 6, caching=True, sliding=sliding)
    keys = {r: [(r % 3, k) for k in range(8)] for r in range(6)}  # sequences r and r + 3 share their contents
    live: dict[int, int] = {}  # sequence → tokens computed
    for op, r, _, blocks in ops:
        if op <= 1 and r not in live:
            hit = kv.lookup(keys[r], 7)
            if blocks >= hit.blocks:
                after = kv.target([r], [blocks * 4], [hit.blocks * 4])[0]
                if (kv.charge(hit, after) <= kv.free).all():
                    kv.acquire(r, hit)
                    kv.grow(np.array([r]), np.array([blocks * 4]), np.array([hit.blocks * 4]))
                    kv.register(r, keys[r], blocks)
                    live[r] = blocks * 4
        elif op == 2 and r in live:
            kv.release(r)
            del live[r]
        elif r in live:
            t = min(32, live[r] + 4)
            if (kv.need(np.array([r]), np.array([t]), np.array([live[r]]))[0] <= kv.free).all():
                kv.grow(np.array([r]), np.array([t]), np.array([live[r]]))
                kv.register(r, keys[r], t // 4)
                live[r] = t
        assert (kv.used <= kv.capacities).all()
        for s in live:
            for dq in kv.mine.get(s, []):
                for _, key in dq:
                    assert kv.refs[key] >= 1
        queued = sum(np.array(v if slot not in kv._keyed else kv.weights[v[0]]) for slot, v in kv._queue.items())
        assert (queued == kv.capacities * kv.unit - kv.used_units).all()
        own = sum((kv.held[s] * kv.unit - kv.shared[s] for s in live), np.zeros_like(kv.unit))
        referenced = {e for s in live for dq in kv.mine.get(s, []) for _, e in dq}
        assert (kv.used_units == own + sum((kv.weights[e[0]] for e in referenced), np.zeros_like(kv.unit))).all()


# --- request files and the CLI ----------------------------------------------------------------------------
def _write(tmp_path, lines):
    p = tmp_path / "reqs.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return str(p)


def test_request_file_prefixes_and_chat_turns(tmp_path):
    """A system prompt named `sys`, and a second chat turn replaying turn 1's prompt and answer."""
    path = _write(
        tmp_path,
        [
            {
                "arrival_time": 0,
                "input_tokens": 300,
                "output_tokens": 50,
                "prefix": "sys",
                "prefix_len": 256,
                "id": "c1",
            },
            {"arrival_time": 5, "input_tokens": 300, "output_tokens": 10, "prefix": "sys", "prefix_len": 256},
            {"arrival_time": 10, "input_tokens": 400, "output_tokens": 10, "prefix": "c1", "prefix_len": 350},
        ],
    )
    reqs = load_requests(path)
    res = serve(ARCH, MODEL, reqs, config=SchedulerConfig(block_size=16), step_cost=SC)
    # turn 2 reuses turn 1's 349 computed tokens (its last answer token is never fed back) in full blocks: 336
    assert res.requests["cached_tokens"].tolist() == [0, 256, 336]
    off = serve(ARCH, MODEL, reqs, config=OFF, step_cost=SC)
    assert (res.requests["ttft_s"].to_numpy()[1:] < off.requests["ttft_s"].to_numpy()[1:]).all()


@pytest.mark.parametrize(
    "line,field",
    [
        ({"prefix": "a"}, "prefix_len"),
        ({"prefix_len": 3}, "prefix"),
        ({"prefix": "a", "prefix_len": 11}, "prefix_len"),
        ({"prefix": "a", "prefix_len": 0}, "prefix_len"),
        ({"prefix": True, "prefix_len": 3}, "prefix"),
        ({"id": "x", "prefix": "x", "prefix_len": 3}, "id"),
    ],
)
def test_request_file_refuses_bad_prefixes(tmp_path, line, field, capsys):
    path = _write(tmp_path, [{"arrival_time": 0, "input_tokens": 10, "output_tokens": 2, **line}])
    rc = main(["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--requests", path])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and field in err[0]


def test_request_file_refuses_a_prefix_longer_than_the_named_request(tmp_path, capsys):
    path = _write(
        tmp_path,
        [
            {"arrival_time": 0, "input_tokens": 10, "output_tokens": 2, "id": 7},
            {"arrival_time": 1, "input_tokens": 20, "output_tokens": 2, "prefix": 7, "prefix_len": 13},
        ],
    )
    assert main(["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--requests", path]) == 2
    assert "12 tokens" in capsys.readouterr().err


def test_generated_stream_sharing_is_seeded_and_keeps_the_stream():
    a = poisson_requests(5, 500, "lognormal:512:0.8", "64", 3, shared_prefix=200, prefix_groups=4, prefix_fraction=0.5)
    b = poisson_requests(5, 500, "lognormal:512:0.8", "64", 3)
    assert np.array_equal(a.arrival, b.arrival) and np.array_equal(a.input_tokens, b.input_tokens)
    c = poisson_requests(5, 500, "lognormal:512:0.8", "64", 3, shared_prefix=200, prefix_groups=4, prefix_fraction=0.5)
    assert np.array_equal(a.prefix, c.prefix) and np.array_equal(a.prefix_len, c.prefix_len)
    assert 0.4 < (a.prefix >= 0).mean() < 0.6 and set(a.prefix[a.prefix >= 0].tolist()) == {0, 1, 2, 3}
    assert np.array_equal(a.prefix_len[a.prefix >= 0], np.minimum(a.input_tokens, 200)[a.prefix >= 0])


def test_cli_shared_prefix_and_switch(capsys):
    args = ["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--rate", "10", "--num-requests", "30"]
    args += ["--input-len", "1024", "--output-len", "16", "--shared-prefix", "768", "--json"]
    assert main(args) == 0
    on = json.loads(capsys.readouterr().out)
    assert main([*args, "--no-prefix-caching"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert on["prefix_cache_hit_tokens"] == 29 * 768 and off["prefix_cache_hit_rate"] is None
    assert on["ttft_s"]["mean"] < off["ttft_s"]["mean"]
    assert main([*args[:-3], "--prefix-groups", "2"]) == 2
    assert "--shared-prefix" in capsys.readouterr().err
    assert main([*args[:-2], "0"]) == 2
    assert "--shared-prefix" in capsys.readouterr().err


def test_replicas_keep_prefixes():
    reqs = poisson_requests(10, 40, "1024", "16", 0, shared_prefix=512)
    res = serve(ARCH, MODEL, reqs, dp=2, step_cost=SC)
    assert res.summary["prefix_cache_hit_tokens"] == (40 - 2) * 512  # one miss per replica


def test_models_with_ssm_state_do_not_reuse_blocks():
    """Nemotron-H (Mamba-2 + attention; tests/data/hf_configs): a block holds no recurrent state, so no reuse."""
    from pathlib import Path

    model = load_model(Path(__file__).parent / "data" / "hf_configs" / "nemotron-h-8b-base-8k.json")
    reqs = poisson_requests(5, 6, "600", "4", 0, shared_prefix=512)
    res = serve(ARCH, model, reqs)
    assert res.summary["prefix_cache_hit_rate"] is None
    assert (res.requests["cached_tokens"] == 0).all()


def test_replays_with_sharing_are_deterministic(capsys):
    reqs = poisson_requests(20, 80, "lognormal:600:0.5", "lognormal:40:0.5", 5, shared_prefix=300, prefix_groups=3)
    cfg = SchedulerConfig(block_size=16, max_batched_tokens=1024)
    a = serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=400, step_cost=SC)
    b = serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=400, step_cost=SC)
    assert a.requests.equals(b.requests) and a.iterations.equals(b.iterations) and a.summary == b.summary
    assert a.summary["kv_evicted_blocks"] > 0 and a.summary["prefix_cache_hit_rate"] > 0
    args = ["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--rate", "10", "--num-requests", "10"]
    assert main([*args, "--input-len", "256", "--output-len", "8", "--shared-prefix", "128"]) == 0
    assert "prefix cache: 45.0% of prompt tokens reused (1,152 of 2,560)" in capsys.readouterr().out
