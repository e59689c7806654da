"""Under pipeline parallelism each stage's KV pool holds its own layers (hwsim.serve.kvcache.stage_sliding): a stage's
split between full-attention and sliding layers is its own, a stage of sliding layers only needing its windows'
blocks, and the stage that runs out first bounds admission and the fit check. Gemma-3-4B (34 layers, every 6th full:
5, 11, 17, 23, 29; window 1024; all layers of one K/V geometry) on 8 stages of 5, 5, 4, 4, 4, 4, 4, 4 layers: stages
1, 5 and 8 hold sliding layers only, stages 3, 4, 6 and 7 one full layer in four, stage 2 one in five."""

import json

import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.serve.kvcache import sliding_kv, stage_sliding
from hwsim.serve.shard import Parallel
from hwsim.serve.sizing import why_not_fits
from hwsim.workload import load_model

G3_4B = "tests/data/hf_configs/gemma-3-4b-it.json"
pytestmark = pytest.mark.filterwarnings("ignore::hwsim.errors.HwsimWarning")


def test_each_stage_splits_its_own_layers():
    m = load_model(G3_4B)
    stages = stage_sliding(m, 16, 16, Parallel(pp=8))
    layer = sliding_kv(m, 16, 16).total // 34  # one layer's K/V (x 64 bytes)
    assert [st.full // layer for st in stages] == [0, 1, 1, 1, 0, 1, 1, 0]
    assert [st.total // layer for st in stages] == [5, 5, 4, 4, 4, 4, 4, 4]
    # one 8192 + 128 request, chunks of 2048: cdiv(8319, 16) = 520 full blocks, a window's bound cdiv(1023 + 2048,
    # 16) + 1 = 193; a stage of one full layer in four ceil((520 + 3 * 193) / 4) = 275, the whole model's 242
    assert [int(st.worst(8320 - 1, 2048)) for st in stages] == [193, 259, 275, 275, 193, 275, 275, 193]
    assert int(sliding_kv(m, 16, 16).worst(8320 - 1, 2048)) == 242
    assert stage_sliding(m, 16, 16) == (sliding_kv(m, 16, 16),)  # no pipeline: the whole model's
    assert stage_sliding(load_model("llama-2-7b"), 16, 16, Parallel(pp=2)) is None


def test_serve_bounds_a_request_by_its_worst_stage(capsys):
    """250 blocks in every stage's pool: the whole model's split let the request in (peak 240), but a stage with one
    full layer in four needs 275 of its own blocks at worst: a one-line error. With 275 it peaks at the last prompt
    chunk's allocation, 512 full blocks and 512 − (6144 − 1023) // 16 = 192 of each window: ceil((512 + 3 * 192) / 4)
    = 272 blocks of that stage, the fullest."""
    args = ["serve", "--arch", "h100-sxm", "--model", G3_4B, "--pp", "8", "--num-requests", "1", "--rate", "1"]
    args += ["--input-len", "8192", "--output-len", "128", "--max-batched-tokens", "2048"]
    assert main(args + ["--kv-blocks", "250"]) == 2
    err = capsys.readouterr().err
    assert "request 1 needs 275 KV blocks (8192 + 128 tokens) but the cache holds 250" in err
    assert main(args + ["--kv-blocks", "275", "--json"]) in (0, None)
    assert json.loads(capsys.readouterr().out)["kv_peak_blocks"] == 272


def test_generate_fit_check_takes_the_worst_stage():
    """1024 + 15360 tokens a sequence on one H100 per stage: by the whole model's split 503 sequences fit, by each
    stage's own 464 (stage 2's one full layer in five and the embeddings bind)."""
    arch, m = load_arch("h100-sxm"), load_model(G3_4B)
    assert why_not_fits(arch, m, None, Parallel(pp=8), 1024, 15360, 464) is None
    why = why_not_fits(arch, m, None, Parallel(pp=8), 1024, 15360, 480)
    assert why is not None and why.startswith("KV cache holds") and "on pipeline stage 2 of 8" in why
