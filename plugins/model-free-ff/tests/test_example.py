"""The example experiment validates and trains on a tiny budget."""

from __future__ import annotations

from pathlib import Path

import forwardkit
from forwardkit.engine.trainer import Trainer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "model-free-ff-digits.yaml"


def test_example_validates_and_runs_on_a_tiny_budget():
    exp = forwardkit.load_experiment(EXAMPLE)
    assert exp.learning_rule is not None
    assert exp.model.name == "hybrid_pnn" and exp.learning_rule.name == "model_free_ff"
    spec = exp.to_dict()
    spec["model"]["physics"]["out_dim"] = 16
    spec["learning_rule"]["inner_steps"] = 2
    spec["trainer"].update(epochs=1, max_steps=2, progress="none", plots=False)
    result = Trainer(spec, write=False, verbose=False).fit()
    assert result.steps == 2 and 0.0 <= result.final["test/accuracy"] <= 1.0
