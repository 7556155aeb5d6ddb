"""Runs a reproduction: every arm for every seed, each with the trainer, then the verdict and the report.

With ``workers > 1`` the independent (arm, seed) runs go to separate processes (spawn context), each
with ``torch.set_num_threads(max(1, cores // workers))``; every run seeds everything from its own seed,
so the numbers do not depend on the number of workers. Worker processes discover the installed plugins
themselves (the default registry); a registry passed in is used only with one worker.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from forwardkit.errors import ForwardkitError
from forwardkit.parallel import plan_workers, run_parallel
from forwardkit.registry import Registry
from forwardkit.reproduce.spec import ReproductionSpec
from forwardkit.reproduce.verdict import decide, summarize


def run_one(experiment: dict[str, Any], metric: str, threads: int | None = None,
            registry: Registry | None = None) -> dict[str, Any]:
    """Train one experiment (in memory, nothing written) and return the metric and the final metrics."""
    import torch

    from forwardkit.engine.trainer import Trainer

    if threads is not None:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    result = Trainer(experiment, write=False, verbose=False, registry=registry).fit()
    if metric not in result.final:
        raise ForwardkitError(f"metric {metric!r} is not among the final metrics of {experiment['name']!r}: "
                              f"{', '.join(sorted(result.final)) or '(none)'}")
    return {"value": float(result.final[metric]), "final": {k: float(v) for k, v in result.final.items()},
            "steps": result.steps, "seconds": time.perf_counter() - start}


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
) -> dict[str, Any]:
    """Run every (arm, seed); return the results (and write report.md, results.json, figure.png to out_dir)."""
    import torch

    from forwardkit.config import validate_experiment

    seeds = list(seeds if seeds is not None else spec.seeds)
    jobs = [(arm, seed, spec.experiment(arm, seed, smoke=smoke, name=slug)) for arm in spec.arms for seed in seeds]
    for _, _, exp in jobs:  # every arm validates before anything trains
        validate_experiment(exp, source=f"reproduction of {slug}, experiment {exp['name']}", registry=registry)
    workers, threads = plan_workers(len(jobs), workers)
    advance, close = _progress(len(jobs), f"reproduce {slug}") if verbose else (lambda _m: None, lambda: None)
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    start = time.perf_counter()

    def record(i: int, res: dict[str, Any]) -> None:
        arm, seed, _ = jobs[i]
        runs[(arm, seed)] = res
        advance(f"{slug}: {arm} seed {seed}: {spec.metric} = {res['value']:.4f} ({res['seconds']:.1f}s)")

    calls = ([(exp, spec.metric, None, registry) for _, _, exp in jobs] if workers == 1
             else [(exp, spec.metric, threads) for _, _, exp in jobs])
    try:
        run_parallel(run_one, calls, workers=workers, on_done=record)
    finally:
        close()
    arms: dict[str, Any] = {}
    for arm in spec.arms:
        per_seed = [runs[(arm, s)] for s in seeds]
        arms[arm] = {**summarize([r["value"] for r in per_seed]), "seeds": seeds,
                     "final": [r["final"] for r in per_seed], "seconds": sum(r["seconds"] for r in per_seed),
                     "overrides": spec.arms[arm]}
    b, m = spec.baseline_arm, spec.method_arm
    verdict = decide(arms[b]["values"], arms[m]["values"], direction=spec.direction, min_effect=spec.min_effect,
                     metric=spec.metric, names=(b, m), claim=spec.claim_type, margin=spec.margin,
                     paired=spec.paired)
    results: dict[str, Any] = {
        "slug": slug, "paper": spec.paper, "arxiv": spec.arxiv, "claim": spec.claim,
        "paper_result": spec.paper_result, "metric": spec.metric, "direction": spec.direction,
        "min_effect": spec.min_effect, "claim_type": spec.claim_type, "margin": spec.margin,
        "paired": spec.paired,
        "baseline_arm": b, "method_arm": m, "seeds": seeds, "smoke": smoke,
        "arms": arms, "verdict": verdict.to_dict(),
        "measured": f"{m} {arms[m]['mean']:.4g} ± {arms[m]['std']:.2g} vs {b} {arms[b]['mean']:.4g} ± "
                    f"{arms[b]['std']:.2g} ({spec.metric})",
        "date": date.today().isoformat(), "torch": torch.__version__, "python": sys.version.split()[0],
        "workers": workers, "threads_per_worker": threads if workers > 1 else torch.get_num_threads(),
        "minutes": (time.perf_counter() - start) / 60, "expected_minutes": spec.expected_minutes,
        "command": command or default_command(slug, seeds=len(seeds), smoke=smoke),
        "spec": spec.model_dump(mode="json"),
    }
    if out_dir is not None:
        from forwardkit.reproduce.report import write_outputs

        write_outputs(results, Path(out_dir))
        results["out_dir"] = str(out_dir)
    return results


def default_command(slug: str, *, seeds: int, smoke: bool) -> str:
    return f"forwardkit reproduce {slug} --seeds {seeds}" + (" --smoke" if smoke else "")
