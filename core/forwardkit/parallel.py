"""Independent runs spread over worker processes (bench jobs, reproduction arms, bake-off entries).

Two backends. ``local`` (the default): by default one worker per core, never more workers than jobs;
each worker gets ``cores // workers`` threads (the job function sets them), so a 2-core machine is used
fully without oversubscription. Workers are *spawned*: the job function must be a module-level function,
and each worker discovers the installed plugins itself (its default registry). One worker runs the jobs
in this process, in order. ``ray``: every call is a Ray task with its own resource request, on a Ray
cluster (or a local Ray instance); see :mod:`forwardkit.parallel_ray`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

Backend = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = ("local", "ray")


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


def in_process(backend: str, workers: int) -> bool:
    """Whether the jobs run in this process (the local backend with one worker), where the caller's
    registry can be used; elsewhere every worker discovers the installed plugins itself."""
    return backend == "local" and workers <= 1


def task_resources(threads: int, device: str = "cpu") -> dict[str, float]:
    """The Ray request of one run that uses ``threads`` torch threads on ``device``: that many CPUs, and
    one GPU when the device is CUDA."""
    request: dict[str, float] = {"num_cpus": max(1, int(threads))}
    if str(device).startswith("cuda"):
        request["num_gpus"] = 1
    return request


def finisher(
    results: list[Any],
    on_done: Callable[[int, Any], None] | None,
    on_error: Callable[[int, BaseException], Any] | None,
) -> Callable[[int, Callable[[], Any]], None]:
    """``finish(i, get)``: store ``get()`` (or ``on_error(i, exc)`` when it raises and ``on_error`` is
    given) as result ``i`` and call ``on_done``; shared by the backends."""

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

    return finish


def run_parallel(
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    workers: int = 1,
    on_done: Callable[[int, Any], None] | None = None,
    on_error: Callable[[int, BaseException], Any] | None = None,
    backend: Backend | str = "local",
    address: str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> list[Any]:
    """``[fn(*args) for args in calls]``: in ``workers`` spawned processes when ``workers > 1``, or as Ray
    tasks with ``backend="ray"``.

    Results come back in the order of ``calls``; ``on_done(i, result)`` is called as each finishes. An
    exception is re-raised, unless ``on_error(i, exc)`` is given: its return value then stands in for
    the result (a job that failed or a worker that died is recorded, and the others go on).

    With ``backend="ray"`` each call is one Ray task requesting ``resources`` (Ray task options such as
    ``{"num_cpus": 2, "num_gpus": 1}``; default one CPU; see :func:`task_resources`) on the cluster at
    ``address`` (``None``: the Ray instance this process already joined, else ``$RAY_ADDRESS``, else a
    local instance started for this process); ``workers`` is then unused, Ray schedules by resources.
    The local backend ignores ``address`` and ``resources``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        from forwardkit.parallel_ray import run_ray

        return run_ray(fn, calls, on_done=on_done, on_error=on_error, address=address, resources=resources)
    results: list[Any] = [None] * len(calls)
    finish = finisher(results, on_done, on_error)
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
