"""GPU kernel classes: the cycles of one kernel of each class a serving stack launches.

Every function is numpy with broadcasting (ops along the last axis, design points along the first)
and returns SM cycles of the compute side; the engine's shared memory model adds the HBM side and the
family takes max(compute, memory) + the class's fixed time. Mechanisms and their sources:

- **Tile and wave quantisation** (dense GEMM): output tiles of tile_m × tile_n are spread over the SMs
  in waves (CUTLASS/cuBLAS CTA tiling; NVIDIA "Matrix Multiplication Background User's Guide", sections
  "Tile Quantization" and "Wave Quantization"). Skinny GEMMs tile down to m rounded up to `mma_rows`.
- **Split-K** (CUTLASS split-K / stream-K, Osama et al. PPoPP 2023): with fewer tiles than SMs the
  reduction is split (down to 256-deep slices) so that every SM works; each CTA streams its k / split
  (the depth the shared start-up/drain rule slices, Gpu.tile_shape).
- **Weight-only low-bit GEMM**: `marlin` (Frantar et al., "MARLIN", PPoPP 2025): weights stay low-bit in
  HBM and are dequantised in registers, the MMAs run on the tensor cores at the activation type, so the
  kernel is the dense GEMM with low-bit weight bytes. `gemv` (torch's int4 "tinygemm", gpt-fast): the
  weights are dequantised per output row on the CUDA cores, so time grows with M (the measured H100
  rows grow linearly from M = 4); its rate is a fitted fraction of the CUDA-core FMA rate.
- **Fused attention** (FlashAttention-2, Dao 2023; Flash-Decoding, Dao et al. 2023): one CTA per
  tile_m query rows of each (sequence, KV head) (GQA packing); a causal kernel skips key blocks wholly
  above the diagonal, so it does ≈ (C + (T + tile_m)/2)/(C + T) of the dense work (block granularity);
  the softmax exponentials run on the special-function units (`sfu_per_sm` per clock, CUDA C++
  Programming Guide, arithmetic instruction throughput: 16 per SM per clock for exp2 on cc 7.x–9.0)
  *after* each block's MMAs (not overlapped in FlashAttention-2; FlashAttention-3, Shah et al. 2024,
  §1); a decode kernel splits the keys over idle SMs (`attention_split_kv`, Flash-Decoding).
- **Per-SM streaming rate**: a CTA streams its operands at most at `sm_bandwidth` bytes per clock (Little's
  law: bytes in flight per SM / memory latency), so a kernel with few CTAs (unsplit decode attention)
  does not reach the HBM peak however few bytes it moves.
- **Launch and fixed time** per kernel (`launch_overhead`, plus class extras): with HBM time it is the
  latency term of achievable bandwidth, bytes / (fixed + bytes / bandwidth): small transfers do not
  reach peak. L2 residency is the engine's memory model (an operand that fits L2 is read from HBM once).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hwsim.core.ops import OpColumns
from hwsim.families.common import cdiv

SPLIT_K_MIN = 256.0  # deepest split: 256-deep K slices (assumed: CUTLASS split-K keeps slices >= 256)


def gemm_tiles(c: Mapping[str, Any], ops: OpColumns) -> np.ndarray:
    """Output tiles (CTAs before split-K) of a dense GEMM op, every instance included."""
    return np.maximum(cdiv(ops.m, c["tile_m"]) * cdiv(ops.n, c["tile_n"]) * ops.count, 1.0)


def split_k(c: Mapping[str, Any], ops: OpColumns, tiles: np.ndarray | None = None) -> np.ndarray:
    """Ways a dense GEMM's reduction is split (split-K: fewer tiles than SMs), each CTA reducing k / split."""
    tiles = gemm_tiles(c, ops) if tiles is None else tiles
    return np.clip(np.floor(c["sms"] / tiles), 1.0, np.maximum(ops.k / SPLIT_K_MIN, 1.0))


def gemm_cycles(
    c: Mapping[str, Any], ops: OpColumns, macs_per_cycle: float | np.ndarray, efficiency: float | np.ndarray
) -> np.ndarray:
    """Dense tensor-core GEMM: waves of tiles (split-K when tiles < SMs), each tile at `macs_per_cycle`
    (per SM) × `efficiency`."""
    mma = c["tile_m"] if c["mma_rows"] is None else c["mma_rows"]
    tiles = gemm_tiles(c, ops)
    tile_m = np.minimum(c["tile_m"], cdiv(ops.m, mma) * mma)
    split = split_k(c, ops, tiles)
    waves = cdiv(tiles * split, c["sms"])
    return waves * tile_m * c["tile_n"] * (ops.k / split) / (macs_per_cycle * efficiency)


def gemv_cycles(c: Mapping[str, Any], ops: OpColumns) -> np.ndarray:
    """Weight-only GEMV-style kernel: every MAC on the CUDA cores at `gemv_efficiency` of their FMA rate."""
    return ops.macs / (c["sms"] * c["cuda_cores_per_sm"] * c["gemv_efficiency"])


def causal_fraction(ops: OpColumns, block: float | np.ndarray) -> np.ndarray:
    """Fraction of the dense m × k score blocks a causal kernel computes. New tokens T are the query rows
    that are not GQA-packed copies: T = min(m, k), exact for a prefill without cache (m = T·group ≥ k = T)
    and for decode (T = group heads, whose mask removes < group/(C + group) of the work)."""
    t = np.minimum(ops.m, ops.k)
    c = ops.k - t
    frac = (c + (t + block) / 2.0) / np.maximum(ops.k, 1.0)
    return np.where(t > 1, np.clip(frac, 0.0, 1.0), 1.0)


def attention_cycles(
    c: Mapping[str, Any],
    ops: OpColumns,
    macs_per_cycle: float | np.ndarray,
    efficiency: float | np.ndarray,
    kv_bytes: np.ndarray,
    split_kv: bool | np.ndarray,
) -> np.ndarray:
    """Fused attention (FlashAttention-2 / Flash-Decoding): per CTA, the block MMAs at the tensor rate
    (× `attention_mma_rate`), then the softmax (exponentials on the SFUs, its other vector ops on the CUDA
    cores), or the K/V stream at the per-SM rate if slower; CTAs in waves."""
    frac = causal_fraction(ops, c["tile_m"])
    qblocks = np.maximum(cdiv(ops.m, c["tile_m"]) * ops.count, 1.0)  # CTAs before any split
    kblocks = np.maximum(cdiv(ops.k, c["tile_n"]), 1.0)
    split = np.where(split_kv, np.clip(np.floor(c["sms"] / qblocks), 1.0, kblocks), 1.0)
    waves = cdiv(qblocks * split, c["sms"])
    # one CTA's share: its query block over ceil(kblocks / split) key blocks (padded to whole blocks)
    share = frac * cdiv(kblocks, split) * c["tile_n"] / np.maximum(ops.k, 1.0) / qblocks
    mma = ops.macs * share / (macs_per_cycle * efficiency * c["attention_mma_rate"])
    exp = ops.count * ops.m * ops.k * share / c["sfu_per_sm"] + ops.vector_ops * share / c["cuda_cores_per_sm"]
    stream = kv_bytes * share * cdiv(ops.m, c["tile_m"]) / c["sm_bandwidth"]
    return waves * np.maximum(mma + exp, stream)
