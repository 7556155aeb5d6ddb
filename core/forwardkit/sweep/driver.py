"""The sweep's loop: ask the study for a trial, train it (here or as a Ray task), tell the study how it
ended, until the study holds ``n_trials``; then the leaderboard, the best experiment and the plots.

With ``backend="ray"`` the driver keeps as many trials in flight as it allows (``parallel``, by default
the cluster's CPUs over the threads of a trial), asks a new one from the study each time one finishes and
tells its result back then, so TPE always samples from every finished trial.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forwardkit.errors import ForwardkitError
from forwardkit.sweep.objective import COMPLETE, FAILED, PRUNED, StudyRef, remote_trial, train_trial
from forwardkit.sweep.params import ParamSpec, apply_params
from forwardkit.sweep.study import DRIVER_ATTR, RETRY_ATTR, counted, driver_id, open_study, recover_interrupted


@dataclass
class SweepSettings:
    """Everything ``forwardkit sweep`` was asked for."""

    experiment: dict[str, Any]
    params: list[ParamSpec]
    metric: str
    direction: str
    n_trials: int
    out_dir: Path
    storage: str
    study_name: str
    pruner: str = "median"
    backend: str = "local"
    address: str | None = None
    parallel: int | None = None
    threads: int = 1
    seed: int = 0
    #: draw the PNG plots at the end
    plots: bool = True
    #: called with one line per event (trial started / finished)
    say: Callable[[str], None] = field(default=print)


@dataclass
class SweepResult:
    """What a sweep leaves: its study and where it wrote."""

    study: Any
    out_dir: Path
    ran: int
    recovered: list[int]
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


def trial_experiment(settings: SweepSettings, trial: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(experiment, values)``: the trial's experiment mapping (quiet, named after the trial) and the
    values its parameters got."""
    values = {spec.path: spec.value(trial.params[spec.path]) for spec in settings.params}
    data = apply_params(settings.experiment, values)
    trainer = data.setdefault("trainer", {})
    if isinstance(trainer, dict):
        trainer["progress"] = "none"
    data["name"] = f"{settings.experiment.get('name', 'experiment')}-trial{trial.number}"
    return data, values


def _distributions(settings: SweepSettings) -> dict[str, Any]:
    return {spec.path: spec.distribution() for spec in settings.params}


def _ask(study: Any, settings: SweepSettings) -> tuple[Any, dict[str, Any], dict[str, Any], Path]:
    trial = study.ask(fixed_distributions=_distributions(settings))
    trial.set_user_attr(DRIVER_ATTR, driver_id())
    data, values = trial_experiment(settings, trial)
    run_dir = settings.out_dir.resolve() / "trials" / f"{trial.number:04d}"  # a Ray worker has its own cwd
    trial.set_user_attr("run_dir", str(run_dir))
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={json.dumps(v)}" for k, v in values.items())
    settings.say(f"trial {trial.number} started: {shown}")
    return trial, data, values, run_dir


def _tell(study: Any, settings: SweepSettings, trial: Any, outcome: dict[str, Any]) -> None:
    """Record a finished trial: its value (complete), its last reported value (pruned), or its error."""
    from optuna.trial import TrialState

    for key in ("error", "note", "worker"):
        if outcome.get(key):
            trial.set_user_attr(key, str(outcome[key])[:2000])
    trial.set_user_attr("seconds", round(float(outcome.get("seconds", 0.0)), 3))
    finals = {k: v for k, v in outcome.get("final", {}).items() if math.isfinite(v)}
    trial.set_user_attr("final", finals)
    state = outcome["state"]
    if state == COMPLETE:
        study.tell(trial, outcome["value"])
        what = f"{settings.metric} {outcome['value']:.4f}"
    elif state == PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
        step, value = outcome["reported"][-1]
        what = f"pruned after epoch {step} ({settings.metric} {value:.4f})"
    else:
        study.tell(trial, state=TrialState.FAIL)
        what = f"failed: {outcome.get('error')}"
    settings.say(f"trial {trial.number} {what} ({outcome.get('seconds', 0.0):.1f} s)")
    if state == FAILED and outcome.get("missing_metric"):
        raise ForwardkitError(f"--metric {settings.metric!r} is not among the metrics of trial {trial.number}'s run "
                              f"(it has: {', '.join(sorted(outcome.get('final', {}))) or 'none'}); name one of them")


def _run_local(study: Any, settings: SweepSettings) -> int:
    ran = 0
    while counted(study) < settings.n_trials:
        trial, data, _, run_dir = _ask(study, settings)
        try:
            outcome = train_trial(data, run_dir=run_dir, metric=settings.metric, reporter=trial,
                                  threads=settings.threads)
        except BaseException:
            from optuna.trial import TrialState

            study.tell(trial, state=TrialState.FAIL)  # interrupted here: retried by the next start
            study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
            raise
        _tell(study, settings, trial, outcome)
        ran += 1
    return ran


def _run_ray(study: Any, settings: SweepSettings) -> int:
    from forwardkit.parallel import task_resources
    from forwardkit.parallel_ray import check_feasible, connect, describe, import_ray, task_options

    ray = import_ray()
    summary = connect(settings.address)
    device = str(settings.experiment.get("trainer", {}).get("device", "cpu"))
    options = task_options(task_resources(settings.threads, device))
    check_feasible(options, summary)
    slots = settings.parallel or max(1, int(summary["cpus"] // max(1, settings.threads)))
    settings.say(f"{describe(summary)}; up to {slots} trials at once")
    task = ray.remote(remote_trial).options(name="forwardkit-sweep-trial", **options)
    in_flight: dict[Any, Any] = {}
    ran = 0
    try:
        while True:
            while len(in_flight) < slots and counted(study) < settings.n_trials:
                trial, data, _, run_dir = _ask(study, settings)
                # the storage's id of the trial: what optuna.trial.Trial(study, id) opens in the task
                ref = StudyRef(storage=settings.storage, study=settings.study_name, trial_id=trial._trial_id,
                               pruner=settings.pruner, n_trials=settings.n_trials)
                in_flight[task.remote(data, str(run_dir), settings.metric, ref, settings.threads)] = trial
            if not in_flight:
                return ran
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                trial = in_flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died: recorded for this trial
                    outcome = {"state": FAILED, "value": None, "reported": [], "final": {},
                               "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}", "seconds": 0.0}
                _tell(study, settings, trial, outcome)
                ran += 1
    except BaseException:
        from optuna.trial import TrialState

        for ref, trial in in_flight.items():
            try:
                ray.cancel(ref, force=True)
            except Exception:
                pass
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
        raise


def run_sweep(settings: SweepSettings) -> SweepResult:
    """Run (or resume) a sweep; see the module docstring."""
    from forwardkit.sweep.report import write_reports

    start = time.perf_counter()
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    study = open_study(storage=settings.storage, name=settings.study_name, direction=settings.direction,
                       pruner=settings.pruner, n_trials=settings.n_trials, seed=settings.seed,
                       space=settings.params, metric=settings.metric)
    recovered = recover_interrupted(study)
    if recovered:
        settings.say(f"resumed study {settings.study_name!r}: trial{'s' if len(recovered) > 1 else ''} "
                     f"{', '.join(map(str, recovered))} had been interrupted and run{'' if len(recovered) > 1 else 's'}"
                     " again with the same values")
    done = counted(study)
    if done:
        settings.say(f"study {settings.study_name!r} holds {done} of {settings.n_trials} trials")
    ran = _run_ray(study, settings) if settings.backend == "ray" else _run_local(study, settings)
    files = write_reports(study, settings=settings)
    return SweepResult(study=study, out_dir=settings.out_dir, ran=ran, recovered=recovered,
                       seconds=time.perf_counter() - start, files=files)


def infer_direction(metric: str) -> str:
    """``minimize`` for a metric that names a loss or an error, else ``maximize``."""
    name = metric.rsplit("/", 1)[-1].lower()
    return "minimize" if any(w in name for w in ("loss", "error", "mse", "mae", "rmse", "perplexity", "nll")) \
        else "maximize"


def space_of(params: Sequence[ParamSpec]) -> str:
    """``learning_rule.lr ~ loguniform(0.0001, 0.01); model.hidden ~ choice([4], [16])``."""
    return "; ".join(f"{p.path} ~ {p.describe()}" for p in params)
