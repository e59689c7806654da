"""hwsim serve: scheduler invariants (hypothesis), determinism, request files, CLI, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.serve.graphs import graph_replay
from hwsim.serve.replay import serve
from hwsim.serve.requests import Requests, load_requests, poisson_requests
from hwsim.serve.scheduler import SchedulerConfig
from hwsim.serve.stepcost import StepCost
from hwsim.workload import load_model

ARCH, MODEL = load_arch("h100-sxm"), load_model("llama-3-8b")
SC = StepCost(ARCH, MODEL)


@st.composite
def streams(draw):
    n = draw(st.integers(1, 25))
    gaps = draw(st.lists(st.floats(0, 0.2), min_size=n, max_size=n))
    inp = draw(st.lists(st.integers(1, 700), min_size=n, max_size=n))
    out = draw(st.lists(st.integers(1, 60), min_size=n, max_size=n))
    return Requests(np.cumsum(gaps), np.array(inp), np.array(out))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    reqs=streams(),
    seqs=st.integers(1, 8),
    tokens=st.integers(1, 600),
    block=st.sampled_from([1, 16, 32]),
    spare=st.integers(0, 40),
    chunked=st.booleans(),
    admission=st.sampled_from(["on-demand", "reserve"]),
)
def test_replay_invariants(reqs, seqs, tokens, block, spare, chunked, admission):
    if not chunked:
        tokens = max(tokens, int(reqs.input_tokens.max()))
    need = int((-(-(reqs.input_tokens + reqs.output_tokens - 1) // block)).max())
    blocks = need + spare  # a tight cache forces preemptions
    cfg = SchedulerConfig(
        max_num_seqs=seqs, max_batched_tokens=tokens, block_size=block, chunked_prefill=chunked, kv_admission=admission
    )
    res = serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=blocks, step_cost=SC)
    req, it = res.requests, res.iterations
    assert req["finish_s"].notna().all()  # every request finishes
    # tokens out = requested, per request and counted iteration by iteration
    assert (req["generated_tokens"] == req["output_tokens"]).all()
    assert it["emitted"].sum() == reqs.output_tokens.sum()
    for r in req.itertuples():  # never faster than the request's prefill alone on the idle machine
        assert r.ttft_s >= SC.uniform(1, r.input_tokens, 0).seconds[0] * (1 - 1e-9)
        if r.output_tokens > 1:  # every decode step runs at least this sequence's own decode
            assert r.tpot_s >= SC.iteration(np.array([1]), np.array([r.input_tokens]), 1).seconds * (1 - 1e-9)
    assert it["kv_blocks_used"].max() <= blocks
    assert res.replay.kv_peak_blocks <= blocks
    assert (it["seqs"] <= seqs).all()
    assert (it["prefill_tokens"] + it["decode_tokens"] <= tokens).all()
    if admission == "reserve":  # every admitted sequence's whole life fits: nothing is ever preempted
        assert res.replay.preemptions == 0


def test_reserve_admits_only_whole_lives_and_never_preempts():
    """TensorRT-LLM's GUARANTEED_NO_EVICT: 6 requests of 200 + 100 tokens need 19 blocks of 16 each for their
    whole life (299 cached tokens); a 40-block cache holds two such lives, so at most two run at once and none
    is preempted, where vLLM's on-demand policy admits more and preempts (the test above)."""
    reqs = Requests(np.zeros(6), np.full(6, 200), np.full(6, 100))
    cfg = SchedulerConfig(block_size=16, kv_admission="reserve")
    res = serve(ARCH, MODEL, reqs, config=cfg, kv_blocks=40, step_cost=SC)
    assert res.replay.preemptions == 0 and (res.requests["generated_tokens"] == 100).all()
    assert res.iterations["seqs"].max() == 2
    assert res.iterations["prefill_tokens"].sum() == 6 * 200  # no recomputation
    on_demand = serve(ARCH, MODEL, reqs, config=SchedulerConfig(block_size=16), kv_blocks=40, step_cost=SC)
    assert on_demand.iterations["seqs"].max() > 2 and on_demand.replay.preemptions > 0


def test_reserve_equals_on_demand_when_every_life_fits():
    """With room for every request's whole life at once, reserving changes nothing: the same replay, bit for bit."""
    reqs = poisson_requests(20.0, 40, "lognormal:300:0.5", "lognormal:40:0.5", seed=3)
    need = int((-(-(reqs.input_tokens + reqs.output_tokens - 1) // 16)).sum())
    runs = [
        serve(ARCH, MODEL, reqs, config=SchedulerConfig(max_num_seqs=64, kv_admission=a), kv_blocks=need, step_cost=SC)
        for a in ("on-demand", "reserve")
    ]
    pd.testing.assert_frame_equal(runs[0].requests, runs[1].requests)
    pd.testing.assert_frame_equal(runs[0].iterations, runs[1].iterations)


def test_tokens_out_equal_requested_and_preemption_recomputes():
    reqs = Requests(np.zeros(6), np.full(6, 200), np.full(6, 100))
    res = serve(ARCH, MODEL, reqs, config=SchedulerConfig(block_size=16), kv_blocks=40, step_cost=SC)
    assert res.replay.preemptions > 0
    assert (res.requests["finish_s"] > res.requests["first_token_s"]).all()
    assert res.iterations["emitted"].sum() == 600 and (res.requests["generated_tokens"] == 100).all()
    # a preempted sequence recomputes its prompt and generated tokens: more prefill work than without preemption
    roomy = serve(ARCH, MODEL, reqs, config=SchedulerConfig(block_size=16), kv_blocks=400, step_cost=SC)
    assert roomy.replay.preemptions == 0
    assert res.iterations["prefill_tokens"].sum() > roomy.iterations["prefill_tokens"].sum()


def test_ttft_is_the_prefill_alone_for_a_single_request():
    reqs = Requests(np.array([0.0]), np.array([512]), np.array([64]))
    res = serve(ARCH, MODEL, reqs, kv_blocks=1000, step_cost=SC)
    r = res.requests.iloc[0]
    assert r.ttft_s == pytest.approx(SC.uniform(1, 512, 0).seconds[0], rel=1e-12)
    steps = SC.uniform(1, 1, 512 + np.arange(63)).seconds
    assert r.tpot_s == pytest.approx(steps.mean(), rel=1e-9)
    assert res.summary["preemptions"] == 0


def test_replay_is_deterministic_for_a_seed():
    def once():
        reqs = poisson_requests(20.0, 60, "uniform:10:400", "lognormal:40:0.5", seed=7)
        return serve(ARCH, MODEL, reqs, kv_blocks=3000, step_cost=SC)

    a, b = once(), once()
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.iterations, b.iterations)
    assert a.summary == b.summary
    c = poisson_requests(20.0, 60, "uniform:10:400", "lognormal:40:0.5", seed=8)
    assert not np.array_equal(
        c.arrival, poisson_requests(20.0, 60, "uniform:10:400", "lognormal:40:0.5", seed=7).arrival
    )


def test_load_requests_accepts_both_field_names(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text(
        '{"arrival_time": 0, "input_tokens": 5, "output_tokens": 3}\n\n'
        '{"arrival_time": 0.5, "input_toks": 7, "output_toks": 2}\n'
    )
    r = load_requests(str(f))
    assert r.input_tokens.tolist() == [5, 7] and r.output_tokens.tolist() == [3, 2] and r.arrival.tolist() == [0, 0.5]


@pytest.mark.parametrize(
    "lines,needle",
    [
        (['{"arrival_time": 0, "input_tokens": 5}'], "line 1: missing output_tokens"),
        (['{"arrival_time": 0, "input_tokens": -5, "output_tokens": 3}'], "input_tokens: line 1"),
        (
            [
                '{"arrival_time": 1, "input_tokens": 5, "output_tokens": 3}',
                '{"arrival_time": 0.5, "input_tokens": 5, "output_tokens": 3}',
            ],
            "line 2: arrivals out of order",
        ),
        (['{"arrival_time": 0, "input_tokens": 5, "output_tokens": 3}', "not json"], "line 2: not a JSON object"),
        (['{"input_tokens": 5, "output_tokens": 3}'], "line 1: missing arrival_time"),
        # json kept the last of the two silently
        (
            ['{"arrival_time": 0, "input_tokens": 5, "output_tokens": 3, "input_tokens": 9}'],
            "'input_tokens' given twice",
        ),
    ],
)
def test_bad_request_file_is_one_line_exit_2(tmp_path, capsys, lines, needle):
    f = tmp_path / "r.jsonl"
    f.write_text("\n".join(lines) + "\n")
    assert main(["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--requests", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(f) in err[0] and needle in err[0]


@pytest.mark.parametrize(
    "argv,field",
    [
        (["--rate", "0"], "--rate"),
        (["--rate", "5", "--input-len", "gauss:3"], "--input-len"),
        (["--rate", "5", "--max-num-seqs", "0"], "--max-num-seqs"),
        (["--rate", "5", "--kv-blocks", "2", "--input-len", "500"], "KV blocks"),
        (["--rate", "5", "--memory-utilization", "1.5"], "--memory-utilization"),
        ([], "--requests"),
        # a MemoryError traceback (745 GiB of arrival times)
        (["--rate", "5", "--seed", "0"], "--num-requests: must be at most 10,000,000"),
        # 5.5 was rounded to 6, uniform:2.5:9 cut to 2..9, 10^12 clipped to 2^31: silently
        (["--rate", "5", "--output-len", "5.5"], "--output-len: token counts of fixed lengths must be whole"),
        (["--rate", "5", "--input-len", "uniform:2.5:9"], "--input-len: token counts of uniform lengths"),
        (["--rate", "5", "--input-len", "1000000000000"], "--input-len: token counts of fixed lengths"),
        (
            ["--rate", "5", "--kv-admission", "greedy"],
            "--kv-admission: unknown policy 'greedy'; allowed: on-demand, reserve",
        ),
    ],
)
def test_bad_serve_options_are_one_line_exit_2(capsys, argv, field):
    num = "100000000000" if "at most 10,000,000" in field else "5"
    assert main(["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--num-requests", num, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]


def test_a_model_that_does_not_fit_is_a_user_error(capsys):
    assert main(["serve", "--arch", "h100-sxm", "--model", "llama-2-70b", "--rate", "1", "--num-requests", "3"]) == 2
    err = capsys.readouterr().err
    assert "does not fit" in err and "--tp" in err


@pytest.mark.parametrize("tp", [1, 2])
def test_serving_an_mla_model_works(tp, capsys):
    """MLA (DeepSeek-V2-Lite): one-token sequences in the absorbed form, prompt chunks expanding the latent cache
    (tests/test_serve_mla.py checks the costs); it was refused in one line."""
    argv = ["serve", "--arch", "h100-sxm", "--model", "deepseek-v2-lite", "--rate", "1", "--num-requests", "20"]
    assert main([*argv, "--tp", str(tp), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["requests"] == 20 and s["devices"] == tp and s["preemptions"] == 0
    sc = StepCost(graph_replay(ARCH), load_model("deepseek-v2-lite"))  # what `serve` runs (CUDA-graph replay)
    one_step = float(sc.uniform(1, 1, 16).seconds[0])  # a decode step of one sequence over a short cache
    for key in ("ttft_s", "tpot_s"):
        assert all(np.isfinite(v) and v > 0 for v in s[key].values())
    # a TPOT of at least a tp-th of a lone decode step, and no more than ten of them at this light load
    assert one_step / tp <= s["tpot_s"]["median"] <= 10 * one_step
    assert s["ttft_s"]["median"] < 10 * float(sc.uniform(1, 512, 0).seconds[0])  # median prompt: 512 tokens


def test_serve_cli_json_and_out(tmp_path, capsys):
    out = tmp_path / "o"
    assert (
        main(
            [
                "serve",
                "--arch",
                "h100-sxm",
                "--model",
                "llama-3-8b",
                "--rate",
                "20",
                "--num-requests",
                "40",
                "--input-len",
                "uniform:50:300",
                "--output-len",
                "20",
                "--json",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    s = json.loads(capsys.readouterr().out)
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        assert set(s[key]) == {"mean", "median", "p90", "p95", "p99"}
        assert s[key]["median"] <= s[key]["p90"] <= s[key]["p95"] <= s[key]["p99"]
    assert s["requests"] == 40 and s["throughput_out_tokens_per_s"] > 0 and s["energy_per_output_token_j"] > 0
    req = pd.read_parquet(out / "requests.parquet")
    assert len(req) == 40 and (req["output_tokens"] == 20).all()
    assert len(pd.read_parquet(out / "iterations.parquet")) == s["iterations"]
    assert (out / "latency.png").stat().st_size > 0 and (out / "timeline.png").stat().st_size > 0


def test_out_plots_requests_whose_latencies_differ_only_by_rounding(tmp_path, capsys):
    """Two requests whose TPOTs differ by 5e-14 ms (equal decode steps, divided out of different spans): the
    histogram needs one bin there; with 40 numpy raised and `--out` ended in a traceback, no plots written."""
    reqs = tmp_path / "reqs.jsonl"
    reqs.write_text(
        '{"arrival_time": 0.0, "input_tokens": 100, "output_tokens": 20}\n'
        '{"arrival_time": 0.5, "input_tokens": 300, "output_tokens": 5}\n'
    )
    out = tmp_path / "o"
    argv = ["serve", "--arch", "h100-sxm", "--model", "llama-3-8b", "--requests", str(reqs), "--kv-blocks", "1000"]
    assert main([*argv, "--out", str(out)]) == 0
    tpot = pd.read_parquet(out / "requests.parquet")["tpot_s"].to_numpy()
    assert 0 < np.ptp(tpot) < 1e-12 * tpot.max()  # the case: equal but for rounding
    assert (out / "latency.png").stat().st_size > 0 and (out / "timeline.png").stat().st_size > 0


def test_an_out_folder_that_cannot_be_written_is_refused_before_the_replay(tmp_path, capsys, monkeypatch):
    """`--out` naming a file failed after the whole replay (minutes for a long stream); and `--out` holding the
    request file as requests.parquet overwrote it. Both are one line, exit 2, before anything is served."""
    import hwsim.serve.replay

    def no_replay(*args, **kwargs):
        raise AssertionError("the replay ran before --out was checked")

    monkeypatch.setattr(hwsim.serve.replay, "serve", no_replay)
    taken = tmp_path / "file"
    taken.write_text("x")
    argv = ["serve", "--arch", "h100-sxm", "--model", "gpt-2"]
    assert main([*argv, "--rate", "1", "--num-requests", "3", "--out", str(taken)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out: cannot create folder" in err, err
    reqs = tmp_path / "o" / "requests.parquet"
    reqs.parent.mkdir()
    reqs.write_text('{"arrival_time": 0, "input_tokens": 5, "output_tokens": 3}\n')
    assert main([*argv, "--requests", str(reqs), "--out", str(reqs.parent)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "writing it would destroy it" in err, err
    assert reqs.read_text().startswith('{"arrival_time"')
