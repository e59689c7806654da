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
max_model_len), block_size) blocks (ChunkedLocalAttentionSpec.max_admission_blocks_per_request). Under pipeline
parallelism each stage's pool holds its own layers, split by their own kinds, and under tensor parallelism a rank's
shard of them (KV heads / tp, one replicated when tp exceeds them; stage_sliding); prefix caching caches
each kind's blocks apart and finds a hit as vLLM's hybrid coordinator does (BlockTable).
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, replace

from typing import TYPE_CHECKING, Any, Literal, overload

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


class DoesNotFit(HwsimError):
    """capacity_blocks' refusal of a layout whose weights and activations leave less than one block: the one error
    a fit check reads as "does not fit" (any other, such as a trace beyond hwsim's number-size limit, is not)."""


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
    `max_seqs` sequences is reserved beside the weights (module docstring). info["stage_blocks"]: the blocks of each
    stage's own pool (NO_BLOCK_LIMIT for a stage without attention layers), for stage_sliding's per-stage charge;
    info["stage_block_bytes"], info["stage_weights_bytes"]: each stage's block and weights (draft included) on one
    device (info["kv_block_bytes"] and info["weights_bytes"] are the largest of them, not always one stage's)."""
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
    extra_w = 0.0
    if draft is not None:  # held whole on every device (assumed: a small draft runs unsharded), at its own formats
        d_concrete, d_main = for_model(draft, prec)  # KV None: the draft's own cache format, as its steps cost it
        d_rp = resolve_precision(d_concrete)
        extra_w = stage_weight_bytes(draft, [(0, draft.layers)], 1, d_rp.weights, bool(d_main))[0]
        extra_w += state_bytes_per_seq(draft, d_rp.kv.bits) * max_seqs  # a hybrid draft's SSM state
    weights = [w + extra_w for w in stage_weight_bytes(shard, ranges, par.pp, rp.weights, main is not None)]
    states = [stage_state_bytes(shard, r, rp.kv.bits) * max_seqs for r in ranges]
    blocks = stage_block_bytes(model, prec, block_size, par, draft)
    free = [cap * utilization - w - st - acts for w, st in zip(weights, states)]
    worst = int(np.argmax([w for w in weights]))
    info: dict[str, Any] = {
        "memory_bytes": cap,
        "weights_bytes": weights[worst],
        "activation_bytes": acts,
        "state_bytes": states[worst],
        "kv_block_bytes": max(blocks),
        "stage_block_bytes": blocks,
        "stage_weights_bytes": weights,
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
        raise DoesNotFit(
            f"{model.name} does not fit on {par.devices} device(s) (tp {par.tp} × pp {par.pp}): "
            f"{weights[s] / 1e9:.2f} GB of weights + {acts / 1e9:.2f} GB of activations{state_note} per device{where} "
            f"leave {max(free[s], 0) / 1e9:.2f} GB of {cap * utilization / 1e9:.2f} GB ({arch.backing.name} × "
            f"{utilization}) for the KV cache, less than one block; use more devices (`tp`/`pp`)"
            + (", fewer weight bits or a higher `memory_utilization`" if utilization < 1 else " or fewer weight bits"),
            field="model",
        )
    info["stage_blocks"] = [int(f // b) if b > 0 else NO_BLOCK_LIMIT for f, b in zip(free, blocks)]
    held = [int(f // b) for f, b in zip(free, blocks) if b > 0]
    return (min(held) if held else NO_BLOCK_LIMIT), info


def stage_block_bytes(
    model: ModelConfig,
    prec: Precision | ResolvedPrecision | None,
    block_size: int,
    par: Parallel | None = None,
    draft: ModelConfig | None = None,
) -> list[float]:
    """Bytes one block of `block_size` tokens costs one device of each pipeline stage of layout `par`: the K/V of
    its tensor-parallel shard of the stage's layers at the model's KV format (SSM layers none), plus a speculative
    `draft`'s whole K/V at its own (held on every device: capacity_blocks)."""
    par = par or Parallel()
    kv_fmt = resolve_precision(for_model(model, prec)[0]).kv
    shard = shard_model(model, par)
    extra = 0.0
    if draft is not None:
        extra = kv_bytes_per_token(draft, resolve_precision(for_model(draft, prec)[0]).kv) * block_size
    return [stage_kv_bytes_per_token(shard, r, kv_fmt) * block_size + extra for r in stage_ranges(model.layers, par.pp)]


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


@overload
def sliding_kv(
    model: ModelConfig,
    kv_bits: Any,
    block_size: int,
    draft: ModelConfig | None = ...,
    draft_bits: Any = ...,
    *,
    full_only: Literal[True],
) -> SlidingKv: ...


@overload
def sliding_kv(
    model: ModelConfig,
    kv_bits: Any,
    block_size: int,
    draft: ModelConfig | None = ...,
    draft_bits: Any = ...,
    *,
    full_only: bool = ...,
) -> SlidingKv | None: ...


def sliding_kv(
    model: ModelConfig,
    kv_bits: Any,
    block_size: int,
    draft: ModelConfig | None = None,
    draft_bits: Any = 16,
    *,
    full_only: bool = False,
) -> SlidingKv | None:
    """The SlidingKv of a model (with a speculative `draft` beside it) whose attention layers include
    sliding-window or chunked local ones, None for every other model (its blocks are charged per token as before).
    The draft's layers count by their own kind, as vLLM gives a draft's layers KV-cache groups of their own spec:
    its windows and chunks bounded, its full layers with the target's (each kind's bytes rounded once).
    `kv_bits`, `draft_bits`: bits or the KV format, each layer priced as the blocks are
    (hwsim.workload.kv.token_bytes: a row-scaled format on its rows). `full_only`: a SlidingKv even without
    bounded layers (a pipeline stage's)."""
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
    if draft is not None:
        kinds: dict[tuple[str, int], list] = {}
        for layer in draft.blocks:
            attn = layer.mixer
            if isinstance(attn, Attention):
                key = ("chunk", attn.chunk) if attn.chunk else ("window", attn.window) if attn.window else ("full", 0)
                kinds.setdefault(key, []).append(layer)
        for (kind, n), layers in kinds.items():
            bits = round(kv.token_bytes(tuple(layers), draft_bits) * 64)
            if kind == "full":
                full += bits
            else:
                bounded = chunks if kind == "chunk" else windows
                bounded[n] = bounded.get(n, 0) + bits
    windows = {w: b for w, b in windows.items() if b > 0}
    chunks = {c: b for c, b in chunks.items() if b > 0}
    if not windows and not chunks and not full_only:
        return None
    return SlidingKv(int(block_size), int(full), tuple(sorted(windows.items())), tuple(sorted(chunks.items())))


def stage_sliding(
    model: ModelConfig,
    kv_bits: Any,
    block_size: int,
    par: Parallel | None = None,
    draft: ModelConfig | None = None,
    draft_bits: Any = 16,
) -> tuple[SlidingKv, ...] | None:
    """The SlidingKv of each pipeline stage of layout `par`: each stage's pool holds its own layers (one device's
    shard of them), so its split between full and bounded layers is its own, a stage of sliding layers only
    needing its windows' blocks; a speculative draft is held whole on every stage (capacity_blocks), so its layers
    join each. None when the model (with its draft) has no sliding or chunked layer; one entry without pipeline
    parallelism. Every split is one tensor-parallel rank's, as its pool holds them (capacity_blocks): KV heads
    divided by tp, or one replicated when tp exceeds them (hwsim.serve.shard), so a layer kind whose KV heads tp
    replicates weighs more on each rank than in the whole model (Gemma-4-31B at tp 8: its full layers' 4 KV heads
    of 512 keep one each, its sliding layers' 16 of 256 two: a full layer weighs what a sliding one does on a rank,
    half in the whole model), and a draft, held whole on every rank, weighs more beside a rank's share of the
    target than beside the whole target. A stage
    without attention layers has a SlidingKv of total 0 (nothing cached)."""
    if sliding_kv(model, kv_bits, block_size, draft, draft_bits) is None:
        return None
    par = par or Parallel()
    shard = shard_model(model, par)
    return tuple(
        sliding_kv(replace(shard, blocks=shard.blocks[a:b]), kv_bits, block_size, draft, draft_bits, full_only=True)
        for a, b in stage_ranges(model.layers, par.pp)
    )


@dataclass(frozen=True)
class Hit:
    """A prefix-cache hit (BlockTable.lookup): `blocks` leading blocks of tokens reused; `entries`, the cached
    blocks each layer kind reuses as (kind, block index, entry key), index ascending; `live`, the units (per
    stage) of those another sequence still references (the rest are taken out of the free queue)."""

    blocks: int
    entries: tuple[tuple[int, int, Hashable], ...]
    live: np.ndarray


class BlockTable:
    """Blocks held per sequence (vectorised over sequence ids) and the free count; with `caching`, automatic
    prefix caching as vLLM (V1) does it (docs.vllm.ai, design/prefix_caching: "Automatic Prefix Caching"):

    - a full block is known by the chain of its contents (the caller's `key`: equal keys hold equal tokens after
      equal prefixes); a block is cached (registered under its key) when it is allocated for tokens that are
      scheduled, so a request admitted later in the same iteration may already reuse it;
    - a request reuses (`acquire`) the cached blocks `lookup` finds, adding a reference each;
    - freed blocks go to the tail of one free queue, a request's blocks in reverse order (its last block is
      evicted first); a new block is taken from the head, and a cached block taken there is evicted (its key
      forgotten): least recently used first, and never a block that is referenced (it is not in the queue);
    - a cached block with no reference counts as free (it is in the queue); reusing one takes it out.
    Without `caching` only the counts are kept (the queue would hold blank blocks only).

    Layer kinds (module docstring): the full-attention layers, and with `sliding` (a SlidingKv) each window and
    chunk size. A sequence holds, per kind, the blocks of its tokens that kind still reads (a window's last ones,
    the current chunk's); its charge is their bytes, rounded up to whole blocks (SlidingKv.blocks). With caching
    each kind's blocks are cached apart, as vLLM's KV-cache groups are, and weigh that kind's share of a block
    (integer units: a block is `unit` units, the kinds' weights summed): a bounded kind's block that leaves the
    window stays cached while free (vLLM frees it to the queue, latest first, keeping its hash), and `lookup` is
    vLLM's HybridKVCacheCoordinator.find_longest_cache_hit (vllm/v1/core/kv_cache_coordinator.py; the rule is its,
    the code is not): the full layers' leading cached blocks give the first length; a window then searches from
    that length backwards for cdiv(window − 1, block_size) contiguous cached blocks and cuts the length to the end
    of the first such run (or to the run from block 0 when none is found; SlidingWindowManager); a chunk counts
    every block before the chunk holding the length as a hit without lookup and cuts the length at its first
    uncached block from there (ChunkedLocalAttentionManager); the kinds are asked again until none cuts it. The
    hit reuses the full layers' blocks below the length and each bounded kind's blocks it still reads there.
    A finished sequence frees its own (uncached) blocks first, then its bounded kinds' cached blocks, then its full
    layers', each tail first (assumed from vLLM's pop_blocks_for_free: the groups' blocks freed in reverse).

    `sliding` may be one SlidingKv per pipeline stage, with `num_blocks` one count per stage (each stage's pool
    holds its own layers: hwsim.serve.kvcache.capacity_blocks); every count is then a vector over the stages, a
    sequence fits when it fits in every stage."""

    def __init__(
        self,
        num_blocks: int | ArrayLike,
        block_size: int,
        num_seqs: int,
        caching: bool = False,
        sliding: SlidingKv | tuple[SlidingKv, ...] | None = None,
    ) -> None:
        stages = [] if sliding is None else [sliding] if isinstance(sliding, SlidingKv) else list(sliding)
        caps = np.atleast_1d(np.asarray(num_blocks, dtype=np.int64))
        if caps.size == 1 and len(stages) > 1:
            caps = np.repeat(caps, len(stages))
        if block_size < 1 or (caps < 1).any():
            raise HwsimError("`kv_blocks` and `block_size` must be positive integers", field="kv_blocks")
        if stages and len(caps) != len(stages):
            raise ValueError(f"{len(caps)} block counts for {len(stages)} stages")
        self.capacities, self.block_size = caps, int(block_size)
        self.capacity = int(caps.min())
        if not stages:  # one kind, one unit a block: the per-token rule
            kinds, weights = [(0, False)], np.ones((1, 1), dtype=np.int64)
        else:
            sizes = sorted(
                {(w, False) for st in stages for w, _ in st.windows}
                | {(c, True) for st in stages for c, _ in st.chunks}
            )
            kinds = [(0, False), *sizes]
            weights = np.array(
                [[st.full for st in stages]]
                + [[dict(st.chunks if ch else st.windows).get(n, 0) for st in stages] for n, ch in sizes],
                dtype=np.int64,
            )
            keep = (weights != 0).any(axis=1).tolist()
            kinds, weights = [k for k, kept in zip(kinds, keep) if kept], weights[np.array(keep, dtype=bool)]
        self.stages = stages
        self.kinds: list[tuple[int, bool]] = kinds  # (0, False): full attention; (size, chunked)
        self.weights = weights  # kind × stage
        self.unit = weights.sum(axis=0)  # units in one block, per stage
        self.bounded = any(n for n, _ in kinds)
        S, C = len(caps), len(kinds)
        self.held = np.zeros((num_seqs, S), dtype=np.int64)  # blocks each sequence is charged, per stage
        self.used_units = np.zeros(S, dtype=np.int64)  # units referenced by some sequence
        self.peak = np.zeros(S, dtype=np.int64)
        self.caching = caching
        self.refs: dict[Hashable, int] = {}  # cached blocks: (kind, key) → references
        self.mine: dict[int, list[deque]] = {}  # sequence → per kind, (index, entry) of the cached blocks it holds
        self.shared = np.zeros((num_seqs if caching else 0, S), dtype=np.int64)  # units of those
        self.registered = np.zeros(num_seqs if caching else 0, dtype=np.int64)  # leading blocks checked to cache
        self.low = np.zeros((num_seqs if caching else 0, C), dtype=np.int64)  # first block each kind still holds
        self.evicted_units = np.zeros(S, dtype=np.int64)
        self.miss = Hit(0, (), np.zeros(S, dtype=np.int64))
        # free queue, head first: slot → blank units (a tuple over stages) or an entry key (one cached block)
        self._queue: OrderedDict[int, Any] = OrderedDict(
            {0: tuple(int(x) for x in caps * self.unit)} if caching else {}
        )
        self._sizes = [tuple(int(x) for x in w) for w in weights]  # a cached block's units per stage, by kind
        self._slot: dict[Hashable, int] = {}
        self._keyed: set[int] = set()  # slots that hold a cached block
        self._next = 1

    # --- counts ---------------------------------------------------------------------------------------------
    def _counts(self, tokens: ArrayLike, computed: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
        """(blocks each kind holds, first block each kind holds), sequence × kind, at `tokens` tokens with
        `computed` of them in the cache (vLLM frees a bounded kind's skipped blocks before allocating)."""
        tokens = np.atleast_1d(np.asarray(tokens, dtype=np.int64))
        computed = np.zeros_like(tokens) if computed is None else np.atleast_1d(np.asarray(computed, dtype=np.int64))
        every = -(-tokens // self.block_size)
        if not self.bounded:  # the full layers only: every block held from the first
            return every[:, None], np.zeros((len(every), 1), dtype=np.int64)
        lows = [
            np.zeros_like(every)
            if n == 0
            else np.minimum(SlidingKv.skipped_tokens(n, chunked, computed) // self.block_size, every)
            for n, chunked in self.kinds
        ]
        low = np.stack(lows, axis=-1)
        return every[:, None] - low, low

    def target(self, ids: ArrayLike, tokens: ArrayLike, computed: ArrayLike | None = None) -> np.ndarray:
        """Blocks (sequence × stage) sequences `ids` are charged at `tokens` tokens each (`computed` of them in the
        cache: only a bounded kind's count depends on it)."""
        counts, _ = self._counts(tokens, computed)
        if not self.stages:  # one unit a block
            return counts
        return -(-(counts @ self.weights) // self.unit)

    def worst(self, tokens: ArrayLike, max_batched_tokens: int) -> np.ndarray:
        """Most blocks (sequence × stage) a sequence of `tokens` tokens ever holds (SlidingKv.worst)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if not self.stages:
            return (-(-tokens // self.block_size))[:, None]
        return np.stack([st.worst(tokens, max_batched_tokens) for st in self.stages], axis=1)

    def need(self, ids: ArrayLike, tokens: ArrayLike, computed: ArrayLike | None = None) -> np.ndarray:
        """Extra blocks (sequence × stage) sequences `ids` take from the free ones to hold `tokens` tokens each."""
        ids = np.atleast_1d(ids)
        d = self.target(ids, tokens, computed) - self.held[ids]
        if self.caching and self.bounded:  # a block it lets go that another sequence still holds stays in use
            _, low = self._counts(tokens, computed)
            extra = np.zeros_like(d)
            for j, r in enumerate(ids.tolist()):
                for c, dq in enumerate(self.mine.get(r, ())):
                    for k, e in dq:
                        if k >= low[j, c]:
                            break
                        if self.refs[e] > 1:
                            extra[j] += self.weights[c]
            d = -(-(d * self.unit + extra) // self.unit)
        return np.maximum(d, 0)

    @property
    def used(self) -> np.ndarray:
        """Blocks in use per stage (cached free blocks not counted)."""
        return -(-self.used_units // self.unit)

    @property
    def free(self) -> np.ndarray:
        return (self.capacities * self.unit - self.used_units) // self.unit

    def charge(self, hit: Hit, held: np.ndarray) -> np.ndarray:
        """Blocks per stage a sequence admitted with `hit` takes from the free ones to be charged `held` blocks
        (the reused blocks another sequence holds are in use already)."""
        return -(-(np.asarray(held, dtype=np.int64) * self.unit - hit.live) // self.unit)

    def evicted_blocks(self, stage: int = 0) -> int:
        """Cached blocks evicted, in whole blocks of `stage` (units summed)."""
        return int(self.evicted_units[stage] // self.unit[stage])

    # --- allocation -------------------------------------------------------------------------------------------
    def grow(self, ids: ArrayLike, tokens: ArrayLike, computed: ArrayLike | None = None) -> None:
        """Charge sequences `ids` for `tokens` tokens each (a bounded kind's skipped blocks freed first)."""
        ids = np.atleast_1d(ids)
        t = self.target(ids, tokens, computed)
        if not self.caching:
            self.used_units += (t - self.held[ids]).sum(axis=0) * self.unit
            self.held[ids] = t
            assert (self.used_units <= self.capacities * self.unit).all(), "scheduler allocated beyond the cache"
            return
        before = (self.held[ids] * self.unit - self.shared[ids]).sum(axis=0)  # private units
        if self.bounded:
            _, low = self._counts(tokens, computed)
            for j, r in enumerate(ids.tolist()):
                self._let_go(r, low[j])
        self.held[ids] = t
        delta = (t * self.unit - self.shared[ids]).sum(axis=0) - before
        self.used_units += delta
        self._put_blank(np.maximum(-delta, 0))
        self._take(np.maximum(delta, 0))
        assert (self.used_units <= self.capacities * self.unit).all(), "scheduler allocated beyond the cache"

    def _let_go(self, r: int, low: np.ndarray) -> None:
        """Sequence `r`'s cached blocks of bounded kinds below `low` leave it (vLLM's remove_skipped_blocks: freed,
        latest first; they stay cached while free)."""
        mine = self.mine.get(r)
        self.low[r] = low
        if mine is None:
            return
        for c, dq in enumerate(mine):
            gone = []
            while dq and dq[0][0] < low[c]:
                gone.append(dq.popleft()[1])
            for e in reversed(gone):
                self.shared[r] -= self.weights[c]
                self.refs[e] -= 1
                if not self.refs[e]:
                    self._put(e)
                    self.used_units -= self.weights[c]

    def release(self, ids: ArrayLike) -> None:
        ids = np.atleast_1d(ids)
        if not self.caching:
            self.used_units -= self.held[ids].sum(axis=0) * self.unit
        for r in ids.tolist() if self.caching else ():
            private = self.held[r] * self.unit - self.shared[r]
            self._put_blank(private)  # the sequence's own blocks: its tail, evicted first
            self.used_units -= private
            for c, dq in reversed(list(enumerate(self.mine.pop(r, ())))):
                unused = 0
                for _, e in reversed(dq):  # a shared block stays in use while another sequence references it
                    self.refs[e] -= 1
                    if not self.refs[e]:
                        self._put(e)
                        unused += 1
                self.used_units -= unused * self.weights[c]
            self.shared[r] = 0
            self.registered[r] = 0
            self.low[r] = 0
        self.held[ids] = 0

    # --- prefix caching ---------------------------------------------------------------------------------
    def lookup(self, keys: list, max_blocks: int) -> Hit:
        """The longest prefix of at most `max_blocks` blocks every kind finds cached (class docstring)."""
        top = max(min(max_blocks, len(keys)), 0)
        refs, bs = self.refs, self.block_size

        def cached(c: int, k: int) -> bool:
            return (c, keys[k]) in refs

        hit, full = top, -1
        while True:
            cur = hit
            for c, (n, chunked) in enumerate(self.kinds):
                if n == 0:  # downward-closed: looked up once, then cut to the length
                    if full < 0:
                        full = 0
                        while full < top and cached(c, full):
                            full += 1
                    cur = min(cur, full)
                elif chunked:
                    k = (cur * bs // n) * n // bs  # blocks before the current chunk: hits without lookup
                    while k < cur and cached(c, k):
                        k += 1
                    cur = k
                else:
                    run, want, found = 0, -(-(n - 1) // bs), False
                    for k in range(cur - 1, -1, -1):
                        if want <= 0:
                            break
                        if cached(c, k):
                            run += 1
                            if run >= want:
                                cur, found = k + want, True
                                break
                        else:
                            run = 0
                    if want > 0 and not found:
                        cur = run  # the run from block 0
            if cur >= hit:
                break
            hit = cur
        entries = []
        live = np.zeros_like(self.used_units)
        _, low = self._counts(np.array([hit * bs]), np.array([hit * bs]))
        for c in range(len(self.kinds)):
            for k in range(int(low[0, c]), hit):
                e = (c, keys[k])
                entries.append((c, k, e))
                if refs[e]:
                    live += self.weights[c]
        return Hit(hit, tuple(entries), live)

    def acquire(self, r: int, hit: Hit) -> None:
        """Sequence `r` (holding nothing) reuses the cached blocks of `hit`."""
        assert not self.held[r].any()
        mine = self.mine[r] = [deque() for _ in self.kinds]
        for c, k, e in hit.entries:
            if not self.refs[e]:
                slot = self._slot.pop(e)
                del self._queue[slot]
                self._keyed.discard(slot)
                self.used_units += self.weights[c]
            self.refs[e] += 1
            mine[c].append((k, e))
            self.shared[r] += self.weights[c]
        held = -(-self.shared[r] // self.unit)
        slack = held * self.unit - self.shared[r]  # rounding to whole blocks
        self.held[r] = held
        self.used_units += slack
        self._take(slack)
        self.registered[r] = hit.blocks
        if self.bounded:
            t = np.array([hit.blocks * self.block_size])
            self.low[r] = self._counts(t, t)[1][0]

    def register(self, r: int, keys: list, blocks: int) -> None:
        """Cache sequence `r`'s blocks below `blocks` (full, scheduled) under their `keys` (None: never
        shared), each kind the blocks it holds; a key already cached (the same tokens computed twice at once)
        leaves this copy private."""
        mine = self.mine.get(r)
        if mine is None:
            mine = self.mine[r] = [deque() for _ in self.kinds]
        top = min(blocks, len(keys))
        start = int(self.registered[r])
        refs = self.refs
        for c, dq in enumerate(mine):
            added = len(dq)
            for k in range(max(start, int(self.low[r, c])), top):
                key = keys[k]
                e = (c, key)
                if key is not None and e not in refs:
                    refs[e] = 1
                    dq.append((k, e))
            if len(dq) > added:
                self.shared[r] += (len(dq) - added) * self.weights[c]
        self.registered[r] = max(start, blocks)

    @property
    def cached(self) -> int:
        """Blocks of every kind holding a registered key (referenced or free)."""
        return len(self.refs)

    def _take(self, units: np.ndarray) -> None:
        need = [int(x) for x in units]  # per stage, Python ints: this loop runs once per queue entry taken
        if max(need) <= 0:
            return
        spare = [0] * len(need)  # units taken off the queue beyond the need (a stage needing none)
        while max(need) > 0:
            slot, v = self._queue.popitem(last=False)
            if slot in self._keyed:  # a cached block: evicted (never a referenced one: those are not in the queue)
                assert self.refs[v] == 0, "evicting a referenced block"
                del self.refs[v], self._slot[v]
                self._keyed.discard(slot)
                size = self._sizes[v[0]]
                self.evicted_units += size
                got = size
            else:
                got = v
            for s, g in enumerate(got):
                use = min(g, max(need[s], 0))
                need[s] -= use
                spare[s] += g - use
        if max(spare) > 0:
            self._queue[self._next] = tuple(spare)
            self._queue.move_to_end(self._next, last=False)
            self._next += 1

    def _put_blank(self, units: np.ndarray) -> None:
        if units.any():
            self._queue[self._next] = tuple(int(x) for x in units)
            self._next += 1

    def _put(self, key: Hashable) -> None:
        self._queue[self._next] = key
        self._slot[key] = self._next
        self._keyed.add(self._next)
        self._next += 1
