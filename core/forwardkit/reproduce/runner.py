"""Runs a reproduction: every arm for every seed, then the conditions, the verdict and the report.

An experiment arm trains with the trainer (in memory, nothing written); a program arm calls its declared
function. With ``workers > 1`` the independent (arm, seed) runs go to separate processes (spawn context),
each with ``torch.set_num_threads(max(1, cores // workers))``, or with ``backend="ray"`` to Ray tasks
requesting that many CPUs each; every run seeds everything from its own seed, so the numbers do not depend
on the number of workers or on the backend. Worker processes discover the installed plugins themselves
(the default registry); a registry passed in is used only with one local worker. With a journal
(:class:`forwardkit.journal.RunJournal`) each finished run is recorded, and a run already recorded there
is not run again.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from forwardkit.errors import ForwardkitError
from forwardkit.journal import RunJournal, run_key
from forwardkit.parallel import cpu_cores, in_process, plan_workers, run_parallel, task_resources
from forwardkit.registry import Registry
from forwardkit.reproduce.history import earlier_runs
from forwardkit.reproduce.spec import ReproductionSpec
from forwardkit.reproduce.verdict import judge, summarize


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch threads (None: as they are), and put the previous number back."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_one(experiment: dict[str, Any], threads: int | None = None, registry: Registry | None = None) -> dict[str, Any]:
    """Train one experiment (in memory, nothing written); its final metrics, steps and seconds."""
    from forwardkit.engine.trainer import Trainer

    start = time.perf_counter()
    with torch_threads(threads):
        result = Trainer(experiment, write=False, verbose=False, registry=registry).fit()
    return {"final": {k: float(v) for k, v in result.final.items()}, "steps": result.steps,
            "seconds": time.perf_counter() - start}


def run_program(path: str, config: dict[str, Any], seed: int, smoke: bool,
                threads: int | None = None) -> dict[str, Any]:
    """Call a program arm's function; its figures (numbers), and seconds."""
    from forwardkit.registry import import_path

    start = time.perf_counter()
    fn = import_path(path)
    with torch_threads(threads):
        figures = fn(dict(config), seed=seed, smoke=smoke)
    if not isinstance(figures, Mapping) or not figures:
        raise ForwardkitError(f"program {path!r} returned {type(figures).__name__}, expected a non-empty mapping of "
                              "figure names to numbers")
    final: dict[str, float] = {}
    for key, value in figures.items():
        try:
            final[str(key)] = float(value)
        except (TypeError, ValueError):
            raise ForwardkitError(f"program {path!r}: figure {key!r} is {value!r}, not a number") from None
    return {"final": final, "steps": None, "seconds": time.perf_counter() - start}


def _progress(total: int, label: str) -> tuple[Callable[[str], None], Callable[[], None]]:
    """(advance(message), close()): a rich bar on a terminal, plain lines otherwise."""
    from rich.console import Console

    console = Console(stderr=True)
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=console, transient=True)
        bar.start()
        task = bar.add_task(label, total=total)

        def advance(msg: str) -> None:
            bar.console.print(msg, highlight=False)
            bar.advance(task)

        return advance, bar.stop
    done = [0]

    def line(msg: str) -> None:
        done[0] += 1
        print(f"[{done[0]}/{total}] {msg}", file=sys.stderr, flush=True)

    return line, lambda: None


def _calls(spec: ReproductionSpec, seeds: list[int], arms: list[str], *, slug: str, smoke: bool, here: bool,
           threads: int, registry: Registry | None, exclusive: bool = False,
           ) -> list[tuple[str, int, Callable[..., Any], tuple[Any, ...]]]:
    """(arm, seed, function, arguments) of every run of ``arms``; every experiment validates before
    anything trains. Runs ``here`` (in this process) keep its torch threads, unless ``exclusive``; the
    others set ``threads``."""
    from forwardkit.config import validate_experiment

    out: list[tuple[str, int, Callable[..., Any], tuple[Any, ...]]] = []
    chosen = threads if not here or exclusive else None  # in this process: leave its threads alone
    for arm in arms:
        for seed in seeds:
            if spec.program(arm) is not None:
                path, config = spec.program_config(arm, smoke=smoke)
                out.append((arm, seed, run_program, (path, config, seed, smoke, chosen)))
                continue
            exp = spec.experiment(arm, seed, smoke=smoke, name=slug)
            validate_experiment(exp, source=f"reproduction of {slug}, experiment {exp['name']}", registry=registry)
            out.append((arm, seed, run_one, (exp, chosen, registry) if here else (exp, chosen)))
    return out


def job_key(slug: str, arm: str, seed: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """The journal key of one run: what it computes (experiment, or program, config, seed and smoke), not
    the threads or the registry it runs with."""
    inputs = args[:1] if fn is run_one else args[:4]
    return run_key({"slug": slug, "arm": arm, "seed": seed, "run": fn.__name__, "inputs": inputs})


def figures_of(spec: ReproductionSpec) -> list[str]:
    """The metrics the conditions read (the spec's default first), the columns of the report's tables."""
    names = [spec.metric]
    for c in spec.conditions:
        for m in _condition_metrics(c):
            if m and m not in names:
                names.append(m)
    return names


def _condition_metrics(c: Any) -> list[str | None]:
    found: list[str | None] = [getattr(c, "metric", None)]
    for sub in getattr(c, "conditions", []):
        found += _condition_metrics(sub)
    for key in ("figure", "left", "right"):
        fig = getattr(c, key, None)
        if fig is not None and hasattr(fig, "arm"):
            found.append(fig.metric)
            if fig.over is not None:
                found.append(fig.over.metric)
            for part in (getattr(fig, "minus", None), getattr(fig.over, "minus", None)):
                if part is not None:
                    found.append(part.metric)
    return found


def _arm_summary(spec: ReproductionSpec, arm: str, runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    figures = {}
    names = figures_of(spec)
    if spec.program(arm) is not None:  # a program arm's figures are few and all of them are its results
        names += [k for k in runs[0]["final"] if k not in names]
    for name in names:
        vals = [r["final"].get(name) for r in runs]
        if all(v is not None and math.isfinite(v) for v in vals):
            figures[name] = summarize([float(v) for v in vals if v is not None], spec.level)
    return {"kind": "program" if spec.program(arm) else "experiment",
            "role": "condition" if arm in spec.used_arms() else "exploratory",
            "seeds": seeds, "figures": figures, "final": [r["final"] for r in runs],
            "steps": [r["steps"] for r in runs], "seconds": sum(r["seconds"] for r in runs),
            "overrides": spec.arms[arm]}


def run_reproduction(
    spec: ReproductionSpec,
    *,
    slug: str,
    out_dir: Path | None,
    seeds: list[int] | None = None,
    smoke: bool = False,
    workers: int = 1,
    registry: Registry | None = None,
    command: str | None = None,
    verbose: bool = True,
    backend: str = "local",
    address: str | None = None,
    journal: RunJournal | None = None,
) -> dict[str, Any]:
    """Run every (arm, seed); return the results (and write report.md, results.json, figure.png to out_dir).

    ``backend="ray"`` runs the (arm, seed) runs as Ray tasks on the cluster at ``address`` (arms declared
    ``exclusive``, which measure time, still run here, one at a time, with every core). With a ``journal``
    the runs it holds are taken from it, and every run that finishes is recorded in it. A run that fails
    in a worker does not stop the others; the failures are raised together at the end."""
    import torch

    seeds = list(seeds if seeds is not None else spec.seeds)
    workers, threads = plan_workers(len(spec.arms) * len(seeds), workers)
    here = in_process(backend, workers)
    shared = [a for a in spec.arms if a not in spec.exclusive]
    jobs = _calls(spec, seeds, shared, slug=slug, smoke=smoke, here=here, threads=threads, registry=registry)
    alone = _calls(spec, seeds, spec.exclusive, slug=slug, smoke=smoke, here=True, threads=cpu_cores(),
                   registry=registry, exclusive=True)
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    keys = {(arm, seed): job_key(slug, arm, seed, fn, args) for arm, seed, fn, args in jobs + alone}
    if journal is not None:
        for (arm, seed), key in keys.items():
            found = journal.get(key)
            if found is not None:
                runs[(arm, seed)] = found
    if verbose:
        if backend == "ray":
            from forwardkit.parallel_ray import connect, describe

            print(f"reproduce {slug}: {len(jobs)} runs as Ray tasks of {threads} CPU(s) each on the "
                  f"{describe(connect(address))}", file=sys.stderr, flush=True)
        if runs and journal is not None:
            print(f"reproduce {slug}: {len(runs)} of {len(keys)} runs finished earlier (kept in {journal.folder}), "
                  "not run again", file=sys.stderr, flush=True)
    advance, close = (_progress(len(jobs) + len(alone), f"reproduce {slug}") if verbose
                      else (lambda _m: None, lambda: None))
    failed: dict[tuple[str, int], BaseException] = {}
    start = time.perf_counter()

    def show(arm: str, seed: int, res: dict[str, Any], note: str = "") -> None:
        shown = res["final"].get(spec.metric)
        value = f"{spec.metric} = {shown:.4f}" if isinstance(shown, float) else f"{len(res['final'])} figures"
        advance(f"{slug}: {arm} seed {seed}: {value} ({res['seconds']:.1f}s{note})")

    def recorder(batch: list[tuple[str, int, Callable[..., Any], tuple[Any, ...]]]) -> Callable[[int, Any], None]:
        def record(i: int, res: dict[str, Any] | None) -> None:
            arm, seed, _, _ = batch[i]
            if res is None:  # failed: reported by on_error
                return
            runs[(arm, seed)] = res
            if journal is not None:
                journal.put(keys[(arm, seed)], res, label=f"{slug} {arm} seed {seed}")
            show(arm, seed, res)

        return record

    def failure(batch: list[tuple[str, int, Callable[..., Any], tuple[Any, ...]]]) -> Callable[[int, BaseException],
                                                                                               None]:
        def record(i: int, exc: BaseException) -> None:
            arm, seed, _, _ = batch[i]
            failed[(arm, seed)] = exc
            advance(f"{slug}: {arm} seed {seed}: failed ({type(exc).__name__}: {exc})")

        return record

    try:
        for batch, n, where in ((jobs, workers, backend), (alone, 1, "local")):
            for arm, seed, _, _ in batch:
                if (arm, seed) in runs:
                    show(arm, seed, runs[(arm, seed)], note=", finished earlier")
            todo = [job for job in batch if (job[0], job[1]) not in runs]
            remote = not in_process(where, n)
            run_parallel(_call, [(fn, *args) for _, _, fn, args in todo], workers=n, on_done=recorder(todo),
                         on_error=failure(todo) if remote else None, backend=where, address=address,
                         resources=task_resources(threads, _device(todo)) if where == "ray" else None)
    finally:
        close()
    if failed:
        kept = f"; the {len(runs)} finished runs are kept in {journal.folder}" if journal is not None and runs else ""
        raise ForwardkitError(f"{len(failed)} of {len(keys)} runs of the reproduction of {slug} failed: " + "; ".join(
            f"{arm} seed {seed}: {type(failed[arm, seed]).__name__}: {failed[arm, seed]}"
            for arm, seed in keys if (arm, seed) in failed) + kept)  # in the order of the runs, not of the failures
    arms = {arm: _arm_summary(spec, arm, [runs[(arm, s)] for s in seeds], seeds) for arm in spec.arms}
    verdict = judge(spec.conditions, {a: v["final"] for a, v in arms.items()}, metric=spec.metric,
                    direction=spec.direction, level=spec.level, paired=spec.paired)
    head = verdict.conditions[spec.headline]
    results: dict[str, Any] = {
        "slug": slug, "paper": spec.paper, "arxiv": spec.arxiv, "claim": spec.claim,
        "paper_result": spec.paper_result, "pass_bar": spec.pass_bar, "deviations": spec.deviations,
        "spec_hash": spec.fingerprint(), "metric": spec.metric, "direction": spec.direction, "level": spec.level,
        "paired": spec.paired, "seeds": seeds, "smoke": smoke, "arms": arms, "verdict": verdict.to_dict(),
        "measured": f"{head['text']}: {head['reason']}",
        "date": date.today().isoformat(), "torch": torch.__version__, "python": sys.version.split()[0],
        "backend": backend, "workers": workers, "threads_per_worker": torch.get_num_threads() if here else threads,
        "minutes": (time.perf_counter() - start) / 60, "expected_minutes": spec.expected_minutes,
        "command": command or default_command(slug, seeds=len(seeds), smoke=smoke),
        "spec": spec.model_dump(mode="json"),
        "history": [] if smoke or out_dir is None else earlier_runs(Path(out_dir)),
    }
    if out_dir is not None:
        from forwardkit.reproduce.report import write_outputs

        write_outputs(results, Path(out_dir))
        results["out_dir"] = str(out_dir)
    return results


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _device(jobs: list[tuple[str, int, Callable[..., Any], tuple[Any, ...]]]) -> str:
    """``cuda`` when an experiment among ``jobs`` trains on CUDA (each run then asks Ray for a GPU)."""
    for _, _, fn, args in jobs:
        if fn is run_one and str(args[0].get("trainer", {}).get("device", "cpu")).startswith("cuda"):
            return "cuda"
    return "cpu"


def default_command(slug: str, *, seeds: int, smoke: bool) -> str:
    return f"forwardkit reproduce {slug} --seeds {seeds}" + (" --smoke" if smoke else "")
