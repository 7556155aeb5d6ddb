"""Checkpoints: weights in safetensors, everything else in plain files, written atomically.

A checkpoint is a folder ``checkpoints/step-00000123/`` holding

* ``model.safetensors`` — the model's state dict (parameters and buffers);
* ``state.safetensors`` + ``state.json`` — learning-rule, callback and RNG state, step, epoch;
* ``experiment.json`` — the experiment the run was started with.

The folder is written under a temporary name and renamed, and ``checkpoints/latest`` (a one-line text
file) is replaced atomically afterwards, so a run killed at any moment leaves either the previous or
the new checkpoint, never half of one. Loading reads JSON and safetensors only: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from forwardkit.engine.state import atomic_write_text, dumps_json, flatten, unflatten
from forwardkit.errors import ForwardkitError

FORMAT = 1


class CheckpointError(ForwardkitError):
    """A checkpoint that is missing, corrupt or does not belong to this experiment."""


@dataclass
class Checkpoint:
    """What a checkpoint holds once loaded."""

    path: Path
    model_state: dict[str, torch.Tensor]
    state: dict[str, Any]
    experiment: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])


def experiment_fingerprint(experiment: dict[str, Any]) -> str:
    """A hash of the parts of an experiment that must match for a resume (not the trainer's run length)."""
    keep = {k: v for k, v in experiment.items() if k not in ("trainer", "name")}
    trainer = dict(experiment.get("trainer", {}))
    keep["trainer"] = {k: trainer.get(k) for k in ("batch_size", "task")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def save_checkpoint(
    folder: Path,
    *,
    step: int,
    model_state: dict[str, torch.Tensor],
    state: dict[str, Any],
    experiment: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write ``folder/step-<step>`` atomically, point ``folder/latest`` at it, keep the newest ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:08d}"
    tmp = folder / f".step-{step:08d}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors: dict[str, torch.Tensor] = {}
    tree = flatten({**state, "step": step, "format": FORMAT}, tensors)
    save_file({k: v.detach().cpu().contiguous() for k, v in model_state.items()}, str(tmp / "model.safetensors"))
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(dumps_json(tree))
    (tmp / "experiment.json").write_text(dumps_json(experiment))
    for child in tmp.iterdir():  # make the files durable before the rename publishes them
        with child.open("rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(folder / "latest", final.name + "\n")
    for old in sorted(folder.glob("step-*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint ``folder/latest`` points at, or None when the run has none yet."""
    pointer = folder / "latest"
    if not pointer.is_file():
        return None
    path = folder / pointer.read_text().strip()
    if not path.is_dir():
        raise CheckpointError(f"{pointer} points at {path.name}, which does not exist")
    return path


def load_checkpoint(path: Path, *, experiment: dict[str, Any] | None = None) -> Checkpoint:
    """Read a checkpoint folder; with ``experiment``, refuse one written by a different experiment."""
    files = {name: path / name for name in ("model.safetensors", "state.safetensors", "state.json", "experiment.json")}
    missing = [n for n, p in files.items() if not p.is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    try:
        model_state = load_file(str(files["model.safetensors"]))
        tensors = load_file(str(files["state.safetensors"]))
        tree = json.loads(files["state.json"].read_text())
        saved_experiment = json.loads(files["experiment.json"].read_text())
        state = unflatten(tree, tensors)
    except (OSError, ValueError, KeyError) as exc:  # safetensors raises its own errors as well
        raise CheckpointError(f"checkpoint {path} is corrupt: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt: {type(exc).__name__}: {exc}") from None
    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {state.get('format')!r}, expected {FORMAT}")
    if experiment is not None and experiment_fingerprint(experiment) != experiment_fingerprint(saved_experiment):
        raise CheckpointError(
            f"checkpoint {path} was written by a different experiment (data, model, rule, callbacks or batch size "
            "differ); resume with the run's own experiment.json or start a new run"
        )
    return Checkpoint(path=path, model_state=model_state, state=state, experiment=saved_experiment)
