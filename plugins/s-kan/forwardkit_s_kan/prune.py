"""Phase 3 of S-KAN: physically remove the activation spaces no node selected (the ``skan_prune`` compressor)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import CompressionReport, Compressor, ModelFigures
from forwardkit.measure import count_parameters, latency_ms, state_bytes
from forwardkit_s_kan.config import SKANPruneConfig
from forwardkit_s_kan.layers import PrunedSKANLayer, SKANLayer


def skan_layers(model: nn.Module) -> list[tuple[str, SKANLayer]]:
    """The (qualified name, layer) of every :class:`SKANLayer` inside ``model``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, SKANLayer)]


def select_(model: nn.Module, top_k: int) -> dict[str, list[list[str]]]:
    """Phase 2 on every S-KAN layer of ``model`` (in place): mask all but the top-K spaces per node."""
    out = {}
    for name, layer in skan_layers(model):
        layer.select(top_k)
        out[name] = layer.selected()
    return out


def prune_skan(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Replace every :class:`SKANLayer` by its :class:`PrunedSKANLayer` (outputs unchanged, masked branches
    and their parameters gone). Returns ``model`` itself when ``inplace``, else a pruned copy."""
    target = model if inplace else copy.deepcopy(model)
    for name, layer in skan_layers(target):
        parent_name, _, child = name.rpartition(".")
        parent = target.get_submodule(parent_name) if parent_name else target
        pruned = PrunedSKANLayer(layer)
        if isinstance(parent, (nn.ModuleList, nn.Sequential)):
            parent[int(child)] = pruned
        else:
            setattr(parent, child, pruned)
    return target


def _batches(data: Iterable[Any] | None) -> list[Mapping[str, Tensor]]:
    return [b for b in (data or []) if isinstance(b, Mapping) and "x" in b]


@torch.no_grad()
def _rmse(model: nn.Module, batches: list[Mapping[str, Tensor]]) -> float | None:
    labelled = [b for b in batches if "y" in b and b["y"].is_floating_point()]
    if not labelled:
        return None
    model.eval()
    se = n = 0.0
    for b in labelled:
        d = model(b["x"]).reshape(b["y"].shape) - b["y"]
        se += float(d.pow(2).sum())
        n += d.numel()
    return (se / max(n, 1)) ** 0.5


def _figures(model: nn.Module, batches: list[Mapping[str, Tensor]], repeats: int) -> ModelFigures:
    latency = None
    if batches:
        x = batches[0]["x"]
        model.eval()
        with torch.no_grad():
            latency = latency_ms(lambda: model(x), warmup=1, repeats=repeats)
    return ModelFigures(parameters=count_parameters(model), bytes=state_bytes(model), latency_ms=latency)


class SKANPrune(Compressor):
    """Removes the unselected activation spaces of every S-KAN layer of a trained model (a copy). Layers still
    in phase 1 (nothing masked) are first masked to their top ``select_top_k`` (the layer's own config would
    say; here 1 unless a mask exists) when ``select_if_unmasked``. Reports measured parameters, bytes and
    latency before/after; ``details`` hold the RMSE on the given batches before and after (equal: pruning is
    exact), the kept spaces per node and the parameter count of phase 1."""

    Config = SKANPruneConfig
    config: SKANPruneConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (
        {"name": "skan_regressor", "in_features": 3, "hidden": 4, "pool": ["bspline", "chebyshev", "fourier"]},
        {"name": "s_convkan_net", "channels": [3, 4], "pool": ["bspline", "rbf", "wavelet"]})
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = ({"latency_repeats": 1},)

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        cfg = self.config
        batches = _batches(data)
        before = _figures(model, batches, cfg.latency_repeats)
        rmse_before = _rmse(model, batches)
        work = copy.deepcopy(model)
        if cfg.select_if_unmasked:
            for _, layer in skan_layers(work):
                if bool((layer.mask > 0).all()):
                    layer.select(1)
        selected = {n: layer.selected() for n, layer in skan_layers(work)}
        new = prune_skan(work, inplace=True)
        after = _figures(new, batches, cfg.latency_repeats)
        rmse_after = _rmse(new, batches)
        details: dict[str, Any] = {"selected": selected, "rmse_before": rmse_before, "rmse_after": rmse_after}
        if rmse_before is not None and rmse_after is not None:
            details["rmse_delta"] = rmse_after - rmse_before
        return new, CompressionReport(before=before, after=after, details=details)
