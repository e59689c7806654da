"""Speed of serving replays: a 1,000-request replay of an 8B model on one device (target ≤ 5 s on one
core), and a long `generate` (all decode steps in one engine call).

    python benchmarks/bench_serve.py

Prints wall times: step-cost setup (shape polynomials + composition check), the replay itself (simpy
scheduler + cached per-iteration costs) and the engine calls it needed.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

from hwsim.arch import load_arch  # noqa: E402
from hwsim.serve import StepCost, generate  # noqa: E402
from hwsim.serve.replay import serve  # noqa: E402
from hwsim.serve.requests import poisson_requests  # noqa: E402
from hwsim.workload import load_model  # noqa: E402


def main() -> None:
    arch, model = load_arch("h100-sxm"), load_model("llama-3-8b")
    c0, t0 = time.process_time(), time.perf_counter()
    sc = StepCost(arch, model)
    t1 = time.perf_counter()
    reqs = poisson_requests(10.0, 1000, "lognormal:512:0.8", "lognormal:128:0.8", seed=0)
    res = serve(arch, model, reqs, step_cost=sc)
    t2, c2 = time.perf_counter(), time.process_time()
    s = res.summary
    print(
        f"llama-3-8b on h100-sxm, 1,000 Poisson requests at 10/s: setup {t1 - t0:.2f} s, replay {t2 - t1:.2f} s, "
        f"total {t2 - t0:.2f} s wall, {c2 - c0:.2f} s CPU; {s['iterations']} iterations, {sc.evaluations} engine calls; "
        f"TPOT p50 {s['tpot_s']['median'] * 1e3:.3g} ms, TTFT p50 {s['ttft_s']['median'] * 1e3:.3g} ms"
    )
    t3 = time.perf_counter()
    gen = generate(StepCost(arch, model), prompt=1024, output=4096, batch=8)
    t4 = time.perf_counter()
    print(f"generate 1024 + 4096 tokens, batch 8: {t4 - t3:.2f} s (setup included); TPOT {gen.tpot_s * 1e3:.3g} ms")


if __name__ == "__main__":
    main()
