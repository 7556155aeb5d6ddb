"""Shared helpers of the gradient-noise tests: tiny experiments for the trainer."""

from __future__ import annotations

from typing import Any

import pytest


def tiny_experiment(**overrides: Any) -> dict[str, Any]:
    """A few-second experiment: blobs (16 features), a small deep_relu_mlp, plain SGD."""
    exp: dict[str, Any] = {
        "name": "gn-test",
        "data": {"name": "blobs", "n_samples": 160, "num_classes": 4},
        "model": {"name": "deep_relu_mlp", "depth": 3, "width": 8, "init": "he"},
        "learning_rule": {"name": "backprop", "optimizer": "sgd", "lr": 0.05, "momentum": 0.0},
        "callbacks": [{"name": "annealed_gradient_noise", "eta": 0.01}],
        "trainer": {"epochs": 2, "batch_size": 32, "progress": "none", "plots": False, "log_every": 1,
                    "test_at_end": False},
        "seed": 1,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(exp.get(key), dict):
            exp[key] = {**exp[key], **value}
        else:
            exp[key] = value
    return exp


@pytest.fixture
def experiment():
    return tiny_experiment
