"""Exact resume: a run killed with SIGKILL and resumed ends bit-identical to the uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from forwardkit.config import ComponentConfig
from forwardkit.engine import checkpoint as ckpt
from forwardkit.engine.trainer import Trainer
from forwardkit.interfaces import Callback
from forwardkit.registry import Registry

from .conftest import Interrupted, final_weights, interrupted_after, mlp_experiment


def _start(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "forwardkit", "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(tmp_path):
    exp = mlp_experiment(epochs=25, checkpoint_every_steps=5)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    full, killed = tmp_path / "full", tmp_path / "killed"
    reference = _start([str(path), "--run-dir", str(full)])

    victim = _start([str(path), "--run-dir", str(killed)])
    pointer = killed / "checkpoints" / "latest"
    deadline = time.time() + 120
    while not pointer.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # let it run on past the first checkpoint, then kill it hard
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed"
    step_at_kill = int(pointer.read_text().strip().split("-")[1])
    assert step_at_kill > 0

    resumed = _start(["--resume", str(killed)])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert reference.wait(timeout=300) == 0, reference.stderr.read()

    a, b = final_weights(full), final_weights(killed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume from step {step_at_kill}"
    steps_full = json.loads((full / "summary.json").read_text())["steps"]
    assert json.loads((killed / "summary.json").read_text())["steps"] == steps_full
    # the metrics log of the resumed run has no duplicated steps
    logged = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()
              if "train/loss" in line]
    assert logged == sorted(set(logged))


def test_in_process_interrupt_and_resume_matches(tmp_path):
    """Interrupting right after a mid-epoch checkpoint and resuming gives the same weights and metrics."""
    exp = mlp_experiment(epochs=2, checkpoint_every_steps=7)

    full = Trainer(exp, run_dir=tmp_path / "full").fit()
    with pytest.raises(Interrupted):
        interrupted_after(14)(exp, run_dir=tmp_path / "cut").fit()
    resumed = Trainer(exp, run_dir=tmp_path / "cut", resume=True).fit()
    assert resumed.steps == full.steps
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert resumed.final["test/accuracy"] == full.final["test/accuracy"]
    # every trained sample is counted once, whatever the interruption (each segment's first step too)
    probe = Trainer(exp, write=False)
    probe.build()
    n_train = len(probe.train_set)
    assert resumed.final["train/samples"] == full.final["train/samples"] == 2 * n_train
    # the last checkpoints of both runs compare key by key, tensor by tensor
    from safetensors.torch import load_file

    last = {run: ckpt.latest_checkpoint(tmp_path / run / "checkpoints") for run in ("full", "cut")}
    a, b = (load_file(str(last[run] / "state.safetensors")) for run in ("full", "cut"))
    assert sorted(a) == sorted(b) and any(k.startswith("t/rule/") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the metrics log is the same too (interval means resume where they stopped)
    assert [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()] == [
        json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]


def test_corrupt_checkpoint_is_a_clear_error_and_changes_nothing(tmp_path):
    exp = mlp_experiment(epochs=1)
    Trainer(exp, run_dir=tmp_path).fit()
    folder = ckpt.latest_checkpoint(tmp_path / "checkpoints")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    (folder / "state.safetensors").write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        Trainer(exp, run_dir=tmp_path, resume=True).fit()
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after["model.safetensors"] == before["model.safetensors"]
    assert after["state.json"] == before["state.json"]


def test_mismatched_experiment_is_refused(tmp_path):
    Trainer(mlp_experiment(epochs=1), run_dir=tmp_path).fit()
    other = mlp_experiment(epochs=1)
    other["model"]["hidden"] = [16]
    with pytest.raises(ckpt.CheckpointError, match="different experiment"):
        Trainer(other, run_dir=tmp_path, resume=True).fit()


def test_resume_without_checkpoint_says_so(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="nothing to resume"):
        Trainer(mlp_experiment(), run_dir=tmp_path, resume=True).fit()


def test_checkpoint_loading_never_unpickles(tmp_path, monkeypatch):
    Trainer(mlp_experiment(epochs=1), run_dir=tmp_path).fit()
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint load used pickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "checkpoints"))
    assert loaded.step > 0


def test_checkpoints_keep_the_measured_kernels_and_resume_restores_them(tmp_path, monkeypatch):
    """The pointwise kernels a run measured travel in its checkpoints: a resumed run computes with the
    kernels of the run it continues instead of measuring again (a different pick changes float rounding)."""
    from forwardkit.nn import projections

    monkeypatch.setattr(projections, "_choices", {"t9/b9/3x3/bias1/th1/grad1": "conv1x1"})
    exp = mlp_experiment(epochs=1, checkpoint_every_steps=5)
    Trainer(exp, run_dir=tmp_path / "run").fit()
    state = json.loads((ckpt.latest_checkpoint(tmp_path / "run" / "checkpoints") / "state.json").read_text())
    assert state["kernels"]["pointwise"] == {"t9/b9/3x3/bias1/th1/grad1": "conv1x1"}
    monkeypatch.setattr(projections, "_choices", {})
    Trainer(exp, run_dir=tmp_path / "run", resume=True).fit()
    assert projections.pointwise_choices() == {"t9/b9/3x3/bias1/th1/grad1": "conv1x1"}


class _HalveLrAtStep(Callback):
    """Sets ``ctx.lr_scale = 0.1`` once, at step 5, and never again: only the checkpoint can carry it on."""

    Config = ComponentConfig

    def on_batch_start(self, batch, ctx):
        if ctx.step == 5:
            ctx.lr_scale = 0.1
        return batch


def test_a_callbacks_lr_scale_scales_the_rate_and_survives_resume(tmp_path):
    registry = Registry.discover()
    registry.register_class("callback", "lr_scale_test", _HalveLrAtStep)
    exp = {**mlp_experiment(epochs=1, checkpoint_every_steps=7), "callbacks": ["lr_scale_test"],
           "learning_rule": {"name": "backprop", "lr": 0.01}}
    full = Trainer(exp, run_dir=tmp_path / "full", registry=registry, verbose=False).fit()
    rates = [json.loads(x).get("train/lr") for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    rates = [r for r in rates if r is not None]
    assert rates[0] == pytest.approx(0.01) and rates[-1] == pytest.approx(0.001)
    with pytest.raises(Interrupted):
        interrupted_after(7)(exp, run_dir=tmp_path / "cut", registry=registry, verbose=False).fit()
    resumed = Trainer(exp, run_dir=tmp_path / "cut", resume=True, registry=registry, verbose=False).fit()
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
