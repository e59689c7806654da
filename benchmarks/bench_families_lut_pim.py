"""Speed of the lut and pim families: Llama-2-70B decode over 10,000 design points each (sweep_cost).

python benchmarks/bench_families_lut_pim.py
"""

from __future__ import annotations

import time

import numpy as np

from hwsim.arch import load_arch
from hwsim.engine import Precision, sweep_cost
from hwsim.workload import load_model, trace

GRIDS = {  # 25 x 20 x 20 = 10,000 points each
    "lut-tensor-core": {
        "compute.cores": np.arange(8, 208, 8),
        "compute.tile_n": np.arange(8, 168, 8),
        "memory.hbm.bandwidth": [f"{b} GB/s" for b in range(200, 4200, 200)],
    },
    "tmac-m2-ultra": {
        "compute.cores": np.arange(1, 26),
        "compute.simd_pipes": np.arange(1, 21),
        "memory.dram.bandwidth": [f"{b} GB/s" for b in range(40, 840, 40)],
    },
    "neural-cache": {
        "compute.slices": np.arange(2, 52, 2),
        "compute.arrays": np.arange(32, 672, 32),
        "memory.dram.bandwidth": [f"{b} GB/s" for b in range(20, 420, 20)],
    },
    "sail-n1": {
        "compute.slices": np.arange(2, 52, 2),
        "compute.lut_lanes": np.arange(4, 84, 4),
        "memory.dram.bandwidth": [f"{b} GB/s" for b in range(20, 420, 20)],
    },
}


def main() -> None:
    tr = trace(load_model("llama-2-70b"), "decode", context=256)
    prec = Precision(weights="int4_g128", activations="int8")
    for name, grid in GRIDS.items():
        arch = load_arch(name)
        n = int(np.prod([len(v) for v in grid.values()]))
        best = min(_timed(lambda: sweep_cost(arch, grid, tr, prec)) for _ in range(3))
        df = sweep_cost(arch, grid, tr, prec)
        print(
            f"{name:16s} ({arch.family}): Llama-2-70B decode ({len(tr.ops)} ops) x {n} points: {best:.3f} s; "
            f"fastest point {df['seconds'].min() * 1e3:.2f} ms/token"
        )


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
