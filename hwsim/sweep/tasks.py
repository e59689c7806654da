"""A study as an ordered list of tasks: (design, workload, precision, chunk of design points).

Task ids follow the loop order design → workload → precision → chunk, which is also the row
order of the consolidated results, so the output never depends on which worker finished first.
"""
from __future__ import annotations

from dataclasses import dataclass

from hwsim.study.samplers import n_points
from hwsim.study.schema import Study


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


def plan(study: Study) -> list[Task]:
    tasks = []
    chunk = study.outputs.chunk_size
    for d in study.designs:
        n = n_points(d, study.sampler)
        for w in range(len(study.workloads)):
            for p in range(len(study.precisions)):
                for start in range(0, n, chunk):
                    tasks.append(Task(len(tasks), d.index, w, p, start, min(start + chunk, n)))
    return tasks


def total_rows(tasks: list[Task]) -> int:
    return sum(t.points for t in tasks)
