"""Shared timing for the benchmark scripts (run as `python benchmarks/<name>.py`, so this imports as `timing`)."""

from __future__ import annotations

import time


def best_of(fn, repeat: int = 3):
    """(fastest wall seconds over `repeat` calls, the last call's result): the minimum is the least
    disturbed by other load on a shared machine."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out
