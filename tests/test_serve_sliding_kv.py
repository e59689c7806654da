"""Sliding-window layers hold only their window's KV blocks in serve's paged cache (hwsim.serve.kvcache.SlidingKv),
as vLLM V1's hybrid KV-cache manager keeps them: its SlidingWindowManager frees the blocks wholly before the last
window − 1 computed tokens (get_num_skipped_tokens = max(0, computed − window + 1), vllm/v1/core/
single_type_kv_cache_manager.py), so a sliding layer holds at most cdiv(window − 1 + new tokens, block_size) + 1
blocks (SlidingWindowSpec.max_admission_blocks_per_request, vllm/v1/kv_cache_interface.py); ceil((window − 1) /
block_size) + 1 while decoding."""

import contextlib
import io
import json

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.serve import StepCost
from hwsim.serve.kvcache import BlockTable, SlidingKv, sliding_kv
from hwsim.serve.replay import serve
from hwsim.serve.requests import poisson_requests
from hwsim.serve.scheduler import SchedulerConfig
from hwsim.workload import load_model

CONFIGS = "tests/data/hf_configs/"


@pytest.mark.parametrize("window,bs,new", [(1024, 16, 1), (128, 16, 1), (4096, 16, 1), (1024, 16, 100), (128, 32, 512)])
def test_one_sliding_layer_holds_the_vllm_bound(window, bs, new):
    only = SlidingKv(bs, 0, ((window, 1),))  # a model of sliding layers only: its blocks are its windows' blocks
    computed = np.arange(0, 6 * window)
    held = only.blocks(computed, computed + new)
    assert held.max() <= -(-(window - 1 + new) // bs) + 1  # vLLM's bound
    if new == 1:  # decoding reaches it: ceil((window − 1) / block_size) + 1
        assert held.max() == -(-(window - 1) // bs) + 1
    # past the window it stops growing: blocks from the first unskipped one to the last
    far = computed >= window + bs
    assert (held[far] >= -(-(window - 1 + new) // bs) - 1).all()
    assert (held[~far] <= -(-(computed[~far] + new) // bs)).all()


def test_gpt_oss_charges_half_its_layers_per_token():
    """gpt-oss-20b: 24 layers alternating sliding (window 128) and full, all 8 KV heads of 64: half the bytes each."""
    s = sliding_kv(load_model("gpt-oss-20b"), 16, 16)
    assert s is not None and len(s.windows) == 1
    window, weight = s.windows[0]
    assert window == 128 and weight == s.full == 12 * 8 * 128 * 2 * 64  # 12 layers × K and V × 2 bytes × 64
    # 1152 tokens decoding: 72 blocks for the full layers, 9 at most for the sliding ones: ceil((72 + 9) / 2)
    assert int(s.blocks(np.array(1150), np.array(1151))) == 41
    assert int(s.blocks(np.array(0), np.array(1024))) == 64  # a 1024-token prefill chunk: all of it, both halves
    # whole life under reserve admission, chunks up to 8192 tokens: vLLM's bound exceeds the 72 blocks it has
    assert int(s.worst(np.array(1151), 8192)) == 72
    assert int(s.worst(np.array(20000), 256)) == -(-(1250 + (-(-(127 + 256) // 16) + 1)) // 2)


@pytest.mark.parametrize(
    "model", ["llama-2-7b", "qwen3-8b", CONFIGS + "nemotron-h-8b-base-8k.json", CONFIGS + "mamba-130m-hf.json"]
)
def test_models_without_sliding_layers_keep_the_per_token_rule(model):
    assert sliding_kv(load_model(model), 16, 16) is None


def test_block_table_frees_what_the_window_left():
    s = SlidingKv(16, 1, ((128, 1),))
    kv = BlockTable(1000, 16, 1, sliding=s)
    ids = np.array([0])
    kv.grow(ids, np.array([1024]), np.array([0]))
    assert kv.used == 64
    held = []
    for c in range(1024, 3000):
        kv.grow(ids, np.array([c + 1]), np.array([c]))
        held.append(kv.used)
    assert max(held[-500:]) == -(-(188 + 9) // 2)  # 3000 tokens: 188 full blocks, the window's 9
    kv.release(ids)
    assert kv.used == 0


_SC: dict = {}


def _serve(reqs, **cfg):
    arch, model = load_arch("h100-sxm"), load_model("gpt-oss-20b")
    if "sc" not in _SC:
        _SC["sc"] = StepCost(arch, model)
    return serve(arch, model, reqs, config=SchedulerConfig(**cfg), step_cost=_SC["sc"]).summary


@pytest.mark.parametrize("caching", [True, False])
def test_gpt_oss_request_peaks_at_its_prefill(caching):
    """One 1024 + 128 request: the per-token rule peaks at its 72 blocks; the windows free half of them once its
    prompt is in (the 1024-token chunk holds all 64 of its blocks in both halves)."""
    reqs = poisson_requests(1.0, 1, "1024", "128", 0)
    on = _serve(reqs, prefix_caching=caching)
    off = _serve(reqs, prefix_caching=caching, sliding_kv=False)
    assert on["kv_capacity_blocks"] == off["kv_capacity_blocks"]
    assert off["kv_peak_blocks"] == 72
    assert on["kv_peak_blocks"] == 64


def test_gpt_oss_stream_needs_fewer_blocks():
    """A loaded stream, the cache cut to force preemption: with the windows it preempts less, holds less."""
    reqs = poisson_requests(40.0, 60, "1024", "512", 0)
    on = _serve(reqs, prefix_caching=False)
    off = _serve(reqs, prefix_caching=False, sliding_kv=False)
    assert on["kv_peak_blocks"] < off["kv_peak_blocks"]
    for admission in ("on-demand", "reserve"):
        arch, model = load_arch("h100-sxm"), load_model("gpt-oss-20b")
        cfg = dict(prefix_caching=False, kv_admission=admission)
        small_on = serve(arch, model, reqs, config=SchedulerConfig(**cfg), kv_blocks=600, step_cost=_SC["sc"])
        small_off = serve(
            arch, model, reqs, config=SchedulerConfig(**cfg, sliding_kv=False), kv_blocks=600, step_cost=_SC["sc"]
        )
        assert small_on.summary["preemptions"] <= small_off.summary["preemptions"]
        assert small_on.summary["duration_s"] <= small_off.summary["duration_s"]
        if admission == "reserve":
            assert small_on.summary["preemptions"] == small_off.summary["preemptions"] == 0


def test_cli_off_switch_gives_the_per_token_numbers(capsys):
    """`hwsim serve --no-sliding-kv` charges every token (one gpt-oss-20b request of 1024 + 128: 72 blocks)."""
    from hwsim.cli import main

    args = ["serve", "--arch", "h100-sxm", "--model", "gpt-oss-20b", "--num-requests", "1", "--rate", "1"]
    args += ["--input-len", "1024", "--output-len", "128", "--json"]
    peaks = []
    for extra in ([], ["--no-sliding-kv"]):
        assert main(args + extra) in (0, None)
        peaks.append(json.loads(capsys.readouterr().out)["kv_peak_blocks"])
    assert peaks == [64, 72]


def test_study_key_sliding_kv():
    from hwsim.study.serving import ServingWorkload

    assert ServingWorkload(model="gpt-oss-20b", requests_file="x.jsonl").sliding_kv is True
    w = ServingWorkload(model="gpt-oss-20b", requests_file="x.jsonl", sliding_kv=False)
    assert w.columns()["sliding_kv"] is False


# --- a speculative draft's own windows ---------------------------------------------------------------------------
# Gemma-3-4B (window 1024 on 5 of 6 layers) drafted by Gemma-3-1B (window 512): vLLM gives the draft's layers KV-cache
# groups of their own spec, so the draft's sliding layers keep their own 512-token window.
G3_4B, G3_1B = CONFIGS + "gemma-3-4b-it.json", CONFIGS + "gemma-3-1b-it.json"


@pytest.mark.filterwarnings("ignore::hwsim.errors.HwsimWarning")
def test_draft_windows_are_bounded_by_their_own_window():
    target, draft = load_model(G3_4B), load_model(G3_1B)
    alone, drafted, own = sliding_kv(target, 16, 16), sliding_kv(target, 16, 16, draft), sliding_kv(draft, 16, 16)
    assert drafted.windows == tuple(sorted(alone.windows + own.windows))  # ((512, 1b's), (1024, 4b's))
    assert drafted.full == alone.full + own.full  # only the draft's full layers join the target's
    assert drafted.total == alone.total + own.total


@pytest.mark.filterwarnings("ignore::hwsim.errors.HwsimWarning")
def test_draft_windows_lower_the_peak():
    """One 8192 + 128 request in chunks of 2048, Gemma-3-4B with the Gemma-3-1B draft (fp16, per-token K/V bytes x 64:
    full 1,572,864 of both models, 4B's window 7,602,176, 1B's window 1,441,792): the peak is the last chunk's
    allocation, 512 full blocks, 512 − (6144 − 1023) // 16 = 192 of the 1024 window, 512 − (6144 − 511) // 16 = 160
    of the 512 one: ceil((1572864·512 + 7602176·192 + 1441792·160) / 10616832) = 236 blocks. The draft counted as
    full attention (before) gave 283."""
    from hwsim.cli import main

    args = ["serve", "--arch", "h100-sxm", "--model", G3_4B, "--draft", G3_1B, "--acceptance", "0.7"]
    args += ["--num-requests", "1", "--rate", "1", "--input-len", "8192", "--output-len", "128"]
    args += ["--max-batched-tokens", "2048", "--json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) in (0, None)
    assert json.loads(out.getvalue())["kv_peak_blocks"] == 236
