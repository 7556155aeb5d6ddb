"""Kill a training run at every file operation of every checkpoint write, resume it, compare.

Three small runs (builtin MLP on ``blobs``, 2 epochs): checkpoints every 3 steps (not at epoch ends), every
epoch's worth of steps (the same step written twice: the step checkpoint and the epoch-end one, the
replacement case), and the first with only one checkpoint kept. For each checkpoint write of a run and each
file operation inside that write (os.replace/rename/fsync/mkdir/unlink, shutil.rmtree, safetensors
save_file, text writes), the run is killed right there (a ``BaseException`` that no handler catches,
nothing cleaned up), then resumed from its run directory with ``--resume``'s code path.

Outcomes per trial: ``identical`` (the resume ends with the uninterrupted run's weights, bit for bit, and
its test accuracy), ``refused`` (a clear :class:`~forwardkit.errors.ForwardkitError`: no checkpoint that
verifies), ``different`` (it resumed and ended elsewhere), ``crashed`` (any other exception), ``dangling``
(after the kill, ``latest`` names a folder that is not a complete checkpoint). Bar (issue 11): none
different, crashed or dangling; every trial where a complete checkpoint existed identical.

    python benchmarks/kill_trials.py                 # writes benchmarks/results/kill_trials.json
    python benchmarks/kill_trials.py --smoke         # one run, one write
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

from forwardkit.engine import checkpoint as ckpt
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError

RESULTS = Path(__file__).resolve().parent / "results" / "kill_trials.json"


def experiment(**trainer: Any) -> dict[str, Any]:
    """The run under test: 160 blobs, an MLP, AdamW with a cosine schedule, 2 epochs of 4 steps."""
    return {
        "name": "kills",
        "data": {"name": "blobs", "n_samples": 160, "clusters_per_class": 2},
        "model": {"name": "mlp", "hidden": [32, 32], "dropout": 0.1},
        "learning_rule": {"name": "backprop", "lr": 0.01, "schedule": "cosine", "warmup_steps": 3},
        "callbacks": [{"name": "early_stopping", "patience": 50}, "lr_monitor", "nan_guard"],
        "trainer": {"epochs": 2, "batch_size": 32, "progress": "none", "log_every": 5, "plots": False,
                    **trainer},
        "seed": 7,
    }


#: the runs killed (label, trainer fields)
RUNS = [("every-3-steps", {"checkpoint_every_steps": 3, "keep_checkpoints": 2}),
        ("every-epoch-of-steps", {"checkpoint_every_steps": 4, "keep_checkpoints": 2}),
        ("keep-one", {"checkpoint_every_steps": 3, "keep_checkpoints": 1})]


class Killed(BaseException):
    """A kill: no handler runs (it is not an OSError), nothing is cleaned up."""


class Saboteur:
    """Counts the file operations of one checkpoint write and raises :class:`Killed` at operation ``at``
    (``None``: count only)."""

    def __init__(self, at: int | None) -> None:
        self.at, self.count = at, 0

    def hit(self) -> None:
        if self.at is not None and self.count == self.at:
            raise Killed
        self.count += 1

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            self.hit()
            return fn(*args, **kwargs)

        return inner


@contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


@contextmanager
def sabotaged(saboteur_for: Callable[[int], Saboteur | None]) -> Iterator[None]:
    """While inside, checkpoint write number n (from 1) of a run goes through the file operations of
    ``saboteur_for(n)`` (None: that write is left alone)."""
    import forwardkit.engine.trainer as trainer_module

    saves = [0]
    original = ckpt.save_checkpoint

    def counted_save(*args: Any, **kwargs: Any) -> Any:
        saves[0] += 1
        saboteur = saboteur_for(saves[0])
        if saboteur is None:
            return original(*args, **kwargs)
        fake_os = types.SimpleNamespace(**{n: getattr(os, n) for n in dir(os) if not n.startswith("__")})
        for name in ("replace", "rename", "fsync", "mkdir", "unlink"):
            setattr(fake_os, name, saboteur.wrap(getattr(os, name)))
        fake_shutil = types.SimpleNamespace(rmtree=saboteur.wrap(shutil.rmtree), disk_usage=shutil.disk_usage)
        with patched(ckpt, "os", fake_os), patched(ckpt, "shutil", fake_shutil), \
                patched(ckpt, "save_file", saboteur.wrap(ckpt.save_file)), \
                patched(ckpt, "atomic_write_text", saboteur.wrap(ckpt.atomic_write_text)), \
                patched(Path, "write_text", saboteur.wrap(Path.write_text)), \
                patched(Path, "mkdir", saboteur.wrap(Path.mkdir)):
            return original(*args, **kwargs)

    with patched(trainer_module.ckpt, "save_checkpoint", counted_save):
        yield


def kill_at(on_save: int, at: int) -> Callable[[int], Saboteur | None]:
    """Kill write ``on_save`` at its file operation ``at`` (from 0)."""
    return lambda n: Saboteur(at) if n == on_save else None


def count_writes_and_operations(exp: dict[str, Any], folder: Path) -> tuple[list[int], Any]:
    """The uninterrupted run: the file operations of each of its checkpoint writes, its final weights and
    test accuracy."""
    counters: list[Saboteur] = []

    def counter(n: int) -> Saboteur:
        counters.append(Saboteur(None))
        return counters[-1]

    with sabotaged(counter):
        run = Trainer(exp, run_dir=folder / "uninterrupted", verbose=False).fit()
    reference = ({k: v.clone() for k, v in run.model.state_dict().items()}, run.final["test/accuracy"])
    return [c.count for c in counters], reference


def trial(exp: dict[str, Any], run_dir: Path, *, on_save: int, at: int, reference: Any) -> dict[str, Any]:
    """Kill write ``on_save`` at operation ``at``, resume, judge."""
    weights, accuracy = reference
    try:
        with sabotaged(kill_at(on_save, at)):
            Trainer(exp, run_dir=run_dir, verbose=False).fit()
        return {"outcome": "not killed"}
    except Killed:
        pass
    latest = run_dir / "checkpoints" / "latest"
    dangling = latest.is_file() and not (latest.parent / latest.read_text().strip() / "manifest.json").is_file()
    if dangling:
        return {"outcome": "dangling", "message": f"latest -> {latest.read_text().strip()}, not a complete folder"}
    try:
        resumed = Trainer(exp, run_dir=run_dir, resume=True, verbose=False)
        result = resumed.fit()
    except ForwardkitError as err:
        return {"outcome": "refused", "message": str(err).splitlines()[0][:200]}
    except Exception as err:  # what the bar counts as a crash
        return {"outcome": "crashed", "message": f"{type(err).__name__}: {err}"[:200]}
    same = all(torch.equal(v, result.model.state_dict()[k]) for k, v in weights.items())
    same = same and result.final["test/accuracy"] == accuracy
    return {"outcome": "identical" if same else "different",
            "resumed_from": resumed.resumed_from.name if resumed.resumed_from else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the first run, its third write only")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS}; none with --smoke)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, fields in RUNS[:1] if args.smoke else RUNS:
            exp = experiment(**fields)
            ops, reference = count_writes_and_operations(exp, Path(tmp) / label)
            writes = [3] if args.smoke else list(range(1, len(ops) + 1))
            rows = [{"write": w, "operation": at, **trial(exp, Path(tmp) / label / f"w{w}-op{at}", on_save=w, at=at,
                                                           reference=reference)}
                    for w in writes for at in range(ops[w - 1])]
            counts = {k: sum(r["outcome"] == k for r in rows) for k in ("identical", "refused", "different",
                                                                         "crashed", "dangling")}
            runs.append({"run": label, "trainer": fields, "operations_per_write": ops, "trials": len(rows),
                         **counts, "rows": rows})
            print(f"{label:22s} {len(ops)} writes, {sum(ops[w - 1] for w in writes)} kills: "
                  + ", ".join(f"{v} {k}" for k, v in counts.items()), flush=True)
    totals = {k: sum(r[k] for r in runs) for k in ("trials", "identical", "refused", "different", "crashed",
                                                   "dangling")}
    result = {"what": "a kill at every file operation of every checkpoint write, then --resume",
              "bar": "no trial different, crashed or dangling", **totals, "runs": runs,
              "seconds": round(time.perf_counter() - start, 1), **machine_info()}
    print("total: " + ", ".join(f"{v} {k}" for k, v in totals.items()))
    write_result(args.out if args.out is not None else (None if args.smoke else RESULTS), result)
    return result


if __name__ == "__main__":
    main()
