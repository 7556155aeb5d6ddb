"""A 3-trial sweep whose trials are Ray tasks on a local 2-CPU cluster: the same study as the local backend
(values, states, pruning fed through the study's storage from the Ray workers, the best experiment)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("optuna", reason='forwardkit sweep needs Optuna: pip install "forwardkit[sweep]"')
pytestmark = pytest.mark.slow

TINY = {
    "name": "tiny",
    "data": {"name": "blobs", "n_samples": 240, "num_classes": 3, "noise": 2.0},
    "model": {"name": "mlp", "hidden": [4]},
    "learning_rule": {"name": "backprop", "lr": 0.01},
    "trainer": {"epochs": 3, "batch_size": 32, "plots": False, "test_at_end": False},
}
SPACE = ["learning_rule.lr=loguniform(1e-3,1e-1)", "model.hidden=choice([4],[16])"]
#: twice a learning rate that learns (the two run at once on Ray, and whichever reports second sees the same
#: values, so neither is pruned whatever the order), then one too small to keep up at the first evaluation
QUEUED = [{"learning_rule.lr": lr, "model.hidden": "[16]"} for lr in (0.08, 0.08, 1e-3)]


def sweep(out_dir, **kwargs):
    """The tiny sweep (3 trials, median pruning), its trials queued as QUEUED, run on ``kwargs``' backend."""
    from forwardkit.sweep.driver import SweepSettings, run_sweep
    from forwardkit.sweep.params import parse_params
    from forwardkit.sweep.study import default_storage, open_study

    out_dir.mkdir()
    s = SweepSettings(experiment=TINY, params=parse_params(SPACE), metric="val/accuracy", direction="maximize",
                      n_trials=3, out_dir=out_dir, storage=default_storage(out_dir), study_name="tiny",
                      pruner="median", plots=False, say=lambda line: None, **kwargs)
    study = open_study(storage=s.storage, name=s.study_name, direction=s.direction, pruner=s.pruner,
                       n_trials=s.n_trials, seed=0, space=s.params, metric=s.metric)
    for params in QUEUED:
        study.enqueue_trial(params)
    return run_sweep(s)


def test_a_three_trial_sweep_on_ray_gives_the_local_study(ray_cluster, tmp_path):
    local = sweep(tmp_path / "local")
    ray = sweep(tmp_path / "ray", backend="ray", address=ray_cluster, parallel=2)
    a, b = local.study.trials, ray.study.trials
    assert [t.state.name for t in a] == [t.state.name for t in b] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert [t.params for t in a] == [t.params for t in b]
    assert [t.value for t in a] == [t.value for t in b]
    assert [t.intermediate_values for t in a] == [t.intermediate_values for t in b]
    # the Ray trials ran in Ray's worker processes, not in this one
    workers = {t.user_attrs["worker"] for t in b}
    assert workers and f":{os.getpid()}" not in " ".join(workers)
    assert (tmp_path / "local" / "best.yaml").read_text() == (tmp_path / "ray" / "best.yaml").read_text()
