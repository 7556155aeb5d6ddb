"""``forwardkit validate``'s build check: what the schema cannot see, found before a run starts.

The experiment is built as the trainer would (data, task, model, adapters, learning rule, callbacks)
and one forward pass and loss are run on two training samples, so that a model that does not fit the
data (shapes, task, a mixer that cannot take the grid), an unavailable device or an output folder that
is a file is an error at validation, not minutes into a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forwardkit.errors import ConfigError, ConfigIssue, ForwardkitError
from forwardkit.registry import Registry


def check_build(experiment: Any, *, registry: Registry | None = None, source: str | None = None) -> None:
    """Build ``experiment`` and run one forward and loss on two training samples; raises ConfigError."""
    import torch

    from forwardkit.engine.data import gather, to_device
    from forwardkit.engine.trainer import Trainer

    trainer = Trainer(experiment, write=False, registry=registry, verbose=False)
    out_dir = Path(trainer.experiment.trainer.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError([ConfigIssue("trainer.out_dir", f"{out_dir} is a file, not a folder")], source=source)
    stage = "building the experiment"
    try:
        trainer.build()
        stage = "one forward pass on two training samples"
        data = trainer.train_set
        n = min(2, len(data))  # type: ignore[arg-type]
        tensors = getattr(data, "tensors", None)
        batch = gather(tensors, list(range(n))) if isinstance(tensors, dict) else _collate([data[i] for i in range(n)])
        batch = to_device(batch, trainer.device)
        trainer.model.eval()
        with torch.no_grad():
            output = trainer.rule.predict(trainer.model, batch)
            stage = "the task's loss on that output"
            trainer.task.loss(output, batch)
            metrics = sorted(f"val/{k}" for k in trainer.task.metrics(output, batch))
    except ForwardkitError as exc:
        raise ConfigError(_issues(exc), source=source) from None
    except Exception as exc:
        raise ConfigError([ConfigIssue("", f"the experiment does not build ({stage}): {type(exc).__name__}: "
                                           f"{str(exc)[:400]}")], source=source) from None
    _check_monitors(trainer, metrics, source)


def _check_monitors(trainer: Any, metrics: list[str], source: str | None) -> None:
    """A callback's ``monitor`` must name a metric the evaluation reports (``val/<metric>``)."""
    issues = []
    for i, spec in enumerate(trainer.experiment.callbacks):
        monitor = getattr(spec.config, "monitor", None)
        if isinstance(monitor, str) and monitor.startswith("val/") and monitor not in metrics:
            issues.append(ConfigIssue(f"callbacks.{i}.monitor", f"{monitor!r} is not an evaluation metric", metrics))
    if issues:
        raise ConfigError(issues, source=source)


def _issues(exc: ForwardkitError) -> list[ConfigIssue]:
    return list(exc.issues) if isinstance(exc, ConfigError) else [ConfigIssue("", str(exc))]


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    from torch.utils.data import default_collate

    return dict(default_collate(items))
