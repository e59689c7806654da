"""The machine a serving step runs on: CUDA-graph replay, not eager kernel calls.

Serving engines replay their decode steps as CUDA graphs (vLLM's default for decode batches, TensorRT-LLM's
CUDA graphs), so a kernel does not pay what only an eager call from the host pays. The GPU presets' fixed
times were fitted on kernels timed one eager call at a time (hwsim/data/gpu/h100-sxm-kernels.csv; docs/gpu.md):
- `compute.overhead_8bit` (the H100's 26.4 us per 8/4-bit GEMM: torch._scaled_mm's scale handling and
  dispatch) is 0 under a replay; the presets fitted elsewhere already set it to 0 (h200-sxm.yaml, b200.yaml).
- `compute.launch_overhead` (8.03 us per kernel on the H100 fit) is what one timed torch call sees: host
  dispatch, the launch and the kernel's start and end. A replay submits the whole step at once, so the host
  part goes, but the GPU still starts and retires one kernel after another: a replay charges each kernel the
  preset's `compute.graph_launch_overhead` instead (the H100 preset's 1.3 us: Hazy Research's measurement of
  kernel launch and teardown inside CUDA graphs on an H100, the source in h100-sxm.yaml). A preset without
  it keeps launch_overhead.
Every serving entry (`generate`, `serve`, a study's serving workloads) costs its steps on `graph_replay(arch)`;
`--eager-kernels` (study key `eager_kernels`) keeps the eager values as fitted. `hwsim simulate`, `roofline`
and `calibrate` model a kernel as it was timed and keep them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwsim.core.spec import Accelerator

#: the spec fields whose fitted value is a cost of eager calls, and what a graph replay charges instead: the
#: value of another field of the spec (its path), or 0 (None)
EAGER_ONLY: dict[str, str | None] = {
    "compute.overhead_8bit": None,
    "compute.launch_overhead": "compute.graph_launch_overhead",
}


def graph_replay(arch: Accelerator, given: Collection[str] = ()) -> Accelerator:
    """`arch` with its eager-only fixed times (EAGER_ONLY) at their graph-replay values, except the fields in
    `given` (set by the user: --set, a study's overrides or swept parameters), which keep their value. A field
    whose graph value the spec leaves unset (None) keeps its own; a family without them is returned as is."""
    c = arch.compute
    values: dict[str, object] = {}
    for path, graph in EAGER_ONLY.items():
        field = path.split(".", 1)[1]
        if path in given or field not in c:
            continue
        value = 0.0 if graph is None else c.get(graph.split(".", 1)[1])
        if value is not None:
            values[path] = value
    return arch.with_values(values) if values else arch
