"""Design points of one architecture entry: every combination (grid), or seeded random / Latin
hypercube samples (scipy.stats.qmc) over the swept parameters."""

from __future__ import annotations

import math

import numpy as np

from hwsim.study.schema import Design, Sampler


def n_points(design: Design, sampler: Sampler) -> int:
    if not design.params:
        return 1
    if sampler.kind != "grid":
        return sampler.draws
    return math.prod(len(p.grid_values()) for p in design.params)  # Python ints: a huge grid must not wrap


def _unit_samples(design: Design, sampler: Sampler) -> np.ndarray:
    """(samples, d) in [0, 1); each design gets its own stream from (seed, design index)."""
    d, n = len(design.params), sampler.draws
    rng = np.random.default_rng([sampler.seed, design.index])
    if sampler.kind == "random":
        return rng.random((n, d))
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=d, seed=rng).random(n)


def design_points(design: Design, sampler: Sampler, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """Parameter path → values for points [start, stop) (all points by default), in a fixed order:
    the grid varies its last parameter fastest; samples come in draw order."""
    total = n_points(design, sampler)
    stop = total if stop is None else min(stop, total)
    if not design.params:
        return {}
    if sampler.kind == "grid":
        axes = [p.grid_values() for p in design.params]
        shape = [len(a) for a in axes]
        idx = np.unravel_index(np.arange(start, stop, dtype=np.int64), shape)
        return {p.path: a[i] for p, a, i in zip(design.params, axes, idx)}
    u = _unit_samples(design, sampler)[start:stop]
    return {p.path: p.from_unit(u[:, j]) for j, p in enumerate(design.params)}
