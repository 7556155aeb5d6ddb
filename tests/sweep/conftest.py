"""A tiny experiment to sweep (blobs, an MLP, a few epochs: well under a second a trial)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("optuna", reason='forwardkit sweep needs Optuna: pip install "forwardkit[sweep]"')

TINY = {
    "name": "tiny",
    "data": {"name": "blobs", "n_samples": 240, "num_classes": 3, "noise": 2.0},
    "model": {"name": "mlp", "hidden": [4]},
    "learning_rule": {"name": "backprop", "lr": 0.01},
    "trainer": {"epochs": 3, "batch_size": 32, "plots": False, "test_at_end": False},
}
SPACE = ["learning_rule.lr=loguniform(1e-3,1e-1)", "model.hidden=choice([4],[16])"]


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY, sort_keys=False))
    return path


def settings(out_dir: Path, *, n_trials: int = 3, pruner: str = "none", plots: bool = False, **kwargs):
    """SweepSettings of the tiny experiment over SPACE, quiet, without plots unless asked."""
    from forwardkit.sweep.driver import SweepSettings
    from forwardkit.sweep.params import parse_params
    from forwardkit.sweep.study import default_storage

    base = kwargs.pop("experiment", TINY)
    return SweepSettings(experiment=base, params=parse_params(kwargs.pop("params", SPACE)), metric="val/accuracy",
                         direction="maximize", n_trials=n_trials, out_dir=out_dir,
                         storage=default_storage(out_dir), study_name="tiny", pruner=pruner, plots=plots,
                         say=kwargs.pop("say", lambda line: None), **kwargs)
