"""Allocation speed: Llama-2-70B decode, 80 layers × 7 linear ops = 560 units × 8 formats.

Targets (issue 7): one solve to proven optimality ≤ 2 s; a 20-point budget sweep ≤ 20 s (2 cores).
Building the problem (8 engine evaluations + accuracy costs on synthetic samples) is timed apart.
Run: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_allocate.py
"""

from __future__ import annotations

import time

from hwsim.allocate import build_problem, resolve_trace, solve
from hwsim.allocate.frontier import frontier
from hwsim.arch import load_arch

FORMATS = ["int2_g64", "int3_g128", "int4_g128", "nf4_g64", "mxfp4", "fp6_e3m2", "int8", "fp16"]


def main() -> None:
    arch = load_arch("bitmod")
    trace = resolve_trace("llama-2-70b", "decode", context=256)
    t0 = time.perf_counter()
    problem = build_problem(arch, trace, FORMATS, proxy="output", sample_elems=8192, tokens=32)
    build = time.perf_counter() - t0
    print(f"problem: {problem.shape[0]} units × {problem.shape[1]} formats, built in {build:.1f} s")
    for budget in ({"avg_bits": 4.25}, {"avg_bits": 4.25, "seconds": 1.05 * problem.min_total("seconds") + 0.05}):
        t0 = time.perf_counter()
        sol = solve(problem, "error", budget)
        print(
            f"solve {budget}: {time.perf_counter() - t0:.2f} s wall (CBC {sol.solve_seconds:.2f} s), "
            f"error {sol.objective_value:.4g}, avg_bits {sol.totals['avg_bits']:.3f}"
        )
    t0 = time.perf_counter()
    sol = solve(problem, "seconds", {"error": 20.0})
    print(f"min seconds s.t. error ≤ 20: {time.perf_counter() - t0:.2f} s, seconds {sol.objective_value:.4g}")
    t0 = time.perf_counter()
    table = frontier(problem, "avg_bits", "error", points=20)
    sweep = time.perf_counter() - t0
    mixed = table[table["kind"] == "mixed"]
    print(f"20-point avg_bits sweep: {sweep:.2f} s ({(mixed['status'] == 'optimal').sum()} optimal)")


if __name__ == "__main__":
    main()
