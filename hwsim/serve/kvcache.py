"""Paged KV cache: capacity in blocks, and the per-sequence block accounting of the scheduler.

Capacity rule (vLLM's `gpu_memory_utilization` rule): the backing store × utilisation, minus the weights
(every parameter at the weight format's storage bits, with the scales of rows that are not whole groups; a
quantized checkpoint at its own formats stores each op at its own: hwsim.serve.shard.stage_weight_bytes, simulate's
footprint rule), minus the activation working set of the largest
iteration (assumed: the largest op's input + output at the activation format for max-batched-tokens
tokens, as one op's buffers are live at a time), divided by the bytes of one block
(block_size tokens × K and V of every layer, from the workload's own KV-size rule).

SSM layers (Mamba-1/2, and the Mamba layers of hybrids such as Nemotron-H) keep a fixed state per sequence
instead of per-token K/V: blocks price the attention layers' tokens only, and the state of `max_seqs` sequences
(the most the scheduler runs at once) is reserved beside the weights, as vLLM allocates one Mamba state slot per
schedulable sequence up front (its MambaCacheManager / hybrid KV-cache manager; assumed: the same rule). A model
with no attention layer (pure Mamba) has zero-byte blocks: its cache never limits admission, and the capacity
reported is NO_BLOCK_LIMIT.

Sliding-window layers (SlidingKv, on by default, `sliding_kv=False` off): a sequence's blocks hold every layer's
K/V for its tokens, but a sliding layer keeps only the blocks its window still reads, as vLLM V1's hybrid KV-cache
manager does (on by default there; `--disable-hybrid-kv-cache-manager` turns it off): its SlidingWindowManager
frees, before each allocation, the blocks wholly before the last window − 1 computed tokens (get_num_skipped_tokens
= max(0, computed − window + 1), skipped blocks = that // block_size; vllm/v1/core/single_type_kv_cache_manager.py),
so a decoding sequence holds at most ceil((window − 1) / block_size) + 1 blocks per sliding layer, and a chunk of
n new tokens cdiv(window − 1 + n, block_size) + 1 (SlidingWindowSpec.max_admission_blocks_per_request,
vllm/v1/kv_cache_interface.py). vLLM shares one pool of pages across its KV-cache groups; here a block keeps its
size (block_size tokens of every layer) and a sequence is charged the blocks' worth of bytes its full-attention and
sliding layers hold, rounded up to whole blocks (assumed: at most one block per sequence lost to rounding, as
vLLM's equal-size groups pad). Chunked local attention layers (Llama-4's `attention_chunk_size`) are the second
kind of bounded layer, through the same rule with their own skipped tokens: vLLM's ChunkedLocalAttentionManager
skips every token before the start of the chunk holding the current position (get_num_skipped_tokens =
computed // chunk × chunk, in whole blocks), and admits a chunk of n new tokens with cdiv(min(chunk + n,
max_model_len), block_size) blocks (ChunkedLocalAttentionSpec.max_admission_blocks_per_request).
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from hwsim.core.precision import resolve_precision
from hwsim.engine.per_op import for_model
from hwsim.errors import HwsimError, HwsimWarning
from hwsim.serve.shard import (
    Parallel,
    shard_model,
    stage_kv_bytes_per_token,
    stage_ranges,
    stage_state_bytes,
    stage_weight_bytes,
)
from hwsim.workload import kv, trace
from hwsim.workload.blocks import Attention

if TYPE_CHECKING:
    from hwsim.core.precision import Precision, ResolvedPrecision
    from hwsim.core.spec import Accelerator
    from hwsim.workload.config import ModelConfig


NO_BLOCK_LIMIT = 2**40  # blocks of a model whose blocks hold nothing (no attention layer): never the limit


def kv_bytes_per_token(model: ModelConfig, kv_bits: Any) -> float:
    """K and V of one token in every layer (the workload's rule, hwsim.workload.kv; SSM layers add none), at bits
    or a KV format (OperandType: a row-scaled one priced on the cache's rows)."""
    return kv.token_bytes(model.blocks, kv_bits)


def state_bytes_per_seq(model: ModelConfig, kv_bits: float) -> float:
    """The fixed recurrent state of one sequence (SSM layers), 0 for a model without SSM layers."""
    return kv.state_elems(model.blocks) * kv_bits / 8


def activation_bytes(model: ModelConfig, tokens: int, act_bits: float) -> float:
    """Largest op's input + output for `tokens` tokens, attention left out: paged/flash attention kernels
    never hold the score matrix (assumed: one op's buffers live at a time)."""
    with warnings.catch_warnings():  # the tokens of many sequences: no single context goes that long
        warnings.simplefilter("ignore", HwsimWarning)
        ops = trace(model, "prefill", batch=1, seq=max(1, int(tokens)), context=0).ops
    ops = ops[ops["kind"] != "attention"]
    ops = ops[ops["op"] != "softmax"]
    return float((ops["act_in_elems"] + ops["act_out_elems"]).max()) * act_bits / 8


def capacity_blocks(
    arch: Accelerator,
    model: ModelConfig,
    prec: Precision | ResolvedPrecision | None,
    block_size: int,
    utilization: float,
    max_batched_tokens: int,
    par: Parallel | None = None,
    draft: ModelConfig | None = None,
    max_seqs: int = 1,
) -> tuple[int, dict]:
    """Blocks of `block_size` tokens every device can hold beside its weights and activations. Under
    parallelism (hwsim.serve.shard) each device holds its stage's share of the weights and of each
    block; the cache holds the blocks the tightest stage can. Sizes in the info are per device;
    a speculative `draft` model's weights and KV sit beside the target's on every device. SSM layers' state of
    `max_seqs` sequences is reserved beside the weights (module docstring)."""
    par = par or Parallel()
    cap = float(np.asarray(arch.backing.capacity))
    if not math.isfinite(cap):
        raise HwsimError(
            f"{arch.name}'s {arch.backing.name} has no capacity: give the cache size with `kv_blocks`",
            file=getattr(arch, "file", None),
            field="kv_blocks",
        )
    if not 0 < utilization <= 1:
        raise HwsimError(f"must lie in (0, 1], got {utilization}", field="memory_utilization")
    concrete, main = for_model(model, prec)
    rp = resolve_precision(concrete)
    shard = shard_model(model, par)
    acts = activation_bytes(shard, max_batched_tokens, rp.activations.bits)
    ranges = stage_ranges(model.layers, par.pp)
    extra_w = extra_kv = 0.0
    if draft is not None:  # held whole on every device (assumed: a small draft runs unsharded), at its own formats
        d_concrete, d_main = for_model(draft, prec)  # KV None: the draft's own cache format, as its steps cost it
        d_rp = resolve_precision(d_concrete)
        extra_w = stage_weight_bytes(draft, [(0, draft.layers)], 1, d_rp.weights, bool(d_main))[0]
        extra_kv = kv_bytes_per_token(draft, d_rp.kv) * block_size
        extra_w += state_bytes_per_seq(draft, d_rp.kv.bits) * max_seqs  # a hybrid draft's SSM state
    weights = [w + extra_w for w in stage_weight_bytes(shard, ranges, par.pp, rp.weights, main is not None)]
    states = [stage_state_bytes(shard, r, rp.kv.bits) * max_seqs for r in ranges]
    blocks = [stage_kv_bytes_per_token(shard, r, rp.kv) * block_size + extra_kv for r in ranges]
    free = [cap * utilization - w - st - acts for w, st in zip(weights, states)]
    worst = int(np.argmax([w for w in weights]))
    info = {
        "memory_bytes": cap,
        "weights_bytes": weights[worst],
        "activation_bytes": acts,
        "state_bytes": states[worst],
        "kv_block_bytes": max(blocks),
        "kv_budget_bytes": min(free),
        "devices": par.devices,
    }
    short = [s for s in range(len(ranges)) if free[s] < blocks[s] or free[s] <= 0]
    state_note = (
        f" + {states[short[0]] / 1e9:.2f} GB of SSM state ({max_seqs} sequences)" if short and states[short[0]] else ""
    )
    if short:
        s = short[0]
        where = f" (pipeline stage {s + 1} of {par.pp})" if par.pp > 1 else ""
        raise HwsimError(
            f"{model.name} does not fit on {par.devices} device(s) (tp {par.tp} × pp {par.pp}): "
            f"{weights[s] / 1e9:.2f} GB of weights + {acts / 1e9:.2f} GB of activations{state_note} per device{where} "
            f"leave {max(free[s], 0) / 1e9:.2f} GB of {cap * utilization / 1e9:.2f} GB ({arch.backing.name} × "
            f"{utilization}) for the KV cache, less than one block; use more devices (`tp`/`pp`)"
            + (", fewer weight bits or a higher `memory_utilization`" if utilization < 1 else " or fewer weight bits"),
            field="model",
        )
    held = [int(f // b) for f, b in zip(free, blocks) if b > 0]
    return (min(held) if held else NO_BLOCK_LIMIT), info


@dataclass(frozen=True)
class SlidingKv:
    """How many pool blocks a sequence holds when its sliding-window layers keep only their window and its chunked
    local attention layers only their current chunk (module docstring). Weights: each layer class's K/V bits per
    token × 8 (integers); `windows`, `chunks`: (window or chunk size, weight) pairs."""

    block_size: int
    full: int
    windows: tuple[tuple[int, int], ...]
    chunks: tuple[tuple[int, int], ...] = ()

    @property
    def total(self) -> int:
        return self.full + sum(w for _, w in self.windows + self.chunks)

    def _bounded(self) -> list[tuple[int, int, bool]]:
        """(size, weight, chunked) of every bounded layer class."""
        return [(n, w, False) for n, w in self.windows] + [(n, w, True) for n, w in self.chunks]

    @staticmethod
    def skipped_tokens(size: int, chunked: bool, computed: np.ndarray) -> np.ndarray:
        """Tokens a bounded layer no longer reads once `computed` are in the cache (vLLM's get_num_skipped_tokens):
        a window's max(0, computed − window + 1), a chunk's (computed // chunk) × chunk."""
        if chunked:
            return (computed // size) * size
        return np.maximum(computed - size + 1, 0)

    def blocks(self, computed: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Blocks a sequence holds once it is allocated up to `tokens` tokens with `computed` of them already in
        the cache (vLLM frees a bounded layer's skipped blocks before allocating the new ones)."""
        tokens, computed = np.asarray(tokens, dtype=np.int64), np.asarray(computed, dtype=np.int64)
        every = -(-tokens // self.block_size)
        weighted = self.full * every
        for size, weight, chunked in self._bounded():
            skipped = np.minimum(self.skipped_tokens(size, chunked, computed) // self.block_size, every)
            weighted = weighted + weight * (every - skipped)
        return -(-weighted // self.total)

    def worst(self, tokens: np.ndarray, max_batched_tokens: int) -> np.ndarray:
        """Most blocks a sequence of `tokens` tokens ever holds, prefilled in chunks of at most
        `max_batched_tokens` (vLLM's admission bounds: cdiv(window − 1 + max_batched_tokens, block_size) + 1 per
        sliding layer, cdiv(chunk + max_batched_tokens, block_size) per chunked one, never more than its tokens'
        blocks)."""
        every = -(-np.asarray(tokens, dtype=np.int64) // self.block_size)
        weighted = self.full * every
        for size, weight, chunked in self._bounded():
            bound = (
                -(-(size + max_batched_tokens) // self.block_size)
                if chunked
                else -(-(size - 1 + max_batched_tokens) // self.block_size) + 1
            )
            weighted = weighted + weight * np.minimum(every, bound)
        return -(-weighted // self.total)


def sliding_kv(
    model: ModelConfig, kv_bits: Any, block_size: int, draft: ModelConfig | None = None, draft_bits: Any = 16
) -> SlidingKv | None:
    """The SlidingKv of a model whose attention layers include sliding-window or chunked local ones, None for every
    other model (its blocks are charged per token as before). A speculative draft's K/V counts with the
    full-attention layers (assumed: its own windows ignored, a small share of the block). `kv_bits`, `draft_bits`:
    bits or the KV format, each layer priced as the blocks are (hwsim.workload.kv.token_bytes: a row-scaled format
    on its rows)."""
    full = 0
    windows: dict[int, int] = {}
    chunks: dict[int, int] = {}
    for layer in model.blocks:
        attn = layer.mixer
        if not isinstance(attn, Attention):
            continue
        bits = round(kv.token_bytes((layer,), kv_bits) * 64)
        if attn.chunk:  # a chunk bounds the keys whatever the window (assumed: none has both)
            chunks[attn.chunk] = chunks.get(attn.chunk, 0) + bits
        elif attn.window:
            windows[attn.window] = windows.get(attn.window, 0) + bits
        else:
            full += bits
    windows = {w: b for w, b in windows.items() if b > 0}
    chunks = {c: b for c, b in chunks.items() if b > 0}
    if not windows and not chunks:
        return None
    if draft is not None:
        full += round(kv_bytes_per_token(draft, draft_bits) * 64)
    return SlidingKv(int(block_size), int(full), tuple(sorted(windows.items())), tuple(sorted(chunks.items())))


class BlockTable:
    """Blocks held per sequence (vectorised over sequence ids) and the free count; with `caching`, automatic
    prefix caching as vLLM (V1) does it (docs.vllm.ai, design/prefix_caching: "Automatic Prefix Caching"):

    - a full block is known by the chain of its contents (the caller's `key`: equal keys hold equal tokens after
      equal prefixes); a block is cached (registered under its key) when it is allocated for tokens that are
      scheduled, so a request admitted later in the same iteration may already reuse it;
    - a request reuses (`acquire`) its leading blocks that are cached, adding a reference each;
    - freed blocks go to the tail of one free queue, a request's blocks in reverse order (its last block is
      evicted first); a new block is taken from the head, and a cached block taken there is evicted (its key
      forgotten): least recently used first, and never a block that is referenced (it is not in the queue);
    - a cached block with no reference counts as free (it is in the queue); reusing one takes it out.
    Without `caching` only the counts are kept (the queue would hold blank blocks only).
    With `sliding` (a SlidingKv) a sequence holds the blocks its sliding and chunked layers still need (module
    docstring): its count may fall as their windows or chunks move on, never below the cached blocks it references;
    of a prefix of b full blocks it caches the leading SlidingKv.blocks(b × block_size, b × block_size) (assumed:
    the bytes its full layers keep for all b blocks and its bounded layers for the window's last ones or the current
    chunk's, as vLLM keeps them; a later request reuses at most those leading blocks)."""

    def __init__(
        self, num_blocks: int, block_size: int, num_seqs: int, caching: bool = False, sliding: SlidingKv | None = None
    ) -> None:
        if num_blocks < 1 or block_size < 1:
            raise HwsimError("`kv_blocks` and `block_size` must be positive integers", field="kv_blocks")
        self.capacity, self.block_size = int(num_blocks), int(block_size)
        self.held = np.zeros(num_seqs, dtype=np.int64)
        self.used = 0  # blocks referenced by some sequence
        self.peak = 0
        self.caching = caching
        self.sliding = sliding
        self.refs: dict[Hashable, int] = {}  # cached blocks: key → references
        self.mine: dict[int, list[Hashable]] = {}  # sequence → keys of the cached blocks it references
        self.registered = np.zeros(num_seqs if caching else 0, dtype=np.int64)  # leading blocks checked to cache
        self.evicted = 0
        # free queue, head first: slot → a run length (blank blocks) or a key (one cached block); keys → slots
        self._queue: OrderedDict[int, int | Hashable] = OrderedDict({0: self.capacity} if caching else {})
        self._slot: dict[Hashable, int] = {}
        self._keyed: set[int] = set()  # slots that hold a cached block
        self._next = 1

    def target(self, ids: np.ndarray, tokens: np.ndarray, computed: np.ndarray | None = None) -> np.ndarray:
        """Blocks sequences `ids` hold at `tokens` tokens each (`computed` of them in the cache: only a sliding
        model's count depends on it)."""
        if self.sliding is None:
            return -(-tokens // self.block_size)
        held = self.sliding.blocks(np.zeros_like(tokens) if computed is None else computed, tokens)
        if self.caching:  # never below the cached blocks a sequence references (they stay until it ends)
            held = np.maximum(held, [len(self.mine.get(r, ())) for r in np.atleast_1d(ids).tolist()])
        return held

    def need(self, ids: np.ndarray, tokens: np.ndarray, computed: np.ndarray | None = None) -> np.ndarray:
        """Extra blocks sequences `ids` need to hold `tokens` tokens each."""
        return np.maximum(self.target(ids, tokens, computed) - self.held[ids], 0)

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def grow(self, ids: np.ndarray, tokens: np.ndarray, computed: np.ndarray | None = None) -> None:
        if self.sliding is not None:  # a sliding layer's skipped blocks are freed first, then the new ones taken
            delta = self.target(ids, tokens, computed) - self.held[ids]
            freed = int(-delta[delta < 0].sum())
            self.used -= freed
            if self.caching:
                self._put_blank(freed)
            self.held[ids] += np.minimum(delta, 0)
        extra = self.need(ids, tokens, computed)
        total = int(extra.sum())
        assert total <= self.free, "scheduler allocated beyond the cache"
        self.held[ids] += extra
        self.used += total
        if self.caching:
            self._take(total)

    def release(self, ids: ArrayLike) -> None:
        ids = np.atleast_1d(ids)
        if not self.caching:
            self.used -= int(self.held[ids].sum())
        for r in ids.tolist() if self.caching else ():
            keys = self.mine.pop(r, [])
            private = int(self.held[r]) - len(keys)
            self._put_blank(private)  # the sequence's own blocks: its tail, evicted first
            self.used -= private
            for key in reversed(keys):  # a shared block stays in use while another sequence references it
                self.refs[key] -= 1
                if not self.refs[key]:
                    self._put(key)
                    self.used -= 1
            self.registered[r] = 0
        self.held[ids] = 0

    # --- prefix caching ---------------------------------------------------------------------------------
    def lookup(self, keys: list, max_blocks: int) -> tuple[int, int]:
        """(blocks, evictable): how many leading `keys` (at most `max_blocks`) are cached, and how many of
        those are free now (reusing them takes them out of the free blocks)."""
        hit = evictable = 0
        for key in keys[: max(max_blocks, 0)]:
            refs = self.refs.get(key)
            if refs is None:
                break
            hit += 1
            evictable += refs == 0
        return hit, evictable

    def acquire(self, r: int, keys: list) -> None:
        """Sequence `r` (holding nothing) reuses the cached blocks `keys`, its leading ones."""
        assert self.held[r] == 0
        for key in keys:
            if not self.refs[key]:
                slot = self._slot.pop(key)
                del self._queue[slot]
                self._keyed.discard(slot)
                self.used += 1
            self.refs[key] += 1
        self.mine[r] = list(keys)
        self.held[r] = len(keys)
        self.registered[r] = len(keys)

    def register(self, r: int, keys: list, blocks: int) -> None:
        """Cache sequence `r`'s blocks below `blocks` (full, scheduled) under their `keys` (None: never
        shared); a key already cached (the same tokens computed twice at once) leaves this copy private."""
        mine = self.mine.setdefault(r, [])
        top = min(blocks, len(keys))
        if self.sliding is not None:  # a prefix of `top` blocks: its full layers' blocks and its windows' last ones
            top = int(self.sliding.blocks(np.array(top * self.block_size), np.array(top * self.block_size)))
        for k in range(int(self.registered[r]), top):
            key = keys[k]
            if key is not None and key not in self.refs:
                self.refs[key] = 1
                mine.append(key)
        self.registered[r] = max(int(self.registered[r]), blocks)

    @property
    def cached(self) -> int:
        """Blocks holding a registered key (referenced or free)."""
        return len(self.refs)

    def _take(self, count: int) -> None:
        while count:
            slot, v = self._queue.popitem(last=False)
            if slot not in self._keyed:
                assert isinstance(v, int)
                use = min(v, count)
                if v > use:
                    self._queue[slot] = v - use
                    self._queue.move_to_end(slot, last=False)
                count -= use
            else:  # a cached block: evicted (never a referenced one: those are not in the queue)
                assert self.refs[v] == 0, "evicting a referenced block"
                del self.refs[v], self._slot[v]
                self._keyed.discard(slot)
                self.evicted += 1
                count -= 1

    def _put_blank(self, n: int) -> None:
        if n > 0:
            self._queue[self._next] = n
            self._next += 1

    def _put(self, key: Hashable) -> None:
        self._queue[self._next] = key
        self._slot[key] = self._next
        self._keyed.add(self._next)
        self._next += 1
