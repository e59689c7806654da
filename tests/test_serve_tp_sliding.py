"""Under tensor parallelism each rank's KV pool holds its shard of every layer (hwsim.serve.kvcache.stage_sliding):
KV heads divided by tp, one kept per rank when tp exceeds them (hwsim.serve.shard, as vLLM replicates them), so the
split between full-attention and sliding layers that bounds a sequence's blocks is a rank's, not the whole model's.

Hand calculation (fp16 K/V, block 16, one 8192 + 128-token request prefilled in chunks of 2048: cdiv(8319, 16) = 520
blocks of every token, a window of 1024 at most cdiv(1023 + 2048, 16) + 1 = 193, one of 128 at most
cdiv(127 + 2048, 16) + 1 = 137; vLLM's SlidingWindowSpec.max_admission_blocks_per_request):
- Gemma-4-31B (tests/data/hf_configs/gemma-4-31b-it.json: 50 sliding layers of 16 KV heads × 256, 10 full layers of
  4 KV heads × 512, K and V): per token the whole model holds 50 × 16 × 512 = 409,600 sliding and
  10 × 4 × 1024 = 40,960 full elements, one full in 11; at tp 2 and 4 both kinds are divided (8 / 2 and 4 / 1 heads),
  still one in 11; at tp 8 a rank keeps 2 sliding heads but one replicated full head: 50 × 2 × 512 = 51,200 against
  10 × 1 × 1024 = 10,240, one in 6. Worst blocks: ceil((520 + 10 × 193) / 11) = 223 at tp 1, 2 and 4;
  ceil((520 + 5 × 193) / 6) = 248 at tp 8 (the whole model's split said 223).
- gpt-oss-20b (24 layers of 8 KV heads × 64, every other one a window of 128): tp 2, 4 and 8 divide every layer's
  heads alike, so the split stays one full in 2: ceil((520 + 137) / 2) = 329 at every tp.
"""

import json

import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.serve.kvcache import stage_sliding
from hwsim.serve.shard import Parallel
from hwsim.serve.sizing import why_not_fits
from hwsim.workload import load_model

G4_31B = "tests/data/hf_configs/gemma-4-31b-it.json"
G3_4B = "tests/data/hf_configs/gemma-3-4b-it.json"
G3_1B = "tests/data/hf_configs/gemma-3-1b-it.json"
pytestmark = pytest.mark.filterwarnings("ignore::hwsim.errors.HwsimWarning", "ignore::UserWarning")


def _split(st):
    """(full, total) of one SlidingKv, reduced by the greatest common divisor."""
    import math

    g = math.gcd(st.full, st.total)
    return st.full // g, st.total // g


@pytest.mark.parametrize(
    "tp, split, worst", [(1, (1, 11), 223), (2, (1, 11), 223), (4, (1, 11), 223), (8, (1, 6), 248)]
)
def test_gemma4_rank_split(tp, split, worst):
    (st,) = stage_sliding(load_model(G4_31B), 16, 16, Parallel(tp=tp))
    assert _split(st) == split
    assert int(st.worst(8320 - 1, 2048)) == worst


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_gpt_oss_split_unchanged_by_tp(tp):
    (st,) = stage_sliding(load_model("gpt-oss-20b"), 16, 16, Parallel(tp=tp))
    assert _split(st) == (1, 2)
    assert int(st.worst(8320 - 1, 2048)) == 329


def test_draft_weighs_against_a_rank_share():
    """Gemma-3-4B (29 sliding of 1024, 5 full; 4 KV heads × 512 elements, 2 a rank at tp 2) drafted by Gemma-3-1B held
    whole (22 sliding of 512, 4 full; one KV head × 512): in KiB of fp16 per token, full 5 × 4 + 4 × 1 = 24, window
    1024 29 × 4 = 116, window 512 22 × 1 = 22 in the whole model; a tp 2 rank 5 × 2 + 4 = 14, 58 and 22. A window of
    512 holds at most cdiv(511 + 2048, 16) + 1 = 161 blocks: ceil((24 × 520 + 116 × 193 + 22 × 161) / 162) = 238,
    a rank's ceil((14 × 520 + 58 × 193 + 22 × 161) / 94) = 235."""
    target, draft = load_model(G3_4B), load_model(G3_1B)
    (whole,) = stage_sliding(target, 16, 16, Parallel(), draft, 16)
    (rank,) = stage_sliding(target, 16, 16, Parallel(tp=2), draft, 16)
    assert int(whole.worst(8320 - 1, 2048)) == 238
    assert int(rank.worst(8320 - 1, 2048)) == 235


def test_serve_tp8_bounds_by_the_rank_split(capsys):
    """240 blocks a rank: the whole model's split let the request in (peak 222); a tp 8 rank needs 248 at worst: a
    one-line error. With 248 it peaks at the last prompt chunk's allocation, 512 full blocks and 512 − (6144 − 1023)
    // 16 = 192 of the window: ceil((512 + 5 × 192) / 6) = 246."""
    args = ["serve", "--arch", "h100-sxm", "--model", G4_31B, "--tp", "8", "--num-requests", "1", "--rate", "1"]
    args += ["--input-len", "8192", "--output-len", "128", "--max-batched-tokens", "2048"]
    assert main(args + ["--kv-blocks", "240"]) == 2
    err = capsys.readouterr().err
    assert "request 1 needs 248 KV blocks (8192 + 128 tokens) but the cache holds 240" in err
    assert main(args + ["--kv-blocks", "248", "--json"]) in (0, None)
    assert json.loads(capsys.readouterr().out)["kv_peak_blocks"] == 246


def test_generate_fit_check_takes_the_rank_split():
    """1024 + 15360 tokens a sequence at tp 8 on H100s: a rank's split needs ceil((1024 + 5 × 129) / 6) = 279 blocks a
    sequence (window bound cdiv(1023 + 1024, 16) + 1 = 129), the whole model's ceil((1024 + 10 × 129) / 11) = 211; the
    ~33,200 blocks a rank holds take 119 sequences, not 157."""
    arch, m = load_arch("h100-sxm"), load_model(G4_31B)
    assert why_not_fits(arch, m, None, Parallel(tp=8), 1024, 15360, 119) is None
    why = why_not_fits(arch, m, None, Parallel(tp=8), 1024, 15360, 120)
    assert why is not None and why.endswith(f"needs {120 * 279}")
