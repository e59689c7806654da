"""Event-driven pipelines (simpy) where stages overlap and compete for shared resources.

An op is cut into a few batches (coarse: ≤ MAX_BATCHES = 16 per op, never per MAC). Each batch walks
its stages in order; a stage holds one named resource for its duration (a DMA channel, the LUT
units, the vector lanes, the PIM sub-arrays, the host cores). Batches are admitted through
`slots` buffers (2 = double buffering), so batch b+1 loads while batch b computes, and two stages
that need the same resource (precompute and combine on the vector lanes; weight transposes and
bit-serial compute on the same sub-arrays; weights and tables on one DRAM channel) serialise.
A stage may also spread bytes over several channels at once (FPGA HBM pseudo-channels).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

MAX_BATCHES = 16


@dataclass
class Stage:
    resource: str | tuple  # a resource name, or a tuple of channel names used in parallel
    cycles: np.ndarray     # per batch (for a tuple: per batch, the time on each channel)


@dataclass
class PipelineResult:
    end: float
    busy: dict = field(default_factory=dict)       # resource → busy cycles
    intervals: dict = field(default_factory=dict)  # resource → list of (start, end)


def run(stages: list[Stage], n_batches: int, slots: int = 2) -> PipelineResult:
    """Simulate n_batches through the stages; returns the end time and per-resource busy time."""
    env = simpy.Environment()
    names: set[str] = set()
    for st in stages:
        names.update(st.resource if isinstance(st.resource, tuple) else (st.resource,))
    res = {n: simpy.Resource(env, capacity=1) for n in sorted(names)}
    admit = simpy.Resource(env, capacity=max(1, slots))
    out = PipelineResult(end=0.0, busy={n: 0.0 for n in res}, intervals={n: [] for n in res})

    def hold(name, dt):
        with res[name].request() as req:
            yield req
            t0 = env.now
            yield env.timeout(dt)
            out.busy[name] += dt
            out.intervals[name].append((t0, env.now))

    def batch(b):
        with admit.request() as slot:
            yield slot
            for st in stages:
                dt = float(st.cycles[b])
                if dt <= 0:
                    continue
                if isinstance(st.resource, tuple):  # bytes spread over channels in parallel
                    yield simpy.AllOf(env, [env.process(hold(ch, dt)) for ch in st.resource])
                else:
                    yield env.process(hold(st.resource, dt))

    for b in range(n_batches):
        env.process(batch(b))
    env.run()
    out.end = float(env.now)
    return out


def split(total, n_batches: int, first_only: bool = False) -> np.ndarray:
    """A per-op quantity spread evenly over batches, or all of it in the first batch."""
    v = np.zeros(n_batches)
    if first_only:
        v[0] = total
    else:
        v[:] = total / n_batches
    return v
