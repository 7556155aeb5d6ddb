"""The ``nasnet_aux_loss`` adapter: the auxiliary-head loss of a NASNet (the authors' ``aux_loss`` with weight
0.4 in ``train_image_classifier``; paper sec. 4.1 "auxiliary classifier").

A ``nasnet_network`` with ``aux_head=True`` computes ``aux_logits`` ``(B, num_classes)`` on the Normal cell before
the second reduction in training mode; the trainer's loss is the task's cross-entropy on the main logits, and
this adapter adds ``weight * CE(aux_logits, y)`` (weight: the model's ``aux_weight`` unless set here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Adapter
from forwardkit_nasnet.config import NasNetAuxLossConfig
from forwardkit_nasnet.network import SMALL_NASNET, NasNetNetwork


def aux_loss(model: nn.Module, y: Tensor, weight: float | None = None) -> Tensor | None:
    """``weight * CE(model.aux_logits, y)`` for the last training forward (None without auxiliary logits)."""
    logits = getattr(model, "aux_logits", None)
    if logits is None or not model.training:
        return None
    w = float(getattr(model, "config").aux_weight) if weight is None else weight  # noqa: B009
    return w * F.cross_entropy(logits, y)


class NasNetAuxLoss(Adapter):
    """Adds the auxiliary classifier's weighted cross-entropy to the training loss of a ``nasnet_network``
    built with ``aux_head=True`` (``apply`` checks that and returns the model itself)."""

    Config = NasNetAuxLossConfig
    config: NasNetAuxLossConfig
    inplace: ClassVar[bool] = True
    conformance_models: ClassVar[tuple[Any, ...]] = (
        {**SMALL_NASNET, "aux_head": True, "image_size": [16, 16]},
    )

    def apply(self, model: nn.Module) -> nn.Module:
        if not isinstance(model, NasNetNetwork) or model.aux is None:
            raise ValueError("nasnet_aux_loss needs a nasnet_network with aux_head=True (and two reductions)")
        return model

    def loss(self, model: nn.Module, batch: Mapping[str, Tensor], output: Any) -> Tensor | None:
        return aux_loss(model, batch["y"], self.config.weight)
