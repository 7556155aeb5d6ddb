"""Analyzers: the PAI scorer (masks and layer-wise densities) and the layer-wise density comparison."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from torch import nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_precropping.config import LayerwiseDensityConfig, PaiScorerConfig
from forwardkit_precropping.scores import global_density, layer_densities, pai_masks

_MODELS = ("toy", {"name": "small_vgg", "widths": [8, 8, 16], "pool_after": [1], "image_size": 8,
                   "in_channels": 3, "num_classes": 4})


class PaiScorer(Analyzer):
    """Runs one PAI scorer at density ``d``: ``analyze`` returns the global and per-layer densities
    (numbers ``density/<layer>``, table ``layers``); ``masks(model, data)`` returns the masks themselves."""

    Config = PaiScorerConfig
    config: PaiScorerConfig
    conformance_models: ClassVar[tuple[Any, ...]] = _MODELS
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"density": 0.2, "iterations": 5}, {"method": "grasp", "batch_size": 8}, {"method": "random"}]

    def masks(self, model: nn.Module, data: Iterable[Any] | None = None) -> dict[str, Any]:
        cfg = self.config
        return pai_masks(model, cfg.method, cfg.density, data=data, iterations=cfg.iterations,
                         batch_size=cfg.batch_size, seed=cfg.seed)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        masks = self.masks(model, data)
        dens = layer_densities(masks)
        numbers = {"density": global_density(masks), **{f"density/{n}": p for n, p in dens.items()}}
        rows = [{"layer": n, "numel": m.numel(), "kept": int(m.sum()), "density": dens[n]} for n, m in masks.items()]
        return Analysis(numbers=numbers, tables={"layers": rows})


class LayerwiseDensityAnalyzer(Analyzer):
    """Layer-wise densities ``p_l`` of several scorers side by side and, for models with a channel graph,
    the per-layer density the cropped model achieves (``alpha_in * alpha_out``) against the target."""

    Config = LayerwiseDensityConfig
    config: LayerwiseDensityConfig
    conformance_models: ClassVar[tuple[Any, ...]] = _MODELS
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"scorers": ["synflow", "magnitude"], "iterations": 5, "figure": False},
        {"scorers": ["random"], "crop_scorer": "random", "figure": True}]

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        data = list(data) if data is not None else None
        graph = None
        if callable(getattr(model, "channel_graph", None)):
            graph = model.channel_graph()
        names = [layer.name for layer in graph.layers] if graph is not None else None
        per: dict[str, dict[str, float]] = {}
        for scorer in dict.fromkeys([*cfg.scorers, cfg.crop_scorer] if graph is not None else cfg.scorers):
            masks = pai_masks(model, scorer, cfg.density, data=data, names=names, iterations=cfg.iterations,
                              seed=cfg.seed)
            per[scorer] = layer_densities(masks)
        layers = list(next(iter(per.values())))
        rows: list[dict[str, Any]] = [{"layer": n, **{s: per[s][n] for s in per}} for n in layers]
        numbers: dict[str, float] = {}
        if graph is not None:
            from forwardkit_precropping.solver import crop_plan

            plan = crop_plan(graph, per[cfg.crop_scorer], cfg.density, min_channels=cfg.min_channels)
            for row in rows:
                row["cropped"] = per[cfg.crop_scorer][row["layer"]] + plan.residuals[row["layer"]]
                row["residual"] = plan.residuals[row["layer"]]
            numbers["cropped/achieved_density"] = plan.achieved
            numbers["cropped/max_abs_residual"] = max(abs(r) for r in plan.residuals.values())
            numbers["cropped/layers_at_min_channels"] = float(len(plan.at_floor))
        for s in per:
            numbers[f"{s}/min_layer_density"] = min(per[s].values())
            numbers[f"{s}/max_layer_density"] = max(per[s].values())
        figures = {"layerwise_density": self._figure(rows, list(per))} if cfg.figure else {}
        return Analysis(numbers=numbers, tables={"layerwise_density": rows}, figures=figures)

    def _figure(self, rows: list[dict[str, Any]], scorers: list[str]) -> Any:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        xs = range(len(rows))
        for s in scorers:
            ax.plot(xs, [r[s] for r in rows], marker="o", label=s)
        if rows and "cropped" in rows[0]:
            ax.plot(xs, [r["cropped"] for r in rows], marker="s", linestyle="--", color="k", label="cropped")
        ax.set_yscale("log")
        ax.set_xticks(list(xs), [r["layer"] for r in rows], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("layer density p_l")
        ax.set_title(f"layer-wise density at d = {self.config.density:g}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig
