"""A small pure evaluator standing in for the cost engine in sweep-machinery tests.

Roofline-like, deterministic: time = max(compute, memory); energy = MACs · e(bits) + bytes · e_dram.
"""

import time

import numpy as np
import pandas as pd

BITS = {"int4": 4.0, "int8": 8.0, "fp16": 16.0, "fp8": 8.0}
SLOW_S = 0.0  # tests that SIGKILL a sweep set this to make chunks take a while


def fake_evaluator(design, points, workload, precision):
    n = len(next(iter(points.values()))) if points else 1
    rows = np.asarray(points.get("compute.rows", np.full(n, 16)), dtype=float)
    cols = np.asarray(points.get("compute.cols", np.full(n, 16)), dtype=float)
    clock = np.asarray(points.get("clock", np.full(n, 1e9)), dtype=float)
    bits = BITS.get(str(precision.weights), 16.0)
    macs = 1e9 * workload.batch * workload.seq
    compute_s = macs * bits / 16.0 / (rows * cols * clock)
    memory_s = np.full(n, 7e9 * bits / 8.0 / 1e12)
    seconds = np.maximum(compute_s, memory_s)
    energy = macs * bits * 0.05e-12 + 7e9 * bits / 8 * 10e-12 + rows * cols * 1e-3 * seconds
    if SLOW_S:
        time.sleep(SLOW_S)
    return pd.DataFrame(
        {
            "family": "fake-" + design.preset,
            "cycles": seconds * clock,
            "seconds": seconds,
            "energy_j": energy,
            "area_mm2": rows * cols * 0.01,
        }
    )
