"""EViTCompressor: adapt a trained ViT into EViT, fine-tune briefly, report measured before/after figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import CompressionReport, Compressor, ModelFigures
from forwardkit.measure import count_parameters, latency_ms, state_bytes
from forwardkit_evit.adapter import SMALL_VIT, apply_evit
from forwardkit_evit.config import EViTCompressorConfig
from forwardkit_evit.macs import analytic_macs
from forwardkit_evit.model import EViTViT


def _batches(data: Iterable[Any] | None) -> list[Mapping[str, Tensor]]:
    return [b for b in (data or []) if isinstance(b, Mapping) and "x" in b]


@torch.no_grad()
def accuracy(model: nn.Module, batches: list[Mapping[str, Tensor]]) -> float | None:
    """Top-1 accuracy of ``model`` (eval mode) over batches with integer ``y`` (None without labels)."""
    labelled = [b for b in batches if "y" in b and not b["y"].is_floating_point()]
    if not labelled:
        return None
    was = model.training
    model.eval()
    correct = total = 0
    for b in labelled:
        correct += int((model(b["x"]).argmax(-1) == b["y"]).sum())
        total += int(b["y"].numel())
    model.train(was)
    return correct / max(total, 1)


def figures(model: EViTViT, batches: list[Mapping[str, Tensor]], repeats: int) -> ModelFigures:
    """Measured parameters, safetensors bytes, analytic MACs per image, median latency of one batch, accuracy."""
    latency = None
    if batches:
        x = batches[0]["x"]
        was = model.training
        model.eval()
        with torch.no_grad():
            latency = latency_ms(lambda: model(x), warmup=1, repeats=repeats)
        model.train(was)
    return ModelFigures(parameters=count_parameters(model), bytes=state_bytes(model), macs=analytic_macs(model),
                        latency_ms=latency, accuracy=accuracy(model, batches))


def finetune(model: nn.Module, batches: list[Mapping[str, Tensor]], *, epochs: int, lr: float,
             weight_decay: float) -> list[float]:
    """``epochs`` passes of AdamW on cross-entropy over labelled ``batches`` (the paper fine-tunes DeiT-S 30
    epochs at lr 2e-5, wd 1e-6, no keep-rate schedule); returns the mean loss of each pass."""
    labelled = [b for b in batches if "y" in b and not b["y"].is_floating_point()]
    if epochs == 0 or not labelled:
        return []
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                  weight_decay=weight_decay)
    model.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for b in labelled:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(b["x"]), b["y"])
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        losses.append(total / len(labelled))
    model.eval()
    return losses


class EViTCompressor(Compressor):
    """:func:`~forwardkit_evit.adapter.apply_evit` on a trained ``evit_vit`` (a copy), then a short fine-tune on
    the given batches. Parameters are unchanged (EViT adds none); MACs (analytic), latency (median of
    ``latency_repeats`` passes on the first batch) and accuracy (on the given batches) are measured before and
    after. ``details`` hold the kept-token counts, throughput and the fine-tune losses."""

    Config = EViTCompressorConfig
    config: EViTCompressorConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_VIT,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = ({"epochs": 1, "latency_repeats": 1},)

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        cfg = self.config
        if not isinstance(model, EViTViT):
            raise TypeError(f"EViTCompressor needs an 'evit_vit' model (a ViT with class token), got "
                            f"{type(model).__name__}")
        batches = _batches(data)
        before = figures(model, batches, cfg.latency_repeats)
        new = apply_evit(model, keep_rate=cfg.keep_rate, drop_loc=cfg.drop_loc, fuse=cfg.fuse)
        assert isinstance(new, EViTViT)
        adapted_accuracy = accuracy(new, batches)
        losses = finetune(new, batches, epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay)
        new.eval()
        after = figures(new, batches, cfg.latency_repeats)
        details: dict[str, Any] = {
            "keep_rate": cfg.keep_rate,
            "drop_loc": new.config.drop_loc,
            "token_counts_before": model.token_counts(),
            "token_counts_after": new.token_counts(),
            "accuracy_adapted_before_finetune": adapted_accuracy,
            "finetune_losses": losses,
        }
        if batches and before.latency_ms and after.latency_ms:
            n = int(batches[0]["x"].shape[0])
            details["throughput_before"] = n / (before.latency_ms / 1e3)
            details["throughput_after"] = n / (after.latency_ms / 1e3)
        return new, CompressionReport(before=before, after=after, details=details)
