"""Per-call overhead (issue 12's targets): one cost() of a single GEMM, a whole Llama-2-7B decode cost(),
a roofline of that model on one machine, and `hwsim simulate` as a cold process.

    python benchmarks/bench_calls.py
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from timing import best_of

from hwsim.arch import load_arch
from hwsim.engine import evaluate, gemm_ops
from hwsim.paths import preset_names
from hwsim.roofline import roofline
from hwsim.workload import load_model, trace


def _tables(rl):
    return rl.summary, rl.ops


def main() -> None:
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    tpu, bitmod = load_arch("tpu-like"), load_arch("bitmod")
    gemm = gemm_ops([("g", 256, 4096, 4096)])
    decode = trace(load_model("llama-2-7b"), "decode", context=256)
    cases = {
        "cost() of one GEMM (tpu-like)": (lambda: evaluate(tpu, gemm), "100 µs"),
        "cost() of Llama-2-7B decode (bitmod, 4.0625-bit)": (lambda: evaluate(bitmod, decode, 4.0625), "1,000 µs"),
        "roofline of Llama-2-7B decode on one machine (h100-sxm)": (lambda: roofline("h100-sxm", decode), "2,000 µs"),
    }
    # the same calls when the caller also asks for the per-op tables (built on first use, not by the call)
    cases |= {
        "  ... and its .ops table (GEMM)": (lambda: evaluate(tpu, gemm).ops, ""),
        "  ... and its .ops table (decode)": (lambda: evaluate(bitmod, decode, 4.0625).ops, ""),
        "  ... roofline and its .summary and .ops tables": (lambda: _tables(roofline("h100-sxm", decode)), ""),
        "  ... a fresh Llama-2-7B decode trace, then cost()": (
            lambda: evaluate(bitmod, trace(load_model("llama-2-7b"), "decode", context=256), 4.0625),
            "",
        ),
    }
    for name, (fn, target) in cases.items():
        fn()  # warm-up: first-call imports and caches
        t, _ = best_of(fn, 50)
        print(f"{name}: {t * 1e6:,.0f} µs (best of 50{f'; target {target}' if target else ''})")
    many = gemm_ops([(f"g{i}", 256 + i, 4096, 4096) for i in range(1000)])
    evaluate(tpu, many)
    t, _ = best_of(lambda: evaluate(tpu, many), 20)
    print(f"cost() of 1,000 GEMMs in one table (tpu-like): {t * 1e6:,.0f} µs, {t * 1e3:.2f} µs a GEMM (best of 20)")
    by_family: dict[str, list[tuple[float, str]]] = {}
    for name in preset_names("archs"):  # one GEMM on every preset, int4 weights (every family runs them)
        arch = load_arch(name)
        evaluate(arch, gemm, "int4_g128")
        t, _ = best_of(lambda: evaluate(arch, gemm, "int4_g128"), 30)
        by_family.setdefault(arch.family, []).append((t, name))
    print("cost() of one GEMM, int4_g128 weights, per family (fastest-slowest preset, best of 30):")
    for family, times in sorted(by_family.items(), key=lambda kv: min(kv[1])):
        (lo, lo_name), (hi, hi_name) = min(times), max(times)
        print(f"  {family:10s} {lo * 1e6:4.0f}-{hi * 1e6:4.0f} µs ({lo_name} - {hi_name}, {len(times)} presets)")
    cmd = [
        sys.executable,
        "-m",
        "hwsim",
        "simulate",
        "--arch",
        "bitmod",
        "--model",
        "llama-2-7b",
        "--phase",
        "decode",
        "--weights",
        "int4_g128",
    ]
    t, _ = best_of(lambda: subprocess.run(cmd, check=True, capture_output=True), 5)
    print(f"hwsim simulate as a cold process: {t:.2f} s (best of 5; target 0.5 s)")


if __name__ == "__main__":
    main()
