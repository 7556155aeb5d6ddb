"""One trial: the experiment with the trial's values, trained by forwardkit's trainer, its metric returned.

Pruning is fed by the trainer's evaluations: a :class:`PruningCallback` joins the run's callbacks and, at
every ``on_evaluate_end`` of the metric's split during training (``val`` for ``val/accuracy``), reports the
metric to the Optuna trial (``trial.report(value, step=epoch)``) and asks ``trial.should_prune()``; when the
pruner says so the run stops there (``ctx.request_stop``) and the trial is recorded as pruned.

In this process the trial object is used as it is. A trial run as a Ray task opens the study in its own
storage (:class:`StudyRef`: URL, study name, trial id, pruner) to report there, so the pruner compares it
with every other trial; the driver alone asks and tells.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from forwardkit.interfaces import Callback, RunContext

#: how a trial ended (what the driver tells the study)
COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"


class Reporter(Protocol):
    """Where a running trial's intermediate values go: an ``optuna.trial.Trial`` fits."""

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


class PruningCallback(Callback):
    """Reports ``metric`` after each evaluation of its split and stops the run when the pruner says so."""

    #: after every other callback has seen the evaluation (a callback may still change what is evaluated)
    priority = 10_000

    def __init__(self, *, metric: str, reporter: Reporter | None) -> None:
        super().__init__()
        self.metric, self.reporter = metric, reporter
        self.split = metric.split("/", 1)[0]
        #: ``[(epoch, value), ...]`` as reported
        self.reported: list[tuple[int, float]] = []
        self.pruned_at: int | None = None
        self.training = True

    def on_fit_end(self, ctx: RunContext) -> None:
        self.training = False  # the final evaluations (test at the end) are the trial's value, not reports

    def on_evaluate_end(self, split: str, metrics: Mapping[str, float], ctx: RunContext) -> None:
        if not self.training or split != self.split or self.metric not in metrics or self.pruned_at is not None:
            return
        value, step = float(metrics[self.metric]), ctx.epoch + 1
        if not math.isfinite(value):
            return
        self.reported.append((step, value))
        if self.reporter is None:
            return
        self.reporter.report(value, step)
        if self.reporter.should_prune():
            self.pruned_at = step
            ctx.request_stop(f"pruned by the sweep after epoch {step} ({self.metric} {value:.4g})")


@dataclass(frozen=True)
class StudyRef:
    """How a trial running elsewhere reaches its study: storage URL, study name, trial id, pruner."""

    storage: str
    study: str
    trial_id: int
    pruner: str
    n_trials: int


def open_reporter(ref: StudyRef) -> Any:
    """The ``optuna.trial.Trial`` of ``ref``, opened in its storage (with the sweep's pruner)."""
    import optuna

    from forwardkit.sweep.study import make_pruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=ref.study, storage=ref.storage, pruner=make_pruner(ref.pruner, ref.n_trials),
                              sampler=optuna.samplers.RandomSampler())
    return optuna.trial.Trial(study, ref.trial_id)


def train_trial(experiment: dict[str, Any], *, run_dir: Path, metric: str, reporter: Reporter | None,
                threads: int = 1) -> dict[str, Any]:
    """Train ``experiment`` into ``run_dir`` with pruning fed to ``reporter``; the outcome as plain data:
    ``state`` (complete / pruned / failed), ``value`` (the metric, None when missing), ``reported``,
    ``final`` (every final metric), ``error``, ``seconds``."""
    import torch

    from forwardkit.engine.trainer import Trainer

    torch.set_num_threads(max(1, threads))
    start = time.perf_counter()
    pruning = PruningCallback(metric=metric, reporter=reporter)
    try:
        trainer = Trainer(experiment, run_dir=run_dir, verbose=False, overwrite=True)
        trainer.build()
        trainer.callbacks.append(pruning)
        trainer.callback_names.append("sweep-pruning")
        result = trainer.fit()
    except Exception as exc:  # a trial that fails is recorded, the sweep goes on
        return {"state": FAILED, "value": None, "reported": pruning.reported, "final": {},
                "error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - start}
    final = {k: float(v) for k, v in result.final.items()}
    value = final.get(metric)
    if pruning.pruned_at is not None:
        state, value = PRUNED, pruning.reported[-1][1]
    elif value is None or not math.isfinite(value):
        state = FAILED
    else:
        state = COMPLETE
    error = None
    if state == FAILED:
        error = (f"the run has no finite {metric!r} (its final metrics: {', '.join(sorted(final)) or 'none'})"
                 if not result.diverged else f"training diverged ({result.stop_reason or 'non-finite loss'})")
    return {"state": state, "value": value, "reported": pruning.reported, "final": final,
            "error": error, "seconds": time.perf_counter() - start, "missing_metric": metric not in final}


def remote_trial(experiment: dict[str, Any], run_dir: str, metric: str, ref: StudyRef | None,
                 threads: int) -> dict[str, Any]:
    """The body of a trial run as a Ray task: its reporter opened from ``ref`` (None: no pruning)."""
    reporter = None
    note = None
    if ref is not None:
        try:
            reporter = open_reporter(ref)
        except Exception as exc:  # the storage is not reachable from this node: train without pruning
            note = f"pruning off for this trial: its study storage is not reachable here ({type(exc).__name__}: {exc})"
    outcome = train_trial(experiment, run_dir=Path(run_dir), metric=metric, reporter=reporter, threads=threads)
    from forwardkit.sweep.study import driver_id

    outcome["worker"] = driver_id()
    if note:
        outcome["note"] = note
    return outcome
