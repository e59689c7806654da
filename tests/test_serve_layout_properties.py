"""Properties of the KV pools of sliding-window and chunked models over small tp × pp × dp layouts (hypothesis):
each stage's split is its rank's shard of its own layers (stages partition the rank's K/V), no block count is
negative, no pool is ever exceeded (BlockTable asserts it on every allocation; here every iteration's use is read
back), every request is served in full, and a merged dp replay reports one stage's peak within that stage's pool.
Scheduling runs on a stand-in step cost (10 ms an iteration): the cost does not decide any of these."""

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.errors import HwsimError
from hwsim.serve.kvcache import BlockTable, sliding_kv, stage_sliding
from hwsim.serve.replicas import merge, round_robin
from hwsim.serve.requests import Requests
from hwsim.serve.scheduler import SchedulerConfig, simulate
from hwsim.serve.shard import Parallel, shard_model
from hwsim.serve.stepcost import Cost
from hwsim.workload import load_model
from hwsim.workload.kv import token_bytes

MODELS = (
    "gpt-oss-20b",  # window 128 on every other layer, 8 KV heads
    "tests/data/hf_configs/gemma-4-31b-it.json",  # full layers' 4 KV heads replicated from tp 8
    "tests/data/hf_configs/gemma-3-1b-it.json",  # one KV head: replicated at every tp
    "tests/data/hf_configs/llama-4-scout-17b-16e-text.json",  # chunked local attention (8192)
)
pytestmark = pytest.mark.filterwarnings("ignore::hwsim.errors.HwsimWarning", "ignore::UserWarning")


@lru_cache(maxsize=None)
def _model(name):
    return load_model(name)


def _step(new, ctx, emit):
    return Cost(np.asarray(0.01), np.asarray(1.0))


layouts = st.tuples(st.sampled_from(MODELS), st.sampled_from([1, 2, 4, 8]), st.integers(1, 4))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(layout=layouts, block=st.sampled_from([1, 16, 32]))
def test_stages_partition_a_rank(layout, block):
    """A rank's stages hold its layers once each: their weights sum to the whole rank's, kind by kind, none negative;
    a block's bytes on a stage (token_bytes of its shard) is its total (x 64 bytes, rounded per layer)."""
    name, tp, pp = layout
    m = _model(name)
    try:
        stages = stage_sliding(m, 16, block, Parallel(tp=tp, pp=pp))
    except HwsimError:
        return  # tp does not divide the heads
    shard = shard_model(m, Parallel(tp=tp))
    whole = sliding_kv(shard, 16, block)
    assert whole is not None and len(stages) == pp
    assert sum(s.full for s in stages) == whole.full
    for kind in ("windows", "chunks"):
        got: dict[int, int] = {}
        for s in stages:
            for n, w in getattr(s, kind):
                assert w > 0
                got[n] = got.get(n, 0) + w
        assert got == dict(getattr(whole, kind))
    assert all(s.full >= 0 and s.total >= 0 for s in stages)
    assert sum(s.total for s in stages) == pytest.approx(token_bytes(shard.blocks, 16) * 64, abs=len(shard.blocks))


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    layout=layouts,
    dp=st.integers(1, 2),
    lengths=st.lists(st.tuples(st.integers(1, 3000), st.integers(1, 40)), min_size=2, max_size=6),
    slack=st.integers(0, 40),
    reserve=st.booleans(),
    caching=st.booleans(),
    shared=st.integers(0, 600),
)
def test_pools_never_overflow(layout, dp, lengths, slack, reserve, caching, shared):
    name, tp, pp = layout
    m = _model(name)
    try:
        stages = stage_sliding(m, 16, 16, Parallel(tp=tp, pp=pp))
    except HwsimError:
        return
    keep = tuple(s for s in stages if s.total > 0)
    n = len(lengths)
    P = np.array([p for p, _ in lengths], dtype=np.int64)
    D = np.array([d for _, d in lengths], dtype=np.int64)
    pre = np.minimum(P, shared) if shared else None
    req = Requests(
        np.arange(n) * 0.005,
        P,
        D,
        prefix=None if pre is None else np.zeros(n, dtype=np.int64),
        prefix_len=pre,
    )
    cfg = SchedulerConfig(
        max_batched_tokens=512,
        prefix_caching=caching,
        kv_admission="reserve" if reserve else "on-demand",
        max_num_seqs=4,
    )
    probe = BlockTable(1, 16, n, sliding=keep)
    worst = probe.worst(P + D - 1, cfg.max_batched_tokens)  # sequence × stage
    assert (worst >= 0).all()
    pools = [int(w) + slack + s for s, w in enumerate(worst.max(axis=0))]  # stages' pools of their own sizes
    shares = round_robin(req, dp) if dp > 1 else [req]
    reps = [simulate(share, _step, pools, cfg, None, keep) for share in shares]
    for share, rep in zip(shares, reps):
        assert (rep.generated == share.output_tokens).all()
        used = rep.kv_used_by_stage
        assert (used >= 0).all() and (used <= np.array(pools)).all()
        assert all(p <= c for p, c in zip(rep.kv_stage_peak_blocks, rep.kv_stage_capacity_blocks))
    r = merge(req, reps) if dp > 1 else reps[0]
    assert 0 <= r.kv_peak_blocks <= r.kv_capacity_blocks == pools[r.kv_stage]
    assert max(r.iterations["kv_blocks_used"]) <= r.kv_peak_blocks


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    tp=st.sampled_from([1, 2, 4]),
    pp=st.integers(1, 3),
    dp=st.integers(1, 2),
    seed=st.integers(0, 3),
)
def test_serve_reports_one_pool(tp, pp, dp, seed):
    """serve's KV figures are one pool's: the capacity rule holds for the reported capacity and block bytes together
    (memory × utilisation − that stage's weights − activations, over its block), and the peak stays within it.
    Gemma-3-1B (one KV head, replicated at every tp; 22 sliding layers of 512, 4 full) on H100s."""
    from hwsim.arch import load_arch
    from hwsim.serve.kvcache import capacity_blocks
    from hwsim.serve.links import load_link
    from hwsim.serve.replay import serve
    from hwsim.serve.requests import poisson_requests

    arch, m = load_arch("h100-sxm"), _model(MODELS[2])
    par = Parallel(tp=tp, pp=pp)
    reqs = poisson_requests(8.0, 6, "uniform:100:3000", "uniform:1:30", seed)
    cfg = SchedulerConfig(max_batched_tokens=1024)
    s = serve(arch, m, reqs, None, cfg, parallel=par, link=load_link("nvlink4"), dp=dp).summary
    _, info = capacity_blocks(arch, m, None, 16, 0.9, 1024, par, max_seqs=cfg.max_num_seqs)
    stage = [
        i
        for i, (b, w) in enumerate(zip(info["stage_blocks"], info["stage_block_bytes"]))
        if b == s["kv_capacity_blocks"] and w == s["kv_block_bytes"]
    ]
    assert stage, "capacity and block bytes of no single stage"
    room = 0.9 * info["memory_bytes"] - info["stage_weights_bytes"][stage[0]] - info["activation_bytes"]
    assert s["kv_capacity_blocks"] * s["kv_block_bytes"] <= room < (s["kv_capacity_blocks"] + 1) * s["kv_block_bytes"]
    assert 0 < s["kv_peak_blocks"] <= s["kv_capacity_blocks"]
    assert s["kv_peak_bytes"] == s["kv_peak_blocks"] * s["kv_block_bytes"]
