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
from typing import TYPE_CHECKING

from hwsim.errors import HwsimError
from hwsim.sweep.evaluate import Context, evaluate_task
from hwsim.sweep.tasks import Task

if TYPE_CHECKING:  # pandas is loaded by the evaluator; only its type is named here
    import pandas as pd

EXECUTORS = ("local", "dask")
_IN_FLIGHT_PER_WORKER = 2

_CTX: Context | None = None  # set in each worker process by _init


MAX_WORKERS = 1024


def _init(ctx: Context) -> None:
    global _CTX
    _CTX = ctx
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker ends on SIGTERM, not with the CLI's exception
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from hwsim.sweep.store import release_inherited_locks

    release_inherited_locks()
    _exit_with_parent()


def _exit_with_parent(poll_s: float = 0.5) -> None:
    """A worker whose parent was killed (SIGKILL: no chance to shut the pool down) exits within poll_s
    instead of waiting forever on the task queue; forked workers hold that queue's write end themselves."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="hwsim-parent-watch", daemon=True).start()


def _run(item: tuple[Task, dict]) -> tuple[Task, pd.DataFrame]:
    task, points = item
    assert _CTX is not None, "a worker runs tasks after _init"
    return task, evaluate_task(_CTX, task, points)


def run_serial(ctx: Context, items: Iterable) -> Iterator:
    for task, points in items:
        yield task, evaluate_task(ctx, task, points)


def run_local(ctx: Context, items: Iterable, workers: int) -> Iterator:
    """A pool of `workers` processes (fork where available: the study and evaluator are inherited)."""
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=_init, initargs=(ctx,)) as pool:
        pending: set[Future] = set()
        it = iter(items)
        exhausted = False
        try:
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
        except BaseException:  # an error, Ctrl-C, SIGTERM: queued tasks do not start (running ones end first)
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _dask_run(ctx: Context, item: tuple[Task, dict]) -> tuple[Task, pd.DataFrame]:
    task, points = item
    return task, evaluate_task(ctx, task, points)


def run_dask(ctx: Context, items: Iterable, workers: int, scheduler: str | None) -> Iterator:
    """Dask distributed: an embedded LocalCluster of `workers` processes, or the cluster at `scheduler`.

    Results travel back to this process, which writes the parts: workers need no shared disk.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise HwsimError(
            "the dask executor needs dask[distributed] (pip install 'hwsim[dask]')", field="executor"
        ) from None
    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise HwsimError(f"cannot reach Dask scheduler {scheduler!r}: {exc}", field="scheduler") from None
        else:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
            )
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


def check_executor(workers: int, executor: str, scheduler: str | None) -> None:
    """Refuse bad executor arguments up front (run_sweep calls this before it touches the output folder)."""
    if executor not in EXECUTORS:
        raise HwsimError(f"must be one of {', '.join(EXECUTORS)}, got {executor!r}", field="executor")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise HwsimError(f"must be an integer in 1..{MAX_WORKERS}, got {workers!r}", field="workers")
    if scheduler is not None:
        if executor != "dask":
            raise HwsimError("`scheduler` applies to `executor` dask only", field="scheduler")
        _check_reachable(scheduler)


def _check_reachable(address: str) -> None:
    """A Dask scheduler address: [tcp://]host:port, and something listening there."""
    import re
    import socket

    m = re.fullmatch(r"(?:tcp://)?([\w.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})", address.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise HwsimError(
            f"expected a scheduler address such as tcp://host:8786, got {address[:80]!r}", field="scheduler"
        )
    try:
        socket.create_connection((m.group(1).strip("[]"), int(m.group(2))), timeout=5).close()
    except OSError as exc:
        raise HwsimError(f"cannot reach Dask scheduler {address!r}: {exc.strerror or exc}", field="scheduler") from None


def execute(
    ctx: Context, items: Iterable, *, workers: int = 1, executor: str = "local", scheduler: str | None = None
) -> Iterator:
    check_executor(workers, executor, scheduler)
    if executor == "dask":
        return run_dask(ctx, items, workers, scheduler)
    return run_serial(ctx, items) if workers == 1 else run_local(ctx, items, workers)
