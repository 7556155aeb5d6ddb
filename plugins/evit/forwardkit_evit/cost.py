"""The cost side of EViT's claim, measured in one process: MACs and CPU throughput, EViT vs the same ViT.

The reproduction's ``cost`` arm (a program arm of :mod:`forwardkit_evit.reproduction`) calls
:func:`cost_figures`: it builds the plain ViT (``keep_rate=1``) and EViT models at the given keep rates from
one seeded set of weights (the reorganisation adds no parameter, so the weights are shared), counts their
analytic MACs per image (:func:`forwardkit_evit.macs.analytic_macs`, equal to torch's FLOP counter) and times
them interleaved on one batch in ``torch.inference_mode`` (median of ``repeats`` timings, after ``warmup``
calls), with the torch threads already set by the caller. The figures are ratios against the ViT of the same
process: ``macs_ratio_k07 = MACs(EViT kappa 0.7) / MACs(ViT)`` and ``speedup_k07 = throughput(EViT) /
throughput(ViT)`` (and the same for every keep rate asked for).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from forwardkit_evit.macs import analytic_macs
from forwardkit_evit.model import EViTViT


def rate_key(keep_rate: float) -> str:
    """``0.7 -> "k07"``, ``0.5 -> "k05"``: the suffix of a keep rate's figures."""
    return "k" + f"{keep_rate:g}".replace(".", "")


def build_models(model: Mapping[str, Any], keep_rates: list[float], seed: int) -> dict[str, EViTViT]:
    """``{"vit": plain, "k07": EViT kappa 0.7, ...}`` in eval mode, all with the plain ViT's seeded weights."""
    torch.manual_seed(seed)
    plain = EViTViT(**{**model, "keep_rate": 1.0}).eval()
    models = {"vit": plain}
    for rate in keep_rates:
        evit = EViTViT(**{**model, "keep_rate": rate}).eval()
        evit.load_state_dict(plain.state_dict())
        models[rate_key(rate)] = evit
    return models


def throughput(models: Mapping[str, nn.Module], x: torch.Tensor, *, repeats: int, warmup: int) -> dict[str, float]:
    """Images/s of each model on ``x`` ``(B, H, W, C)``: ``B`` / median of ``repeats`` timed calls, interleaved."""
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _ in range(warmup):
            for model in models.values():
                model(x)
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - start)
    return {name: x.shape[0] / statistics.median(ts) for name, ts in times.items()}


def cost_figures(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """The cost arm's figures: MACs, images/s, and their ratios against the plain ViT, per keep rate.

    ``config``: ``model`` (``evit_vit`` fields of the trained arms), ``keep_rates`` (e.g. ``[0.7, 0.5]``),
    ``batch`` (images per timed call), ``repeats`` and ``warmup`` (timed and untimed calls per model).
    """
    model = dict(config.get("model", {}))
    rates = [float(r) for r in config.get("keep_rates", [0.7])]
    models = build_models(model, rates, seed)
    size = models["vit"].config.image_size
    channels = models["vit"].config.in_channels
    x = torch.randn(int(config.get("batch", 256)), size, size, channels, generator=torch.Generator().manual_seed(seed))
    speed = throughput(models, x, repeats=int(config.get("repeats", 5)), warmup=int(config.get("warmup", 2)))
    macs_vit = float(analytic_macs(models["vit"]))
    out = {"macs_vit": macs_vit, "images_per_s_vit": speed["vit"], "threads": float(torch.get_num_threads())}
    for rate in rates:
        key = rate_key(rate)
        out[f"macs_{key}"] = float(analytic_macs(models[key]))
        out[f"macs_ratio_{key}"] = out[f"macs_{key}"] / macs_vit
        out[f"images_per_s_{key}"] = speed[key]
        out[f"speedup_{key}"] = speed[key] / speed["vit"]
    return out
