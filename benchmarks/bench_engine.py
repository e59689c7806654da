"""Engine speed: Llama-2-70B decode on 10,000 design points, and one GEMM through the closed form.

    python benchmarks/bench_engine.py

SCALE-Sim takes ~3 minutes for 256x4096x4096 on a 128x128 array and ~75 s for a 4096x4096 GEMV on
32x32 (REFERENCES.md, measured on these machines); the ratio below uses those times.
"""
from __future__ import annotations

import time

import numpy as np

from hwsim.arch import load_arch
from hwsim.engine import Precision, gemm_ops, sweep_cost
from hwsim.workload import load_model, trace

SCALESIM_SECONDS = {(256, 4096, 4096, 128): 180.0, (1, 4096, 4096, 32): 75.0}


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    tr = trace(load_model("llama-2-70b"), "decode", context=256)
    arch = load_arch("bitmod")
    grid = {"compute.rows": np.arange(8, 208, 8), "compute.cols": np.arange(4, 84, 4),
            "memory.dram.bandwidth": [f"{b} bit/cycle" for b in range(64, 1344, 64)]}
    n = np.prod([len(v) for v in grid.values()])
    t = best(lambda: sweep_cost(arch, grid, tr, Precision(weights=4.0625)), 3)
    print(f"sweep: Llama-2-70B decode ({len(tr.ops)} ops) x {n} design points: {t:.3f} s")
    for (m, nn, k, side), ss in SCALESIM_SECONDS.items():
        sys_arch = load_arch("tpu-like", {"compute.rows": side, "compute.cols": side, "compute.dataflow": "os"})
        ops = gemm_ops([("g", m, nn, k)])
        t1 = best(lambda: sys_arch.cost(ops), 20)
        print(f"GEMM {m}x{nn}x{k} on {side}x{side}: hwsim {t1 * 1e6:.0f} µs per call (whole engine), "
              f"SCALE-Sim ~{ss:.0f} s → {ss / t1:,.0f}x")
    from hwsim.families.systolic import stall_free_cycles

    t2 = best(lambda: stall_free_cycles("os", 256, 4096, 4096, 128, 128), 1000)
    print(f"closed form alone: {t2 * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
