"""``forwardkit sweep``: hyper-parameter search over an experiment with Optuna (see docs/sweep.md)."""

from __future__ import annotations

from pathlib import Path

import click

from forwardkit.cli.common import apply_sets, backend_options, friendly_errors
from forwardkit.errors import ForwardkitError

PARAM_HELP = ("a searched field: PATH=DISTRIBUTION(ARGS) with uniform(LOW,HIGH[,STEP]), loguniform(LOW,HIGH), "
              "int(LOW,HIGH[,STEP]), logint(LOW,HIGH) or choice(A,B,...), e.g. learning_rule.lr=loguniform(1e-4,1e-2) "
              "or model.hidden=choice([32],[64]) (repeatable)")


@click.command("sweep")
@click.argument("experiment", type=click.Path(path_type=Path))
@click.option("--param", "params", multiple=True, metavar="PATH=DIST(ARGS)", help=PARAM_HELP)
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
              help="trials the study should hold (a resumed sweep runs only the missing ones)")
@click.option("--metric", required=True, metavar="NAME",
              help="the final metric to optimise, e.g. val/accuracy (its split's evaluations feed the pruner)")
@click.option("--direction", type=click.Choice(["maximize", "minimize"]), default=None,
              help="default: minimize a metric named like a loss or an error, else maximize")
@click.option("--storage", metavar="URL", default=None,
              help="Optuna storage URL of the study (default: sqlite:///OUT/study.db)")
@click.option("--study", "study_name", metavar="NAME", default=None,
              help="study name in the storage (default: the experiment's name)")
@click.option("--pruner", type=click.Choice(["median", "halving", "none"]), default="median", show_default=True,
              help="stop unpromising trials at an evaluation: median, successive halving, or never")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the sweep's folder: study.db, trials/, leaderboard, best.yaml, plots/ (default: sweeps/STUDY)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="override a field of the experiment for every trial, e.g. --set trainer.epochs=5 (repeatable)")
@click.option("--parallel", type=click.IntRange(min=1), default=None,
              help="with --backend ray: trials at once (default: the cluster's CPUs over --threads)")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads of each trial (a Ray trial asks for as many CPUs)")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="seed of the TPE sampler")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="draw plots/*.png at the end (the parameter importance takes seconds with many trials)")
@click.option("--quiet", is_flag=True, help="print only the leaderboard")
@backend_options
@friendly_errors
def sweep(experiment: Path, params: tuple[str, ...], trials: int, metric: str, direction: str | None,
          storage: str | None, study_name: str | None, pruner: str, out_dir: Path | None, sets: tuple[str, ...],
          parallel: int | None, threads: int, seed: int, plots: bool, quiet: bool, backend: str,
          address: str | None) -> None:
    """Search hyper-parameters of EXPERIMENT with Optuna (TPE), pruning trials by their evaluations.

    The study is kept in a database (an SQLite file in the sweep's folder, or --storage URL): the same
    command started again resumes it, and trials a kill interrupted run again with the same values.
    Trials train here one after the other, or as Ray tasks with --backend ray. At the end: the
    leaderboard (printed, leaderboard.csv, leaderboard.json), best.yaml (the best trial's experiment)
    and plots/*.png (optimisation history, parameter importance, parallel coordinates).

    Exit status: 0 when the study holds --trials trials, 2 for a bad input (a bad --param names itself)."""
    from forwardkit.sweep import require_optuna

    require_optuna()
    if parallel is not None and backend != "ray":
        raise click.BadParameter("is the number of trials in flight on Ray: give it with --backend ray (local "
                                 "trials run one after the other)", param_hint="--parallel")
    from forwardkit.config import read_mapping, validate_experiment
    from forwardkit.config.stages import is_multi_stage
    from forwardkit.sweep.driver import SweepSettings, infer_direction, run_sweep, space_of
    from forwardkit.sweep.params import check_params, parse_params
    from forwardkit.sweep.study import default_storage

    data = apply_sets(read_mapping(experiment), sets)
    if is_multi_stage(data):
        raise ForwardkitError(f"{experiment} is a multi-stage experiment; sweep one stage's experiment instead")
    exp = validate_experiment(data, source=str(experiment))
    specs = parse_params(params)
    check_params(data, specs)
    if "/" not in metric:
        raise click.BadParameter(f"{metric!r}: name a final metric with its split, e.g. val/accuracy or val/loss",
                                 param_hint="--metric")
    name = study_name or exp.name
    folder = out_dir or Path("sweeps") / name
    chosen = direction or infer_direction(metric)
    say = (lambda line: None) if quiet else click.echo
    settings = SweepSettings(experiment=data, params=specs, metric=metric, direction=chosen, n_trials=trials,
                             out_dir=folder, storage=storage or default_storage(folder), study_name=name,
                             pruner=pruner, backend=backend, address=address, parallel=parallel, threads=threads,
                             seed=seed, plots=plots, say=say)
    say(f"sweep {name!r}: {chosen} {metric} over {space_of(specs)}; {trials} trials, pruner {pruner}, "
        f"study in {settings.storage}")
    result = run_sweep(settings)
    if quiet:
        from forwardkit.sweep.report import leaderboard, leaderboard_table

        click.echo(leaderboard_table(leaderboard(result.study, settings=settings), settings=settings).rstrip("\n"))
    for label, path in result.files.items():
        if label in ("best.yaml", "leaderboard.csv") or label.startswith("plots/"):
            click.echo(f"wrote {path}")
