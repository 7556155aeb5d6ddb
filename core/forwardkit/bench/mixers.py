"""Measure token and channel mixers over token counts, and run benchmark jobs in worker processes.

A *job* is one ``(kind, name, rank)`` with its list of sizes; it returns one row per size. A row either
holds the measurements (``status == "ok"``) or the reason the size was skipped (``status ==
"skipped"``): an unsupported rank, a size that is not a perfect square (rank 2) or cube (rank 3), a grid
the component's ``supports()`` refuses, or an exception while building or running the component. Each
size gets a fresh component built for its exact grid (``ComponentSpec.build_for_input``, so a mixer's
``fields_for_input`` sees it). Nothing here lets one component crash the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: what ``peak_mb`` means in the results, per device
MEMORY_METHOD = {
    "cpu": "peak bytes allocated during one forward+backward, above the bytes held before it "
           "(running sum of torch.profiler memory events, profile_memory=True)",
    "cuda": "torch.cuda.max_memory_allocated during one forward+backward, minus the bytes held before it",
}
TIMING_METHOD = ("forwardkit.measure.latency_ms: median wall time of repeats after warm-up; "
                 "fwd runs under torch.no_grad, fwd+bwd backpropagates a fixed random gradient "
                 "into the parameters and the input")
KIND_BASELINE = {"token_mixer": "attention", "channel_mixer": "mlp"}


@dataclass
class Job:
    """One component at one rank over several sizes (token counts)."""

    kind: str
    name: str
    rank: int
    sizes: list[int]
    dim: int = 64
    batch: int = 8
    threads: int = 1
    warmup: int = 2
    repeats: int = 7
    #: at most this many seconds of timed repeats per measurement (at least 3 repeats)
    budget_s: float = 3.0
    device: str = "cpu"
    #: config fields of the component (besides ``dim``), e.g. ``{"head_dim": 16}``
    extra: dict[str, Any] = field(default_factory=dict)
    #: time the component through ``torch.compile`` (its compile time is reported as ``compile_s``)
    compile: bool = False

    def skipped(self, reason: str) -> list[dict[str, Any]]:
        return [_row(self, n, status="skipped", reason=reason) for n in self.sizes]


def spatial_shape(rank: int, n: int) -> tuple[int, ...] | str:
    """The spatial shape with ``n`` tokens at ``rank``, or why there is none."""
    if rank == 1:
        return (n,)
    side = round(n ** (1.0 / rank))
    for s in (side - 1, side, side + 1):
        if s > 0 and s**rank == n:
            return (s,) * rank
    what = {2: "a perfect square", 3: "a perfect cube"}.get(rank, f"a perfect {rank}-th power")
    return f"N={n} is not {what}, so it has no rank-{rank} layout"


def _timed(fn: Callable[[], Any], job: Any, sync: Callable[[], None]) -> float:
    """Median ms of ``fn`` with forwardkit.measure.latency_ms; fewer repeats when one call is slow."""
    from forwardkit.measure import latency_ms

    def call() -> None:
        fn()
        sync()

    start = time.perf_counter()
    call()  # first warm-up call, timed to size the number of repeats
    once = time.perf_counter() - start
    repeats = max(3, min(job.repeats, int(job.budget_s / max(once, 1e-9))))
    return latency_ms(call, warmup=max(job.warmup - 1, 0), repeats=repeats)


def peak_bytes(fn: Callable[[], Any], device: str) -> int:
    """Peak bytes allocated while ``fn`` runs, above what was allocated before (see MEMORY_METHOD)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - before)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]  # type: ignore[union-attr]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return int(peak)


def compiled_first_calls(forward: Callable[[], Any], forward_backward: Callable[[], Any],
                         sync: Callable[[], None]) -> float:
    """Seconds of the first no-grad forward and the first forward+backward through a compiled callable:
    the compilations (the timed repeats come after them)."""
    start = time.perf_counter()
    forward()
    forward_backward()
    sync()
    return time.perf_counter() - start


def measure_module(module: Any, x: Any, job: Job) -> dict[str, Any]:
    """Parameters, MACs, fwd and fwd+bwd latency, tokens/s and peak memory of ``module(x)``; with
    ``job.compile`` the latencies are those of ``torch.compile(module)`` after its compilations, which are
    timed apart (``compile_s``)."""
    import torch

    from forwardkit.measure import count_macs, count_parameters

    device = job.device
    sync: Callable[[], None] = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    module = module.to(device).train()
    x = x.to(device)
    tokens = x.numel() // x.shape[-1]
    params = [p for p in module.parameters() if p.requires_grad]
    compiled = None
    if getattr(job, "compile", False):
        from forwardkit.engine.compiling import compile_forward

        compiled = compile_forward(module, device=device, caller="bench")
    run = compiled if compiled is not None else module

    def forward() -> None:
        with torch.no_grad():
            run(x)

    x_grad = x.detach().clone().requires_grad_(True)
    grad_out = torch.randn_like(x)

    def forward_backward() -> None:
        for p in params:
            p.grad = None
        x_grad.grad = None
        out = run(x_grad)
        out.backward(grad_out)

    macs = count_macs(lambda: module(x))
    compile_s = compiled_first_calls(forward, forward_backward, sync) if compiled is not None else None
    fwd_ms = _timed(forward, job, sync)
    fwdbwd_ms = _timed(forward_backward, job, sync)
    peak = peak_bytes(forward_backward, device)
    return {
        "params": sum(p.numel() for p in params) if params else count_parameters(module),
        "macs": macs,
        "fwd_ms": fwd_ms,
        "fwdbwd_ms": fwdbwd_ms,
        "tokens_per_s": tokens / (fwd_ms / 1e3) if fwd_ms > 0 else math.inf,
        "tokens_per_s_fwdbwd": tokens / (fwdbwd_ms / 1e3) if fwdbwd_ms > 0 else math.inf,
        "peak_mb": peak / 2**20,
        **({"compile_s": compile_s} if compiled is not None else {}),
    }


def _row(job: Job, n: int, shape: Any = None, **values: Any) -> dict[str, Any]:
    return {"kind": job.kind, "name": job.name, "rank": job.rank, "tokens": n, "batch": job.batch,
            "dim": job.dim, "shape": list(shape) if shape is not None else None, **values}


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")


def run_job(job: Job | dict[str, Any], registry: Any = None) -> list[dict[str, Any]]:
    """Measure one component at one rank over every size of the job; one row per size, never raises."""
    import torch

    from forwardkit.config import SPEC_TYPES

    if isinstance(job, dict):
        job = Job(**job)
    torch.set_num_threads(max(1, job.threads))
    rows: list[dict[str, Any]] = []

    def build(spatial: tuple[int | None, ...]) -> Any:
        """A fresh module per size, built for its exact grid: the config fields its class fills for this
        input (``fields_for_input``), seeded."""
        torch.manual_seed(0)
        return spec.build_for_input(spatial)

    try:
        spec = SPEC_TYPES[job.kind].parse({"name": job.name, "dim": job.dim, **job.extra}, registry=registry)
        ranks = getattr(spec.component_class(), "ranks", None)
    except Exception as exc:
        return job.skipped(f"cannot build: {_error(exc)}")
    if ranks is not None and job.rank not in ranks:
        return job.skipped(f"rank {job.rank} not supported (ranks: {sorted(ranks)})")
    generator = torch.Generator().manual_seed(0)
    for n in job.sizes:
        spatial = spatial_shape(job.rank, n)
        if isinstance(spatial, str):
            rows.append(_row(job, n, status="skipped", reason=spatial))
            continue
        try:
            module = build(spatial)
        except Exception as exc:
            rows.append(_row(job, n, spatial, status="skipped", reason=f"cannot build: {_error(exc)}"))
            continue
        supports = getattr(module, "supports", None)
        if supports is not None and not supports(spatial):
            rows.append(_row(job, n, spatial, status="skipped", reason=f"supports({spatial}) is False"))
            continue
        x = torch.randn(job.batch, *spatial, job.dim, generator=generator)
        try:
            values = measure_module(module, x, job)
        except Exception as exc:
            rows.append(_row(job, n, spatial, status="skipped", reason=f"failed while running: {_error(exc)}"))
            continue
        rows.append(_row(job, n, spatial, status="ok", **values))
    return rows


def run_jobs(
    jobs: Sequence[Any],
    *,
    workers: int,
    registry: Any = None,
    runner: Callable[..., list[dict[str, Any]]] = run_job,
    on_done: Callable[[list[dict[str, Any]]], None] | None = None,
    backend: str = "local",
    address: str | None = None,
    journal: Any = None,
) -> list[dict[str, Any]]:
    """Run ``jobs`` with ``runner(job, registry)``: in this process when ``workers == 1``, else in
    ``workers`` spawned processes, or as Ray tasks (each asking for the job's threads, and a GPU on CUDA)
    with ``backend="ray"`` on the cluster at ``address``; ``runner`` must then be a module-level function,
    and the default registry of each process is used. A worker that died is recorded as skipped rows.

    With a ``journal`` (:class:`forwardkit.journal.RunJournal`) the rows of every job that ran are recorded
    as it finishes, and a job recorded there (the same settings, threads included) is not run again."""
    import torch

    from forwardkit.journal import run_key
    from forwardkit.parallel import in_process, run_parallel, task_resources

    keys = [run_key({"runner": getattr(runner, "__name__", str(runner)), "job": asdict(job)}) for job in jobs]
    results: list[list[dict[str, Any]] | None] = [journal.get(k) if journal is not None else None for k in keys]
    todo = [i for i, rows in enumerate(results) if rows is None]
    if on_done is not None:
        for rows in results:
            if rows is not None:
                on_done(rows)
    here = in_process(backend, workers)
    calls = [(jobs[i], registry) if here else (jobs[i],) for i in todo]
    crashed: set[int] = set()
    before = torch.get_num_threads()
    try:
        def died(j: int, exc: BaseException) -> list[dict[str, Any]]:
            crashed.add(j)
            return jobs[todo[j]].skipped(f"worker failed: {_error(exc)}")

        def done(j: int, rows: list[dict[str, Any]]) -> None:
            results[todo[j]] = rows
            if journal is not None and j not in crashed:
                journal.put(keys[todo[j]], rows, label=f"{jobs[todo[j]].name}")
            if on_done is not None:
                on_done(rows)

        resources = (task_resources(max(job.threads for job in jobs), jobs[0].device)
                     if backend == "ray" and jobs else None)
        run_parallel(runner, calls, workers=workers, on_error=None if here else died, on_done=done,
                     backend=backend, address=address, resources=resources)
    finally:
        torch.set_num_threads(before)
    return [row for rows in results for row in rows or []]
