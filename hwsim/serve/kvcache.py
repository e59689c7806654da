"""Paged KV cache: capacity in blocks, and the per-sequence block accounting of the scheduler.

Capacity rule (vLLM's `gpu_memory_utilization` rule): the backing store × utilisation, minus the weights
(every parameter at the weight format's storage bits), minus the activation working set of the largest
iteration (assumed: the largest op's input + output at the activation format for max-batched-tokens
tokens, as one op's buffers are live at a time), divided by the bytes of one block
(block_size tokens × K and V of every layer, from the workload's own KV-size rule).
"""
from __future__ import annotations

import math

import numpy as np

from hwsim.errors import HwsimError
from hwsim.workload import trace


def kv_bytes_per_token(model, kv_bits: float) -> float:
    """K and V of one token in every layer (the workload's rule: Trace.kv_cache_bytes of one cached token)."""
    return trace(model, "prefill", batch=1, seq=1, context=0).kv_cache_bytes(kv_bits)


def activation_bytes(model, tokens: int, act_bits: float) -> float:
    """Largest op's input + output for `tokens` tokens, attention left out: paged/flash attention kernels
    never hold the score matrix (assumed: one op's buffers live at a time)."""
    ops = trace(model, "prefill", batch=1, seq=max(1, int(tokens)), context=0).ops
    ops = ops[ops["kind"] != "attention"]
    ops = ops[ops["op"] != "softmax"]
    return float((ops["act_in_elems"] + ops["act_out_elems"]).max()) * act_bits / 8


def capacity_blocks(arch, model, prec, block_size: int, utilization: float, max_batched_tokens: int,
                    shards: int = 1) -> tuple[int, dict]:
    """Blocks of `block_size` tokens that fit beside weights and activations; `shards` devices hold
    1/shards of the weights and of each block each (tensor/pipeline parallel)."""
    cap = float(np.asarray(arch.backing.capacity))
    if not math.isfinite(cap):
        raise HwsimError(f"{arch.name}'s {arch.backing.name} has no capacity: give the cache size with --kv-blocks",
                         file=getattr(arch, "file", None), field="--kv-blocks")
    if not 0 < utilization <= 1:
        raise HwsimError(f"must lie in (0, 1], got {utilization}", field="--memory-utilization")
    weights = math.ceil(model.params * prec.weights.bits / 8)
    acts = activation_bytes(model, max_batched_tokens, prec.activations.bits)
    block = kv_bytes_per_token(model, prec.kv.bits) * block_size
    free = cap * utilization * shards - weights - acts * shards
    info = {"memory_bytes": cap * shards, "weights_bytes": weights, "activation_bytes": acts * shards,
            "kv_block_bytes": block, "kv_budget_bytes": free}
    if free < block:
        raise HwsimError(f"{model.name} does not fit: {weights / 1e9:.2f} GB of weights + {acts * shards / 1e9:.2f} GB "
                         f"of activations leave {max(free, 0) / 1e9:.2f} GB of {cap * shards * utilization / 1e9:.2f} GB "
                         f"({shards} device(s) × {arch.backing.name} × {utilization}) for the KV cache, less than one "
                         f"block; use more devices (--tp/--pp), fewer weight bits or a higher --memory-utilization",
                         field="--model")
    return int(free // block), info


class BlockTable:
    """Blocks held per sequence (vectorised over sequence ids) and the free count."""

    def __init__(self, num_blocks: int, block_size: int, num_seqs: int) -> None:
        if num_blocks < 1 or block_size < 1:
            raise HwsimError("--kv-blocks and --block-size must be positive integers", field="--kv-blocks")
        self.capacity, self.block_size = int(num_blocks), int(block_size)
        self.held = np.zeros(num_seqs, dtype=np.int64)
        self.used = 0
        self.peak = 0

    def need(self, ids: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Extra blocks sequences `ids` need to hold `tokens` tokens each."""
        return np.maximum(-(-tokens // self.block_size) - self.held[ids], 0)

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def grow(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        extra = self.need(ids, tokens)
        total = int(extra.sum())
        assert total <= self.free, "scheduler allocated beyond the cache"
        self.held[ids] += extra
        self.used += total
        self.peak = max(self.peak, self.used)

    def release(self, ids) -> None:
        ids = np.atleast_1d(ids)
        self.used -= int(self.held[ids].sum())
        self.held[ids] = 0
