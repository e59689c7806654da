"""Pareto filter speed on random and anti-correlated data (rows × objectives).

python benchmarks/bench_pareto.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    from hwsim.pareto import pareto_mask

    rng = np.random.default_rng(0)
    pareto_mask(rng.random((100, 4)))  # compile the numba kernels
    pareto_mask(rng.random((100, 3)))
    for d in (2, 3, 4, 5):
        for name in ("uniform", "anti-correlated"):
            # N-D (d >= 4) is O(n · front): the anti-correlated case, whose front is most of the
            # data, is measured on fewer rows
            rows = args.rows // 50 if d >= 4 and name == "anti-correlated" else args.rows
            v = rng.random((rows, d))
            if name == "anti-correlated":  # points near the plane sum = const: large fronts
                v[:, -1] = d / 2 - v[:, :-1].sum(axis=1) + 0.01 * v[:, -1]
            t0 = time.perf_counter()
            m = pareto_mask(v)
            dt = time.perf_counter() - t0
            print(f"{rows:,} rows × {d} objectives, {name:15s}: {dt:6.2f} s, front {m.sum():,}")


if __name__ == "__main__":
    main()
