"""Tent: fully test-time adaptation by entropy minimisation (Wang et al., ICLR 2021, arXiv:2006.10726).

A test-time rule (``adapts_at_test_time``): on each unlabelled test batch it minimises the mean Shannon
entropy of the model's predictions, ``H(y) = -sum_c p(y_c) log p(y_c)`` (the paper's eq. 2), updating
only the scales and shifts of the normalisation layers, with batch-norm layers normalising by the test
batch's own statistics. The output scored for a batch is the forward computed before that batch's
update, as in the official implementation. It does not train: name it under ``test_time.rule`` and
train the source model with another rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.builtin.training_config import TentConfig
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.context import RunContext
from forwardkit.interfaces.learning_rule import LearningRule
from forwardkit.interfaces.model import forward_batch

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def is_norm(module: nn.Module) -> bool:
    """Normalisation layers: torch's batch/instance/layer/group norms and any ``*Norm`` module."""
    return isinstance(module, _NORMS) or type(module).__name__.endswith("Norm")


def norm_affine_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The scales and shifts (``weight``, ``bias``) of every normalisation layer of ``model``."""
    return [p for m in model.modules() if is_norm(m) for p in m.parameters(recurse=False)]


def entropy(logits: Tensor) -> Tensor:
    """Per-sample Shannon entropy of ``softmax(logits)`` over the last axis, ``(B, C) -> (B,)``."""
    return -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1)


class Tent(LearningRule):
    """Test-time entropy minimisation over the normalisation layers' affine parameters."""

    Config = TentConfig
    adapts_at_test_time = True
    trains = False  # step() refuses: it adapts at test time only

    def __init__(self, config: TentConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        raise ForwardkitError("tent adapts at test time only: train with another learning rule and name tent "
                              "under test_time.rule")

    def begin_episode(self, model: nn.Module, ctx: RunContext) -> None:
        params = norm_affine_parameters(model) if self.config.params == "norm_affine" else list(model.parameters())
        if not params:
            raise ForwardkitError("tent: the model has no normalisation layer with affine parameters to adapt "
                                  "(use params: all)")
        model.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        if self.config.batch_stats:
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.train()
        if self.config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=self.config.lr)
        else:
            self.optimizer = torch.optim.SGD(params, lr=self.config.lr, momentum=self.config.momentum)

    def adapt(self, model: nn.Module, batch: Mapping[str, Tensor], ctx: RunContext) -> Any:
        assert self.optimizer is not None, "begin_episode was not called"
        first = None
        with torch.enable_grad():
            for _ in range(self.config.steps):
                logits = forward_batch(model, batch)
                loss = entropy(logits).mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                first = logits.detach() if first is None else first
        return first
