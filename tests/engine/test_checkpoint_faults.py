"""Fault injection: a kill at every file operation of a checkpoint write, damaged checkpoints, a full disk.

Every trial must end in one of two ways: the resume continues from a checkpoint that verifies and ends
bit-identical to the uninterrupted run, or the run is refused with a clear error. Nothing in between."""

from __future__ import annotations

import errno
import json
import os
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from forwardkit.engine import checkpoint as ckpt
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError

from .conftest import Interrupted, interrupted_after, mlp_experiment


def experiment():
    exp = mlp_experiment(epochs=2, checkpoint_every_steps=3, keep_checkpoints=2)
    exp["data"]["n_samples"] = 160
    exp["callbacks"] = ["nan_guard"]
    return exp


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = Trainer(experiment(), run_dir=tmp_path_factory.mktemp("ref") / "run").fit()
    return {k: v.clone() for k, v in run.model.state_dict().items()}, run.final["test/accuracy"]


def kill_trials():
    """benchmarks/kill_trials.py: the kill at every file operation of a checkpoint write, and its judge."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "kill_trials.py"
    spec = importlib.util.spec_from_file_location("kill_trials", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_kill_at_every_file_operation_of_a_checkpoint_write_resumes_exactly():
    """The third write of a run killed at each of its file operations: never a dangling `latest`, every
    resume bit-identical to the uninterrupted run, from the new checkpoint or the one before."""
    result = kill_trials().main(["--smoke", "--out", os.devnull])
    (run,) = result["runs"]
    assert run["trials"] >= 10 and run["identical"] == run["trials"], run
    assert len({row["resumed_from"] for row in run["rows"]}) == 2  # kills before the swap of latest and after


def test_a_kill_inside_the_first_write_is_refused_not_resumed(tmp_path):
    """Before the first checkpoint folder is complete there is nothing to resume: a clear refusal."""
    module = kill_trials()
    exp = module.experiment(checkpoint_every_steps=3)
    ops, reference = module.count_writes_and_operations(exp, tmp_path)
    first = module.trial(exp, tmp_path / "first", on_save=1, at=0, reference=reference)
    last = module.trial(exp, tmp_path / "last", on_save=1, at=ops[0] - 1, reference=reference)
    assert first["outcome"] == "refused" and "no checkpoint" in first["message"]
    assert last["outcome"] == "identical"


def _checkpointed(tmp_path) -> Path:
    """A run killed right after its checkpoint at step 6 (the one of step 4, an epoch end, is kept too)."""
    with pytest.raises(Interrupted):
        interrupted_after(6)(experiment(), run_dir=tmp_path / "run").fit()
    assert len(ckpt.checkpoints(tmp_path / "run" / "checkpoints")) == 2
    return tmp_path / "run"


def _resume(run_dir):
    exp = experiment()
    trainer = Trainer(exp, run_dir=run_dir, resume=True, verbose=False)
    return trainer, trainer.fit()


def test_flipped_bytes_fall_back_to_the_newest_checkpoint_that_verifies(tmp_path, reference):
    run_dir = _checkpointed(tmp_path)
    newest = ckpt.checkpoints(run_dir / "checkpoints")[-1]
    data = bytearray((newest / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF  # a flipped byte inside the tensor data, the header is intact
    (newest / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ForwardkitError, match="does not match its checksum"):
        ckpt.load_checkpoint(newest)
    trainer, result = _resume(run_dir)
    assert trainer.resumed_from != newest and trainer.resumed_from.name.startswith("step-")
    assert all(torch.equal(v, result.model.state_dict()[k]) for k, v in reference[0].items())


def test_edited_state_and_escaping_pointers_are_refused_or_passed_over(tmp_path, reference):
    run_dir = _checkpointed(tmp_path)
    folder = run_dir / "checkpoints"
    newest = ckpt.checkpoints(folder)[-1]
    state = json.loads((newest / "state.json").read_text())
    state["epoch"] = "seven"  # valid JSON, wrong content
    (newest / "state.json").write_text(json.dumps(state))
    (folder / "latest").write_text("../../elsewhere/step-00000003\n")
    with pytest.raises(ForwardkitError, match="not a checkpoint of this run"):
        ckpt.pointed(folder)
    found = ckpt.resumable(folder)
    assert found.checkpoint.path != newest and "latest" in found.note() and "checksum" in found.note()
    _, result = _resume(run_dir)
    assert all(torch.equal(v, result.model.state_dict()[k]) for k, v in reference[0].items())


def test_a_missing_latest_uses_the_complete_folders(tmp_path, reference):
    run_dir = _checkpointed(tmp_path)
    (run_dir / "checkpoints" / "latest").unlink()
    newest = ckpt.checkpoints(run_dir / "checkpoints")[-1]
    trainer, result = _resume(run_dir)
    assert trainer.resumed_from == newest
    assert all(torch.equal(v, result.model.state_dict()[k]) for k, v in reference[0].items())


def test_when_nothing_verifies_the_error_lists_why(tmp_path, cli_here):
    run_dir = _checkpointed(tmp_path)
    for path in ckpt.checkpoints(run_dir / "checkpoints"):
        (path / "state.safetensors").write_bytes(b"garbage")
    proc = cli_here("run", "--resume", str(run_dir))
    assert proc.returncode == 2 and "no checkpoint in" in proc.stderr and "checksum" in proc.stderr
    assert "Traceback" not in proc.stderr
    (run_dir / "experiment.json").write_bytes(b"\xff\xfe\x00binary")
    binary = cli_here("run", "--resume", str(run_dir))
    assert binary.returncode == 2 and "not UTF-8" in binary.stderr


def test_a_full_disk_is_a_clear_error_and_leaves_no_temporary_folder(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(ForwardkitError, match=r"no space left to write a checkpoint in .* needs about"):
        Trainer(experiment(), run_dir=tmp_path / "full").fit()
    monkeypatch.undo()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", no_space)
    with pytest.raises(ForwardkitError, match="no space left"):
        Trainer(experiment(), run_dir=tmp_path / "enospc").fit()
    assert not list((tmp_path / "enospc" / "checkpoints").glob(".step-*"))  # the temporary folder is gone


def test_a_consistent_checkpoint_that_does_not_fit_the_run_is_refused(tmp_path):
    """A checkpoint whose checksums match but whose optimizer state has the wrong shapes: a clear error."""
    from safetensors.torch import load_file, save_file

    run_dir = _checkpointed(tmp_path)
    for path in ckpt.checkpoints(run_dir / "checkpoints"):
        tensors = load_file(str(path / "state.safetensors"))
        key = next(k for k in tensors if k.endswith("exp_avg") or k.endswith("momentum_buffer") or "/state/" in k)
        tensors[key] = torch.zeros(3, 3, 3)
        save_file(tensors, str(path / "state.safetensors"))
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["files"]["state.safetensors"] = {"bytes": (path / "state.safetensors").stat().st_size,
                                                  "sha256": ckpt._sha256(path / "state.safetensors")}
        (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ForwardkitError, match="does not match this run: ValueError: optimizer state"):
        _resume(run_dir)


def test_an_output_folder_that_is_a_file_is_refused(tmp_path, cli_here):
    import yaml

    (tmp_path / "runs").write_text("a file")
    exp = experiment()
    exp["trainer"]["out_dir"] = str(tmp_path / "runs")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp))
    proc = cli_here("run", str(path), "--quiet")
    assert proc.returncode == 2 and "is a file" in proc.stderr and "Traceback" not in proc.stderr
