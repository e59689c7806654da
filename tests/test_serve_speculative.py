"""Speculative decoding (Leviathan et al. 2023): expected tokens per target step, generation rounds,
serving with drafts verified in the scheduler (hwsim.serve.speculative)."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.errors import HwsimError
from hwsim.serve import StepCost, generate
from hwsim.serve.replay import serve
from hwsim.serve.requests import poisson_requests
from hwsim.serve.speculative import Speculation, expected_tokens, speculative_generate
from hwsim.workload import load_model

H100 = load_arch("h100-sxm")
LLAMA = load_model("llama-3-8b")
# a two-layer cut of the same model: the same vocabulary, a small fraction of the cost (a stand-in draft)
DRAFT_MODEL = dataclasses.replace(LLAMA, blocks=LLAMA.blocks[:2], name="llama-3-8b-2-layers")
TARGET = StepCost(H100, LLAMA)
DRAFT = StepCost(H100, DRAFT_MODEL)


def test_expected_tokens_is_leviathan_eq_1():
    # E = (1 - a^(k+1)) / (1 - a): a = 0.8, k = 4 -> (1 - 0.32768) / 0.2 = 3.3616
    assert expected_tokens(0.8, 4) == pytest.approx(3.3616)
    assert expected_tokens(1.0, 4) == 5 and expected_tokens(0.0, 7) == 1


@settings(max_examples=10, deadline=None)
@given(alpha=st.floats(0.0, 0.99), k=st.integers(1, 8))
def test_sampled_acceptances_average_to_the_expectation(alpha, k):
    spec = Speculation(draft=None, k=k, alpha=alpha)
    got = spec.accepted(np.random.default_rng(1), np.full(40_000, k))
    assert got.min() >= 0 and got.max() <= k
    assert got.mean() + 1 == pytest.approx(expected_tokens(alpha, k), rel=0.03)


def test_generation_rounds_cost_draft_steps_plus_one_verification():
    spec = Speculation(DRAFT, k=4, alpha=0.8)
    g = speculative_generate(TARGET, spec, 256, 101)
    e = expected_tokens(0.8, 4)
    assert len(g.step_s) == int(np.ceil(100 / e)) and g.tokens_per_step == e
    c = int(g.step_context[3])
    one = float(TARGET.uniform(1, 5, c, logits=5).seconds[0]) + sum(
        float(DRAFT.uniform(1, 1, c + j).seconds[0]) for j in range(4)
    )
    assert g.step_s[3] == pytest.approx(one, rel=1e-12)
    assert g.tpot_s == pytest.approx(g.step_s.sum() / 100)
    plain = generate(TARGET, 256, 101)
    assert g.tpot_s < plain.tpot_s  # a cheap draft accepted 80% of the time pays off
    assert g.ttft_s == plain.ttft_s


def test_a_draft_that_is_never_accepted_only_costs():
    g = speculative_generate(TARGET, Speculation(DRAFT, k=2, alpha=0.0), 128, 20)
    assert g.tpot_s > generate(TARGET, 128, 20).tpot_s


def test_speculative_serving_keeps_the_invariants_and_is_deterministic():
    reqs = poisson_requests(20.0, 30, "uniform:20:200", "uniform:2:60", seed=5)
    spec = Speculation(DRAFT, k=3, alpha=0.7, seed=11)
    a = serve(H100, LLAMA, reqs, kv_blocks=120, step_cost=TARGET, speculation=spec)
    b = serve(H100, LLAMA, reqs, kv_blocks=120, step_cost=TARGET, speculation=spec)
    assert a.requests.equals(b.requests) and a.iterations.equals(b.iterations)
    assert (a.requests["generated_tokens"] == a.requests["output_tokens"]).all()
    assert (a.iterations["kv_blocks_used"] <= 120).all()
    assert 1 < a.summary["speculative_tokens_per_step"] <= 4
    plain = serve(H100, LLAMA, reqs, kv_blocks=120, step_cost=TARGET)
    assert plain.summary["speculative_tokens_per_step"] is None
    assert a.summary["tpot_s"]["mean"] < plain.summary["tpot_s"]["mean"]


def test_cli_speculative_generate_and_bad_input(capsys):
    args = ["generate", "--arch", "h100-sxm", "--model", "llama-3-8b", "--prompt", "64", "--output", "9"]
    assert main(args + ["--draft", "llama-3.1-8b", "--spec-tokens", "3", "--acceptance", "0.6", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tokens_per_step"] == pytest.approx(expected_tokens(0.6, 3)) and doc["draft"] == "llama-3.1-8b"
    for extra, field in (
        (["--draft", "llama-3.1-8b"], "--acceptance"),
        (["--draft", "llama-3.1-8b", "--acceptance", "1.5"], "--acceptance"),
        (["--acceptance", "0.5"], "--acceptance"),
        (["--draft", "gpt-2", "--acceptance", "0.5"], "--draft"),
    ):
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip()
        assert field in err and "\n" not in err


def test_bad_speculation_values():
    with pytest.raises(HwsimError, match="^k: must be a positive integer"):
        Speculation(DRAFT, k=0).validate()


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 12),
    k=st.integers(1, 5),
    alpha=st.floats(0, 1),
    tokens=st.integers(8, 300),
    spare=st.integers(0, 30),
    seed=st.integers(0, 9),
)
def test_speculative_replay_invariants(n, k, alpha, tokens, spare, seed):
    """Every request finishes with exactly its tokens, the cache never overflows (lookahead included),
    token budgets hold, and a sequence never gains more than k + 1 tokens in one iteration."""
    reqs = poisson_requests(50.0, n, "uniform:1:120", "uniform:1:40", seed=seed)
    blocks = int(np.max(-(-(reqs.input_tokens + reqs.output_tokens - 1) // 16))) + spare
    from hwsim.serve.scheduler import SchedulerConfig

    cfg = SchedulerConfig(max_num_seqs=4, max_batched_tokens=tokens, block_size=16)
    res = serve(
        H100,
        LLAMA,
        reqs,
        config=cfg,
        kv_blocks=blocks,
        step_cost=TARGET,
        speculation=Speculation(DRAFT, k=k, alpha=alpha, seed=seed),
    )
    assert (res.requests["generated_tokens"] == res.requests["output_tokens"]).all()
    it = res.iterations
    assert (it["kv_blocks_used"] <= blocks).all()
    assert (it["prefill_tokens"] + it["decode_tokens"] <= tokens).all()
    assert (it["accepted"] <= k * it["verified"]).all()
    assert (res.requests["ttft_s"] > 0).all()
