"""docs/accuracy.md's formats × methods × (W, W+A, W+A+KV) table on MiniLM-L6 end to end.

Cosine of sentence embeddings vs fp32 over hwsim.accuracy.minilm.SENTENCES; methods calibrated on
minilm.CALIBRATION. Columns: weights only; W + per-token activations (int8_pc, int4_pc); W4A4 + KV4
(int4_pc keys/values per token and head). Deterministic (seed 0): same output every run.
Run: OPENBLAS_NUM_THREADS=1 python benchmarks/accuracy_table.py   (a few minutes on 2 cores)
"""

from __future__ import annotations

from hwsim.accuracy import minilm

FORMATS = ("int4_g128", "int3_g128", "nf4_g64", "mxfp4", "nvfp4")
METHODS = ("rtn", "gptq", "awq", "smoothquant", "rotate", "rotate+gptq")
SETTINGS = (
    ("W", None, None),
    ("W + A8", "int8_pc", None),
    ("W + A4", "int4_pc", None),
    ("W + A4 + KV4", "int4_pc", "int4_pc"),
)


def main() -> None:
    print("| weights | method | " + " | ".join(s for s, _, _ in SETTINGS) + " |")
    print("|---|---|" + "---|" * len(SETTINGS))
    for fmt in FORMATS:
        for method in METHODS:
            cells = [
                minilm.evaluate(fmt, act, method=method, kv_format=kv, weight_error=False)["cosine"]
                for _, act, kv in SETTINGS
            ]
            print(f"| {fmt} | {method} | " + " | ".join(f"{c:.4f}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
