"""The masked unstructured baseline: a fixed PAI mask kept on the weights during training.

``apply_masks(model, masks)`` stores every mask as a buffer ``weight_mask`` of its module (so it is saved
in checkpoints), zeroes the pruned weights, and registers a forward pre-hook that multiplies the weight
by its mask in place before every forward. Whatever the optimiser did to the pruned entries in the last
step (momentum, weight decay), the forward pass only sees the masked weights: the mask is re-applied
after every optimiser step, without a callback. The model keeps its dense shapes, so it runs at dense
cost. Hooks and buffers survive ``copy.deepcopy`` and ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

MASK = "weight_mask"
_HANDLE = "_pai_mask_handle"


def _mask_pre_hook(module: nn.Module, args: Any) -> None:
    """Forward pre-hook: ``W <- W * M`` in place (outside autograd)."""
    with torch.no_grad():
        module.weight.mul_(getattr(module, MASK))


def apply_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> nn.Module:
    """Zero the pruned weights of ``model`` and keep them pruned (in place; returns ``model``)."""
    for name, mask in masks.items():
        module = model.get_submodule(name)
        module.register_buffer(MASK, mask.to(module.weight.dtype).clone())
        _mask_pre_hook(module, ())
        setattr(module, _HANDLE, module.register_forward_pre_hook(_mask_pre_hook))
    return model


def current_masks(model: nn.Module) -> dict[str, Tensor]:
    """The masks ``apply_masks`` put on ``model`` (bool), by module path."""
    return {n: getattr(m, MASK).bool() for n, m in model.named_modules() if isinstance(getattr(m, MASK, None), Tensor)}


def remove_masks(model: nn.Module) -> nn.Module:
    """Bake the masks into plain (zero-valued, dense-shaped) weights, drop buffers and hooks; returns ``model``."""
    for name in list(current_masks(model)):
        module = model.get_submodule(name)
        _mask_pre_hook(module, ())
        for key, hook in list(module._forward_pre_hooks.items()):
            if hook is _mask_pre_hook:
                del module._forward_pre_hooks[key]
        delattr(module, MASK)
        if hasattr(module, _HANDLE):
            delattr(module, _HANDLE)
    return model
