"""Serving-study throughput: 1,000 serving design points (each replays a request stream on its own machine)
with the Dask executor on two workers, end to end (study → tasks → replays → Parquet → Pareto front).

    python benchmarks/bench_serve_sweep.py [--points 1000] [--executor dask] [--workers 2] [--requests 20]

Issue 18 asks for the figure (no target). Design points: BitMoD arrays (rows × cols × DRAM bandwidth), each
replaying a Poisson stream of Llama-2-7B requests (int4_g128, 8 sequences, a 2,048-block cache).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

STUDY = """
name: bench-serve
architectures:
  - preset: bitmod
    sweep:
      compute.rows: {{min: 8, max: 256, num: {n}, integer: true}}
      compute.cols: {{min: 8, max: 256, num: {n}, integer: true}}
      memory.dram.bandwidth: {{min: "64 bit/cycle", max: "1024 bit/cycle", num: {n}}}
workloads:
  - kind: serving
    model: llama-2-7b
    requests: {{rate: 1.0, num_requests: {requests}, input_len: "lognormal:256:0.5", output_len: "lognormal:32:0.5"}}
    max_num_seqs: 8
    kv_blocks: 2048
precisions: {{weights: int4_g128}}
objectives: [tpot_p99_s:min, area_mm2:min]
outputs: {{plot: false, chunk_size: {chunk}}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--executor", choices=["local", "dask"], default="dask")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=25, help="design points per task")
    args = ap.parse_args()
    from hwsim.study import load_study, n_points
    from hwsim.sweep import run_sweep

    n = round(args.points ** (1 / 3))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(STUDY.format(n=n, requests=args.requests, chunk=args.chunk))
        study = load_study(path)
        pts = n_points(study.designs[0], study.sampler)
        t0 = time.perf_counter()
        res = run_sweep(study, Path(tmp) / "out", workers=args.workers, executor=args.executor, progress=False)
        dt = time.perf_counter() - t0
        t = res.table()
        print(
            f"{args.executor} × {args.workers} workers: {pts:,} serving design points ({args.requests} Llama-2-7B "
            f"requests each, {int(t['iterations'].sum()):,} scheduler iterations in all) in {dt:.1f} s → "
            f"{pts / dt:.1f} points/s; {int(t['feasible'].sum())} feasible, front {res.front_rows} rows"
        )


if __name__ == "__main__":
    main()
