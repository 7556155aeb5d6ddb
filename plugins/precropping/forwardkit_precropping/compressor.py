"""The compressors: ``precropping`` (narrower dense model) and ``pai_mask`` (the masked baseline).

Both run at initialisation (``when = "before_training"``): the trainer hands them the freshly built
model and a few training batches and trains what they return.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import CompressionReport, Compressor
from forwardkit_precropping.config import PaiMaskConfig, PreCroppingConfig
from forwardkit_precropping.figures import example_input, figures, with_paired_latency
from forwardkit_precropping.graph import ChannelGraph
from forwardkit_precropping.mask import apply_masks
from forwardkit_precropping.scores import (
    global_density,
    layer_densities,
    layer_shuffle,
    pai_masks,
    uniform_densities,
)
from forwardkit_precropping.solver import CropPlan, crop_plan

_TINY_MODELS = (
    {"name": "small_vgg", "widths": [8, 8, 16, 16], "pool_after": [1], "image_size": 8, "in_channels": 3,
     "num_classes": 4},
    {"name": "small_resnet", "widths": [8, 16], "blocks": 1, "image_size": 8, "in_channels": 3, "num_classes": 4},
)


def channel_graph_of(model: nn.Module) -> ChannelGraph:
    """The model's :class:`ChannelGraph` (models declare it with ``channel_graph()`` and ``with_widths()``)."""
    if not (callable(getattr(model, "channel_graph", None)) and callable(getattr(model, "with_widths", None))):
        raise TypeError(
            f"{type(model).__name__} does not describe its channels: precropping needs a model with "
            "channel_graph() and with_widths(widths) (e.g. small_vgg, small_resnet)")
    return model.channel_graph()


def layerwise_densities(model: nn.Module, scorer: str, density: float, *, graph: ChannelGraph,
                        data: Iterable[Mapping[str, Tensor]] | None = None, iterations: int = 100,
                        batch_size: int = 256, seed: int = 0) -> dict[str, float]:
    """``p_l`` of every layer of ``graph``: from the PAI masks of ``scorer``, or ``d`` for 'uniform'."""
    names = [layer.name for layer in graph.layers]
    if scorer == "uniform":
        return uniform_densities(names, density)
    masks = pai_masks(model, scorer, density, data=data, names=names, iterations=iterations,
                      batch_size=batch_size, seed=seed)
    return layer_densities(masks)


def copy_leading_channels(src: nn.Module, dst: nn.Module) -> None:
    """Copy the first channels of every tensor of ``src``'s state into ``dst``'s narrower tensors."""
    state = src.state_dict()
    with torch.no_grad():
        for key, t in dst.state_dict().items():
            if key in state and t.dim() == state[key].dim():
                t.copy_(state[key][tuple(slice(0, s) for s in t.shape)])


def precrop(model: nn.Module, density: float = 0.1, *, scorer: str = "synflow",
            data: Iterable[Mapping[str, Tensor]] | None = None, budget: str = "params", min_channels: int = 4,
            allow_expand: bool = False, round_to: int = 1, balance: float = 0.1, reinit: bool = True,
            iterations: int = 100, batch_size: int = 256, seed: int = 0
            ) -> tuple[nn.Module, CropPlan, dict[str, float]]:
    """PreCropping (functional): returns ``(narrow_model, plan, p_l)``.

    1. ``p_l`` from the PAI masks of ``scorer`` at global density ``d`` (card step 1-2);
    2. keep ratios ``alpha`` by least squares + global rescale, then integer widths (step 3, solver.py);
    3. a fresh dense model of those widths (step 4), re-initialised (or holding the leading channels).
    """
    graph = channel_graph_of(model)
    data = list(data) if data is not None else None
    dens = layerwise_densities(model, scorer, density, graph=graph, data=data, iterations=iterations,
                               batch_size=batch_size, seed=seed)
    plan = crop_plan(graph, dens, density, cost="params" if budget == "params" else "flops",
                     min_channels=min_channels, allow_expand=allow_expand, round_to=round_to, balance=balance)
    narrow = model.with_widths(plan.widths)
    if not reinit:
        copy_leading_channels(model, narrow)
    narrow.train(model.training)
    return narrow, plan, dens


class PreCropping(Compressor):
    """PreCropping (Cai et al. 2022): crop channels at initialisation to PAI layer-wise densities.

    ``compress(model, data)`` returns a plain dense model with fewer channels (untrained) and a report
    measured on both models: parameters, safetensors bytes, MACs of one sample, and CPU inference latency
    at ``latency_batch`` (both models timed round-robin, so ``before / after`` is a measured speed-up).
    """

    Config = PreCroppingConfig
    config: PreCroppingConfig
    when: ClassVar[str] = "before_training"
    conformance_models: ClassVar[tuple[Any, ...]] = _TINY_MODELS
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"density": 0.3, "iterations": 5, "latency": False},
        {"density": 0.2, "scorer": "snip", "batch_size": 8, "budget": "flops", "latency": False},
    ]

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        cfg = self.config
        data = list(data) if data is not None else None
        x = example_input(model, data)
        before = figures(model, x, latency=False)
        narrow, plan, dens = precrop(
            model, cfg.density, scorer=cfg.scorer, data=data, budget=cfg.budget, min_channels=cfg.min_channels,
            allow_expand=cfg.allow_expand, round_to=cfg.round_to, balance=cfg.balance, reinit=cfg.reinit,
            iterations=cfg.iterations, batch_size=cfg.batch_size, seed=cfg.seed)
        after = figures(narrow, x, latency=False)
        if cfg.latency:
            before, after = with_paired_latency(before, after, model, narrow,
                                                example_input(model, data, cfg.latency_batch),
                                                warmup=cfg.latency_warmup, repeats=cfg.latency_repeats)
        details = {
            "scorer": cfg.scorer, "density": cfg.density, "budget": cfg.budget,
            "achieved_density": plan.achieved, "layer_densities": dens, "alphas": plan.alphas,
            "widths": plan.widths, "residuals": plan.residuals, "layers_at_min_channels": plan.at_floor,
        }
        return narrow, CompressionReport(before=before, after=after, details=details)


def nonzero_macs(model: nn.Module, masks: Mapping[str, Tensor], x: Tensor) -> int:
    """Theoretical MACs of one forward if only unmasked weights cost: sum_l nnz(M_l) * output positions."""
    positions: dict[str, int] = {}
    handles = []
    for name in masks:
        module = model.get_submodule(name)

        def hook(mod: nn.Module, inp: Any, out: Tensor, name: str = name) -> None:
            channels = out.shape[1] if isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Conv3d) else out.shape[-1]
            positions[name] = out.numel() // max(channels, 1)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    finally:
        for h in handles:
            h.remove()
    return int(sum(int(m.sum()) * positions.get(n, 0) for n, m in masks.items()))


class PaiMask(Compressor):
    """Unstructured PAI baseline: a global mask of a scorer, optionally layer-shuffled, kept by a
    parametrization (the model keeps its dense shapes and dense cost). The report counts the non-zero
    parameters after masking; ``details`` holds the theoretical non-zero MACs and a CSR size estimate."""

    Config = PaiMaskConfig
    config: PaiMaskConfig
    when: ClassVar[str] = "before_training"
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"density": 0.3, "iterations": 5, "latency": False},
        {"density": 0.2, "method": "magnitude", "shuffle": True, "latency": False},
    ]

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        cfg = self.config
        data = list(data) if data is not None else None
        x = example_input(model, data)
        before = figures(model, x, latency=False)
        dense = copy.deepcopy(model) if cfg.latency else None  # masking works in place
        masks = pai_masks(model, cfg.method, cfg.density, data=data, iterations=cfg.iterations,
                          batch_size=cfg.batch_size, seed=cfg.seed)
        if cfg.shuffle:
            masks = layer_shuffle(masks, seed=cfg.seed + 1)
        apply_masks(model, masks)
        after = figures(model, x, nonzero=True, latency=False)
        if dense is not None:
            before, after = with_paired_latency(before, after, dense, model,
                                                example_input(model, data, cfg.latency_batch),
                                                warmup=cfg.latency_warmup, repeats=cfg.latency_repeats)
        nnz = sum(int(m.sum()) for m in masks.values())
        details = {
            "method": cfg.method, "shuffle": cfg.shuffle, "density": global_density(masks),
            "layer_densities": layer_densities(masks), "dense_parameters": before.parameters,
            "nonzero_macs_theoretical": nonzero_macs(model, masks, x),
            # CSR: one float32 value + one int32 column index per non-zero, one int32 row pointer per row
            "csr_bytes_estimate": 8 * nnz + 4 * sum(m.shape[0] + 1 for m in masks.values()),
        }
        return model, CompressionReport(before=before, after=after, details=details)
