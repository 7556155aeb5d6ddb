"""``merge_branches``: structural re-parameterisation of CFSR for inference (paper sec. III-C; official
``merge_reparam_large_kernel_conv`` / ``merge_mlp``).

Every :class:`~forwardkit_cfsr.reparam.RepDepthwise` of the model folds its branches into one depthwise
kernel: EFN's Sobel-x / Sobel-y / Laplacian branches into its 3x3 (``W = W_3 + sum_e s_e K_e``,
``b = b_3 + sum_e b_e``), ConvMod's small 3x3 kernel (and, in the 'AllEdge' form, its edge branches) into the
9x9. The merged model computes the same function (up to float rounding) with the released parameter count;
the configs of the merged components say ``merged: True``, so the merged state_dict loads into a model built
from the merged config. Models without such branches come back unchanged (a copy).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import CompressionReport, Compressor, ModelFigures
from forwardkit_cfsr.config import MergeBranchesConfig
from forwardkit_cfsr.reparam import RepDepthwise

__all__ = ["MergeBranches", "merge_model"]


@torch.no_grad()
def merge_model(model: nn.Module) -> nn.Module:
    """A merged deep copy of ``model`` (eval mode): every branch folded, ``config.merged`` set where it exists."""
    merged = copy.deepcopy(model).eval()
    for module in merged.modules():
        if isinstance(module, RepDepthwise):
            module.merge_()
        config = getattr(module, "config", None)
        if config is not None and "merged" in type(config).model_fields:
            module.config = config.model_copy(update={"merged": True})
    return merged


def _figures(model: nn.Module) -> ModelFigures:
    """Parameters and the bytes of the unique tensors of the state_dict (what safetensors stores)."""
    seen, size = set(), 0
    for t in model.state_dict().values():
        if isinstance(t, Tensor) and (t.data_ptr(), t.numel(), t.dtype) not in seen:
            seen.add((t.data_ptr(), t.numel(), t.dtype))
            size += t.numel() * t.element_size()
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return ModelFigures(parameters=params, bytes=size)


def _input(model: nn.Module, data: Iterable[Any] | None, batch: int) -> Tensor | None:
    for item in data or ():
        if isinstance(item, dict) and isinstance(item.get("x"), Tensor):
            return item["x"]
        break
    example = getattr(model, "example_batch", None)
    if callable(example):
        return example(batch, generator=torch.Generator().manual_seed(0))["x"]
    return None


class MergeBranches(Compressor):
    """Folds CFSR's training-time branches (EFN edge filters, ConvMod's small kernel) into single depthwise
    convs; the report gives parameters and bytes before/after and the largest output difference."""

    Config = MergeBranchesConfig
    config: MergeBranchesConfig
    when = "after_training"
    conformance_models = ({"name": "cfsr", "preset": "cfsr_tiny"}, "toy")

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        was_training = model.training
        model.eval()
        merged = merge_model(model)
        folded = sum(isinstance(m, RepDepthwise) and not m.merged for m in model.modules())
        details: dict[str, Any] = {"merged_convs": int(folded)}
        x = _input(model, data, self.config.check_batch)
        if x is not None:
            with torch.no_grad():
                details["max_abs_output_diff"] = float((model(x) - merged(x)).abs().max())
        model.train(was_training)
        return merged, CompressionReport(before=_figures(model), after=_figures(merged), details=details)
