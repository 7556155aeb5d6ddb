"""StarReLU (paper sec. 3.1, eq. for StarReLU): ``s * relu(x)^2 + b`` with one learnable scalar ``s``
and one ``b`` per activation instance.

Motivation in the paper: for ``x ~ N(0, 1)``, ``E[relu(x)^2] = 1/2`` and ``Var[relu(x)^2] = 5/4``, so
``s = 1/sqrt(5/4) ~ 0.8944`` and ``b = -s/2 ~ -0.4472`` would normalise the output; the official code
initialises ``s = 1, b = 0``, which is the default here.

:func:`star_relu` is fused in one autograd function: the forward keeps only ``relu(x)`` and the
backward computes ``dx = 2 s relu(x) g``, ``ds = sum(relu(x)^2 g)`` and ``db = sum(g)`` in three passes,
instead of the six or seven of the composed ``s * relu(x) ** 2 + b`` (see ``benchmarks/speed.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.nn import SquaredReLU

#: the normalising constants derived in the paper for x ~ N(0, 1)
NORMALISING_SCALE = 1.0 / math.sqrt(1.25)
NORMALISING_BIAS = -0.5 * NORMALISING_SCALE


class _StarReLUFunction(torch.autograd.Function):
    """``y = s * relu(x)^2 + b`` with hand-written gradients (x any shape, s and b shape ``(1,)``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
        r = torch.relu(x)
        y = torch.mul(r, r).mul_(scale).add_(bias)
        ctx.save_for_backward(r, scale)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        r, scale = ctx.saved_tensors
        need_x, need_s, need_b = ctx.needs_input_grad
        gr = grad * r
        grad_s = grad_b = None
        full = gr.dtype in (torch.float32, torch.float64)  # else accumulate half precisions in float32
        if need_s:
            if full:
                grad_s = torch.dot(gr.reshape(-1), r.reshape(-1))
            else:
                grad_s = (gr.float() * r.float()).sum()
            grad_s = grad_s.reshape(scale.shape).to(scale.dtype)
        if need_b:
            grad_b = (grad.sum() if full else grad.sum(dtype=torch.float32)).reshape(scale.shape).to(scale.dtype)
        grad_x = gr.mul_(2.0 * scale) if need_x else None
        return grad_x, grad_s, grad_b


def star_relu(x: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    """StarReLU ``s * relu(x)^2 + b`` (paper sec. 3.1) on a tensor of any shape, e.g. ``(B, *spatial, C)``;
    ``scale`` and ``bias`` are one-element tensors. Returns a tensor shaped like ``x``."""
    return _StarReLUFunction.apply(x, scale.reshape(1), bias.reshape(1))


class StarReLU(nn.Module):
    """Module form of :func:`star_relu`: learnable scalars ``scale`` (s) and ``bias`` (b), each of shape ``(1,)``.

    ``learnable=False`` keeps them fixed (``requires_grad=False``).
    """

    def __init__(self, scale_init: float = 1.0, bias_init: float = 0.0, learnable: bool = True) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), float(scale_init)), requires_grad=learnable)
        self.bias = nn.Parameter(torch.full((1,), float(bias_init)), requires_grad=learnable)

    def forward(self, x: Tensor) -> Tensor:
        return star_relu(x, self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"learnable={self.scale.requires_grad}"


def make_act(name: str, **starrelu: Any) -> nn.Module:
    """An activation by name: ``starrelu`` (:class:`StarReLU`, keyword arguments passed on), ``gelu``,
    ``relu`` or ``squaredrelu`` (``relu(x)^2``)."""
    if name == "starrelu":
        return StarReLU(**starrelu)
    table: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "squaredrelu": SquaredReLU}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; allowed: starrelu, {', '.join(table)}")
    return table[name]()
