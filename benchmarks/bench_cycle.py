"""Cycle engine speed: Llama-2-7B prefill (256 tokens) per family preset, and SCALE-Sim's recorded
wall times on the same GEMMs (tests/data/scalesim/runs.csv, purpose = timing).

    /work/venv/bin/python benchmarks/bench_cycle.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from timing import best_of

from hwsim.arch import load_arch
from hwsim.cycle import evaluate, scalesim_cycles
from hwsim.engine import Precision, gemm_ops
from hwsim.workload import load_model, trace

PRESETS = [
    ("tpu-like", Precision()),
    ("bitmod", Precision(weights=4.0625)),
    ("h100-sxm", Precision()),
    ("lut-tensor-core", Precision(weights="int4_g128")),
    ("tmac-m2-ultra", Precision(weights="int4_g128")),
    ("sail-n1", Precision(weights="int4_g128")),
    ("neural-cache", Precision(weights="int4_g128")),
    ("flightllm-u280", Precision(weights="int4_g128", activations="int8")),
]
RUNS = Path(__file__).resolve().parents[1] / "tests" / "data" / "scalesim" / "runs.csv"


def main():
    tr = trace(load_model("llama-2-7b"), "prefill", seq=256)
    evaluate(load_arch("tpu-like"), gemm_ops([("warm", 8, 64, 64)]))  # numba compile / cache load
    print("Llama-2-7B prefill 256 tokens, cycle engine (2-core sandbox)")
    for name, prec in PRESETS:
        arch = load_arch(name)
        wall, t = best_of(lambda: evaluate(arch, tr, prec), 1)
        cyc = t.totals["cycles"]
        print(f"  {name:<16} {wall:6.2f} s  {cyc:.3e} cycles  {cyc / wall:.2e} simulated cycles/s")
    runs = pd.read_csv(RUNS)
    timing = runs[runs.purpose == "timing"]
    print("SCALE-Sim timing GEMMs (stall-free): hwsim vs SCALE-Sim recorded wall time")
    for r in timing.itertuples():
        arch = load_arch(
            "tpu-like",
            {
                "compute.rows": int(r.rows),
                "compute.cols": int(r.cols),
                "compute.dataflow": r.dataflow,
                "memory.dram.bandwidth": "1e18",
            },
        )
        ops = gemm_ops([("g", int(r.M), int(r.N), int(r.K))])
        wall, t = best_of(lambda: evaluate(arch, ops))
        ours = scalesim_cycles(r.dataflow, r.M, r.N, r.K, r.rows, r.cols).total_cycles
        print(
            f"  {r.dataflow} {r.M}x{r.N}x{r.K} on {r.rows}x{r.cols}: SCALE-Sim {r.wall_seconds:.2f} s "
            f"({r.total_cycles} cycles), hwsim cycle engine {wall * 1e3:.1f} ms "
            f"({t.totals['compute_cycles']:.0f} cycles; closed form {ours}) → {r.wall_seconds / wall:,.0f}× faster"
        )
    user = runs[runs.bandwidth_mode == "USER"]
    wall, _ = best_of(
        lambda: [
            scalesim_cycles(
                r.dataflow,
                r.M,
                r.N,
                r.K,
                r.rows,
                r.cols,
                r.bandwidth_words,
                (r.ifmap_sram_kib, r.filter_sram_kib, r.ofmap_sram_kib),
            )
            for r in user.itertuples()
        ],
        1,
    )
    print(
        f"SCALE-Sim USER-mode model: {len(user)} runs in {wall:.2f} s (SCALE-Sim: {user.wall_seconds.sum():.1f} s)"
        f" → {user.wall_seconds.sum() / wall:,.0f}× faster, same cycles"
    )


if __name__ == "__main__":
    main()
