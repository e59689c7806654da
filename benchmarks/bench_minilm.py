"""MiniLM-L6 end-to-end evaluation time per format: quantize the 36 linear weights (10.6 M values)
and run the numpy forward pass over the 32 fixed sentences. Run: python benchmarks/bench_minilm.py"""

from __future__ import annotations

import argparse
import os
import platform

from timing import best_of  # same directory: run as `python benchmarks/bench_minilm.py`

from hwsim.accuracy import minilm
from hwsim.formats import get_format

FORMATS = [
    "int8_pc",
    "int8_g128",
    "fp8_e4m3",
    "mxfp8_e4m3",
    "int4_g128",
    "nf4_g64",
    "fp4_e2m1_g32",
    "mxfp4",
    "bitmod_fp4_g128",
    "int3_g128",
    "bitmod_fp3_g128",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    layers = minilm.linear_layers()
    n_weights = sum(lyr.weight.size for lyr in layers)
    minilm.reference_embeddings()  # load weights and tokenizer once
    t_fp32, _ = best_of(lambda: minilm.embed(), args.repeat)
    print(f"fp32 forward pass, {len(minilm.SENTENCES)} sentences: {t_fp32 * 1e3:.0f} ms (best of {args.repeat})")
    print(f"{'format':>16} {'quantize ms':>11} {'Mvalues/s':>9} {'end-to-end ms':>13} {'cosine':>8}")
    for name in args.formats.split(","):
        fmt = get_format(name)
        fmt.quantize(layers[0].weight[:4])  # compile any numba kernel outside the timing
        t_q, _ = best_of(lambda: [fmt.quantize(lyr.weight, axis=-1) for lyr in layers], args.repeat)
        t_e2e, cosine = best_of(lambda: minilm.cosine_vs_fp32(fmt), args.repeat)
        print(f"{name:>16} {t_q * 1e3:11.0f} {n_weights / t_q / 1e6:9.1f} {t_e2e * 1e3:13.0f} {cosine:8.5f}")


if __name__ == "__main__":
    main()
