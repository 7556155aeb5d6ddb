"""Runs a multi-stage experiment: each stage a training run in its own folder, the model carried on.

The run directory holds ``stages.json`` (the multi-stage experiment), one folder per stage,
``<index>-<name>/`` (an ordinary run directory: experiment.json, metrics, checkpoints, summary.json) with
the stage's final weights in ``final/model.safetensors``, and ``summary.json`` with every stage's final
metrics as ``<stage>/<metric>``. ``resume`` skips the stages that finished, resumes the one that was
interrupted from its own checkpoints, and runs the rest.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from forwardkit.config.stages import CarryConfig, MultiStageExperiment, StageConfig, validate_stages
from forwardkit.engine.rundir import prepare_run_dir
from forwardkit.engine.state import atomic_write_text, dumps_json
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ForwardkitError
from forwardkit.registry import Registry

FINAL = Path("final") / "model.safetensors"


@dataclass
class StagesResult:
    """What a finished multi-stage run returns."""

    run_dir: Path | None
    model: nn.Module | None
    final: dict[str, float] = field(default_factory=dict)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)


def select(state: Mapping[str, torch.Tensor], carry: CarryConfig) -> dict[str, torch.Tensor]:
    """The weights of ``state`` that ``carry`` takes over (``include`` prefixes, minus ``exclude``)."""

    def under(key: str, prefixes: list[str]) -> bool:
        return any(key == p or key.startswith(p.rstrip(".") + ".") for p in prefixes)

    return {k: v for k, v in state.items()
            if (not carry.include or under(k, carry.include)) and not under(k, carry.exclude)}


def load_carried(model: nn.Module, state: Mapping[str, torch.Tensor], carry: CarryConfig, *, stage: str) -> int:
    """Load the carried weights into ``model``; returns how many. Strict: each must fit by name and shape."""
    chosen = select(state, carry)
    own = model.state_dict()
    missing = sorted(k for k in chosen if k not in own)
    wrong = sorted(k for k in chosen if k in own and own[k].shape != chosen[k].shape)
    if carry.strict and (missing or wrong):
        shapes = [f"{k} {tuple(chosen[k].shape)} -> {tuple(own[k].shape)}" for k in wrong[:5]]
        parts = [f"not in the new model: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")] \
            if missing else []
        parts += [f"other shape: {', '.join(shapes)}"] if wrong else []
        raise ForwardkitError(f"stage {stage!r}: the carried weights do not fit its model ({'; '.join(parts)}); "
                              "exclude them (carry.exclude) or set carry.strict: false")
    fitting = {k: v for k, v in chosen.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise ForwardkitError(f"stage {stage!r}: no carried weight fits its model (check carry.include/exclude)")
    model.load_state_dict(fitting, strict=False)
    return len(fitting)


def freeze(model: nn.Module, patterns: list[str], *, stage: str) -> list[str]:
    """Set ``requires_grad=False`` on every parameter whose name matches one of ``patterns``."""
    names = [name for name, _ in model.named_parameters()]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise ForwardkitError(f"stage {stage!r}: freeze pattern {pattern!r} matches no parameter "
                                  f"(parameters: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''})")
    frozen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    params = dict(model.named_parameters())
    for name in frozen:
        params[name].requires_grad_(False)
    return frozen


def preparer(stage: StageConfig, carried: Mapping[str, torch.Tensor] | None) -> Callable[[nn.Module], None]:
    """What the stage's trainer does to its freshly built model: load the carried weights, freeze."""

    def prepare(model: nn.Module) -> None:
        if carried is not None and stage.carry is not None:
            load_carried(model, carried, stage.carry, stage=stage.name)
        if stage.freeze:
            freeze(model, stage.freeze, stage=stage.name)

    return prepare


def _stage_dir(root: Path, index: int, stage: StageConfig) -> Path:
    return root / f"{index:02d}-{stage.name}"


def _finished(folder: Path) -> bool:
    return (folder / "summary.json").is_file() and (folder / FINAL).is_file()


def _save_final(model: nn.Module, folder: Path) -> None:
    path = folder / FINAL
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(path)


def _check_saved(root: Path, spec: MultiStageExperiment, resume: bool, overwrite: bool = False) -> None:
    saved = root / "stages.json"
    text = json.dumps(spec.model_dump(mode="json"), indent=2)
    if resume:
        if not saved.is_file():
            raise ForwardkitError(f"cannot resume: {root} has no stages.json (not a multi-stage run directory)")
        if json.loads(saved.read_text(encoding="utf-8")) != json.loads(text):
            raise ForwardkitError(f"cannot resume: {saved} holds a different multi-stage experiment")
        return
    prepare_run_dir(root, overwrite=overwrite)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved, text)


def run_stages(
    data: Any,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    write: bool = True,
    registry: Registry | None = None,
    verbose: bool = True,
    overwrite: bool = False,
    trainer_cls: type[Trainer] = Trainer,
) -> StagesResult:
    """Run every stage in order (see the module docstring); returns the last model and all final metrics.
    ``trainer_cls`` trains each stage (the conformance kit passes one that is interrupted on purpose)."""
    spec, experiments = validate_stages(data, registry=registry)
    root: Path | None = None
    if write:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        root = Path(run_dir) if run_dir is not None else Path(experiments[0].trainer.out_dir) / f"{spec.name}-{stamp}"
        _check_saved(root, spec, resume, overwrite)
    finals: dict[str, dict[str, float]] = {}
    in_memory: dict[int, dict[str, torch.Tensor]] = {}
    model: nn.Module | None = None
    for i, (stage, exp) in enumerate(zip(spec.stages, experiments, strict=True)):
        folder = _stage_dir(root, i, stage) if root is not None else None
        if resume and folder is not None and _finished(folder):
            finals[stage.name] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["final"]
            continue
        source = spec.carry_source(i)
        carried = None
        if source is not None:
            carried = (load_file(str(_stage_dir(root, source, spec.stages[source]) / FINAL)) if root is not None
                       else in_memory[source])
        again = resume and folder is not None and (folder / "checkpoints" / "latest").is_file()
        trainer = trainer_cls(exp, run_dir=folder, resume=again, write=write, registry=registry, verbose=verbose,
                              prepare=preparer(stage, carried))
        result = trainer.fit()
        model = result.model
        finals[stage.name] = result.final
        if folder is not None:
            _save_final(model, folder)
        else:
            in_memory[i] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flat = {f"{name}/{key}": value for name, final in finals.items() for key, value in final.items()}
    if root is not None:
        atomic_write_text(root / "summary.json", dumps_json({"final": flat, "stages": finals}))
    return StagesResult(run_dir=root, model=model, final=flat, stages=finals)
