"""The machine a serving step runs on: CUDA-graph replay, not eager kernel calls.

Serving engines replay their decode steps as CUDA graphs (vLLM's default for decode batches, TensorRT-LLM's
CUDA graphs), so a kernel does not pay what only an eager call from the host pays. The GPU presets' fixed
time per 8/4-bit GEMM (`compute.overhead_8bit`: the H100's 26.4 us) was fitted on torch._scaled_mm calls timed
one eager call at a time (hwsim/data/gpu/h100-sxm-kernels.csv; docs/gpu.md), and the presets fitted elsewhere
already set it to 0 for that reason (h200-sxm.yaml, b200.yaml). Every serving entry (`generate`, `serve`, a
study's serving workloads) costs its steps on `graph_replay(arch)`; `--eager-kernels` (study key
`eager_kernels`) keeps the fixed time as fitted. `hwsim simulate`, `roofline` and `calibrate` model a kernel as
it was timed and keep it.

`compute.launch_overhead` stays as fitted: what a kernel launch costs inside a graph replay has not been
measured here (benchmarks/gpu_microbench.py --graph 20 measures it).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwsim.core.spec import Accelerator

#: the spec fields whose fitted value is a cost of eager calls only (set to 0 under graph replay)
EAGER_ONLY = ("compute.overhead_8bit",)


def graph_replay(arch: Accelerator, given: Collection[str] = ()) -> Accelerator:
    """`arch` with its eager-only fixed times at 0 (EAGER_ONLY), except the fields in `given` (set by the user:
    --set, a study's overrides or swept parameters), which keep their value. A family without them is returned
    as is."""
    zero = {p: 0.0 for p in EAGER_ONLY if p not in given and p.split(".", 1)[1] in arch.compute}
    return arch.with_values(zero) if zero else arch
