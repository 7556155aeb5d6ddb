"""forwardkit sweep on the local backend: the search space, pruning by the trainer's evaluations, the study
in SQLite resumed after a kill, the leaderboard, best.yaml and the plots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forwardkit.sweep.params import SweepParamError, parse_param

from .conftest import SPACE, TINY, settings


# ---- the search space ------------------------------------------------------------------------------
def test_params_parse_into_optuna_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    lr = parse_param("learning_rule.lr=loguniform(1e-4,1e-2)")
    assert (lr.path, lr.low, lr.high) == ("learning_rule.lr", 1e-4, 1e-2)
    assert lr.distribution() == FloatDistribution(1e-4, 1e-2, log=True)
    assert parse_param("trainer.epochs=int(1,9,2)").distribution() == IntDistribution(1, 9, step=2)
    hidden = parse_param("model.hidden=choice([8],[16, 16])")
    assert hidden.distribution() == CategoricalDistribution(["[8]", "[16, 16]"])
    assert hidden.value("[16, 16]") == [16, 16]
    assert parse_param("learning_rule.optimizer=choice(adamw, sgd)").choices == ("adamw", "sgd")
    assert parse_param("learning_rule.lr=choice(1e-3, 0.1)").choices == (1e-3, 0.1)


@pytest.mark.parametrize(("text", "problem"), [
    ("learning_rule.lr=lognormal(1,2)", "unknown distribution 'lognormal' (did you mean 'loguniform'?)"),
    ("learning_rule.lr=loguniform(1e-2,1e-4)", "lower bound 0.01 must be below the upper bound 0.0001"),
    ("learning_rule.lr=loguniform(0,1)", "a log scale needs a positive lower bound"),
    ("learning_rule.lr=uniform(a,1)", "'a' is not a number"),
    ("trainer.epochs=int(1,2.5)", "'2.5' is not an integer"),
    ("learning_rule.lr", "expected PATH=DISTRIBUTION(ARGS)"),
    ("model.hidden=choice()", "needs at least one value"),
    ("learning_rule.lr=loguniform(1e-4)", "expected loguniform(LOW,HIGH), got 1 argument"),
])
def test_bad_syntax_names_the_parameter(text, problem):
    with pytest.raises(SweepParamError) as info:
        parse_param(text)
    assert str(info.value).startswith(f"--param {text!r}: ") and problem in str(info.value)


@pytest.mark.parametrize(("param", "problem"), [
    ("trainer.lr=loguniform(1e-4,1e-2)", "(the experiment has learning_rule.lr): trainer: unknown field 'lr'"),
    ("learning_rule.optimizer=choice(adamw,wide)", 'learning_rule.optimizer="wide"'),
    ("trainer.batch_size=int(0,8)", "trainer.batch_size: Input should be greater than or equal to 1"),
    ("data.n_samples.deeper=int(1,2)", "data.n_samples is 240, not a mapping or a list"),
    ("learning_rule.lr=cauchy(1,2)", "unknown distribution 'cauchy'"),
])
def test_the_cli_exits_2_naming_the_parameter_without_a_traceback(param, problem, tiny_file, tmp_path, cli_here):
    out = tmp_path / "sweep"
    proc = cli_here("sweep", str(tiny_file), "--param", SPACE[1], "--param", param, "--metric", "val/accuracy",
                    "--trials", "2", "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"error: --param {param!r}: ") and problem in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()  # refused before anything ran


# ---- pruning ---------------------------------------------------------------------------------------
class PruneAt:
    """A reporter that records what it gets and asks to prune at the ``at``-th report."""

    def __init__(self, at: int) -> None:
        self.at, self.got = at, []

    def report(self, value, step):
        self.got.append((step, value))

    def should_prune(self):
        return len(self.got) >= self.at


def test_the_trainers_evaluations_feed_the_pruner_and_a_pruned_run_stops_there(tmp_path):
    from forwardkit.sweep.objective import PRUNED, train_trial

    reporter = PruneAt(2)
    data = {**TINY, "trainer": {**TINY["trainer"], "epochs": 5}}
    outcome = train_trial(data, run_dir=tmp_path / "run", metric="val/accuracy", reporter=reporter)
    assert [s for s, _ in reporter.got] == [1, 2]  # one report per evaluation (epochs 1 and 2), then stopped
    assert outcome["state"] == PRUNED and outcome["value"] == reporter.got[-1][1]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 * 6 and "pruned by the sweep after epoch 2" in summary["stop_reason"]


def test_a_metric_of_the_final_evaluation_only_is_never_pruned(tmp_path):
    from forwardkit.sweep.objective import COMPLETE, train_trial

    reporter = PruneAt(1)
    data = {**TINY, "trainer": {**TINY["trainer"], "test_at_end": True}}
    outcome = train_trial(data, run_dir=tmp_path / "run", metric="test/accuracy", reporter=reporter)
    assert reporter.got == [] and outcome["state"] == COMPLETE and outcome["value"] == outcome["final"]["test/accuracy"]


def test_a_pruned_trial_is_recorded_as_pruned_in_the_study(tmp_path):
    from optuna.trial import TrialState

    from forwardkit.sweep.driver import run_sweep
    from forwardkit.sweep.study import open_study

    s = settings(tmp_path / "sweep", n_trials=3, pruner="median")
    s.out_dir.mkdir()
    study = open_study(storage=s.storage, name=s.study_name, direction=s.direction, pruner=s.pruner,
                       n_trials=s.n_trials, seed=0, space=s.params, metric=s.metric)
    for lr in (0.05, 0.08, 1e-3):  # two that learn, then one that cannot keep up with their median
        study.enqueue_trial({"learning_rule.lr": lr, "model.hidden": "[16]"})
    result = run_sweep(s)
    states = [t.state for t in result.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    pruned = result.study.trials[2]
    assert list(pruned.intermediate_values) == [1]  # stopped at its first evaluation
    rows = json.loads((tmp_path / "sweep" / "leaderboard.json").read_text())
    assert [(r["trial"], r["state"], r["rank"]) for r in rows][-1] == (2, "pruned", None)


# ---- the study, its reports, and resuming ------------------------------------------------------------
def test_a_sweep_writes_leaderboard_best_yaml_and_plots(tmp_path, cli_here):
    from forwardkit.sweep.driver import run_sweep

    s = settings(tmp_path / "sweep", n_trials=3, plots=True)
    result = run_sweep(s)
    out = tmp_path / "sweep"
    assert {"leaderboard.csv", "leaderboard.json", "best.yaml", "plots/history.png", "plots/importance.png",
            "plots/parallel.png", "sweep.json"} <= set(result.files)
    for png in (out / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    rows = json.loads((out / "leaderboard.json").read_text())
    values = [r["val/accuracy"] for r in rows]
    assert [r["rank"] for r in rows] == [1, 2, 3] and values == sorted(values, reverse=True)
    assert (out / "leaderboard.csv").read_text().splitlines()[0].startswith("rank,trial,state,val/accuracy,")
    best = result.study.best_trial
    assert rows[0]["val/accuracy"] == best.value
    import yaml

    written = yaml.safe_load((out / "best.yaml").read_text())
    assert written["learning_rule"]["lr"] == best.params["learning_rule.lr"]
    assert written["model"]["hidden"] == json.loads(best.params["model.hidden"])
    assert {k: v for k, v in written.items() if k not in ("learning_rule", "model")} == \
        {k: v for k, v in TINY.items() if k not in ("learning_rule", "model")}
    proc = cli_here("validate", str(out / "best.yaml"), "--no-build")
    assert proc.returncode == 0, proc.stderr
    # the best trial's own run holds the same number
    run = json.loads((Path(best.user_attrs["run_dir"]) / "summary.json").read_text())
    assert run["final"]["val/accuracy"] == best.value


def test_a_trial_a_dead_driver_left_running_is_failed_and_retried_with_its_values(tmp_path):
    from optuna.trial import TrialState

    from forwardkit.sweep.driver import run_sweep
    from forwardkit.sweep.study import DRIVER_ATTR, RETRY_ATTR, open_study

    s = settings(tmp_path / "sweep", n_trials=2)
    s.out_dir.mkdir()
    study = open_study(storage=s.storage, name=s.study_name, direction=s.direction, pruner=s.pruner,
                       n_trials=s.n_trials, seed=0, space=s.params, metric=s.metric)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = study.ask(fixed_distributions={p.path: p.distribution() for p in s.params})
    orphan.set_user_attr(DRIVER_ATTR, f"{os.uname().nodename}:{gone.pid}")
    lines: list[str] = []
    s.say = lines.append
    result = run_sweep(s)
    assert result.recovered == [0] and "trial 0 had been interrupted" in lines[0]
    trials = result.study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[1].params == orphan.params and trials[1].user_attrs[RETRY_ATTR] == 0
    rows = json.loads((tmp_path / "sweep" / "leaderboard.json").read_text())
    assert sorted(r["trial"] for r in rows) == [1, 2]  # the interrupted trial is not on the leaderboard


@pytest.mark.slow
def test_a_killed_sweep_resumes_where_it_stopped(tiny_file, tmp_path):
    """SIGKILL during the second trial; the same command again retries that trial with its values."""
    out = tmp_path / "sweep"
    args = [sys.executable, "-m", "forwardkit", "sweep", str(tiny_file), *(a for p in SPACE for a in ("--param", p)),
            "--metric", "val/accuracy", "--trials", "2", "--pruner", "none", "--out", str(out),
            "--set", "trainer.epochs=15", "--set", "trainer.checkpoint_every=0", "--no-plots"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.startswith("trial 1 started") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    import optuna

    before = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in before.trials] == ["COMPLETE", "RUNNING"]
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "trial 1 had been interrupted and runs again with the same values" in again.stdout
    after = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in after.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert after.trials[2].params == before.trials[1].params
    assert after.trials[0].value == before.trials[0].value  # the finished trial was kept, not run again
    assert "trial 0 started" not in again.stdout


def test_a_resumed_sweep_with_another_space_is_refused(tmp_path, tiny_file, cli_here):
    from forwardkit.sweep.driver import run_sweep

    run_sweep(settings(tmp_path / "sweep", n_trials=1))
    proc = cli_here("sweep", str(tiny_file), "--param", SPACE[0], "--metric", "val/accuracy", "--trials", "2",
                    "--out", str(tmp_path / "sweep"), "--study", "tiny")
    assert proc.returncode == 2 and "was started with another search space" in proc.stderr, proc.stderr


def test_a_metric_the_runs_do_not_have_stops_the_sweep_with_exit_2(tiny_file, tmp_path, cli_here):
    args = ["sweep", str(tiny_file), "--param", SPACE[0], "--trials", "1", "--out", str(tmp_path / "sweep"),
            "--no-plots"]
    proc = cli_here(*args, "--metric", "val/acc")
    assert proc.returncode == 2 and "--metric 'val/acc' is not among the metrics" in proc.stderr
    assert "val/accuracy" in proc.stderr
    fixed = cli_here(*args, "--metric", "val/accuracy")  # a study whose trials all failed may start over
    assert fixed.returncode == 0, fixed.stderr
    rows = json.loads((tmp_path / "sweep" / "leaderboard.json").read_text())
    assert [(r["trial"], r["state"]) for r in rows] == [(1, "complete")]  # the failed trial does not count


def test_the_time_to_best_benchmark_runs(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "sweep_time.py"
    spec = importlib.util.spec_from_file_location("sweep_time", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--smoke", "--out", str(tmp_path / "s.json")])
    run = result["runs"][0]
    assert json.loads((tmp_path / "s.json").read_text())["runs"] == result["runs"]
    assert run["trials"] == 3 and 0 < run["seconds_to_best"] <= run["seconds_total"]


def test_without_optuna_the_command_says_how_to_install_it(tiny_file, cli_here, monkeypatch):
    import forwardkit.sweep

    monkeypatch.setattr(forwardkit.sweep, "optuna_available", lambda: False)
    proc = cli_here("sweep", str(tiny_file), "--param", SPACE[0], "--metric", "val/accuracy")
    assert proc.returncode == 2 and 'pip install "forwardkit[sweep]"' in proc.stderr


def test_the_direction_follows_the_metric_name():
    from forwardkit.sweep.driver import infer_direction

    assert infer_direction("val/loss") == infer_direction("test/rmse") == "minimize"
    assert infer_direction("val/accuracy") == infer_direction("val/psnr") == "maximize"
