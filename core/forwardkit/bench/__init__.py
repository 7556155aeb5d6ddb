"""``forwardkit bench``: parameters, MACs, latency, throughput, memory and scaling of components.

:func:`bench_components` measures token or channel mixers over token counts (with the builtin baseline
of the kind always included) and fits the scaling exponent; :func:`bench_models` measures registered
models at their default configs. Both return the results JSON document (see
:func:`forwardkit.bench.report.payload`).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from typing import Any

from forwardkit.bench.mixers import (
    KIND_BASELINE,
    MEMORY_METHOD,
    TIMING_METHOD,
    Job,
    run_job,
    run_jobs,
)
from forwardkit.bench.report import exponents, fit_exponent, payload
from forwardkit.parallel import plan_workers

__all__ = ["bench_components", "bench_models", "exponents", "fit_exponent", "resolve_names"]

INTERFERENCE_NOTE = ("{workers} workers ran concurrently: their timings interfere (shared caches and "
                     "memory bandwidth); use --workers 1 for the cleanest numbers")


def resolve_names(kind: str, names: Sequence[str] | None, registry: Any = None) -> list[str]:
    """The components to measure: ``names`` (checked) or all of the kind, plus the kind's baseline first.

    Unknown names raise :class:`~forwardkit.errors.UnknownComponentError` (CLI exit status 2).
    """
    from forwardkit.registry import default_registry

    reg = registry or default_registry()
    chosen = list(names) if names else reg.names(kind)
    for name in chosen:
        reg.get(kind, name)  # raises with close matches
    baseline = KIND_BASELINE.get(kind)
    if baseline and (kind, baseline) in reg and baseline not in chosen:
        chosen.insert(0, baseline)
    return list(dict.fromkeys(chosen))


def _settings(**values: Any) -> dict[str, Any]:
    import torch

    device = values.get("device", "cpu")
    values.setdefault("memory_method", MEMORY_METHOD["cuda" if str(device).startswith("cuda") else "cpu"])
    values.setdefault("timing_method", TIMING_METHOD)
    values.update(torch=torch.__version__, python=platform.python_version(), machine=platform.machine())
    return values


def bench_components(
    kind: str,
    *,
    names: Sequence[str] | None = None,
    ranks: Sequence[int] = (1, 2),
    sizes: Sequence[int] = (64, 256, 1024, 4096),
    dim: int = 64,
    batch: int = 8,
    workers: int | None = 1,
    repeats: int = 7,
    warmup: int = 2,
    budget_s: float = 3.0,
    device: str = "cpu",
    registry: Any = None,
    on_done: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Measure every chosen component of ``kind`` at every rank and size; the results document."""
    chosen = resolve_names(kind, names, registry)
    n_workers, threads = plan_workers(len(chosen) * len(ranks), workers)
    jobs = [Job(kind=kind, name=name, rank=rank, sizes=list(sizes), dim=dim, batch=batch, threads=threads,
                warmup=warmup, repeats=repeats, budget_s=budget_s, device=device)
            for name in chosen for rank in ranks]
    rows = run_jobs(jobs, workers=n_workers, registry=registry, runner=run_job, on_done=on_done)
    notes = [INTERFERENCE_NOTE.format(workers=n_workers)] if n_workers > 1 else []
    settings = _settings(names=chosen, ranks=list(ranks), sizes=list(sizes), dim=dim, batch=batch,
                         workers=n_workers, threads_per_worker=threads, repeats=repeats, warmup=warmup,
                         device=device, baseline=KIND_BASELINE.get(kind))
    return payload(kind, rows, settings, notes)


def bench_models(
    *,
    names: Sequence[str] | None = None,
    batch: int = 32,
    workers: int | None = 1,
    repeats: int = 7,
    warmup: int = 2,
    budget_s: float = 3.0,
    device: str = "cpu",
    registry: Any = None,
    on_done: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Measure registered models (default configs) on ``example_batch(batch)``; the results document."""
    from forwardkit.bench.models import ModelJob, run_model_job
    from forwardkit.registry import default_registry

    reg = registry or default_registry()
    chosen = list(names) if names else reg.names("model")
    for name in chosen:
        reg.get("model", name)
    n_workers, threads = plan_workers(len(chosen), workers)
    jobs = [ModelJob(name=name, batch=batch, threads=threads, warmup=warmup, repeats=repeats,
                     budget_s=budget_s, device=device) for name in chosen]
    rows = run_jobs(jobs, workers=n_workers, registry=registry, runner=run_model_job, on_done=on_done)
    notes = [INTERFERENCE_NOTE.format(workers=n_workers)] if n_workers > 1 else []
    settings = _settings(names=chosen, batch=batch, workers=n_workers, threads_per_worker=threads,
                         repeats=repeats, warmup=warmup, device=device)
    return payload("model", rows, settings, notes)
