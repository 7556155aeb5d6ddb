"""check_resume catches learning rules and callbacks that do not save what they need to resume exactly."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from forwardkit.builtin.backprop import Backprop
from forwardkit.builtin.training_config import BackpropConfig
from forwardkit.config import ComponentConfig
from forwardkit.interfaces import Callback
from forwardkit.testing.resume import check_resume


class ForgetfulBackprop(Backprop):
    """Drops the optimizer's moments from its state: a resumed Adam restarts from zero moments."""

    Config = BackpropConfig

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "optimizer": None}


class NoisyConfig(ComponentConfig):
    scale: float = 0.1


class UnsavedNoise(Callback):
    """Adds input noise from a private generator whose state is not saved."""

    Config = NoisyConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.gen = torch.Generator().manual_seed(0)

    def on_batch_start(self, batch, ctx):
        noise = torch.randn(batch["x"].shape, generator=self.gen) * self.config.scale
        return {**batch, "x": batch["x"] + noise}


class SavedNoise(UnsavedNoise):
    """The same, with the generator state saved and restored: resumes exactly."""

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state) -> None:
        self.gen.set_state(state["gen"])


def test_builtin_backprop_resumes_exactly():
    check_resume(Backprop)


def test_a_rule_that_forgets_its_optimizer_state_fails():
    with pytest.raises(AssertionError, match=r"weights differ|state_dict differs"):
        check_resume(ForgetfulBackprop)


def test_a_callback_with_unsaved_rng_fails_and_the_saved_one_passes():
    with pytest.raises(AssertionError, match="weights differ"):
        check_resume(UnsavedNoise)
    check_resume(SavedNoise)
