"""Measured figures of a model for compression reports (built on :mod:`forwardkit.measure`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace

import torch
from torch import Tensor, nn

from forwardkit.data import example_batch
from forwardkit.interfaces.compressor import ModelFigures
from forwardkit.measure import count_macs, count_parameters, latency_ms, state_bytes


def example_input(model: nn.Module, data: Iterable[Mapping[str, Tensor]] | None, batch_size: int = 1) -> Tensor:
    """``batch_size`` samples of the model's input (from ``data``, else ``model.example_batch``)."""
    key = getattr(model, "input_key", "x")
    x = example_batch(data, model, batch_size=batch_size)[key]
    if len(x) == batch_size:
        return x
    return x.repeat(-(-batch_size // len(x)), *([1] * (x.dim() - 1)))[:batch_size]  # fewer samples than asked


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


def paired_latency(models: Mapping[str, nn.Module], x: Tensor, *, warmup: int = 2,
                   repeats: int = 10) -> dict[str, float]:
    """Median inference milliseconds of each model on ``x`` ``(B, ...)``, timed round-robin in this process.

    Eval mode, ``no_grad``; after ``warmup`` rounds, every round times each model once in turn, so load on a
    shared machine hits every model alike and their ratio (a speed-up) is measured, not inferred.
    """
    modes = {k: m.training for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    try:
        for m in models.values():
            m.eval()
        with torch.no_grad():
            for i in range(warmup + repeats):
                for k, m in models.items():
                    start = time.perf_counter()
                    m(x)
                    if i >= warmup:
                        times[k].append((time.perf_counter() - start) * 1e3)
    finally:
        for k, m in models.items():
            m.train(modes[k])
    return {k: statistics.median(v) for k, v in times.items()}


def with_paired_latency(before: ModelFigures, after: ModelFigures, dense: nn.Module, compressed: nn.Module,
                        x: Tensor, *, warmup: int, repeats: int) -> tuple[ModelFigures, ModelFigures]:
    """``before`` and ``after`` with ``latency_ms`` of ``dense`` and ``compressed`` timed together on ``x``."""
    lat = paired_latency({"before": dense, "after": compressed}, x, warmup=warmup, repeats=repeats)
    return replace(before, latency_ms=lat["before"]), replace(after, latency_ms=lat["after"])
