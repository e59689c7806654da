"""GPUs: SMs with tensor cores, L2 and HBM, as one kernel per op.

Tensor peak = SMs × tensor cores per SM × dense FMA per core per cycle × 2 × clock (A100: 108·4·256·2·
1.41 GHz = 312 TFLOPS; H100 SXM: 132·4·512·2·1.83 GHz = 989 TFLOPS). Each preset lists its tensor-core
rate per input type (`tc_fma_<type>`, from the datasheet; an omitted type has no tensor path). A GEMM
runs at the rate of the narrowest type that both operands convert to losslessly and the GPU supports
(hwsim.families.gpu.types): int4 weights × fp16 activations dequantise to fp16; int8 × int8 takes the
int8 path where there is one (A100, H100) and fp16 where not (V100S); fp8 × fp8 runs at the fp8 rate
on H100 and at the fp16 rate on A100, which has no fp8 tensor cores. Pairs no tensor type holds
(fp32) run on the CUDA cores. Linear ops pair activations with weights, attention with the KV cache.

Per GEMM (one kernel): output tiles of tile_m × tile_n (fewer rows for skinny GEMMs: m rounded up to
`mma_rows`) are spread over the SMs in waves (tile and
wave quantisation; split-K when tiles are fewer than SMs, down to 256-deep slices), each tile at `compute_efficiency` of the SM's tensor peak; memory time comes
from the shared memory model at the HBM's achievable bandwidth (memory.hbm.efficiency); the kernel
takes max(compute, memory) plus `launch_overhead`. compute_efficiency, the HBM efficiency and
launch_overhead are calibrated on measured times (hwsim.engine.calibrate). Energy: the board's
power × time (static_power = TDP; assumed: a busy GPU draws about its TDP).
"""
from __future__ import annotations

import numpy as np

from hwsim.core.schema import Field
from hwsim.families.base import Family
from hwsim.families.common import cdiv, vector_cycles
from hwsim.families.gpu.types import TC_RATE_FIELDS, pair_fma


class Gpu(Family):
    name = "gpu"
    attention = "fused"
    attention_source = ("FlashAttention (Dao et al., NeurIPS 2022) and FlashAttention-2 (Dao, ICLR 2024): the fused "
                        "attention kernels vLLM, TensorRT-LLM and SGLang run on NVIDIA GPUs; scores stay in SRAM")
    cycle_model = "hwsim.families.gpu.cycle"
    params = {
        "sms": Field("int", doc="streaming multiprocessors"),
        "tensor_cores_per_sm": Field("int"),
        **TC_RATE_FIELDS,
        "cuda_cores_per_sm": Field("int", required=False, default=128,
                                   doc="fp32 lanes per SM: elementwise ops and GEMMs no tensor type holds"),
        "tile_m": Field("int", required=False, default=128, doc="CTA tile rows (tokens)"),
        "tile_n": Field("int", required=False, default=128, doc="CTA tile columns (outputs)"),
        "mma_rows": Field("int", required=False, default=None,
                          doc="skinny GEMMs (m < tile_m) get CTA tiles of m rounded up to this many rows "
                              "(default: tile_m, i.e. fixed tiles)"),
        "compute_efficiency": Field("dimensionless", required=False, default=1.0, doc="achieved / peak tensor rate"),
        "launch_overhead": Field("time", required=False, default=0.0, positive=False, doc="fixed time per kernel"),
        "die_area": Field("area", doc="die area"),
    }

    @staticmethod
    def _rate(arch, a, b):
        """MACs per cycle per SM of an a × b GEMM (before efficiency): tensor cores at the pair's
        type, or the CUDA cores when no supported tensor type holds both operands."""
        c = arch.compute
        fma = pair_fma(c, a, b)
        return c["cuda_cores_per_sm"] if fma is None else c["tensor_cores_per_sm"] * fma

    def _op_rate(self, arch, ops, prec):
        """Per-op rate: linear ops multiply activations by weights, attention by the KV cache."""
        return np.where(ops.kind == "attention", self._rate(arch, prec.activations, prec.kv),
                        self._rate(arch, prec.activations, prec.weights))

    @staticmethod
    def _mma_rows(c):
        return c["tile_m"] if c["mma_rows"] is None else c["mma_rows"]

    def peak_macs_per_cycle(self, arch, prec):
        return arch.compute["sms"] * self._rate(arch, prec.activations, prec.weights)

    def peak_flops(self, arch, prec):
        return 2 * self.peak_macs_per_cycle(arch, prec) * arch.clock_hz

    def compute_cycles(self, arch, ops, prec):
        c = arch.compute
        tiles = cdiv(ops.m, c["tile_m"]) * cdiv(ops.n, c["tile_n"]) * ops.count
        # skinny GEMMs (decode GEMVs) run kernels whose tile covers only the rows present, down to the
        # MMA row granularity, instead of a full tile_m of padded rows
        tile_m = np.minimum(c["tile_m"], cdiv(ops.m, self._mma_rows(c)) * self._mma_rows(c))
        # split-K: with fewer tiles than SMs the reduction is split to occupy them (cuBLAS split-K/stream-K)
        split = np.clip(np.floor(c["sms"] / tiles), 1.0, np.maximum(ops.k / 256.0, 1.0))
        waves = cdiv(tiles * split, c["sms"])
        per_tile = tile_m * c["tile_n"] * (ops.k / split) / (self._op_rate(arch, ops, prec) * c["compute_efficiency"])
        lanes = c["sms"] * c["cuda_cores_per_sm"]
        return np.where(ops.gemm, waves * per_tile, 0.0) + vector_cycles(ops, lanes)

    def latency(self, arch, ops, compute, memory):
        return np.maximum(compute, memory) + arch.compute["launch_overhead"] * arch.clock_hz

    def compute_energy(self, arch, ops, prec, compute_cycles):
        return np.zeros_like(compute_cycles)  # all power is accounted as static_power × time

    def area_mm2(self, arch, prec):
        return arch.compute["die_area"] * 1e6

