"""Measured figures of a model for compression reports (built on :mod:`forwardkit.measure`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from forwardkit.interfaces.compressor import ModelFigures
from forwardkit.measure import count_macs, count_parameters, latency_ms, state_bytes


def example_input(model: nn.Module, data: Iterable[Mapping[str, Tensor]] | None, batch_size: int = 1) -> Tensor:
    """``batch_size`` samples of the model's input (from ``data``, else ``model.example_batch``)."""
    key = getattr(model, "input_key", "x")
    for batch in data or ():
        x = batch[key][:batch_size]
        if len(x) == batch_size:
            return x
        return x.repeat(-(-batch_size // len(x)), *([1] * (x.dim() - 1)))[:batch_size]
    return model.example_batch(batch_size, generator=torch.Generator().manual_seed(0))[key]


def nonzero_parameters(model: nn.Module) -> int:
    return sum(int(torch.count_nonzero(p)) for p in {id(p): p for p in model.parameters()}.values())


def figures(model: nn.Module, x: Tensor, *, nonzero: bool = False, latency: bool = True,
            repeats: int = 10) -> ModelFigures:
    """Parameters (all, or the non-zero ones), safetensors bytes, MACs and batch latency of ``model(x)``."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            macs = count_macs(lambda: model(x))
            lat = latency_ms(lambda: model(x), warmup=2, repeats=repeats) if latency else None
    finally:
        model.train(was)
    params = nonzero_parameters(model) if nonzero else count_parameters(model)
    return ModelFigures(parameters=params, bytes=state_bytes(model), macs=macs, latency_ms=lat)
