"""Event-driven pipelines (simpy) where stages overlap and compete for shared resources.

An op is cut into a few batches (coarse: ≤ MAX_BATCHES = 16 per op, never per MAC). Each batch walks
its stages in order; a stage holds one named resource for its duration (a DMA channel, the LUT
units, the vector lanes, the PIM sub-arrays, the host cores). Batches are admitted through
`slots` buffers (2 = double buffering), so batch b+1 loads while batch b computes, and two stages
that need the same resource (precompute and combine on the vector lanes; weight transposes and
bit-serial compute on the same sub-arrays; weights and tables on one DRAM channel) serialise.
A stage may also spread bytes over several channels at once (FPGA HBM pseudo-channels).
A `once` stage is work the first batch does for all of them (tables built from every activation):
later batches wait until it is done before they go past it. A `streams` stage feeds the stage after it
as its data arrives (weights into the lookups, results out as they are made): within a batch the two
run at once, each on its resource, and the batch goes on when both are done. A batch is a coarse
slice of a pipeline that works in much finer tiles, so streaming keeps the slicing from exposing a
whole batch's load before its compute (or its compute after the last load): the start-up and drain are
the once stages and the finest tile's, as the shared overlap rule has them (hwsim.engine.machine).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import simpy

MAX_BATCHES = 16


@dataclass
class Stage:
    resource: str | tuple  # a resource name, or a tuple of channel names used in parallel
    cycles: np.ndarray  # per batch (for a tuple: per batch, the time on each channel)
    once: bool = False  # done by the first batch for all: later batches wait for it here
    streams: bool = False  # feeds the next stage as it goes: the two run at once within a batch


@dataclass
class PipelineResult:
    end: float
    busy: dict = field(default_factory=dict)  # resource → busy cycles
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

    def hold(name: str, dt: float) -> Generator[simpy.Event, object, None]:
        with res[name].request() as req:
            yield req
            t0 = env.now
            yield env.timeout(dt)
            out.busy[name] += dt
            out.intervals[name].append((t0, env.now))

    done = {s: env.event() for s, st in enumerate(stages) if st.once}

    def start(st: Stage, dt: float) -> list[simpy.Process]:
        names = st.resource if isinstance(st.resource, tuple) else (st.resource,)  # a tuple: channels in parallel
        return [env.process(hold(name, dt)) for name in names] if dt > 0 else []

    def batch(b: int) -> Generator[simpy.Event, object, None]:
        with admit.request() as slot:
            yield slot
            running = []  # a run of streaming stages and the stage they feed
            for s, st in enumerate(stages):
                if st.once and b > 0:
                    yield done[s]
                    continue
                running += start(st, float(st.cycles[b]))
                if st.streams:
                    continue
                if running:
                    yield simpy.AllOf(env, running)
                running = []
                if st.once:
                    done[s].succeed()
            if running:
                yield simpy.AllOf(env, running)

    for b in range(n_batches):
        env.process(batch(b))
    env.run()
    out.end = float(env.now)
    return out


def once(resource: str | tuple, total: float, n_batches: int) -> Stage:
    """A stage the first batch does for all batches (`total` cycles), which later batches wait for."""
    return Stage(resource, split(total, n_batches, first_only=True), once=True)


def split(total: float, n_batches: int, first_only: bool = False) -> np.ndarray:
    """A per-op quantity spread evenly over batches, or all of it in the first batch."""
    v = np.zeros(n_batches)
    if first_only:
        v[0] = total
    else:
        v[:] = total / n_batches
    return v
