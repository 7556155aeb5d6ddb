"""Label injection of model-free forward-forward (card "Mechanism"; the code's ``overlay_y_on_x``).

The label is part of the input, so that the same physical layers see "this digit, claimed to be a 3":

* ``overlay_first_C``: the first ``C`` entries of the flat input are zeroed and entry ``y`` is set to the
  overlay value ``v`` (the code: ``v = max |x|`` of the batch); ``(B, D) -> (B, D)``;
* ``append_onehot``: ``C`` label slots ``v * onehot(y)`` in front of the input (the acoustic code pads the 12
  vowel features with zeros and overlays the label there); ``(B, D) -> (B, C + D)``.

A negative sample is the same ``x`` with a label drawn uniformly from the ``C - 1`` wrong classes, fresh at
every batch (:func:`wrong_labels`; without the code's in-place corruption of ``y``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def overlay_value(x: Tensor, value: str | float) -> Tensor:
    """The label-slot value: ``max |x|`` over the whole batch ``(B, D)`` for ``"batch_max_abs"``, else the number
    (a 0-d tensor)."""
    if value == "batch_max_abs":
        return x.detach().abs().max()
    return torch.tensor(float(value), dtype=x.dtype, device=x.device)


def overlay_labels(x: Tensor, y: Tensor, num_classes: int, *, mode: str = "overlay_first_C",
                   value: str | float | Tensor = "batch_max_abs") -> Tensor:
    """``x`` ``(B, D)`` with labels ``y`` ``(B,)`` injected: ``(B, D)`` (overlay_first_C) or ``(B, C + D)``
    (append_onehot). ``value`` is a number, ``"batch_max_abs"`` or a precomputed 0-d tensor."""
    v = value if isinstance(value, Tensor) else overlay_value(x, value)
    slots = torch.nn.functional.one_hot(y, num_classes).to(x.dtype) * v
    if mode == "append_onehot":
        return torch.cat([slots, x], dim=-1)
    return torch.cat([slots, x[:, num_classes:]], dim=-1)


def wrong_labels(y: Tensor, num_classes: int, generator: torch.Generator) -> Tensor:
    """A label different from ``y`` ``(B,)`` for every sample, uniform over the ``C - 1`` wrong classes: ``(B,)``."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes
