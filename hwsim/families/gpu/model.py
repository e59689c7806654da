"""GPUs: SMs with tensor cores, L2 and off-chip DRAM (HBM or GDDR), as the kernels a serving stack launches.

Tensor peak = SMs × tensor cores per SM × dense FMA per core per cycle × 2 × clock (A100: 108·4·256·2·
1.41 GHz = 312 TFLOPS; H100 SXM: 132·4·512·2·1.83 GHz = 989 TFLOPS). Each preset lists its tensor-core
rate per input type (`tc_fma_<type>`, from the datasheet; an omitted type has no tensor path). A GEMM
runs at the rate of the narrowest type that both operands convert to losslessly and the GPU supports
(hwsim.families.gpu.types). Linear ops pair activations with weights, attention with the KV cache.

Kernel classes (mechanisms and sources in hwsim.families.gpu.kernels), chosen per op and precision:
- dense GEMM on the tensor cores: `compute_efficiency` for 16/19-bit types, `compute_efficiency_8bit`
  (and the extra fixed time `overhead_8bit`) for 8- and 4-bit types;
- weight-only GEMM (weights narrower than the type the pair runs at, dequantised in registers):
  `weight_only_kernel: marlin` (tensor cores at the activation type, low-bit weight bytes) or `gemv`
  (CUDA cores, `gemv_efficiency`, extra fixed time `gemv_overhead`);
- fused attention (one kernel per layer: the family's default `attention = "fused"`, so the engine
  re-expresses traces with one attn_fused row per layer, hwsim.engine.attention), at the attention pair's
  tensor efficiency; a spec with `attention: unfused` runs qk and av as batched tensor-core GEMMs;
- elementwise kernels on the CUDA cores, usually HBM-bound.
Every kernel takes max(compute, memory) + `launch_overhead` (+ its class's extra fixed time); an op
folded into a fused kernel (softmax/av rows, count 0) launches none. Fitted fields (hwsim.engine.calibrate):
compute_efficiency, compute_efficiency_8bit, overhead_8bit, gemv_efficiency, gemv_overhead,
sm_bandwidth, launch_overhead and the off-chip level's efficiency (the first memory level, whatever a
preset names it: memory.hbm.efficiency on HBM GPUs, memory.gddr.efficiency on GDDR ones). Energy: the
board's power × time (static_power = TDP; assumed: a busy GPU draws about its TDP).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from hwsim.core.schema import Field
from hwsim.families.base import Family
from hwsim.families.common import vector_cycles
from hwsim.families.gpu.kernels import attention_cycles, gemm_cycles, gemv_cycles, split_k
from hwsim.families.gpu.types import TC_RATE_FIELDS, pair_fma, pair_types

if TYPE_CHECKING:
    from hwsim.core.ops import OpColumns
    from hwsim.core.precision import OperandType, ResolvedPrecision
    from hwsim.core.spec import Accelerator

# fields a calibration fits (hwsim.engine.calibrate); every other field comes from a datasheet. `{backing}`
# stands for the off-chip level's name (hbm, gddr: the first memory level, named for its technology): the
# role is fitted, not a name (fitted_path)
BACKING = "{backing}"
FITTED = (
    "compute.compute_efficiency",
    "compute.compute_efficiency_8bit",
    "compute.overhead_8bit",
    "compute.gemv_efficiency",
    "compute.gemv_overhead",
    "compute.sm_bandwidth",
    "compute.launch_overhead",
    f"memory.{BACKING}.efficiency",
)


def fitted_path(arch: Accelerator, path: str) -> str:
    """The spec path of fitted field `path` (one of FITTED) in `arch`: the off-chip level under its own name."""
    return path.replace(BACKING, arch.backing.name)


class Gpu(Family):
    name = "gpu"
    attention = "fused"
    attention_source = (
        "FlashAttention (Dao et al., NeurIPS 2022) and FlashAttention-2 (Dao, ICLR 2024): the fused "
        "attention kernels vLLM, TensorRT-LLM and SGLang run on NVIDIA GPUs; scores stay in SRAM"
    )
    fused_attention_kernel = True  # attn_fused rows: hwsim.families.gpu.kernels.attention_cycles
    cycle_model = "hwsim.families.gpu.cycle"
    params = {
        "sms": Field("int", doc="streaming multiprocessors (AMD: compute units)"),
        "tensor_cores_per_sm": Field("int"),
        **TC_RATE_FIELDS,
        "cuda_cores_per_sm": Field(
            "int",
            required=False,
            default=128,
            doc="fp32 lanes per SM: elementwise ops, GEMV-style kernels and GEMMs no tensor type holds",
        ),
        "sfu_per_sm": Field(
            "int",
            required=False,
            default=16,
            doc="special-function (exp2) results per SM per clock: fused attention's softmax",
        ),
        "tile_m": Field("int", required=False, default=128, doc="CTA tile rows (tokens)"),
        "tile_n": Field("int", required=False, default=128, doc="CTA tile columns (outputs)"),
        "mma_rows": Field(
            "int",
            required=False,
            default=None,
            doc="skinny GEMMs (m < tile_m) get CTA tiles of m rounded up to this many rows "
            "(default: tile_m, i.e. fixed tiles)",
        ),
        "compute_efficiency": Field(
            "dimensionless",
            required=False,
            default=1.0,
            maximum=1.0,
            doc="achieved / peak tensor rate of 16-bit GEMM and attention kernels",
        ),
        "compute_efficiency_8bit": Field(
            "dimensionless",
            required=False,
            default=None,
            maximum=1.0,
            doc="achieved / peak tensor rate of 8- and 4-bit GEMMs (default: compute_efficiency)",
        ),
        "overhead_8bit": Field(
            "time",
            required=False,
            default=0.0,
            positive=False,
            doc="extra fixed time of an 8/4-bit GEMM kernel (scales, amax)",
        ),
        "weight_only_kernel": Field(
            "choice",
            required=False,
            default="marlin",
            choices=("marlin", "gemv"),
            doc="kernel for weights narrower than the pair's type",
        ),
        "gemv_efficiency": Field(
            "dimensionless",
            required=False,
            default=0.5,
            maximum=1.0,
            doc="achieved / peak CUDA-core FMA rate of GEMV-style weight-only kernels",
        ),
        "gemv_overhead": Field(
            "time",
            required=False,
            default=0.0,
            positive=False,
            doc="extra fixed time of a GEMV-style weight-only kernel",
        ),
        "sm_bandwidth": Field(
            "bytes_per_cycle", required=False, default=float("inf"), doc="bytes one SM streams per clock (Little's law)"
        ),
        "attention_mma_rate": Field(
            "dimensionless",
            required=False,
            default=1.0,
            maximum=1.0,
            doc="fraction of the tensor peak the attention kernel's MMA instructions reach",
        ),
        "attention_split_kv": Field(
            "bool", required=False, default=True, doc="decode attention splits the keys over idle SMs (Flash-Decoding)"
        ),
        "launch_overhead": Field("time", required=False, default=0.0, positive=False, doc="fixed time per kernel"),
        "graph_launch_overhead": Field(
            "time",
            required=False,
            default=None,
            positive=False,
            doc="fixed time per kernel inside a CUDA-graph replay, the serving commands' launch_overhead "
            "(hwsim.serve.graphs; default: launch_overhead)",
        ),
        "die_area": Field("area", doc="die area"),
    }

    @staticmethod
    def _rate(arch: Accelerator, a: OperandType, b: OperandType) -> float | np.ndarray:
        """MACs per cycle per SM of an a × b GEMM (before efficiency): tensor cores at the pair's
        type, or the CUDA cores when no supported tensor type holds both operands."""
        c = arch.compute
        fma = pair_fma(c, a, b)
        return c["cuda_cores_per_sm"] if fma is None else c["tensor_cores_per_sm"] * fma

    @staticmethod
    def _width(arch: Accelerator, a: OperandType, b: OperandType) -> int | None:
        """Bits of the tensor type an a × b product runs at (None: CUDA cores)."""
        types = pair_types(arch.compute, a, b)
        return types[0].width if types else None

    def _efficiency(self, arch: Accelerator, a: OperandType, b: OperandType) -> float | np.ndarray:
        c = arch.compute
        w = self._width(arch, a, b)
        eight = c["compute_efficiency"] if c["compute_efficiency_8bit"] is None else c["compute_efficiency_8bit"]
        return eight if (w is not None and w <= 8) else c["compute_efficiency"]

    def weight_only(self, arch: Accelerator, prec: ResolvedPrecision) -> bool:
        """Whether linear ops dequantise the weights: they are narrower than the type the pair runs at."""
        w = self._width(arch, prec.activations, prec.weights)
        return w is not None and prec.weights.element_bits < w

    def configure(self, arch: Accelerator, prec: ResolvedPrecision) -> tuple[Accelerator, ResolvedPrecision]:
        """Per-precision kernel class of the linear ops: its fixed time (`_linear_fixed`) and whether it
        is the GEMV-style weight-only kernel (`_gemv`), so latency() needs no precision."""
        c = arch.compute
        w = self._width(arch, prec.activations, prec.weights)
        gemv = self.weight_only(arch, prec) and c["weight_only_kernel"] == "gemv"
        extra = c["gemv_overhead"] if gemv else (c["overhead_8bit"] if (w is not None and w <= 8) else 0.0)
        # derived keys, not spec fields: set on the compute mapping directly (with_values takes spec paths only)
        return replace(arch, compute={**c, "_gemv": gemv, "_linear_fixed": c["launch_overhead"] + extra}), prec

    def peak_macs_per_cycle(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        return arch.compute["sms"] * self._rate(arch, prec.activations, prec.weights)

    def peak_flops(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        return 2 * self.peak_macs_per_cycle(arch, prec) * arch.clock_hz

    def compute_cycles(self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision) -> np.ndarray:
        c = arch.compute
        a, w, kv = prec.activations, prec.weights, prec.kv
        linear = gemm_cycles(c, ops, self._rate(arch, a, w), self._efficiency(arch, a, w))
        if c.get("_gemv", False):
            linear = gemv_cycles(c, ops)
        lanes = c["sms"] * c["cuda_cores_per_sm"]
        attention = ops.is_attention
        gemm = linear
        if attention.any():  # attention kernels priced only where there are attention ops
            kv_bytes = ops.kv_read_elems * ops.kv_bits(kv) / 8
            rate, eff = self._rate(arch, a, kv), self._efficiency(arch, a, kv)
            att = attention_cycles(c, ops, rate, eff, kv_bytes, c["attention_split_kv"])
            unfused = attention & ~ops.fused_attention() if ops.op is not None else np.zeros_like(attention)
            if unfused.any():  # an arch with `attention: unfused` runs qk and av as batched GEMMs
                att = np.where(unfused, gemm_cycles(c, ops, rate, eff), att)
            gemm = np.where(attention, att, linear)
        return np.where(ops.gemm & (ops.macs > 0), gemm, 0.0) + vector_cycles(ops, lanes)

    batch_pipeline = True  # the cycle model streams every instance of an op at once (hwsim.sim.models.stream_op)
    # on (the base default): both engines expose a kernel's k-sliced start-up and drain (tile_shape), so the
    # analytical engine agrees with the cycle engine; the H100 fit is made with it (docs/cycle.md, docs/gpu.md)

    def tile_shape(self, arch: Accelerator, ops: OpColumns) -> tuple:
        """One wave: every output, its reduction (depth k) streamed in K_STEP-deep slices (CTAs stepping
        through k; hwsim.sim.blocking.k_slice_ends, hwsim.sim.models.stream_op): the first slice's load
        and the last slices' compute are what the shared rule would expose. A fused attention kernel's k
        is the keys: its queries (A) load whole before the first key block (FlashAttention-2 keeps the Q
        tile on chip). A split-K GEMM's CTAs each reduce k / split (kernels.split_k), so that is the depth
        they stream; GEMV-style and fused attention kernels stream the whole k."""
        fused = ops.fused_attention()
        gemv = arch.compute.get("_gemv", False) & ~ops.is_attention
        depth = np.where(fused | gemv, ops.k, ops.k / split_k(arch.compute, ops))
        return ops.m, ops.n, depth, fused

    def latency(self, arch: Accelerator, ops: OpColumns, compute: np.ndarray, memory: np.ndarray) -> np.ndarray:
        c = arch.compute
        fixed = np.where(ops.is_kind("linear"), c.get("_linear_fixed", c["launch_overhead"]), c["launch_overhead"])
        # every op is one kernel launch except the rows folded into a fused attention kernel (count 0); a
        # fused attention kernel launches once even when empty (serving's varlen kernel at zero sequences)
        launches = (ops.count > 0) | ops.fused_attention()
        return np.maximum(compute, memory) + np.where(launches, fixed * arch.clock_hz, 0.0)

    def compute_energy(
        self, arch: Accelerator, ops: OpColumns, prec: ResolvedPrecision, compute_cycles: np.ndarray
    ) -> np.ndarray:
        return np.zeros_like(compute_cycles)  # all power is accounted as static_power × time

    def area_mm2(self, arch: Accelerator, prec: ResolvedPrecision) -> float | np.ndarray:
        return arch.compute["die_area"] * 1e6
