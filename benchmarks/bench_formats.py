"""Quantize+dequantize throughput of hwsim.formats, one core, 2^24 float32 values.

    python benchmarks/bench_formats.py [--n-log2 24] [--repeat 3] [--formats a,b,...]

Prints a table: format, family, elements/s (best of --repeat runs after a warm-up compile).
numba runs single-threaded here (no parallel kernels), so the figure is per core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hwsim.formats import get_format

DEFAULT = (
    "int8",
    "int8_pc",
    "int4_g128",
    "int4a_g128",
    "int4_g128_sr",
    "fp8_e4m3",
    "fp8_e5m2",
    "fp6_e3m2",
    "fp4_e2m1",
    "e3m2_g32_se8m0",
    "fp16",
    "bf16",
    "mxfp8_e4m3",
    "mxfp6_e2m3",
    "mxfp4",
    "mxint8",
    "nf4_g64",
    "bitmod_fp4_g128",
    "bitmod_fp3_g128",
    "ternary",
    "bfp8_g16",
)


def bench(name: str, x: np.ndarray, repeat: int) -> float:
    fmt = get_format(name)
    fmt.quantize(x[:4])  # compile / warm caches
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fmt.quantize(x)
        best = min(best, time.perf_counter() - t0)
    return x.size / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-log2", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default=",".join(DEFAULT))
    args = ap.parse_args()
    rows = 4096
    x = np.random.default_rng(0).standard_normal(1 << args.n_log2).astype(np.float32).reshape(rows, -1)
    print(f"{'format':<18} {'family':<10} {'bits/elem':>9} {'M elem/s':>9}")
    for name in args.formats.split(","):
        f = get_format(name)
        rate = bench(name, x, args.repeat)
        print(f"{name:<18} {f.family:<10} {f.bits_per_element:>9.4f} {rate / 1e6:>9.1f}")


if __name__ == "__main__":
    main()
