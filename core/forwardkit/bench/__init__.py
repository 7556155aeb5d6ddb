"""``forwardkit bench``: parameters, MACs, latency, throughput, memory and scaling of components.

:func:`bench_components` measures token or channel mixers over token counts (with the builtin baseline
of the kind always included) and fits the scaling exponent; :func:`bench_models` measures registered
models (at their default configs unless told otherwise). Both take ``configs``, config fields per
component name (``{"attention": {"head_dim": 16}}``, what ``forwardkit bench ... --set
attention.head_dim=16`` passes), validated against each component's Config before anything runs. Both
return the results JSON document (see :func:`forwardkit.bench.report.payload`).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
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

__all__ = ["bench_components", "bench_models", "check_compile", "check_configs", "exponents", "fit_exponent",
           "resolve_names"]

INTERFERENCE_NOTE = ("{workers} workers ran concurrently: their timings interfere (shared caches and "
                     "memory bandwidth); use --workers 1 for the cleanest numbers")
RAY_NOTE = ("the jobs ran as Ray tasks, several at once on a node and on whichever nodes had room: their timings "
            "interfere and come from those nodes' CPUs; use --backend local --workers 1 for the cleanest numbers")


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


def check_configs(
    kind: str, chosen: Sequence[str], configs: Mapping[str, Mapping[str, Any]] | None, registry: Any = None
) -> dict[str, dict[str, Any]]:
    """Validate config fields per component (``{name: {field: value}}``) for a benchmark of ``chosen``.

    Raises (CLI exit status 2) :class:`~forwardkit.errors.UnknownComponentError` for a name that is not
    registered, :class:`~forwardkit.errors.ForwardkitError` for one that is not measured (or a mixer's
    ``dim``, which ``dim=`` sets for all), and :class:`~forwardkit.errors.ConfigError` naming
    ``name.field`` for a value the component's Config rejects. Returns plain dicts.
    """
    from forwardkit.errors import ForwardkitError
    from forwardkit.registry import default_registry

    reg = registry or default_registry()
    checked: dict[str, dict[str, Any]] = {}
    for name, fields in (configs or {}).items():
        reg.get(kind, name)  # an unknown name raises with close matches
        if name not in chosen:
            raise ForwardkitError(f"config fields were given for {kind} {name!r}, which is not measured "
                                  f"(measured: {', '.join(chosen)}); add it to the names")
        if not isinstance(fields, Mapping):
            raise ForwardkitError(f"the config of {kind} {name!r} must be a mapping of fields, got {fields!r}")
        if kind in KIND_BASELINE and "dim" in fields:
            raise ForwardkitError(f"{name}.dim: the channels C of every mixer are set by dim (--dim), "
                                  "not per component")
        _validate_fields(kind, name, dict(fields), reg)
        checked[name] = dict(fields)
    return checked


def _validate_fields(kind: str, name: str, fields: dict[str, Any], registry: Any) -> None:
    """Validate ``fields`` against the Config of ``kind/name``; issues are named ``name.field``."""
    from forwardkit.config import SPEC_TYPES
    from forwardkit.errors import ConfigError, ConfigIssue

    try:
        SPEC_TYPES[kind].parse({"name": name, **fields}, registry=registry)
    except ConfigError as err:
        issues = [ConfigIssue(f"{name}.{i.loc}" if i.loc else name, i.msg, list(i.allowed)) for i in err.issues]
        raise ConfigError(issues, source=f"the config of {kind} {name!r}") from None


def check_compile(compile: bool, device: str) -> None:
    """With ``compile``, a :class:`~forwardkit.errors.ForwardkitError` (CLI exit status 2) when torch.compile
    cannot work here (see :func:`forwardkit.engine.compiling.compile_unavailable`), before anything runs."""
    if not compile:
        return
    from forwardkit.engine.compiling import HINTS, compile_unavailable
    from forwardkit.errors import ForwardkitError

    reason = compile_unavailable(device)
    if reason is not None:
        raise ForwardkitError(f"--compile: {reason}; {HINTS['bench']}")


def _notes(workers: int, backend: str) -> list[str]:
    if backend == "ray":
        return [RAY_NOTE]
    return [INTERFERENCE_NOTE.format(workers=workers)] if workers > 1 else []


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
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    compile: bool = False,
    backend: str = "local",
    address: str | None = None,
    journal: Any = None,
) -> dict[str, Any]:
    """Measure every chosen component of ``kind`` at every rank and size; the results document.

    ``configs`` gives config fields per component name (see :func:`check_configs`); the others are built
    at their defaults. ``compile`` times each component through ``torch.compile`` after its compilations
    (``compile_s`` per row). ``backend="ray"`` runs each (component, rank) job as a Ray task on the
    cluster at ``address`` (see :func:`forwardkit.parallel.run_parallel`). With a ``journal``
    (:class:`forwardkit.journal.RunJournal`) the jobs recorded there are not measured again (see
    :func:`forwardkit.bench.mixers.run_jobs`)."""
    chosen = resolve_names(kind, names, registry)
    fields = check_configs(kind, chosen, configs, registry)
    check_compile(compile, device)
    n_workers, threads = plan_workers(len(chosen) * len(ranks), workers)
    jobs = [Job(kind=kind, name=name, rank=rank, sizes=list(sizes), dim=dim, batch=batch, threads=threads,
                warmup=warmup, repeats=repeats, budget_s=budget_s, device=device, extra=fields.get(name, {}),
                compile=compile)
            for name in chosen for rank in ranks]
    rows = run_jobs(jobs, workers=n_workers, registry=registry, runner=run_job, on_done=on_done, backend=backend,
                    address=address, journal=journal)
    notes = _notes(n_workers, backend)
    settings = _settings(names=chosen, ranks=list(ranks), sizes=list(sizes), dim=dim, batch=batch, backend=backend,
                         workers=n_workers, threads_per_worker=threads, repeats=repeats, warmup=warmup,
                         device=device, baseline=KIND_BASELINE.get(kind), configs=fields, compile=compile)
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
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    compile: bool = False,
    backend: str = "local",
    address: str | None = None,
    journal: Any = None,
) -> dict[str, Any]:
    """Measure registered models on ``example_batch(batch)``; the results document.

    Each model is built at its default config, with the fields ``configs`` gives for its name (see
    :func:`check_configs`). ``compile`` times ``forward_batch`` through ``torch.compile`` after its
    compilations (``compile_s`` per row)."""
    from forwardkit.bench.models import ModelJob, run_model_job
    from forwardkit.registry import default_registry

    reg = registry or default_registry()
    chosen = list(names) if names else reg.names("model")
    for name in chosen:
        reg.get("model", name)
    fields = check_configs("model", chosen, configs, reg)
    check_compile(compile, device)
    n_workers, threads = plan_workers(len(chosen), workers)
    jobs = [ModelJob(name=name, batch=batch, threads=threads, warmup=warmup, repeats=repeats,
                     budget_s=budget_s, device=device, config=fields.get(name, {}), compile=compile)
            for name in chosen]
    rows = run_jobs(jobs, workers=n_workers, registry=registry, runner=run_model_job, on_done=on_done,
                    backend=backend, address=address, journal=journal)
    notes = _notes(n_workers, backend)
    settings = _settings(names=chosen, batch=batch, backend=backend, workers=n_workers, threads_per_worker=threads,
                         repeats=repeats, warmup=warmup, device=device, configs=fields, compile=compile)
    return payload("model", rows, settings, notes)
