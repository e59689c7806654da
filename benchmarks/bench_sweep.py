"""Sweep throughput: design points per second on a Llama-2-7B decode trace, end to end
(study → chunks → sweep_cost → Parquet parts → consolidated results → Pareto front).

    python benchmarks/bench_sweep.py [--points 100000] [--workers 1 2] [--arch bitmod|h100-sxm]

Target (issue 8): ≥ 100,000 points in ≤ 60 s on 2 cores; on the GPU with its kernel classes (fused
attention, per-type GEMM kernels; issue 16) ≥ 40,000 points/s on one core.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

# five swept fields per preset (n values each)
SWEEPS = {
    "bitmod": """
      compute.rows: {{min: 8, max: 256, num: {n}, integer: true}}
      compute.cols: {{min: 8, max: 256, num: {n}, integer: true}}
      memory.dram.bandwidth: {{min: "64 bit/cycle", max: "1024 bit/cycle", num: {n}}}
      memory.weight_sram.capacity: {{min: "64 KiB", max: "4 MiB", num: {n}, log: true}}
      clock: {{min: "0.5 GHz", max: "2 GHz", num: {n}}}""",
    "h100-sxm": """
      compute.sms: {{min: 32, max: 192, num: {n}, integer: true}}
      compute.tc_fma_fp16: {{min: 128, max: 1024, num: {n}, integer: true}}
      memory.hbm.bandwidth: {{min: "1 TB/s", max: "8 TB/s", num: {n}}}
      memory.l2.capacity: {{min: "8 MiB", max: "128 MiB", num: {n}, log: true}}
      clock: {{min: "1 GHz", max: "2.5 GHz", num: {n}}}""",
}
STUDY = """
name: bench
architectures:
  - preset: {arch}
    sweep:{sweep}
workloads:
  - {{model: llama-2-7b, phase: decode, context: 256}}
precisions: {{weights: [int4_g128]}}
objectives: [energy_j:min, seconds:min]
outputs: {{plot: false, chunk_size: 8192}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--arch", choices=sorted(SWEEPS), default="bitmod")
    args = ap.parse_args()
    from hwsim.study import load_study, n_points
    from hwsim.sweep import run_sweep

    n = round(args.points ** (1 / 5))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(STUDY.format(arch=args.arch, sweep=SWEEPS[args.arch].format(n=n)))
        study = load_study(path)
        pts = n_points(study.designs[0], study.sampler)
        for w in args.workers:
            t0 = time.perf_counter()
            res = run_sweep(study, Path(tmp) / f"out{w}", workers=w, progress=False)
            dt = time.perf_counter() - t0
            print(
                f"workers={w}: {pts:,} design points (Llama-2-7B decode, {args.arch}) in {dt:.2f} s "
                f"→ {pts / dt:,.0f} points/s; front {res.front_rows} rows"
            )


if __name__ == "__main__":
    main()
