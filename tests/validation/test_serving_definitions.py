"""hwsim serve's metrics against the serving engines' published definitions (REFERENCES.md, "Serving metrics";
vLLM's benchmark_serving): TTFT = first output token - arrival, TPOT = (last token - first token) / (output
tokens - 1) over requests with more than one output token, end-to-end latency = last token - arrival; the
summary reports mean, median, p90, p95, p99. Iteration-level batching: every step's tokens stay within the
token budget and its sequences within the maximum; KV blocks of 16 tokens by default (vLLM).

The timings are built independently of the replay's own columns where possible: a lone request's TTFT is its
prefill step and its TPOT the mean of its decode steps, each priced by the step cost model directly.
"""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.serve.replay import serve
from hwsim.serve.requests import Requests, poisson_requests
from hwsim.serve.scheduler import SchedulerConfig
from hwsim.serve.stepcost import StepCost
from hwsim.workload import load_model

ARCH, MODEL = load_arch("h100-sxm"), load_model("llama-3-8b")
SC = StepCost(ARCH, MODEL)


def test_lone_request_metrics_follow_the_definitions():
    """One request arriving at 0.25 s, 300 prompt tokens, 40 output tokens, on an idle machine: TTFT is the
    300-token prefill step, TPOT the mean of the 39 decode steps at contexts 300..338, E2E = TTFT + 39 TPOT."""
    res = serve(ARCH, MODEL, Requests(np.array([0.25]), np.array([300]), np.array([40])), kv_blocks=1000, step_cost=SC)
    r = res.requests.iloc[0]
    prefill = SC.uniform(1, 300, 0).seconds[0]
    decode = SC.uniform(1, 1, 300 + np.arange(39)).seconds
    assert r.ttft_s == pytest.approx(prefill, rel=1e-9)
    assert r.first_token_s == pytest.approx(0.25 + prefill, rel=1e-9)  # TTFT counts from arrival
    assert r.tpot_s == pytest.approx(decode.mean(), rel=1e-9)  # the first token is not in TPOT
    assert r.e2e_s == pytest.approx(prefill + decode.sum(), rel=1e-9)
    assert r.e2e_s == pytest.approx(r.ttft_s + 39 * r.tpot_s, rel=1e-9)


def test_tpot_excludes_single_token_requests_and_summary_uses_the_percentiles():
    """Under load: per request TPOT = (finish - first) / (out - 1), undefined (NaN) for one output token and
    left out of the summary; the summary's statistics are the mean and the 50/90/95/99th percentiles."""
    reqs = poisson_requests(40.0, 60, "uniform:16:600", "uniform:1:60", seed=11)
    res = serve(ARCH, MODEL, reqs, kv_blocks=4000, step_cost=SC)
    q = res.requests
    single = q["output_tokens"] == 1
    assert single.any() and (~single).any()
    assert q.loc[single, "tpot_s"].isna().all()
    multi = q[~single]
    np.testing.assert_allclose(
        multi["tpot_s"], (multi["finish_s"] - multi["first_token_s"]) / (multi["output_tokens"] - 1), rtol=1e-12
    )
    np.testing.assert_allclose(q["ttft_s"], q["first_token_s"] - q["arrival_s"], rtol=1e-12)
    np.testing.assert_allclose(q["e2e_s"], q["finish_s"] - q["arrival_s"], rtol=1e-12)
    for key, x in (("ttft_s", q["ttft_s"]), ("tpot_s", multi["tpot_s"]), ("e2e_s", q["e2e_s"])):
        want = {
            "mean": x.mean(),
            **{k: np.percentile(x, p) for k, p in (("median", 50), ("p90", 90), ("p95", 95), ("p99", 99))},
        }
        assert res.summary[key] == pytest.approx(want, rel=1e-12), key


def test_iteration_level_batching_limits_and_vllm_block_size():
    """Every step stays within the token budget and the sequence cap (here 512 tokens, 8 sequences, so both
    bind under this load), decode tokens are one per running sequence, and the default KV block is vLLM's 16."""
    assert SchedulerConfig().block_size == 16 and SchedulerConfig().max_num_seqs == 256
    reqs = poisson_requests(200.0, 80, "uniform:64:900", "uniform:2:40", seed=5)
    cfg = SchedulerConfig(max_num_seqs=8, max_batched_tokens=512)
    it = serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=4000, step_cost=SC).iterations
    assert (it["prefill_tokens"] + it["decode_tokens"] <= 512).all() and (it["seqs"] <= 8).all()
    assert it["seqs"].max() == 8 and (it["prefill_tokens"] + it["decode_tokens"]).max() == 512
    assert (it["decode_tokens"] <= it["seqs"]).all()
