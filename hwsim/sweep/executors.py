"""Where tasks run: in this process, in local worker processes, or on a Dask cluster.

Every executor yields (task, table) as tasks finish, in any order; the caller writes the parts.
Workers receive the shared Context once (pool initializer / Dask scatter) and per task only its
slice of design points. At most a few tasks per worker are in flight, so memory stays bounded
however large the study.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator

from hwsim.errors import HwsimError
from hwsim.sweep.evaluate import Context, evaluate_task

EXECUTORS = ("local", "dask")
_IN_FLIGHT_PER_WORKER = 2

_CTX: Context | None = None  # set in each worker process by _init


def _init(ctx: Context) -> None:
    global _CTX
    _CTX = ctx
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run(item):
    task, points = item
    return task, evaluate_task(_CTX, task, points)


def run_serial(ctx: Context, items: Iterable) -> Iterator:
    for task, points in items:
        yield task, evaluate_task(ctx, task, points)


def run_local(ctx: Context, items: Iterable, workers: int) -> Iterator:
    """A pool of `workers` processes (fork where available: the study and evaluator are inherited)."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=_init,
                             initargs=(ctx,)) as pool:
        pending = set()
        it = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(pending) < workers * _IN_FLIGHT_PER_WORKER:
                try:
                    pending.add(pool.submit(_run, next(it)))
                except StopIteration:
                    exhausted = True
            if not pending:
                return
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield f.result()


def _dask_run(ctx: Context, item):
    task, points = item
    return task, evaluate_task(ctx, task, points)


def run_dask(ctx: Context, items: Iterable, workers: int, scheduler: str | None) -> Iterator:
    """Dask distributed: an embedded LocalCluster of `workers` processes, or the cluster at `scheduler`.

    Results travel back to this process, which writes the parts: workers need no shared disk.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise HwsimError("the dask executor needs dask[distributed] (pip install 'hwsim[dask]')",
                         field="--executor") from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise HwsimError(f"cannot reach Dask scheduler {scheduler!r}: {exc}", field="--scheduler") from None
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
            client = Client(cluster)
        with client:
            shared = client.scatter(ctx, broadcast=True)
            n_slots = max(1, sum(client.nthreads().values())) * _IN_FLIGHT_PER_WORKER
            it = iter(items)
            first = [client.submit(_dask_run, shared, item, pure=False) for _, item in zip(range(n_slots), it)]
            ac = as_completed(first)
            for fut in ac:
                yield fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    ac.add(client.submit(_dask_run, shared, nxt, pure=False))
    finally:
        if cluster is not None:
            cluster.close()


def execute(ctx: Context, items: Iterable, *, workers: int = 1, executor: str = "local",
            scheduler: str | None = None) -> Iterator:
    if executor not in EXECUTORS:
        raise HwsimError(f"must be one of {', '.join(EXECUTORS)}, got {executor!r}", field="--executor")
    if workers < 1:
        raise HwsimError(f"must be >= 1, got {workers}", field="--workers")
    if executor == "dask":
        return run_dask(ctx, items, workers, scheduler)
    if scheduler:
        raise HwsimError("--scheduler applies to --executor dask only", field="--scheduler")
    return run_serial(ctx, items) if workers == 1 else run_local(ctx, items, workers)
