"""The card's reference model: a 4-block CNN (32-64-128-128 channels, BatchNorm, ReLU, 2x2 max-pool after blocks 1-3,
global average pooling) with a linear head. CE pre-training trains the head; LOOK's rule reads the head's input (the
128-d feature) and puts its own projection MLP on it; a probe stage replaces the head and freezes the rest."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_look_pretraining.config import LookCNNConfig


class LookCNN(Model):
    """``(B, H, W, C)`` channels-last images of any size -> ``(B, num_classes)`` logits.

    ``blocks``: per width conv3x3 (same padding, no bias) -> BatchNorm2d -> ReLU, then a 2x2 max-pool after each of
    the first ``pool_blocks`` blocks (28 -> 14 -> 7 -> 3 with the defaults); global average pooling gives the
    feature ``(B, widths[-1])``; ``head``: Linear(widths[-1], num_classes). With ``norm_eval`` the BatchNorm layers
    stay in eval mode in training (a probe on a frozen backbone must not move their running statistics).
    """

    Config = LookCNNConfig
    config: LookCNNConfig

    def __init__(self, config: LookCNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        for i, width in enumerate(cfg.widths):
            layers += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if i < cfg.pool_blocks:
                layers.append(nn.MaxPool2d(2))
            c_in = width
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, cfg.num_classes)

    @property
    def feature_dim(self) -> int:
        """D, the width of the pooled feature (the head's input)."""
        return int(self.config.widths[-1])

    def features(self, x: Tensor) -> Tensor:
        """The backbone: ``(B, H, W, C)`` -> ``(B, D)`` globally average-pooled feature."""
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"look_cnn expects channels-last images (B, H, W, {self.config.in_channels}), got shape "
                             f"{tuple(x.shape)}")
        return self.blocks(x.permute(0, 3, 1, 2)).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def train(self, mode: bool = True) -> LookCNN:
        super().train(mode)
        if mode and self.config.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Images, labels ``y`` (and ``y_coarse``), fine labels ``y_fine`` (2 per class) and dataset indices
        ``idx`` (0..B-1), the keys ``look_loss`` and ``intra_class_modes`` read."""
        s, cfg = self.config.image_size, self.config
        y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
        sub = torch.randint(0, 2, (batch_size,), generator=generator)
        return {"x": torch.rand(batch_size, s, s, cfg.in_channels, generator=generator), "y": y, "y_coarse": y.clone(),
                "y_fine": y * 2 + sub, "idx": torch.arange(batch_size)}
