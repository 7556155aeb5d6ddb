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

import copy
import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from forwardkit.engine import stages as stages_engine
from forwardkit.engine.state import flatten
from forwardkit.engine.trainer import Trainer
from forwardkit.registry import Registry
from forwardkit.testing.checks.common import Subject, conformance_check, fail
from forwardkit.testing.checks.rules import require_training

UNDER_TEST = "component_under_test"
INTERRUPT_AT = 5  # a step inside the second epoch of the default experiment


__all__ = [
    "INTERRUPT_AT",
    "UNDER_TEST",
    "check_resume",
    "check_stages",
    "default_experiment",
    "resume_experiment",
    "stages_experiment",
]


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


def _interrupting(
    step: int | None, *, made: list[Trainer] | None = None, when: Callable[[Trainer], bool] | None = None
) -> type[Trainer]:
    """A Trainer that stops right after the checkpoint of ``step`` (None: never; ``when``: only trainers
    for which it is true) and appends every instance to ``made``."""

    class InterruptedTrainer(Trainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if made is not None:
                made.append(self)

        def save_checkpoint(self, epoch: int, batch_in_epoch: int, **kwargs: Any) -> Path | None:
            path = super().save_checkpoint(epoch, batch_in_epoch, **kwargs)
            if step is not None and self.ctx.step == step and (when is None or when(self)):
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
    component state to the uninterrupted run (CPU). Skipped for a learning rule with ``trains = False``."""
    require_training(subject)
    registry = Registry.discover()
    registry.register_class(subject.kind, UNDER_TEST, subject.cls, config=subject.config_cls)
    chosen = subject.configs(configs)
    for config in chosen:
        exp = resume_experiment(subject, config)
        with tempfile.TemporaryDirectory() as tmp:
            full, resumed = _interrupted_and_resumed(exp, registry, Path(tmp))
        _assert_same_end(full, resumed, subject.kind)
    return len(chosen)


# ---- check_stages: the same, inside the second stage of a multi-stage experiment ---------------------------
#: the two stages: a pre-training by backprop, then the stage that uses the component
PRETRAIN, UNDER_TEST_STAGE = "pretrain", "under-test"
#: steps of the pre-training, and at most of the second stage (interrupted at :data:`INTERRUPT_AT`)
PRETRAIN_STEPS, STAGE_STEPS = 2, INTERRUPT_AT + 2


def _frozen_pattern(exp: Mapping[str, Any], registry: Registry) -> str:
    """The parameter the second stage freezes: the model's first trainable one (a single tensor, so that a
    layer-local rule still has something to train in every layer)."""
    trainer = Trainer(copy.deepcopy(dict(exp)), write=False, registry=registry, verbose=False)
    trainer.build()
    names = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    if len(names) < 2:
        fail(f"the stages experiment's model has {len(names)} trainable parameter(s); it needs 2 to freeze a part")
    return names[0]


def stages_experiment(subject: Subject, config: Mapping[str, Any], registry: Registry) -> dict[str, Any]:
    """The two-stage experiment ``check_stages`` runs: the resume experiment (default or declared) pre-trained
    for :data:`PRETRAIN_STEPS` steps without the component — by ``backprop``, by the experiment's rule for a
    callback, by a new instance of the rule for a learning rule that declares its own model in
    ``conformance_experiment`` — then trained with the component for at most :data:`STAGE_STEPS` steps,
    carrying the weights and freezing the model's first parameter."""
    exp = resume_experiment(subject, config)
    declared = getattr(subject.cls, "conformance_experiment", None) or {}
    if subject.kind == "callback":
        pre_rule = exp["learning_rule"]  # the experiment's own rule, without the callback
    elif "model" in declared:
        pre_rule = exp["learning_rule"]  # a model chosen for the rule (a layer-local GNN) may need the rule itself
    else:
        pre_rule = default_experiment()["learning_rule"]
    base: dict[str, Any] = {key: exp[key] for key in ("data", "model", "adapters") if key in exp}
    base["learning_rule"] = pre_rule
    base["trainer"] = {**exp["trainer"], "epochs": 1, "max_steps": PRETRAIN_STEPS, "checkpoint_every_steps": 0}
    limit = exp["trainer"].get("max_steps")
    steps = STAGE_STEPS if limit is None else min(int(limit), STAGE_STEPS)
    own_callbacks = [c for c in exp.get("callbacks", [])
                     if not (isinstance(c, Mapping) and c.get("name") == UNDER_TEST)]
    return {
        "name": "stages-check",
        "seed": exp.get("seed", 0),
        "base": base,
        "stages": [
            {"name": PRETRAIN, "callbacks": own_callbacks},
            {
                "name": UNDER_TEST_STAGE,
                "learning_rule": exp["learning_rule"],
                "callbacks": exp.get("callbacks", []),
                # a checkpoint at the interruption only (each costs fsyncs): the interrupted run stops there
                "trainer": {**exp["trainer"], "max_steps": steps, "checkpoint_every_steps": INTERRUPT_AT},
                "freeze": [_frozen_pattern(exp, registry)],
            },
        ],
    }


def _in_stage(name: str) -> Callable[[Trainer], bool]:
    return lambda trainer: trainer.experiment.name.endswith(f"-{name}")


def _run_stages_interrupted(spec: dict[str, Any], registry: Registry, tmp: Path) -> tuple[Trainer, Trainer]:
    """The last trainers of the uninterrupted run and of the run interrupted in the second stage, resumed."""
    full: list[Trainer] = []
    stages_engine.run_stages(spec, run_dir=tmp / "full", registry=registry, verbose=False,
                             trainer_cls=_interrupting(None, made=full))
    if len(full) != 2 or full[-1].ctx.step <= INTERRUPT_AT:
        fail(f"the second stage ran {full[-1].ctx.step if full else 0} steps; it needs more than {INTERRUPT_AT}")
    cut: list[Trainer] = []
    try:
        stages_engine.run_stages(spec, run_dir=tmp / "cut", registry=registry, verbose=False,
                                 trainer_cls=_interrupting(INTERRUPT_AT, made=cut, when=_in_stage(UNDER_TEST_STAGE)))
    except _Interrupted:
        pass
    else:
        fail(f"the second stage was not interrupted at step {INTERRUPT_AT} (no checkpoint was written there)")
    resumed: list[Trainer] = []
    stages_engine.run_stages(spec, run_dir=tmp / "cut", resume=True, registry=registry, verbose=False,
                             trainer_cls=_interrupting(None, made=resumed))
    if len(resumed) != 1:
        fail(f"resuming ran {len(resumed)} stage(s); only the interrupted second stage should run again")
    return full[-1], resumed[-1]


def _assert_frozen(trainer: Trainer, carried: Mapping[str, torch.Tensor], pattern: str, what: str) -> None:
    import fnmatch

    frozen = [n for n, _ in trainer.model.named_parameters() if fnmatch.fnmatchcase(n, pattern)]
    state = trainer.model.state_dict()
    moved = [n for n in frozen if not torch.equal(state[n], carried[n])]
    if moved:
        fail(f"{what}: parameters {moved} of the frozen part ({pattern!r}) changed during the second stage; the "
             "component must not update (or unfreeze) what the stage froze")


@conformance_check("learning_rule", "callback")
def check_stages(subject: Subject, *, configs: Any = None) -> int:
    """In a two-stage experiment (pre-training by backprop, then a stage with the component, the weights
    carried and a part frozen), a run interrupted right after a checkpoint inside the second stage and
    resumed ends with bit-identical weights and component state to the uninterrupted run, and (for a
    learning rule) the frozen part keeps the carried weights (CPU). Skipped for a learning rule with
    ``trains = False``."""
    require_training(subject)
    registry = Registry.discover()
    registry.register_class(subject.kind, UNDER_TEST, subject.cls, config=subject.config_cls)
    chosen = subject.configs(configs)
    for config in chosen:
        spec = stages_experiment(subject, config, registry)
        pattern = spec["stages"][1]["freeze"][0]
        with tempfile.TemporaryDirectory() as tmp:
            full, resumed = _run_stages_interrupted(spec, registry, Path(tmp))
            carried = load_file(str(Path(tmp) / "full" / f"00-{PRETRAIN}" / stages_engine.FINAL))
        if subject.kind == "learning_rule":  # a rule owns the updates; a callback may rewrite weights (EMA)
            _assert_frozen(full, carried, pattern, "the uninterrupted run")
        _assert_same_end(full, resumed, subject.kind)
    return len(chosen)
