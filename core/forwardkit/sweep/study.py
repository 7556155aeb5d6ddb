"""The Optuna study of a sweep: its storage, sampler and pruner, and what a resumed sweep finds in it.

The study lives in a real database: by default the SQLite file ``study.db`` in the sweep's output folder,
or any Optuna storage URL (``postgresql://...``, ``mysql://...``). Starting the same sweep again loads it
(``load_if_exists``) and goes on to ``--trials``. Trials that were RUNNING when the sweep was killed are
marked failed and their parameters queued again (``enqueue_trial``), so they are retried
with the same values; the driver of each trial is recorded (host and process id), so a trial still run by a
live driver elsewhere is left alone.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forwardkit.errors import ForwardkitError
from forwardkit.sweep.params import ParamSpec

PRUNERS: tuple[str, ...] = ("median", "halving", "none")
#: user attributes the sweep keeps on its study and trials
SPACE_ATTR, METRIC_ATTR, DRIVER_ATTR, RETRY_ATTR, START_ATTR = (
    "forwardkit:space", "forwardkit:metric", "forwardkit:driver", "forwardkit:retry_of", "forwardkit:first_trial")


def default_storage(out_dir: Path) -> str:
    """``sqlite:///<out_dir>/study.db`` (absolute, so it is the same file from any working folder)."""
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def make_pruner(name: str, n_trials: int) -> Any:
    """Optuna's pruner for ``--pruner``: median (once a quarter of ``n_trials``, 1 to 5, are complete),
    successive halving (rungs at epochs 1, 3, 9, ...; the best third goes on), or none."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=min(5, max(1, n_trials // 4)), n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ForwardkitError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")


def driver_id() -> str:
    """``host:pid`` of this process (recorded on every trial it runs)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _driver_alive(driver: str | None) -> bool | None:
    """Whether the driver ``host:pid`` still runs: True/False on this host, None when it is another's."""
    if not driver:
        return False
    host, _, pid = driver.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():  # an earlier driver whose process id this one got: it is gone
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_study(*, storage: str, name: str, direction: str, pruner: str, n_trials: int, seed: int,
               space: Sequence[ParamSpec], metric: str) -> Any:
    """Create the study, or load it when it exists; a stored study of another metric, direction or search
    space is refused (start another with ``--study``), unless every trial it holds failed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    startup = min(10, max(2, n_trials // 3))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    wanted_space = json.dumps([s.to_dict() for s in space], sort_keys=True)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction,  # type: ignore[arg-type]
                                    load_if_exists=True,
                                    sampler=sampler, pruner=make_pruner(pruner, n_trials))
    except ValueError as exc:  # e.g. a stored study with another direction
        raise ForwardkitError(f"study {name!r} in {storage}: {exc}; start another with --study NAME") from None
    except ImportError as exc:
        raise ForwardkitError(f"the storage {storage} needs a database driver that is not installed: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            raise ForwardkitError(f"cannot open the study storage {storage}: {type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0]}") from None
        raise
    stored = study.user_attrs
    # a study none of whose trials got anywhere (a mistyped --metric fails them all) may start over
    useful = any(t.state.name != "FAIL" for t in study.get_trials(deepcopy=False))
    if SPACE_ATTR not in stored or (not useful and (stored[SPACE_ATTR], stored.get(METRIC_ATTR)) != (wanted_space,
                                                                                                  metric)):
        study.set_user_attr(SPACE_ATTR, wanted_space)
        study.set_user_attr(METRIC_ATTR, metric)
        study.set_user_attr(START_ATTR, len(study.get_trials(deepcopy=False)))  # earlier failures do not count
    elif stored[SPACE_ATTR] != wanted_space or stored.get(METRIC_ATTR) != metric:
        raise ForwardkitError(f"study {name!r} in {storage} was started with another search space or metric "
                              f"({stored.get(METRIC_ATTR)!r}); resume it with the same --param and --metric, or "
                              "start another with --study NAME")
    # a resumed study must not draw its first (random) trials again: the sampler's seed moves on with it
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.get_trials(deepcopy=False)),
                                               n_startup_trials=startup)
    if study.direction.name.lower() != direction:
        raise ForwardkitError(f"study {name!r} in {storage} is a study to {study.direction.name.lower()}, not to "
                              f"{direction}; start another with --study NAME")
    return study


def recover_interrupted(study: Any) -> list[int]:
    """Mark the trials left RUNNING by a driver that is gone as failed and queue their parameters again
    (the retry names the trial it retries); the numbers of the trials so recovered."""
    from optuna.trial import TrialState

    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _driver_alive(trial.user_attrs.get(DRIVER_ATTR)) is not False:
            continue  # still running, or run by a driver on another machine
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
        recovered.append(trial.number)
    return recovered


def uncounted_numbers(study: Any) -> set[int]:
    """The numbers of the trials that do not count: those an interruption failed (each has a retry that
    names it), and those before the study started over with another metric or space."""
    first = int(study.user_attrs.get(START_ATTR, 0))
    return {int(t.user_attrs[RETRY_ATTR]) for t in study.get_trials(deepcopy=False) if RETRY_ATTR in t.user_attrs} \
        | set(range(first))


def counted(study: Any) -> int:
    """Trials that count towards ``--trials``: every trial asked, except those an interruption failed (their
    retries count instead) and those queued but not started."""
    from optuna.trial import TrialState

    gone = uncounted_numbers(study)
    return sum(1 for t in study.get_trials(deepcopy=False) if t.number not in gone and t.state != TrialState.WAITING)
