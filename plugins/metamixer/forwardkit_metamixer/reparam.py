"""``reparam_fold``: structural re-parameterisation for inference (RepVGG-style, as FFNet deploys).

* every :class:`RepDWConv` (``BN(DW_7) + BN(DW_3)``) -> one ``DW_7`` with bias;
* every ``Sequential(Conv, BN)`` -> one conv with bias (``W s``, ``(b - mu) s + beta``);
* PatchMerging's skip ``x + Conv1x1(BN(x))`` -> one 1x1 conv ``(I + W diag(s)) x + W (beta - mu s) + b``;
* FFNified attention's ``BN(W_q x)`` (``use_bn=True``) -> one Linear.
The folded model computes the same function in eval mode (up to float error).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import CompressionReport, Compressor, ModelFigures
from forwardkit_metamixer.config import ReparamFoldConfig
from forwardkit_metamixer.layers import RepDWConv, fold_bn


@torch.no_grad()
def fold_conv_bn(seq: nn.Sequential) -> nn.Conv2d:
    conv, bn = seq[0], seq[1]
    w, b = fold_bn(conv.weight, conv.bias, bn)
    out = type(conv)(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                     groups=conv.groups, bias=True)
    out.weight.copy_(w)
    out.bias.copy_(b)
    return out


@torch.no_grad()
def fold_patch_merging_skip(bn: nn.BatchNorm2d, proj: nn.Conv2d) -> nn.Conv2d:
    """The 1x1 conv equal to ``x + proj(bn(x))`` (eval-mode BN)."""
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * s
    w = proj.weight[:, :, 0, 0]                                   # (C, C)
    out = nn.Conv2d(w.shape[1], w.shape[0], 1)
    out.weight.copy_((torch.eye(w.shape[0], dtype=w.dtype) + w * s).unsqueeze(-1).unsqueeze(-1))
    out.bias.copy_(w @ shift + proj.bias)
    return out


@torch.no_grad()
def fold_model(model: nn.Module) -> nn.Module:
    """A folded deep copy of ``model`` (eval mode)."""
    model = copy.deepcopy(model).eval()
    _fold(model)
    return model


def _fold(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        cls = type(child).__name__
        if isinstance(child, RepDWConv):
            setattr(module, name, child.fuse())
        elif (isinstance(child, nn.Sequential) and len(child) == 2 and isinstance(child[0], nn.Conv2d | nn.Conv1d
              | nn.Conv3d) and isinstance(child[1], nn.modules.batchnorm._BatchNorm)):
            setattr(module, name, fold_conv_bn(child))
        elif cls == "PatchMerging":
            _fold(child)
            setattr(module, name, nn.Sequential(child.down, fold_patch_merging_skip(child.bn, child.proj)))
        elif cls == "FFNifiedAttention" and getattr(child, "query_bn", None) is not None:
            _fold(child)
            bn, lin = child.query_bn, child.query
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            new = nn.Linear(lin.in_features, lin.out_features)
            b = lin.bias if lin.bias is not None else torch.zeros_like(s)
            new.weight.copy_(lin.weight * s[:, None])
            new.bias.copy_((b - bn.running_mean) * s + bn.bias)
            child.query, child.query_bn = new, None
        else:
            _fold(child)


def _example(model: nn.Module, data: Iterable[Any] | None, batch: int) -> Tensor:
    if hasattr(model, "example_batch"):
        return model.example_batch(batch, generator=torch.Generator().manual_seed(0))["x"]
    raise ValueError("reparam_fold needs a model with example_batch() to time it")


def _latency(model: nn.Module, x: Tensor, repeats: int) -> float:
    with torch.inference_mode():
        model(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


class ReparamFold(Compressor):
    """Folds BN and RepVGG branches of a trained model; the report gives params/latency before and after."""

    Config = ReparamFoldConfig
    config: ReparamFoldConfig
    when = "after_training"

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        model.eval()
        folded = fold_model(model)
        x = _example(model, data, self.config.latency_batch)
        with torch.no_grad():
            diff = float((model(x) - folded(x)).abs().max())
        lat_b = _latency(model, x, self.config.latency_repeats)
        lat_a = _latency(folded, x, self.config.latency_repeats)

        def figs(m: nn.Module, lat: float) -> ModelFigures:
            params = sum(p.numel() for p in m.parameters())
            buffers = sum(b.numel() * b.element_size() for b in m.buffers())
            return ModelFigures(parameters=params, bytes=sum(p.numel() * p.element_size() for p in m.parameters())
                                + buffers, latency_ms=lat)

        return folded, CompressionReport(before=figs(model, lat_b), after=figs(folded, lat_a),
                                         details={"max_abs_output_diff": diff})
