"""What a sweep writes beside its study: the leaderboard (a printed table, ``leaderboard.csv`` and
``leaderboard.json``), the best trial's experiment as ``best.yaml`` (``forwardkit validate`` and
``forwardkit run`` take it as it is), and PNG plots from Optuna's matplotlib visualisation module:
``plots/history.png`` (optimisation history), ``plots/importance.png`` (parameter importance, fANOVA; it
needs two complete trials with different values) and ``plots/parallel.png`` (parallel coordinates)."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forwardkit.engine.state import atomic_write_text
from forwardkit.sweep.params import apply_params
from forwardkit.sweep.study import RETRY_ATTR, uncounted_numbers

if TYPE_CHECKING:
    from forwardkit.sweep.driver import SweepSettings


def leaderboard(study: Any, *, settings: SweepSettings) -> list[dict[str, Any]]:
    """One row per trial that counts, best first: rank (complete trials), number, state, value, the
    parameters' values, seconds, run directory, and the error of a failed trial."""
    gone = uncounted_numbers(study)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.number in gone or trial.state.name in ("WAITING", "RUNNING"):
            continue
        row: dict[str, Any] = {"rank": None, "trial": trial.number, "state": trial.state.name.lower(),
                               settings.metric: trial.value if trial.state.name == "COMPLETE" else None}
        if trial.state.name == "PRUNED" and trial.intermediate_values:
            step = max(trial.intermediate_values)
            row["pruned_at_epoch"], row[f"last {settings.metric}"] = step, trial.intermediate_values[step]
        for spec in settings.params:
            row[spec.path] = spec.value(trial.params[spec.path]) if spec.path in trial.params else None
        row["seconds"] = trial.user_attrs.get("seconds")
        row["retry_of"] = trial.user_attrs.get(RETRY_ATTR)
        row["run_dir"] = trial.user_attrs.get("run_dir")
        row["error"] = trial.user_attrs.get("error")
        rows.append(row)
    sign = -1.0 if settings.direction == "maximize" else 1.0
    complete = sorted((r for r in rows if r["state"] == "complete"), key=lambda r: (sign * r[settings.metric],
                                                                                      r["trial"]))
    for rank, row in enumerate(complete, start=1):
        row["rank"] = rank
    others = sorted((r for r in rows if r["state"] != "complete"), key=lambda r: r["trial"])
    return complete + others


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def leaderboard_table(rows: list[dict[str, Any]], *, settings: SweepSettings, limit: int = 20) -> str:
    """The leaderboard as text for the terminal (the first ``limit`` rows)."""
    from rich.console import Console
    from rich.table import Table

    columns = ["rank", "trial", "state", settings.metric, *[s.path for s in settings.params], "seconds"]
    table = Table(title=f"study {settings.study_name}: {settings.direction} {settings.metric}")
    for column in columns:
        table.add_column(column, justify="right" if column not in ("state",) else "left")
    for row in rows[:limit]:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    buffer = io.StringIO()
    Console(file=buffer, width=160, force_terminal=False).print(table)
    more = f"... and {len(rows) - limit} more trials (leaderboard.csv)\n" if len(rows) > limit else ""
    return buffer.getvalue() + more


def write_leaderboard(rows: list[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    """``leaderboard.csv`` and ``leaderboard.json`` in ``out_dir``."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in keys})
    csv_path, json_path = out_dir / "leaderboard.csv", out_dir / "leaderboard.json"
    atomic_write_text(csv_path, text.getvalue())
    atomic_write_text(json_path, json.dumps(rows, indent=2, default=str) + "\n")
    return csv_path, json_path


def best_experiment(study: Any, *, settings: SweepSettings) -> dict[str, Any] | None:
    """The experiment mapping of the best complete trial (the given experiment with its values), or None."""
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        return None
    values = {spec.path: spec.value(best.params[spec.path]) for spec in settings.params}
    return apply_params(settings.experiment, values)


def write_best(study: Any, *, settings: SweepSettings) -> Path | None:
    """``best.yaml``: the best trial's experiment, with a comment naming the trial and its value."""
    import yaml

    data = best_experiment(study, settings=settings)
    if data is None:
        return None
    best = study.best_trial
    head = (f"# best trial of the sweep {settings.study_name!r}: trial {best.number}, {settings.metric} "
            f"{best.value:.6g} ({settings.direction})\n")
    path = settings.out_dir / "best.yaml"
    atomic_write_text(path, head + yaml.safe_dump(data, sort_keys=False))
    return path


def write_plots(study: Any, *, settings: SweepSettings) -> dict[str, Path]:
    """The PNG plots that can be drawn from the study so far (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    folder = settings.out_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    wanted: list[tuple[str, Any]] = [("history", vis.plot_optimization_history),
                                     ("parallel", vis.plot_parallel_coordinate)]
    if len(complete) >= 2 and len({t.value for t in complete}) > 1:
        wanted.insert(1, ("importance", vis.plot_param_importances))
    written = {}
    for name, plot in wanted:
        if not complete:
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            axes = plot(study, target_name=settings.metric)
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written[name] = path
    return written


def write_reports(study: Any, *, settings: SweepSettings) -> dict[str, Path]:
    """Leaderboard (printed and written), best experiment, plots, and ``sweep.json`` (what was asked)."""
    rows = leaderboard(study, settings=settings)
    settings.say(leaderboard_table(rows, settings=settings).rstrip("\n"))
    csv_path, json_path = write_leaderboard(rows, settings.out_dir)
    files = {"leaderboard.csv": csv_path, "leaderboard.json": json_path}
    best = write_best(study, settings=settings)
    if best is not None:
        files["best.yaml"] = best
    if settings.plots:
        files.update({f"plots/{k}.png": v for k, v in write_plots(study, settings=settings).items()})
    asked = {"study": settings.study_name, "storage": settings.storage, "metric": settings.metric,
             "direction": settings.direction, "trials": settings.n_trials, "pruner": settings.pruner,
             "params": [s.text for s in settings.params], "backend": settings.backend}
    atomic_write_text(settings.out_dir / "sweep.json", json.dumps(asked, indent=2) + "\n")
    files["sweep.json"] = settings.out_dir / "sweep.json"
    return files
