"""Chunked local attention layers (Llama-4's `attention_chunk_size`) hold only their current chunk's KV blocks, the
second kind of bounded layer of hwsim.serve.kvcache.SlidingKv, as vLLM V1's ChunkedLocalAttentionManager keeps them:
the tokens before the start of the chunk holding the current position are skipped (get_num_skipped_tokens =
computed // chunk × chunk, vllm/v1/core/single_type_kv_cache_manager.py) and a request is admitted with at most
cdiv(min(chunk + max_num_batched_tokens, max_model_len), block_size) blocks per chunked layer
(ChunkedLocalAttentionSpec.max_admission_blocks_per_request, vllm/v1/kv_cache_interface.py). Also: generate's fit
check and --devices-needed size a sequence by the same rule (hwsim.serve.sizing.why_not_fits)."""

import json

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.serve.kvcache import sliding_kv
from hwsim.serve.shard import Parallel
from hwsim.serve.sizing import why_not_fits
from hwsim.workload import load_model

SCOUT = "tests/data/hf_configs/llama-4-scout-17b-16e-text.json"
# Llama-4-Scout's config: 48 layers, every 4th full attention (no chunk), the rest chunked at 8192 tokens; 8 KV heads
# of 128: K and V at 16 bits = 4096 bytes per token per layer (× 64: SlidingKv's integer weights)
PER_LAYER = 8 * 128 * 2 * 2 * 64


def test_scout_has_36_chunked_layers_and_12_full():
    s = sliding_kv(load_model(SCOUT), 16, 16)
    assert s is not None and s.windows == ()
    assert s.chunks == ((8192, 36 * PER_LAYER),) and s.full == 12 * PER_LAYER


def _rule(computed: int, tokens: int, bs: int = 16) -> int:
    """vLLM's rule layer by layer: a full layer holds every block of its tokens, a chunked one those from the block
    holding the start of the current chunk on; the sequence is charged their bytes in whole blocks."""
    every = -(-tokens // bs)
    chunked = every - min((computed // 8192) * 8192 // bs, every)
    return -(-(12 * every + 36 * chunked) // 48)


@pytest.mark.parametrize(
    "computed,tokens",
    [
        (0, 2048),
        (8191, 8192),
        (8192, 8193),
        (8192, 10240),
        (10000, 10001),
        (16383, 16384),
        (16384, 16385),
        (40000, 40001),
    ],
)
def test_scout_blocks_follow_the_chunk_rule(computed, tokens):
    s = sliding_kv(load_model(SCOUT), 16, 16)
    assert int(s.blocks(np.array(computed), np.array(tokens))) == _rule(computed, tokens)


def test_scout_exact_blocks():
    s = sliding_kv(load_model(SCOUT), 16, 16)
    # 10000 computed, one new: 626 blocks per full layer, 626 − 8192/16 = 114 per chunked one: ceil((12·626 + 36·114)/48)
    assert int(s.blocks(np.array(10000), np.array(10001))) == 242
    assert int(s.blocks(np.array(8191), np.array(8192))) == 512  # the first chunk's last token: nothing skipped yet
    # worst over a life, vLLM's admission bound cdiv(8192 + max_batched_tokens, 16) per chunked layer
    assert int(s.worst(np.array(20000), 8192)) == -(-(12 * 1250 + 36 * 1024) // 48)  # 1081
    assert int(s.worst(np.array(9200), 2048)) == 575  # the bound (640) exceeds its 575 blocks: all of them
    assert int(s.worst(np.array(30000), 2048)) == -(-(12 * 1875 + 36 * 640) // 48)  # 949


def _serve_peak(extra):
    args = ["serve", "--arch", "h200-sxm", "--model", SCOUT, "--weights", "int4", "--num-requests", "1", "--rate", "1"]
    args += ["--input-len", "9000", "--output-len", "200", "--max-batched-tokens", "2048", "--json"] + extra
    return args


def test_serve_scout_frees_the_finished_chunk(capsys):
    """One 9000 + 200 request, prompt chunks of 2048: per token it peaks at its cdiv(9200, 16) = 575 blocks; with the
    chunks it peaks at 512 (the first chunk's 8192 tokens, all layers), its chunked layers then holding only the
    blocks from token 8192 on; `--no-sliding-kv` gives the per-token figure."""
    peaks = []
    for extra in ([], ["--no-sliding-kv"]):
        assert main(_serve_peak(extra)) in (0, None)
        peaks.append(json.loads(capsys.readouterr().out)["kv_peak_blocks"])
    assert peaks == [512, 575]


GEMMA = ["generate", "--arch", "h100-sxm", "--model", "gemma-2-9b", "--prompt", "1024", "--output", "7168"]


def test_devices_needed_sizes_sliding_layers_as_serve(capsys):
    """gemma-2-9b (21 of 42 layers sliding, window 4096), 22 sequences of 1024 + 7168 on H100s: per token each needs
    512 blocks (11,264 in all, more than the 10,271 one device holds), with the windows 417 (ceil((512 + 321) / 2),
    321 = cdiv(4095 + 1024, 16) + 1): one device; `--no-sliding-kv` gives the per-token answer, two."""
    answers = []
    for extra in ([], ["--no-sliding-kv"]):
        assert main([*GEMMA, "--batch", "22", "--devices-needed", "--json", *extra]) in (0, None)
        res = json.loads(capsys.readouterr().out)
        answers.append((res["answer"]["devices"], res["tried"][0]["why"]))
    assert answers == [(1, ""), (2, "KV cache holds 10271 blocks, needs 11264")]


def test_llama_2_7b_sizing_unchanged(capsys):
    """No bounded layer: the switch changes nothing (per-token rule: batch × cdiv(prompt + output, block_size))."""
    arch, model = load_arch("h100-sxm"), load_model("llama-2-7b")
    for sliding in (True, False):
        assert why_not_fits(arch, model, None, Parallel(), 4096, 4096, 64, sliding=sliding) == (
            why_not_fits(arch, model, None, Parallel(), 4096, 4096, 64, sliding=False)
        )
    outs = []
    for extra in ([], ["--no-sliding-kv"]):
        args = ["generate", "--arch", "h100-sxm", "--model", "llama-2-7b", "--prompt", "4096", "--output", "1024"]
        assert main([*args, "--batch", "64", "--devices-needed", "--json", *extra]) in (0, None)
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    assert "needs 20480" in outs[0]  # 64 × cdiv(5120, 16)
