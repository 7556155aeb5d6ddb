"""Run directories are never written over silently; exit statuses say how a run ended; --set paths."""

from __future__ import annotations

import json

import pytest
import yaml

from forwardkit.engine.rundir import prepare_run_dir, run_outputs
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError

from .conftest import mlp_experiment


def _write(tmp_path, exp, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(exp))
    return path


def test_a_second_run_into_a_run_directory_is_refused_unless_overwrite(tmp_path, cli_here):
    exp = _write(tmp_path, mlp_experiment(epochs=1))
    run = tmp_path / "run"
    assert cli_here("run", str(exp), "--run-dir", str(run), "--quiet").returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    (run / "notes.txt").write_text("mine")
    again = cli_here("run", str(exp), "--run-dir", str(run), "--quiet")
    assert again.returncode == 2 and "already holds a run" in again.stderr and "--resume" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != "notes.txt"} == before
    fresh = cli_here("run", str(exp), "--run-dir", str(run), "--quiet", "--overwrite")
    assert fresh.returncode == 0, fresh.stderr
    assert (run / "notes.txt").read_text() == "mine"  # only forwardkit's own outputs were replaced
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len([x for x in lines if '"test/' in x]) == 1  # one run's metrics, not two appended
    with pytest.raises(ForwardkitError, match="already holds a run"):
        Trainer(mlp_experiment(epochs=1), run_dir=run).fit()
    assert cli_here("run", str(exp), "--run-dir", str(exp), "--quiet").returncode == 2  # a file


def test_run_outputs_and_prepare(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "summary.json").write_text("{}")
    assert [p.name for p in run_outputs(tmp_path)] == ["checkpoints", "summary.json"]
    prepare_run_dir(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


def test_resuming_a_finished_run_does_nothing_and_exits_0(tmp_path, cli_here):
    exp = _write(tmp_path, mlp_experiment(epochs=1))
    run = tmp_path / "run"
    assert cli_here("run", str(exp), "--run-dir", str(run), "--quiet").returncode == 0
    snapshot = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    again = cli_here("run", "--resume", str(run))
    assert again.returncode == 0 and "already finished" in again.stdout
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == snapshot
    longer = cli_here("run", "--resume", str(run), "--set", "trainer.epochs=2", "--quiet")
    assert longer.returncode == 0, longer.stderr
    first_steps = json.loads(snapshot[run / "summary.json"])["steps"]
    assert json.loads((run / "summary.json").read_text())["steps"] == 2 * first_steps


def test_an_early_stopped_run_stays_stopped_after_a_resume(tmp_path):
    exp = mlp_experiment(epochs=30)
    exp["callbacks"] = [{"name": "early_stopping", "patience": 1, "min_delta": 10.0}]
    first = Trainer(exp, run_dir=tmp_path / "run").fit()
    assert first.stop_reason and first.steps < 30 * 17
    (tmp_path / "run" / "summary.json").unlink()  # as if killed after the final checkpoint
    again = Trainer(exp, run_dir=tmp_path / "run", resume=True).fit()
    assert again.steps == first.steps and again.final["test/accuracy"] == first.final["test/accuracy"]
    assert again.final["val/accuracy"] == first.final["val/accuracy"]  # the last evaluation was saved
    assert Trainer(exp, run_dir=tmp_path / "run", resume=True).fit().already_finished


def test_divergence_exits_3_keeps_finite_checkpoints_and_writes_a_summary(tmp_path, cli_here):
    exp = mlp_experiment(epochs=3, checkpoint_every_steps=2)
    exp["learning_rule"] = {"name": "backprop", "optimizer": "sgd", "lr": 1e12, "momentum": 0.0}
    exp["callbacks"] = []
    run = tmp_path / "run"
    proc = cli_here("run", str(_write(tmp_path, exp)), "--run-dir", str(run), "--quiet")
    assert proc.returncode == 3 and "diverged" in proc.stderr and "Traceback" not in proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["non_finite"] and all(summary["final"][k] is None for k in summary["non_finite"])
    from forwardkit.engine import checkpoint as ckpt

    for path in ckpt.checkpoints(run / "checkpoints"):  # every checkpoint kept holds finite weights
        import torch
        from safetensors.torch import load_file

        assert all(bool(torch.isfinite(v).all()) for v in load_file(str(path / "model.safetensors")).values())
    exp["callbacks"] = ["nan_guard"]
    guarded = cli_here("run", str(_write(tmp_path, exp, "g.yaml")), "--run-dir", str(tmp_path / "g"), "--quiet")
    assert guarded.returncode == 3 and "NaN guard" in guarded.stderr


def test_set_paths_index_lists_and_quiet_keeps_invalid_trainers(tmp_path, cli_here):
    exp = {"data": {"name": "blobs", "image_size": 8},
           "model": {"name": "metaformer", "token_mixers": ["identity", "attention"], "depths": [1, 1],
                     "dims": [8, 16]},
           "trainer": {"epochs": 1}}
    path = _write(tmp_path, exp)
    bad = cli_here("run", str(path), "--set", "model.token_mixers.5.head_dim=4", "--quiet")
    assert bad.returncode == 2 and "is a list of 2 entries" in bad.stderr and "(0..1)" in bad.stderr
    good = cli_here("run", str(path), "--set", "model.token_mixers.1.head_dim=4", "--set", "trainer.max_steps=1",
               "--run-dir", str(tmp_path / "r"), "--quiet")
    assert good.returncode == 0, good.stderr
    saved = json.loads((tmp_path / "r" / "experiment.json").read_text())
    assert saved["model"]["token_mixers"][1] == {"name": "attention", "head_dim": 4}
    invalid = _write(tmp_path, {**exp, "trainer": 5}, "invalid.yaml")
    out = cli_here("run", str(invalid), "--quiet")
    assert out.returncode == 2 and "trainer" in out.stderr  # --quiet does not paper over it
