"""Adapter: model surgery.

Contract (docs/concepts.md): ``apply(model) -> model`` returning a model with the same call signature
(swap normalisation layers, insert bottlenecks or adapters, attach heads). ``inplace`` says whether the
given model is changed (True) or a changed copy is returned (False). An adapter may add a training
loss with ``loss(model, batch, output)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from forwardkit.interfaces.base import Component


class Adapter(Component):
    """Base class of adapters."""

    #: True: ``apply`` changes the model it is given; False: it returns a changed copy
    inplace: ClassVar[bool] = False

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        self._init_config(config, overrides)

    def apply(self, model: nn.Module) -> nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Mapping[str, Tensor], output: Any) -> Tensor | None:
        """An extra training loss added to the task loss (None: none)."""
        return None
