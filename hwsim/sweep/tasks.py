"""A study as an ordered list of tasks: (design, workload, precision, chunk of design points).

Task ids follow the loop order design → workload → precision → chunk, which is also the row
order of the consolidated results, so the output never depends on which worker finished first.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.errors import HwsimError
from hwsim.study.params import MAX_ROWS
from hwsim.study.samplers import n_points
from hwsim.study.schema import Design, Sampler, Study

__all__ = ["MAX_ROWS", "Task", "check_size", "plan", "total_rows"]


@dataclass(frozen=True)
class Task:
    id: int
    design: int
    workload: int
    precision: int
    start: int  # design points [start, stop) of this design
    stop: int

    @property
    def points(self) -> int:
        return self.stop - self.start


def chunks(design: Design, sampler: Sampler, chunk: int) -> list[tuple[int, int]]:
    """Point ranges of at most `chunk` points. Under the grid sampler each range is itself a
    Cartesian product (leading parameters fixed, trailing ones complete, or a slice of the last
    one), so the engine's product sweep evaluates it in one vectorised call."""
    n = n_points(design, sampler)
    if sampler.kind != "grid" or not design.params:
        return [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    sizes = [len(p.grid_values()) for p in design.params]
    last = sizes[-1]
    if last > chunk:  # split each row of the last parameter
        return [(r + a, r + min(a + chunk, last)) for r in range(0, n, last) for a in range(0, last, chunk)]
    span = last
    for s in reversed(sizes[:-1]):
        if span * s > chunk:
            break
        span *= s
    return [(a, a + span) for a in range(0, n, span)]


def plan(study: Study) -> list[Task]:
    tasks: list[Task] = []
    for d in study.designs:
        ranges = chunks(d, study.sampler, study.outputs.chunk_size)
        for w in d.workloads:
            for p in d.precisions:
                for start, stop in ranges:
                    tasks.append(Task(len(tasks), d.index, w, p, start, stop))
    return tasks


def check_size(study: Study) -> None:
    """Refuse a study of more than MAX_ROWS rows before anything is built for it (a grid of 10^10 points asked for
    a 75 GiB index array and ended in a MemoryError traceback)."""
    rows = 0
    for d in study.designs:
        rows += n_points(d, study.sampler) * len(d.workloads) * len(d.precisions)
        if rows > MAX_ROWS:
            raise HwsimError(
                f"the study has {rows:.3g} rows or more (design points × workloads × precisions; this design: "
                f"{n_points(d, study.sampler):.3g} points), beyond the {MAX_ROWS:,} rows one sweep holds: "
                "sweep fewer values, split the study, or sample (sampler: {kind: random, samples: N})",
                file=study.file,
                field=f"architectures[{d.index}].sweep",
            )


def total_rows(tasks: list[Task]) -> int:
    return sum(t.points for t in tasks)
