"""Activations by name, for configs that choose one with a string.

:func:`make_activation` builds any name of :data:`ACTIVATIONS` (or calls a factory), so a block's
``act`` argument can be a config string or a module factory.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "ActivationArg", "SquaredReLU", "make_activation"]

#: the names :func:`make_activation` builds (the ``Activation`` literal of the builtin configs)
ACTIVATIONS = ("gelu", "relu", "silu", "tanh", "sigmoid", "squaredrelu", "identity")

#: an activation name of :data:`ACTIVATIONS`, or a factory ``() -> module``
ActivationArg = str | Callable[[], nn.Module]


class SquaredReLU(nn.Module):
    """``relu(x)^2`` elementwise on any shape (So et al. 2021, "Primer", sec. 2), the activation of
    MetaFormer's MLP head."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.square(F.relu(x))


_TABLE: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "squaredrelu": SquaredReLU,
    "identity": nn.Identity,
}


def make_activation(name: ActivationArg) -> nn.Module:
    """An activation module: ``name`` is one of :data:`ACTIVATIONS` (gelu, relu, silu, tanh, sigmoid,
    squaredrelu, identity), or a factory ``() -> module`` that is called (a plugin's own activation).

    Raises ``ValueError`` for an unknown name, listing the allowed ones.
    """
    if callable(name):
        return name()
    if name not in _TABLE:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")
    return _TABLE[name]()
