"""Prefix caching of sliding-window and chunked layers as vLLM V1's hybrid KV-cache manager finds a hit
(vllm/v1/core/kv_cache_coordinator.py HybridKVCacheCoordinator.find_longest_cache_hit; single_type_kv_cache_manager.py
SlidingWindowManager / ChunkedLocalAttentionManager.find_longest_cache_hit; the rules are vLLM's, read in its source):
the full-attention layers' leading cached blocks give the first length, a window searches backwards from it for
cdiv(window − 1, block_size) contiguous cached blocks, a chunk takes the blocks before its current chunk without
lookup, and the kinds are asked again until none cuts the length. Each kind's blocks are cached apart."""

import numpy as np

from hwsim.arch import load_arch
from hwsim.core.precision import Precision
from hwsim.serve.kvcache import BlockTable, SlidingKv
from hwsim.serve.replay import serve
from hwsim.serve.requests import Requests
from hwsim.serve.scheduler import SchedulerConfig
from hwsim.serve.stepcost import StepCost
from hwsim.workload import load_model

KEYS = [("p", k) for k in range(12)]


def _cached(kv: BlockTable, kind_blocks: dict[int, list[int]]) -> None:
    """Mark blocks of each kind cached (free), as a finished request would leave them."""
    for c, blocks in kind_blocks.items():
        for k in blocks:
            kv.refs[(c, KEYS[k])] = 0


def test_window_searches_backwards_for_a_window_of_contiguous_blocks():
    """Window 9 on blocks of 4: a hit needs cdiv(8, 4) = 2 contiguous cached blocks of the window. The full layers
    hold blocks 0-9; the window's 9 and 8 are gone, 7 alone, 4 and 3 contiguous: the hit ends at block 5, reusing
    the full layers' blocks 0-4 and the window's 3-4 (vLLM's example: [NULL, NULL, 8, 3] trimmed of its tail)."""
    kv = BlockTable(100, 4, 1, caching=True, sliding=SlidingKv(4, 1, ((9, 1),)))
    _cached(kv, {0: list(range(10)), 1: [3, 4, 7]})
    hit = kv.lookup(KEYS, 11)
    assert hit.blocks == 5
    assert sorted((c, k) for c, k, _ in hit.entries) == [(0, k) for k in range(5)] + [(1, 3), (1, 4)]


def test_window_without_a_full_run_takes_the_run_from_block_zero():
    """No two contiguous window blocks: the run from block 0 (block 0 alone) is the hit, as vLLM keeps it."""
    kv = BlockTable(100, 4, 1, caching=True, sliding=SlidingKv(4, 1, ((9, 1),)))
    _cached(kv, {0: list(range(10)), 1: [0, 2, 5, 8]})
    assert kv.lookup(KEYS, 11).blocks == 1


def test_chunk_counts_blocks_before_its_chunk_without_lookup():
    """Chunk 8 on blocks of 4: with the full layers' 7 blocks cached the candidate is 7 blocks (28 tokens), its
    chunk starts at block 6, not cached: the hit is 6 blocks, all of the chunked layers' blocks before it hits
    without lookup (none reused); with block 6 cached the hit is the full layers' 7."""
    kv = BlockTable(100, 4, 1, caching=True, sliding=SlidingKv(4, 1, (), ((8, 1),)))
    _cached(kv, {0: list(range(7))})
    hit = kv.lookup(KEYS, 11)
    assert hit.blocks == 6 and all(c == 0 for c, _, _ in hit.entries)
    _cached(kv, {1: [6]})
    hit = kv.lookup(KEYS, 11)
    assert hit.blocks == 7 and [(c, k) for c, k, _ in hit.entries if c == 1] == [(1, 6)]


def _two_turns(model: str, prompt: int, gap: float, arch: str = "h100-sxm", weights: object = 16):
    """Two requests sharing `prompt` − 16 leading tokens, the second long after the first ended."""
    arch_, m, prec = load_arch(arch), load_model(model), Precision(weights=weights)
    reqs = Requests(
        np.array([0.0, gap]),
        np.array([prompt, prompt], dtype=np.int64),
        np.array([16, 16], dtype=np.int64),
        prefix=np.array([0, 0], dtype=np.int64),
        prefix_len=np.array([prompt - 16, prompt - 16], dtype=np.int64),
        name=np.full(2, -1, dtype=np.int64),
    )
    return serve(arch_, m, reqs, prec, SchedulerConfig(), step_cost=StepCost(arch_, m, prec)).requests


def test_gpt_oss_reuses_the_whole_shared_prefix():
    """gpt-oss-20b (window 128 on every other layer): the second request reuses all 64 blocks of its 1024-token
    shared prefix (vLLM: the full layers' 64 blocks and the window's last 8 still cached). The rule before this
    (the leading blocks worth the full layers' prefix plus the window's last blocks) reused 37 (592 tokens); Scout
    below reused 2,048 tokens."""
    req = _two_turns("gpt-oss-20b", 1040, 10.0)
    assert req["cached_tokens"].tolist() == [0, 1024]


def test_scout_reuses_the_shared_prefix_past_a_chunk():
    """Llama-4-Scout (chunk 8192 on 3 of 4 layers), int4 on one H200: a 9,000-token shared prefix is reused to its
    last full block, 562 blocks = 8,992 tokens (its chunked layers' blocks before 8,192 hit without lookup, the current
    chunk's 50 are cached)."""
    req = _two_turns("tests/data/hf_configs/llama-4-scout-17b-16e-text.json", 9016, 60.0, "h200-sxm", "int4")
    assert req["cached_tokens"].tolist() == [0, 8992]
