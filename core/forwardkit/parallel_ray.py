"""The ``ray`` backend of :func:`forwardkit.parallel.run_parallel`: every run is one Ray task.

Ray is an optional extra (``pip install "forwardkit[ray]"``) and is imported only when this backend is
used. A job joins the cluster at ``address`` (``HOST:PORT`` of a head started with ``ray start --head``,
or ``auto`` for one started on this machine), else ``$RAY_ADDRESS``, else a local Ray instance started for
this process (with every core). Each run requests its own resources (by default one CPU;
callers ask for the threads it will use, and a GPU when it trains on CUDA, see
:func:`forwardkit.parallel.task_resources`); Ray places it on a node with room. Results come back as they
finish. A run that raises reports its own exception; a worker that dies (killed, out of memory, a crash
in native code) reports ``WorkerCrashedError`` for its run, which is not retried (``max_retries=0``), and
the other runs go on. Every node runs the same Python environment, forwardkit and plugins included: a task
imports the job function by name and discovers the installed plugins itself.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from forwardkit.errors import ForwardkitError
from forwardkit.parallel import cpu_cores, finisher

INSTALL_HINT = 'the Ray backend needs Ray, which is not installed: pip install "forwardkit[ray]"'
DEFAULT_OPTIONS: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}


def ray_available() -> bool:
    """Whether Ray can be imported (checked without importing it)."""
    return importlib.util.find_spec("ray") is not None


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ForwardkitError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ForwardkitError(INSTALL_HINT) from exc
    return ray


def check_reachable(address: str, *, timeout_s: float = 5.0) -> None:
    """Fail fast, with a clear error, when nothing listens at ``HOST:PORT`` (Ray itself retries for minutes)."""
    if address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ForwardkitError(f"--address {address!r}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379, "
                              "as `ray start --head` prints it), or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ForwardkitError(f"cannot reach a Ray cluster at {address} ({exc}); start its head with "
                              f"`ray start --head --port={port}` on {host}, or leave --address out to run on a "
                              "local Ray instance") from None


def connect(address: str | None = None) -> dict[str, Any]:
    """Join the Ray cluster at ``address`` (see the module docstring), unless this process has already
    joined one; the cluster's summary (:func:`cluster_summary`)."""
    ray = import_ray()
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS") or None
        quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
        if target is None:
            ray.init(address="local", num_cpus=cpu_cores(), include_dashboard=False, **quiet)
        else:
            check_reachable(target)
            try:
                ray.init(address=target, **quiet)
            except (ConnectionError, RuntimeError) as exc:
                raise ForwardkitError(f"cannot join the Ray cluster at {target}: {exc}") from None
    return cluster_summary()


def cluster_summary() -> dict[str, Any]:
    """The joined cluster: its address, live nodes, total CPUs and GPUs, and the largest node's of each."""
    ray = import_ray()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    res = [n.get("Resources", {}) for n in nodes]
    return {"address": ray.get_runtime_context().gcs_address, "nodes": len(nodes),
            "cpus": sum(r.get("CPU", 0.0) for r in res), "gpus": sum(r.get("GPU", 0.0) for r in res),
            "node_resources": res}


def describe(summary: Mapping[str, Any]) -> str:
    """``"Ray cluster at 10.0.0.5:6379: 3 nodes, 96 CPUs, 4 GPUs"``."""
    nodes = summary["nodes"]
    return (f"Ray cluster at {summary['address']}: {nodes} node{'s' if nodes != 1 else ''}, "
            f"{summary['cpus']:g} CPUs, {summary['gpus']:g} GPUs")


def task_options(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    """Ray task options of one run: one CPU and no retry, updated with ``resources``."""
    return {**DEFAULT_OPTIONS, **(resources or {})}


def check_feasible(options: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
    """A clear error when no node of the cluster can ever hold one run (Ray would wait for it forever)."""
    wanted = {"CPU": options.get("num_cpus", 1) or 0, "GPU": options.get("num_gpus", 0) or 0,
              **dict(options.get("resources") or {})}
    for key, amount in wanted.items():
        if not amount:
            continue
        largest = max((r.get(key, 0.0) for r in summary["node_resources"]), default=0.0)
        if largest < amount:
            raise ForwardkitError(
                f"each run asks Ray for {amount:g} {key}, but no node of the {describe(summary)} has more than "
                f"{largest:g}" + (": use more --workers (fewer threads per run), or join bigger nodes"
                                  if key == "CPU" else ": join nodes that have it, or ask for less"))


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """The body of every task: ``fn(*args)`` (``fn`` travels by name, so builtins work too)."""
    return fn(*args)


@functools.cache
def _remote_call() -> Any:
    return import_ray().remote(_call)


def _result(ray: Any, ref: Any) -> Any:
    """``ray.get(ref)``; a task's own exception is raised as itself (Ray's wrapper, which holds the remote
    traceback, as its cause)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from exc
        raise


def run_ray(
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    on_done: Callable[[int, Any], None] | None = None,
    on_error: Callable[[int, BaseException], Any] | None = None,
    address: str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> list[Any]:
    """``[fn(*args) for args in calls]`` as Ray tasks (see :func:`forwardkit.parallel.run_parallel`).

    ``on_done`` runs here, as each task finishes. When a failure is raised (no ``on_error``) or the job is
    interrupted, the tasks still pending are cancelled."""
    results: list[Any] = [None] * len(calls)
    if not calls:
        return results
    ray = import_ray()
    summary = connect(address)
    options = task_options(resources)
    check_feasible(options, summary)
    finish = finisher(results, on_done, on_error)
    name = getattr(fn, "__qualname__", None) or "forwardkit-run"
    task = _remote_call().options(name=str(name), **options)
    refs = [task.remote(fn, *args) for args in calls]
    index = {ref: i for i, ref in enumerate(refs)}
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                finish(index[ref], functools.partial(_result, ray, ref))
    except BaseException:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished, or its worker is gone
                pass
        raise
    return results
