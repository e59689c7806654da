"""Engine speed: Llama-2-70B decode on 10,000 design points, and one GEMM through the closed form.

    python benchmarks/bench_engine.py

The SCALE-Sim ratio uses the wall times recorded with its runs (tests/data/scalesim/runs.csv, SCALE-Sim
3.0.0 on this sandbox); benchmarks/external/compare_scalesim.py times both tools in one run.
"""

from __future__ import annotations


import numpy as np

import pandas as pd

from timing import best_of

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops, sweep_cost
from hwsim.paths import REPO_ROOT
from hwsim.workload import load_model, trace
from hwsim.engine import evaluate


RUNS = REPO_ROOT / "tests" / "data" / "scalesim" / "runs.csv"


def main() -> None:
    tr = trace(load_model("llama-2-70b"), "decode", context=256)
    arch = load_arch("bitmod")
    grid = {
        "compute.rows": np.arange(8, 208, 8),
        "compute.cols": np.arange(4, 84, 4),
        "memory.dram.bandwidth": [f"{b} bit/cycle" for b in range(64, 1344, 64)],
    }
    n = np.prod([len(v) for v in grid.values()])
    t, _ = best_of(lambda: sweep_cost(arch, grid, tr, Precision(weights=4.0625)), 3)
    print(f"sweep: Llama-2-70B decode ({len(tr.ops)} ops) x {n} design points: {t:.3f} s")
    runs = pd.read_csv(RUNS)
    timed = runs[(runs["bandwidth_mode"] == "CALC")].nlargest(4, "wall_seconds")
    for r in timed.itertuples():
        sys_arch = load_arch(
            "tpu-like", {"compute.rows": r.rows, "compute.cols": r.cols, "compute.dataflow": r.dataflow}
        )
        ops = gemm_ops([("g", r.M, r.N, r.K)])
        t1, _ = best_of(lambda: evaluate(sys_arch, ops), 20)
        cycles = evaluate(sys_arch, ops).totals["compute_cycles"]
        assert cycles == r.total_cycles, (cycles, r.total_cycles)
        print(
            f"GEMM {r.M}x{r.N}x{r.K} {r.dataflow} on {r.rows}x{r.cols}: hwsim {t1 * 1e6:.0f} µs per call "
            f"(whole engine), SCALE-Sim {r.wall_seconds:.1f} s recorded → {r.wall_seconds / t1:,.0f}x, "
            f"same {cycles:,.0f} cycles"
        )
    from hwsim.families.systolic import stall_free_cycles

    t2, _ = best_of(lambda: stall_free_cycles("os", 256, 4096, 4096, 128, 128), 1000)
    print(f"closed form alone: {t2 * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
