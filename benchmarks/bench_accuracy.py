"""Accuracy-side speed against issue 13's targets (one core: run with OPENBLAS_NUM_THREADS=1):

  GPTQ of a 4096 × 4096 layer, 128 calibration tokens       ≤ 2 s
  MiniLM end to end per (format, method)                     ≤ 1 s
  perplexity of the tiny test model (tests/data/tiny_llm)    ≤ 1 s
  a 7B-shaped layer (4096 × 11008) through quantize+dequantize  ≥ 100 M weight elements/s

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_accuracy.py [--repeat N] [--skip-minilm]
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
from timing import best_of  # same directory: run as `python benchmarks/bench_accuracy.py`

from hwsim.accuracy import llm
from hwsim.accuracy.gptq import gptq
from hwsim.formats import get_format

TINY = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny_llm"
STREAM_FORMATS = ("int4_g128", "int8_pc", "nf4_g64", "mxfp4", "nvfp4", "fp8_e4m3", "q4_0")
GPTQ_FORMATS = ("int4_g128", "int3_g128", "mxfp4", "nf4_g64")
# (weights, method, activations, KV): every method on int4_g128, the slowest format per method (NF4's grid
# rounding: AWQ quantizes every weight 20 times), and the widest setting (W4A4 + KV4)
MINILM = tuple(
    (f, m, None, None) for f in ("int4_g128",) for m in ("rtn", "gptq", "awq", "smoothquant", "rotate", "rotate+gptq")
) + (
    ("nf4_g64", "awq", None, None),
    ("nf4_g64", "rotate+gptq", None, None),
    ("mxfp4", "gptq", None, None),
    ("int4_g128", "awq", "int4_pc", "int4_pc"),
    ("int4_g128", "rotate+gptq", "int4_pc", "int4_pc"),
)


def _row(what: str, seconds: float, target: str, extra: str = "") -> None:
    print(f"{what:<58} {seconds:8.3f} s   target {target:<12} {extra}")


def bench_gptq(repeat: int) -> None:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((4096, 4096)) / 64).astype(np.float32)
    x = rng.standard_t(5, (128, 4096)).astype(np.float32)
    gptq(w[:64, :256], get_format("int4_g128"), x[:, :256])  # numba compile outside the timing
    for name in GPTQ_FORMATS:
        fmt = get_format(name)
        t, _ = best_of(lambda: gptq(w, fmt, x), repeat)
        _row(f"GPTQ 4096×4096, 128 tokens, {name}", t, "≤ 2 s")


def bench_stream(repeat: int) -> None:
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((4096, 11008)) / 64).astype(np.float32)
    for name in STREAM_FORMATS:
        fmt = get_format(name)
        fmt.quantize(w[:4])
        t, _ = best_of(lambda: fmt.quantize(w, axis=-1), repeat)
        _row(f"quantize+dequantize 4096×11008, {name}", t, "≥ 100 M/s", f"{w.size / t / 1e6:7.0f} M elements/s")


def bench_tiny(repeat: int) -> None:
    for t_name, q in (
        ("fp", llm.Quant()),
        ("int4_g32 W, int8 A, int4 KV", llm.Quant("int4_g32", "int8_pc", "int4_pc")),
        ("int4_g32 + rotate+gptq", llm.Quant("int4_g32", method="rotate+gptq")),
    ):
        t, out = best_of(
            lambda: llm.evaluate(TINY / "llama", TINY / "text.txt", q, calibration=TINY / "calibration.txt"), repeat
        )
        _row(f"tiny Llama perplexity ({out['tokens']} tokens), {t_name}", t, "≤ 1 s", f"ppl {out['perplexity']:.2f}")


def bench_minilm(repeat: int) -> None:
    from hwsim.accuracy import minilm

    if not minilm.available():
        print(f"MiniLM skipped: {minilm.INSTALL_HINT}")
        return
    minilm.evaluate("int4_g128", method="gptq")  # weights, tokenizer, calibration captures, numba
    for fmt, method, act, kv in MINILM:
        t, out = best_of(lambda: minilm.evaluate(fmt, act, method=method, kv_format=kv, weight_error=False), repeat)
        extra = "" if act is None else f", A {act}, KV {kv}"
        _row(f"MiniLM end to end, {fmt} + {method}{extra}", t, "≤ 1 s", f"cosine {out['cosine']:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-minilm", action="store_true")
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    bench_gptq(args.repeat)
    bench_stream(args.repeat)
    bench_tiny(args.repeat)
    if not args.skip_minilm:
        bench_minilm(args.repeat)


if __name__ == "__main__":
    main()
