"""``check_resume``: a run checkpointed at step k and resumed ends equal to the uninterrupted run.

Applies to learning rules and callbacks. The component is put into a small experiment — by default
the builtin ``blobs`` data and ``mlp`` model (with dropout, so RNG state matters), the component under
test as the learning rule or as the only callback (with ``backprop`` as the rule) — that runs
uninterrupted once; a second run is interrupted right after a mid-epoch checkpoint and resumed by a
new trainer. Final weights must be bit-identical, and so must the component's own ``state_dict``.

A component that needs other data or another model declares ``conformance_experiment`` (a ClassVar
dict with any of ``data``, ``model``, ``learning_rule``, ``callbacks``, ``trainer`` entries; the
component itself is inserted where its kind goes).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from forwardkit.engine.state import flatten
from forwardkit.engine.trainer import Trainer
from forwardkit.registry import Registry
from forwardkit.testing.checks.common import Subject, conformance_check, fail

UNDER_TEST = "component_under_test"
INTERRUPT_AT = 5  # a step inside the second epoch of the default experiment


__all__ = ["INTERRUPT_AT", "UNDER_TEST", "check_resume", "default_experiment", "resume_experiment"]


def default_experiment() -> dict[str, Any]:
    """The experiment a component is checked in unless it declares ``conformance_experiment``."""
    return {
        "name": "resume-check",
        "data": {"name": "blobs", "n_samples": 200, "clusters_per_class": 2},
        "model": {"name": "mlp", "hidden": [16], "dropout": 0.2},
        "learning_rule": {"name": "backprop", "lr": 0.02, "schedule": "cosine"},
        "trainer": {
            "epochs": 2,
            "batch_size": 32,
            "progress": "none",
            "checkpoint_every_steps": 1,
            "log_every": 1,
            "plots": False,
            "test_at_end": False,
        },
        "seed": 3,
    }


def resume_experiment(subject: Subject, config: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment the check runs: the default (or declared) one with the component inserted."""
    exp = default_experiment()
    declared = getattr(subject.cls, "conformance_experiment", None) or {}
    for key, value in declared.items():
        exp[key] = {**exp.get(key, {}), **value} if key == "trainer" else value
    spec = {"name": UNDER_TEST, **dict(config)}
    if subject.kind == "learning_rule":
        exp["learning_rule"] = spec
    else:
        exp["callbacks"] = [*exp.get("callbacks", []), spec]
    return exp


class _Interrupted(Exception):
    pass


def _interrupting(step: int) -> type[Trainer]:
    class InterruptedTrainer(Trainer):
        def save_checkpoint(self, epoch: int, batch_in_epoch: int, **kwargs: Any) -> Path | None:
            path = super().save_checkpoint(epoch, batch_in_epoch, **kwargs)
            if self.ctx.step == step:
                raise _Interrupted
            return path

    return InterruptedTrainer


def _component(trainer: Trainer, kind: str) -> Any:
    if kind == "learning_rule":
        return trainer.rule
    return trainer.callbacks[trainer.callback_names.index(UNDER_TEST)]


def _sorted(state: Any) -> Any:
    """The same state with every mapping's keys in sorted order (so key order does not matter)."""
    if isinstance(state, Mapping):
        return {k: _sorted(state[k]) for k in sorted(state, key=repr)}
    if isinstance(state, list | tuple):
        return type(state)(_sorted(v) for v in state)
    return state


def _plain(state: Any) -> tuple[str, dict[str, torch.Tensor]]:
    tensors: dict[str, torch.Tensor] = {}
    return json.dumps(flatten(_sorted(state), tensors), sort_keys=True), tensors


def _interrupted_and_resumed(exp: dict[str, Any], registry: Registry, tmp: Path) -> tuple[Trainer, Trainer]:
    """The uninterrupted run, and the run interrupted at :data:`INTERRUPT_AT` then resumed."""
    full = Trainer(exp, run_dir=tmp / "full", registry=registry, verbose=False)
    full.fit()
    if full.ctx.step <= INTERRUPT_AT:
        fail(f"the resume experiment ran only {full.ctx.step} steps; it needs more than {INTERRUPT_AT}")
    cut = _interrupting(INTERRUPT_AT)(exp, run_dir=tmp / "cut", registry=registry, verbose=False)
    try:
        cut.fit()
    except _Interrupted:
        pass
    else:
        fail(f"the run was not interrupted at step {INTERRUPT_AT} (no checkpoint was written there)")
    resumed = Trainer(exp, run_dir=tmp / "cut", resume=True, registry=registry, verbose=False)
    resumed.fit()
    return full, resumed


def _assert_same_end(full: Trainer, resumed: Trainer, kind: str) -> None:
    if resumed.ctx.step != full.ctx.step:
        fail(f"resumed run ended at step {resumed.ctx.step}, the uninterrupted one at {full.ctx.step}")
    a, b = full.model.state_dict(), resumed.model.state_dict()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    if differing:
        fail(f"after resuming from step {INTERRUPT_AT}, weights differ from the uninterrupted run: {differing}")
    (ja, ta), (jb, tb) = _plain(_component(full, kind).state_dict()), _plain(_component(resumed, kind).state_dict())
    if ja != jb or any(not torch.equal(ta[k], tb[k]) for k in ta):
        fail("after resuming, the component's state_dict differs from the uninterrupted run's")


@conformance_check("learning_rule", "callback")
def check_resume(subject: Subject, *, configs: Any = None) -> int:
    """Interrupted after a mid-epoch checkpoint and resumed, a run ends with bit-identical weights and
    component state to the uninterrupted run (CPU)."""
    registry = Registry.discover()
    registry.register_class(subject.kind, UNDER_TEST, subject.cls, config=subject.config_cls)
    chosen = subject.configs(configs)
    for config in chosen:
        exp = resume_experiment(subject, config)
        with tempfile.TemporaryDirectory() as tmp:
            full, resumed = _interrupted_and_resumed(exp, registry, Path(tmp))
        _assert_same_end(full, resumed, subject.kind)
    return len(chosen)
