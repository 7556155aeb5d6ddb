"""Independent runs spread over worker processes (bench jobs, reproduction arms, bake-off entries).

By default one worker per core, never more workers than jobs; each worker gets ``cores // workers``
threads (the job function sets them), so a 2-core machine is used fully without oversubscription.
Workers are *spawned*: the job function must be a module-level function, and each worker discovers
the installed plugins itself (its default registry). One worker runs the jobs in this process, in order.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def plan_workers(n_jobs: int, workers: int | None) -> tuple[int, int]:
    """``(workers, threads per worker)``: default one worker per core, never more than the jobs."""
    cores = cpu_cores()
    chosen = workers if workers is not None else cores
    chosen = max(1, min(chosen, max(n_jobs, 1)))
    return chosen, max(1, cores // chosen)


def run_parallel(
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    workers: int = 1,
    on_done: Callable[[int, Any], None] | None = None,
    on_error: Callable[[int, BaseException], Any] | None = None,
) -> list[Any]:
    """``[fn(*args) for args in calls]``, in ``workers`` spawned processes when ``workers > 1``.

    Results come back in the order of ``calls``; ``on_done(i, result)`` is called as each finishes. An
    exception is re-raised, unless ``on_error(i, exc)`` is given: its return value then stands in for
    the result (a job that failed or a worker that died is recorded, and the others go on).
    """
    results: list[Any] = [None] * len(calls)

    def finish(i: int, get: Callable[[], Any]) -> None:
        try:
            result = get()
        except Exception as exc:
            if on_error is None:
                raise
            result = on_error(i, exc)
        results[i] = result
        if on_done is not None:
            on_done(i, result)

    if workers <= 1:
        for i, args in enumerate(calls):
            finish(i, functools.partial(fn, *args))
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        for future in as_completed(futures):
            finish(futures[future], future.result)
    return results
