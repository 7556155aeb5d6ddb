"""Model: a whole network.

Contract: an ``nn.Module`` created from its Config. Batches are dicts of tensors; ``forward_batch``
maps a batch to the model output (default: ``self(batch[self.input_key])``), so multi-input models
(graphs, user history + candidate) need no special case in the trainer. ``example_batch`` returns a
small valid batch for the conformance kit and benchmarks.

Image inputs are channels-last ``(B, H, W, C)`` and sequences ``(B, N, C)`` throughout forwardkit, the
same layout as tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces.base import Component


def forward_batch(model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
    """The output of any ``nn.Module`` for a batch dict: ``model.forward_batch(batch)`` when the model
    defines it (every :class:`Model` does), else ``model(batch[model.input_key])`` for a plain module
    (``"x"`` when it has no ``input_key``). Public as :func:`forwardkit.data.forward_batch`."""
    fn = getattr(model, "forward_batch", None)
    return fn(batch) if callable(fn) else model(batch[getattr(model, "input_key", "x")])


class Model(Component, nn.Module):
    """Base class of models."""

    #: the batch key ``forward_batch`` feeds to ``forward``
    input_key: ClassVar[str] = "x"
    #: the formats the conformance kit's ``check_export`` checks: ``"torch"`` (``torch.export``, always),
    #: ``"onnx"`` (also converted to ONNX and run by onnxruntime)
    export_formats: ClassVar[tuple[str, ...]] = ("torch",)

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        nn.Module.__init__(self)
        self._init_config(config, overrides)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """Config fields the trainer fills from the dataset's metadata unless the experiment sets them.

        The default fills the conventional fields when the Config has them: ``in_channels`` (last axis
        of the input), ``in_features`` (product of the input shape), ``num_classes`` (classes, or the
        number of target values for regression), and ``rank`` (spatial rank of the input).
        """
        fields = cls.Config.model_fields
        shape = tuple(metadata.input_shape)
        out: dict[str, Any] = {}
        if "in_channels" in fields and shape:
            out["in_channels"] = shape[-1]
        if "in_features" in fields:
            out["in_features"] = math.prod(shape) if shape else 1
        if "num_classes" in fields:
            if metadata.num_classes is not None:
                out["num_classes"] = metadata.num_classes
            elif metadata.target_shape:
                out["num_classes"] = math.prod(metadata.target_shape)
            else:
                out["num_classes"] = 1
        if "rank" in fields and len(shape) >= 2:
            out["rank"] = len(shape) - 1
        return out

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Any:
        """The model output for a batch dict (default: ``self(batch[input_key])``)."""
        return self(batch[self.input_key])

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """A small random batch this model accepts (used by the conformance kit and ``bench``)."""
        raise NotImplementedError(f"{type(self).__name__} does not define example_batch()")
