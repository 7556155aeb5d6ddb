"""The gradient reversal layer (Ganin et al. 2016, JMLR version, sec. 4.2, eq. 16-17).

``R_lambda(x) = x`` in the forward pass (eq. 16) and ``dR_lambda/dx = -lambda I`` in the backward pass (eq. 17, with
the GRL's factor lambda of sec. 5.2.2), so one ordinary backward pass through the pseudo-objective of eq. 18,
``loss_y + loss_d(G_d(R_lambda(f)))``, gives the domain classifier G_d the plain gradient of its loss and the feature
extractor ``-lambda`` times it: SGD then runs the updates of eq. 13-15 towards the saddle point of eq. 10-12
(:func:`forwardkit_dann.rule.reference_gradients` writes those updates out without the GRL; the tests compare).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from forwardkit.interfaces import ChannelMixer
from forwardkit_dann.config import GradientReversalConfig

__all__ = ["GradientReversal", "grad_reverse"]


class _ReverseGrad(torch.autograd.Function):
    """``forward(x, lambda) = x``; ``backward(g) = -lambda g`` (nothing for ``lambda``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lambda_: float) -> Tensor:
        ctx.lambda_ = float(lambda_)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * (-ctx.lambda_), None


def grad_reverse(x: Tensor, lambda_: float = 1.0) -> Tensor:
    """``R_lambda(x)`` (eq. 16-17): ``x`` of any shape, returned unchanged; its gradient is multiplied by
    ``-lambda_`` on the way back. ``lambda_ = 0`` blocks the gradient (exactly zero)."""
    return _ReverseGrad.apply(x, lambda_)


class GradientReversal(ChannelMixer):
    """``gradient_reversal``: :func:`grad_reverse` as a module on ``(B, *spatial, C)`` (any shape, pointwise).

    ``lambda_`` is an attribute the learning rule sets every step (the dann rule's lambda_p); it starts at the
    config's value. No parameters and no buffers: a checkpoint holds nothing of it, the rule's step counter
    recomputes lambda_p.
    """

    Config = GradientReversalConfig
    config: GradientReversalConfig

    def __init__(self, config: GradientReversalConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.lambda_ = float(self.config.lambda_)

    def forward(self, x: Tensor) -> Tensor:
        return grad_reverse(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_:g}"
