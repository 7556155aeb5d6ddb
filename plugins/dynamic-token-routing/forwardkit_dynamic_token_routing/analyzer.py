"""RoutingAnalyzer: routing-path statistics of a trained routing ViT (card, "Components" and "Metrics").

On the given batches, in eval mode (hard gates, the model's inference form): per node the share of its tokens
that take each edge, the realised FLOPs (executed token-edge pairs, :mod:`~forwardkit_dynamic_token_routing.cost`)
against the full grid and the static path, and, when the batches carry the digit ``size`` (and ``box``) of
``multi_scale_digits``, the correlation across images of the digit size with (a) the layer at which the
digit's scale-0 tokens first move down and (b) the number of Transformer blocks they receive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_dynamic_token_routing.config import RoutingAnalyzerConfig
from forwardkit_dynamic_token_routing.model import TINY, DynamicRoutingViT
from forwardkit_dynamic_token_routing.routing import RoutingTrace


def to_fine(mask: Tensor, factor: int, side: int) -> Tensor:
    """A coarse map ``(B, h, w)`` -> the scale-0 grid ``(B, side, side)``: every fine token gets its ancestor's
    value (ancestor of fine token (i, j) at scale s: (i // 2^s, j // 2^s))."""
    up = mask.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
    return up[:, :side, :side]


def routing_maps(trace: RoutingTrace, num_layers: int, side: int) -> tuple[Tensor, Tensor]:
    """Per image and scale-0 token: the Transformer blocks its location received over all nodes (its ancestor's
    T decisions at every scale) ``(B, side, side)``, and the 1-based layer of its first down-move from scale 0
    (``num_layers + 1``: never) ``(B, side, side)``."""
    b = trace.batch_size()
    blocks = torch.zeros(b, side, side)
    first = torch.full((b, side, side), float(num_layers + 1))
    for node in trace.nodes:
        blocks += to_fine(node.transform.float(), 2 ** node.scale, side)
        if node.scale == 0:
            moved = node.down & (first > num_layers)
            first = torch.where(moved, torch.full_like(first, float(node.layer + 1)), first)
    return blocks, first


def object_mask(boxes: Tensor | None, b: int, side: int, stride: int) -> Tensor:
    """``(B, side, side)``: scale-0 tokens whose centre lies inside the image's ``box`` (x0, y0, x1, y1) in pixels
    (every token without boxes; at least the token under the box centre)."""
    if boxes is None:
        return torch.ones(b, side, side, dtype=torch.bool)
    centre = (torch.arange(side, dtype=torch.float32) + 0.5) * stride
    x0, y0, x1, y1 = (boxes[:, k, None] for k in range(4))
    inside_x = (centre[None] >= x0) & (centre[None] < x1)  # (B, side)
    inside_y = (centre[None] >= y0) & (centre[None] < y1)
    mask = inside_y[:, :, None] & inside_x[:, None, :]
    cy = ((boxes[:, 1] + boxes[:, 3]) / 2 // stride).long().clamp(0, side - 1)
    cx = ((boxes[:, 0] + boxes[:, 2]) / 2 // stride).long().clamp(0, side - 1)
    mask[torch.arange(b), cy, cx] = True
    return mask


def pearson(a: Tensor, b: Tensor) -> float:
    """Pearson correlation of two ``(n,)`` vectors (NaN when either is constant)."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else math.nan


def node_rows(trace: RoutingTrace) -> list[dict[str, Any]]:
    """One row per executed node: token shares (of the node grid, and of its active tokens) per edge."""
    rows = []
    for node in trace.nodes:
        n_tokens = node.active[0].numel() * node.active.shape[0]
        active = float(node.active.sum())
        row: dict[str, Any] = {"layer": node.layer + 1, "scale": node.scale,
                               "active_fraction": active / n_tokens}
        for key, mask in (("T", node.transform), ("I", node.identity), ("D", node.down), ("exit", node.exits)):
            row[f"{key}_fraction"] = float(mask.sum()) / active if active else 0.0
        rows.append(row)
    return rows


class RoutingAnalyzer(Analyzer):
    """Per-layer path frequencies, realised FLOPs and size correlations of a ``dynamic_routing_vit``.

    Numbers: ``flops_per_image`` (executed, stem and head included), ``grid_flops_per_image``,
    ``grid_flops_ratio`` (over the full grid C_max), ``static_flops_per_image`` (the 'pvt' path of the same
    architecture), ``flops_over_static``, ``images``; with digit sizes ``corr_size_first_down`` and
    ``corr_size_blocks`` (Pearson over images), ``object_first_down`` and ``object_blocks`` (means); with
    ``node_numbers`` ``l<layer>s<scale>/<edge>_fraction``. Table ``nodes``; figure ``routing_maps``.
    """

    Config = RoutingAnalyzerConfig
    config: RoutingAnalyzerConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (TINY,)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        if not isinstance(model, DynamicRoutingViT):
            raise TypeError(f"RoutingAnalyzer needs a 'dynamic_routing_vit' model, got {type(model).__name__}")
        batches = [b for b in (data or []) if isinstance(b, Mapping) and "x" in b]
        if not batches:
            batches = [model.example_batch(8, generator=torch.Generator().manual_seed(0))]
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                results = [self._batch(model, b) for b in batches]
        finally:
            model.train(was)
        return self._combine(model, results)

    def _batch(self, model: DynamicRoutingViT, batch: Mapping[str, Tensor]) -> dict[str, Any]:
        x = batch["x"]
        trace = model.forward_routing(x).trace
        side = model.sides[0]
        blocks, first = routing_maps(trace, model.num_layers, side)
        obj = object_mask(batch.get("box"), x.shape[0], side, model.config.stem_stride)
        per = obj.flatten(1).float()
        n_obj = per.sum(1).clamp(min=1.0)
        return {"x": x, "trace": trace, "rows": node_rows(trace), "blocks": blocks, "first": first,
                "grid": trace.grid_flops("hard"), "size": batch.get("size"),
                "object_blocks": (blocks.flatten(1) * per).sum(1) / n_obj,
                "object_first": (first.flatten(1) * per).sum(1) / n_obj}

    def _combine(self, model: DynamicRoutingViT, results: list[dict[str, Any]]) -> Analysis:
        grid = torch.cat([r["grid"] for r in results])
        static = model.static_flops()
        total = float(grid.mean()) + model.fixed_flops
        numbers: dict[str, float] = {
            "images": float(grid.numel()), "flops_per_image": total, "grid_flops_per_image": float(grid.mean()),
            "grid_flops_ratio": float(grid.mean()) / model.max_grid_flops, "max_grid_flops": model.max_grid_flops,
            "static_flops_per_image": static, "flops_over_static": total / static,
        }
        obj_blocks = torch.cat([r["object_blocks"] for r in results])
        obj_first = torch.cat([r["object_first"] for r in results])
        numbers["object_blocks"] = float(obj_blocks.mean())
        numbers["object_first_down"] = float(obj_first.mean())
        if all(r["size"] is not None for r in results):
            size = torch.cat([r["size"].float() for r in results])
            for key, values in (("corr_size_first_down", obj_first), ("corr_size_blocks", obj_blocks)):
                value = pearson(size, values)
                if math.isfinite(value):
                    numbers[key] = value
        rows = self._merge_rows([r["rows"] for r in results], [r["grid"].numel() for r in results])
        if self.config.node_numbers:
            for row in rows:
                for key in ("active_fraction", "T_fraction", "I_fraction", "D_fraction", "exit_fraction"):
                    numbers[f"l{row['layer']}s{row['scale']}/{key}"] = float(row[key])
        out = Analysis(numbers=numbers, tables={"nodes": rows})
        if self.config.figure:
            out.figures["routing_maps"] = self._figure(results[0], model.num_layers)
        return out

    @staticmethod
    def _merge_rows(per_batch: list[list[dict[str, Any]]], sizes: list[int]) -> list[dict[str, Any]]:
        """Image-weighted means of the node rows over batches (a node missing in a batch counts as empty)."""
        keys = sorted({(r["layer"], r["scale"]) for rows in per_batch for r in rows})
        total = float(sum(sizes))
        out = []
        for layer, scale in keys:
            row: dict[str, Any] = {"layer": layer, "scale": scale}
            for field in ("active_fraction", "T_fraction", "I_fraction", "D_fraction", "exit_fraction"):
                acc = 0.0
                for rows, n in zip(per_batch, sizes, strict=True):
                    match = [r for r in rows if (r["layer"], r["scale"]) == (layer, scale)]
                    acc += (match[0][field] if match else 0.0) * n
                row[field] = acc / total
            out.append(row)
        return out

    def _figure(self, result: dict[str, Any], num_layers: int) -> Any:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x, blocks, first = result["x"], result["blocks"], result["first"]
        n = min(self.config.max_images, x.shape[0])
        fig, axes = plt.subplots(n, 3, figsize=(5.4, 1.8 * n), squeeze=False)
        for r in range(n):
            axes[r][0].imshow(x[r].float().mean(-1).numpy(), cmap="gray")
            axes[r][1].imshow(blocks[r].numpy(), cmap="viridis", vmin=0)
            axes[r][2].imshow(first[r].numpy(), cmap="magma", vmin=1, vmax=num_layers + 1)
            title = "" if result["size"] is None else f"size {int(result['size'][r])}"
            axes[r][0].set_title(title, fontsize=7)
            for ax in axes[r]:
                ax.set_axis_off()
        axes[0][1].set_title("blocks received", fontsize=7)
        axes[0][2].set_title("first down-move layer", fontsize=7)
        fig.tight_layout()
        return fig
