"""Time to build traces (issue 2 target: Llama-2-70B trace ≤ 50 ms; issue 14: DeepSeek-V3 decode ≤ 50 ms).
Run: python benchmarks/bench_trace.py"""

from __future__ import annotations

import platform

from timing import best_of

from hwsim.workload import load_model, trace


def main() -> None:
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    for name in ("llama-2-7b", "llama-2-70b", "mixtral-8x7b", "deepseek-v3", "gpt-oss-20b"):
        model = load_model(name)
        for phase, kw in (("prefill", {"seq": 2048}), ("decode", {"context": 4000, "batch": 8})):
            t, _ = best_of(lambda: trace(model, phase, **kw), 20)
            rows = len(trace(model, phase, **kw).ops)
            print(f"{name:>14} {phase:>7}: {rows:5d} ops in {t * 1e3:6.2f} ms (best of 20)")


if __name__ == "__main__":
    main()
