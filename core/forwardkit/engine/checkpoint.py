"""Checkpoints: weights in safetensors, everything else in plain files, written atomically, verified.

A checkpoint is a folder ``checkpoints/step-00000123/`` (``step-00000123.1`` when the same step is
written again) holding

* ``model.safetensors`` — the model's state dict (parameters and buffers);
* ``state.safetensors`` + ``state.json`` — learning-rule, callback and RNG state, step, epoch, the stop
  decision, the last evaluation and whether the run had finished;
* ``experiment.json`` — the experiment the run was started with;
* ``manifest.json`` — the size and sha256 of each of those files, written last.

Writing is atomic at every instant: the folder is written under a temporary name, flushed and renamed
to a name no other checkpoint has; then ``checkpoints/latest`` (a one-line file) is replaced through a
rename; only then are older folders pruned. A kill at any point leaves ``latest`` naming a complete
checkpoint (or no ``latest`` yet, with complete folders beside it). Loading verifies the manifest and
reads JSON and safetensors only: nothing is unpickled. :func:`resumable` picks the checkpoint to resume:
the one ``latest`` names if it verifies, else the newest that does, and says which it used and why.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from forwardkit.engine.state import atomic_write_text, dumps_json, flatten, unflatten
from forwardkit.errors import ForwardkitError

FORMAT = 2
FILES = ("model.safetensors", "state.safetensors", "state.json", "experiment.json")
MANIFEST = "manifest.json"
NAME = re.compile(r"^step-(\d{8,})(?:\.(\d+))?$")


class CheckpointError(ForwardkitError):
    """A checkpoint that is missing, corrupt or does not belong to this experiment."""


@dataclass
class Checkpoint:
    """What a checkpoint holds once loaded."""

    path: Path
    model_state: dict[str, torch.Tensor]
    state: dict[str, Any]
    experiment: dict[str, Any]
    verified: bool = True

    @property
    def step(self) -> int:
        return int(self.state["step"])


def experiment_fingerprint(experiment: dict[str, Any]) -> str:
    """A hash of the parts of an experiment that must match for a resume (not the trainer's run length)."""
    keep = {k: v for k, v in experiment.items() if k not in ("trainer", "name")}
    trainer = dict(experiment.get("trainer", {}))
    keep["trainer"] = {k: trainer.get(k) for k in ("batch_size", "task")}
    if trainer.get("paired") is not None:  # only when set, so that fingerprints of runs without it stay the same
        keep["trainer"]["paired"] = trainer["paired"]
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _order(path: Path) -> tuple[int, int]:
    match = NAME.match(path.name)
    assert match is not None
    return int(match.group(1)), int(match.group(2) or 0)


def checkpoints(folder: Path) -> list[Path]:
    """The checkpoint folders of ``folder``, oldest first (by step, then by rewrite)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and NAME.match(p.name)), key=_order)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_name(folder: Path, step: int) -> Path:
    """``step-<step>``, or ``step-<step>.<k>`` with the first unused ``k`` when that step exists."""
    base = folder / f"step-{step:08d}"
    if not base.exists():
        return base
    k = 1
    while (folder / f"{base.name}.{k}").exists():
        k += 1
    return folder / f"{base.name}.{k}"


def _bytes_needed(model_state: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor],
                  texts: list[str]) -> int:
    size = sum(t.numel() * t.element_size() for t in model_state.values())
    size += sum(t.numel() * t.element_size() for t in tensors.values())
    return size + sum(len(t.encode()) for t in texts) + 64 * 1024


def _no_space(folder: Path, needed: int) -> CheckpointError:
    free = shutil.disk_usage(folder).free if folder.exists() else 0
    return CheckpointError(f"no space left to write a checkpoint in {folder}: it needs about {needed / 1e6:.1f} MB "
                           f"and {free / 1e6:.1f} MB are free; free some space and resume the run (the last "
                           "complete checkpoint is kept)")


def save_checkpoint(
    folder: Path,
    *,
    step: int,
    model_state: dict[str, torch.Tensor],
    state: dict[str, Any],
    experiment: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write a checkpoint of ``step`` atomically, point ``folder/latest`` at it, then keep the newest ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    tree = flatten({**state, "step": step, "format": FORMAT}, tensors)
    texts = [dumps_json(tree), dumps_json(experiment)]
    needed = _bytes_needed(model_state, tensors, texts)
    if shutil.disk_usage(folder).free < needed:
        raise _no_space(folder, needed)
    tmp = folder / f".step-{step:08d}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        save_file({k: v.detach().cpu().contiguous() for k, v in model_state.items()}, str(tmp / "model.safetensors"))
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(texts[0], encoding="utf-8")
        (tmp / "experiment.json").write_text(texts[1], encoding="utf-8")
        manifest = {"format": FORMAT, "files": {n: {"bytes": (tmp / n).stat().st_size, "sha256": _sha256(tmp / n)}
                                                 for n in FILES}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        for child in tmp.iterdir():  # durable before the rename publishes them
            with child.open("rb") as fh:
                os.fsync(fh.fileno())
        final = _new_name(folder, step)
        os.replace(tmp, final)
        _fsync_dir(folder)
        atomic_write_text(folder / "latest", final.name + "\n")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(folder, needed) from None
        raise CheckpointError(f"cannot write a checkpoint in {folder}: {exc}") from None
    prune(folder, keep=keep, current=final)
    return final


def prune(folder: Path, *, keep: int, current: Path) -> None:
    """Remove all but the newest ``keep`` checkpoints (never ``current``) and leftover temporary folders."""
    for leftover in folder.glob(".step-*.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    existing = checkpoints(folder)
    for old in existing[:-keep] if keep > 0 else []:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


def pointed(folder: Path) -> Path | None:
    """The checkpoint ``folder/latest`` names, or None without a ``latest``; a pointer that leaves the run's
    own checkpoint folder (``../``, an absolute path, anything not ``step-<n>``) is an error."""
    pointer = folder / "latest"
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{pointer} is unreadable ({exc}); delete it to resume from the newest checkpoint "
                              "that verifies") from None
    if not NAME.match(name) or "/" in name or "\\" in name:
        raise CheckpointError(f"{pointer} holds {name[:80]!r}, which is not a checkpoint of this run (step-<n>); "
                              "delete it to resume from the newest checkpoint that verifies")
    return folder / name


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint to resume from without verifying it: ``latest``'s, else the newest folder (None: none)."""
    path = pointed(folder)
    if path is not None and path.is_dir():
        return path
    found = checkpoints(folder)
    return found[-1] if found else None


def verify(path: Path) -> bool:
    """Check every file of a checkpoint against its manifest; False for a checkpoint without one
    (written before checksums); raises CheckpointError when something does not match."""
    manifest_path = path / MANIFEST
    missing = [n for n in FILES if not (path / n).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} has an unreadable manifest: {type(exc).__name__}: {exc}") from None
    for name in FILES:
        entry = files.get(name) if isinstance(files, dict) else None
        if not isinstance(entry, dict):
            raise CheckpointError(f"checkpoint {path}: the manifest does not list {name}")
        if (path / name).stat().st_size != entry.get("bytes") or _sha256(path / name) != entry.get("sha256"):
            raise CheckpointError(f"checkpoint {path} is damaged: {name} does not match its checksum")
    return True


def load_checkpoint(path: Path, *, experiment: dict[str, Any] | None = None) -> Checkpoint:
    """Verify and read a checkpoint folder; with ``experiment``, refuse one written by a different experiment."""
    verified = verify(path)
    try:
        model_state = load_file(str(path / "model.safetensors"))
        tensors = load_file(str(path / "state.safetensors"))
        tree = json.loads((path / "state.json").read_text(encoding="utf-8"))
        saved_experiment = json.loads((path / "experiment.json").read_text(encoding="utf-8"))
        state = unflatten(tree, tensors)
    except Exception as exc:  # safetensors, JSON and decoding errors alike: the files are not a checkpoint
        raise CheckpointError(f"checkpoint {path} is corrupt: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or not isinstance(saved_experiment, dict):
        raise CheckpointError(f"checkpoint {path} is corrupt: state.json or experiment.json is not a mapping")
    if state.get("format") not in (1, FORMAT):
        raise CheckpointError(f"checkpoint {path} has format {state.get('format')!r}, expected {FORMAT}")
    if experiment is not None and experiment_fingerprint(experiment) != experiment_fingerprint(saved_experiment):
        raise CheckpointError(
            f"checkpoint {path} was written by a different experiment (data, model, rule, callbacks or batch size "
            "differ); resume with the run's own experiment.json or start a new run"
        )
    return Checkpoint(path=path, model_state=model_state, state=state, experiment=saved_experiment, verified=verified)


@dataclass
class Resumable:
    """The checkpoint a resume uses, and what was passed over on the way (newest first)."""

    checkpoint: Checkpoint
    skipped: list[tuple[Path, str]]

    def note(self) -> str | None:
        """A sentence for the user when the resume did not use what ``latest`` names."""
        if not self.skipped:
            return None
        why = "; ".join(f"{p.name}: {reason}" for p, reason in self.skipped)
        return f"resuming from {self.checkpoint.path.name} ({why})"


def resumable(folder: Path) -> Resumable:
    """The checkpoint to resume: ``latest``'s if it verifies, else the newest that does (see module doc)."""
    skipped: list[tuple[Path, str]] = []
    try:
        target = pointed(folder)
    except CheckpointError as exc:
        target, skipped = None, [(folder / "latest", str(exc))]
    candidates = checkpoints(folder)[::-1]
    if target is not None:
        if target.is_dir():
            candidates = [target, *[c for c in candidates if c != target]]
        else:
            skipped.append((target, "named by latest but missing"))
    elif (folder / "latest").is_file() is False and candidates:
        skipped.append((folder / "latest", "missing"))
    for path in candidates:
        try:
            return Resumable(load_checkpoint(path), skipped)
        except CheckpointError as exc:
            skipped.append((path, str(exc)))
    if not candidates:
        raise CheckpointError(f"nothing to resume: {folder} has no checkpoint")
    details = "; ".join(reason for _, reason in skipped)
    raise CheckpointError(f"nothing to resume: no checkpoint in {folder} verifies ({details})")
