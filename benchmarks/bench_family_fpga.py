"""FPGA family speed: Llama-2-70B decode on 10,000 design points (DSPs × chain length × LUT lanes ×
HBM bandwidth), feasibility and utilisation columns included.

    python benchmarks/bench_family_fpga.py
"""

from __future__ import annotations

import time

import numpy as np

from hwsim.arch import load_arch
from hwsim.engine import Precision, sweep_cost
from hwsim.workload import load_model, trace


def main() -> None:
    tr = trace(load_model("llama-2-70b"), "decode", context=256)
    arch = load_arch("v80")
    grid = {
        "compute.dsps": np.arange(512, 13_312, 512),
        "compute.chain_length": [4, 8, 16, 32],
        "compute.lut_macs": [0, 4096, 16384, 65536, 131072],
        "memory.hbm.bandwidth": [f"{b} GB/s" for b in range(410, 1230, 41)],
    }
    n = int(np.prod([len(v) for v in grid.values()]))
    prec = Precision(weights="int4_g128", activations="int8", kv="int8")
    times = []
    for _ in range(3):
        t = time.perf_counter()
        df = sweep_cost(arch, grid, tr, prec)
        times.append(time.perf_counter() - t)
    print(
        f"fpga sweep: Llama-2-70B decode ({len(tr.ops)} ops) x {n} design points: {min(times):.3f} s "
        f"({df['feasible'].mean():.0%} feasible; limits: {df['limiting_resource'].value_counts().to_dict()})"
    )


if __name__ == "__main__":
    main()
