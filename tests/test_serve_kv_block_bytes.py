"""serve's KV figures describe one pool per device (docs/interfaces.md, Serving): `kv_block_bytes` is what one block
of the reported pool costs one device (its tp shard of its stage's layers), `kv_peak_bytes` that pool's peak on one
device; dp replicas merge on one pool (the fullest stage over all of them).

Hand calculations (fp16 K/V, block 16):
- llama-2-7b: 32 layers × 32 KV heads × 128 × (K + V) × 2 B = 524,288 B a token, 8,388,608 a block; tp 2 or pp 2
  (16 layers a stage) halves it on a device, tp 2 × pp 2 quarters it. Before, every layout reported 8,388,608.
- Gemma-4-31B at tp 8: 50 sliding layers × 2 KV heads × 512 + 10 full layers × 1 (replicated) × 1024 elements =
  61,440 × 2 B a token, 1,966,080 a block (the whole model's 14,417,920).
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.cli import main
from hwsim.serve.kvcache import stage_sliding
from hwsim.serve.replicas import merge, round_robin
from hwsim.serve.requests import Requests
from hwsim.serve.scheduler import SchedulerConfig, simulate
from hwsim.serve.shard import Parallel
from hwsim.serve.stepcost import Cost
from hwsim.workload import load_model

G4_31B = "tests/data/hf_configs/gemma-4-31b-it.json"
G3_4B = "tests/data/hf_configs/gemma-3-4b-it.json"
pytestmark = pytest.mark.filterwarnings("ignore::hwsim.errors.HwsimWarning", "ignore::UserWarning")


def _serve(capsys, model, *layout):
    args = ["serve", "--arch", "h100-sxm", "--model", model, *layout, "--num-requests", "4", "--rate", "4"]
    assert main([*args, "--input-len", "256", "--output-len", "8", "--kv-blocks", "400", "--json"]) in (0, None)
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "layout, block",
    [((), 8_388_608), (("--tp", "2"), 4_194_304), (("--pp", "2"), 4_194_304), (("--tp", "2", "--pp", "2"), 2_097_152)],
)
def test_block_bytes_per_device(capsys, layout, block):
    s = _serve(capsys, "llama-2-7b", *layout)
    assert s["kv_block_bytes"] == block
    assert s["kv_peak_bytes"] == s["kv_peak_blocks"] * block


def test_block_bytes_of_a_tp8_rank(capsys):
    s = _serve(capsys, G4_31B, "--tp", "8")
    assert s["kv_block_bytes"] == 1_966_080 and s["kv_peak_bytes"] == s["kv_peak_blocks"] * 1_966_080


def _step(new, ctx, emit):
    return Cost(np.asarray(0.01), np.asarray(1.0))


def _replicas(lengths, pools):
    """Gemma-3-4B's 8 pipeline stages (stage_sliding: stages 1, 5, 8 sliding only), round robin over 2 replicas."""
    stages = stage_sliding(load_model(G3_4B), 16, 16, Parallel(pp=8))
    n = len(lengths)
    req = Requests(np.arange(n) * 0.01, np.asarray(lengths, dtype=np.int64), np.full(n, 16, dtype=np.int64))
    cfg = SchedulerConfig(max_batched_tokens=2048)
    reps = [simulate(share, _step, pools, cfg, None, stages) for share in round_robin(req, 2)]
    return reps, merge(req, reps)


def test_dp_merges_on_one_stage():
    """Replica 1 serves 200-token prompts (every layer holds every token: stage 1, the smallest pool, fullest at 56
    of 300), replica 2 4,000-token ones (a stage of one full layer in four, stage 3, fullest at 357 of 400). The merge
    read replica 2's 357 against replica 1's 300 (119%); now both are stage 3's."""
    reps, m = _replicas([200, 4000] * 4, [300, 400, 400, 400, 400, 400, 400, 350])
    assert [r.kv_stage for r in reps] == [0, 2]
    assert (m.kv_peak_blocks, m.kv_capacity_blocks, m.kv_stage) == (357, 400, 2)
    assert m.iterations["kv_blocks_used"] == [int(u) for u in m.kv_used_by_stage[:, 2]]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    lengths=st.lists(st.integers(1, 3000), min_size=2, max_size=6),
    pools=st.lists(st.integers(200, 400), min_size=8, max_size=8),
)
def test_merged_peak_is_one_stage_within_its_pool(lengths, pools):
    """Whatever the prompts and the stages' pools: the merged peak is one stage's, never above its capacity, and
    that stage is the fullest over every replica."""
    reps, m = _replicas(lengths, pools)
    s = m.kv_stage
    assert m.kv_capacity_blocks == pools[s] and m.kv_peak_blocks <= m.kv_capacity_blocks
    assert m.kv_peak_blocks == max(r.kv_stage_peak_blocks[s] for r in reps)
    best = max(r.kv_stage_peak_blocks[t] / pools[t] for r in reps for t in range(8))
    assert m.kv_peak_blocks / m.kv_capacity_blocks == best
    assert max(m.iterations["kv_blocks_used"]) <= m.kv_peak_blocks


def test_kv_blocks_refusal_names_one_stage():
    """Gemma-4-31B on 4 stages of 15 layers: stage 1 (13 sliding, 2 full: 13 × 16 × 512 + 2 × 4 × 1024 elements,
    229,376 B a token, 3,670,016 a block) holds the fewest blocks, stage 4 (3 full layers, the tied lm_head's copy)
    the most weights. The refusal quoted stage 4's weights beside stage 1's blocks; now stage 1's both, and they add
    up: 19,000 blocks do not fit beside them, the 18,271 it holds do."""
    from hwsim.arch import load_arch
    from hwsim.serve.kvcache import capacity_blocks
    from hwsim.serve.sizing import why_not_serves

    arch, m, par = load_arch("h100-sxm"), load_model(G4_31B), Parallel(pp=4)
    why = why_not_serves(arch, m, None, par, block_size=16, max_batched_tokens=8192, kv_blocks=19000)
    _, info = capacity_blocks(arch, m, None, 16, 1.0, 8192, par)
    w = info["stage_weights_bytes"]
    assert info["stage_block_bytes"][0] == 3_670_016 and max(w) > w[0] and min(info["stage_blocks"]) == 18271
    assert why is not None
    assert (
        f"need {19000 * 3_670_016 / 1e9:.2f} GB per device on pipeline stage 1 of 4 beside {w[0] / 1e9:.2f} GB" in why
    )
    assert "holds 18271" in why
    rest = info["memory_bytes"] - w[0] - info["activation_bytes"]
    assert 18271 * 3_670_016 <= rest < 18272 * 3_670_016
