"""KeptTokenAnalyzer: which patches survive each EViT reorganisation (the paper's visualisations, Fig. 4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_evit.config import KeptTokenAnalyzerConfig
from forwardkit_evit.model import EViTViT
from forwardkit_evit.schedule import SMALL_EVIT


@torch.no_grad()
def kept_token_masks(model: EViTViT, x: Tensor) -> tuple[Tensor, list[int], list[Tensor]]:
    """Run ``model`` (eval) on images ``x`` ``(B, H, W, C)``; returns ``masks`` ``(B, L, M)`` (1 where the
    original patch is still its own token after the l-th reorganisation, 0 where it was fused or dropped),
    the block indices of the ``L`` reorganisers and, per reorganiser, the class attention mass on the kept
    tokens ``(B,)`` (sum of ``a_j`` over kept j; 1 minus it went to the cls token itself or the fused set)."""
    model.eval()
    model(x)
    m0 = model.num_patches
    origin = torch.arange(m0).expand(x.shape[0], -1)  # (B, M): original patch of each position, -1: fused token
    layers, masks, masses = [], [], []
    for i, reorganizer in model.reorganizers():
        keep_idx = reorganizer.last_keep_idx
        attn = getattr(model.blocks[i].token_mixer, "last_cls_attn", None)  # (B, M)
        if keep_idx is None or attn is None:
            continue
        kept_origin = torch.gather(origin, 1, keep_idx)
        mask = torch.zeros(x.shape[0], m0 + 1)
        mask.scatter_(1, kept_origin.clamp(min=-1) % (m0 + 1), 1.0)  # -1 lands in the spare column m0
        masks.append(mask[:, :m0])
        masses.append(torch.gather(attn, 1, keep_idx).sum(1))
        layers.append(i)
        origin = kept_origin
        if reorganizer.config.fuse:
            origin = torch.cat([origin, torch.full((x.shape[0], 1), -1)], dim=1)
    stacked = torch.stack(masks, 1) if masks else torch.zeros(x.shape[0], 0, m0)
    return stacked, layers, masses


class KeptTokenAnalyzer(Analyzer):
    """Per image and reorganisation layer, the map of patches kept as their own token (Fig. 4 of the paper).

    Numbers: ``layer<i>/kept_fraction`` (share of the original patches still separate after block i),
    ``layer<i>/kept_attention_mass`` (class attention on the kept tokens), ``layer<i>/border_kept_fraction``
    (share of the outermost ring of patches kept: low when background is fused first). Table ``layers``; figure
    ``kept_tokens`` (image, then one mask per layer; bright = kept)."""

    Config = KeptTokenAnalyzerConfig
    config: KeptTokenAnalyzerConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_EVIT,)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        if not isinstance(model, EViTViT):
            raise TypeError(f"KeptTokenAnalyzer needs an 'evit_vit' model, got {type(model).__name__}")
        batches = [b for b in (data or []) if isinstance(b, Mapping) and "x" in b]
        if not batches:
            batches = [model.example_batch(4, generator=torch.Generator().manual_seed(0))]
        images = torch.cat([b["x"] for b in batches])
        masks, layers, masses = kept_token_masks(model, images)
        grid = model.grid
        border = torch.ones(grid, grid, dtype=torch.bool)
        border[1:-1, 1:-1] = False
        rows: list[dict[str, Any]] = []
        numbers: dict[str, float] = {"reorganisations": float(len(layers)), "images": float(images.shape[0])}
        for j, layer in enumerate(layers):
            kept = masks[:, j]
            row = {
                "block": layer,
                "kept_fraction": float(kept.mean()),
                "kept_attention_mass": float(masses[j].mean()),
                "border_kept_fraction": float(kept[:, border.flatten()].mean()),
            }
            rows.append(row)
            for key in ("kept_fraction", "kept_attention_mass", "border_kept_fraction"):
                numbers[f"layer{layer}/{key}"] = row[key]
        out = Analysis(numbers=numbers, tables={"layers": rows})
        if self.config.figure and layers:
            out.figures["kept_tokens"] = self._figure(images, masks, layers, grid)
        return out

    def _figure(self, images: Tensor, masks: Tensor, layers: list[int], grid: int) -> Any:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = min(self.config.max_images, images.shape[0])
        fig, axes = plt.subplots(n, 1 + len(layers), figsize=(1.6 * (1 + len(layers)), 1.6 * n), squeeze=False)
        for r in range(n):
            axes[r][0].imshow(images[r].float().mean(-1).numpy(), cmap="gray")
            for j, layer in enumerate(layers):
                axes[r][1 + j].imshow(masks[r, j].reshape(grid, grid).numpy(), cmap="viridis", vmin=0, vmax=1)
                if r == 0:
                    axes[r][1 + j].set_title(f"after block {layer}", fontsize=7)
            for ax in axes[r]:
                ax.set_axis_off()
        fig.tight_layout()
        return fig
