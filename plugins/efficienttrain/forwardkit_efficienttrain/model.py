"""The card's reference model: a resolution-agnostic 5-layer CNN (the miniature's stand-in for the paper's ResNets,
ConvNeXts and ViTs; a CNN with global pooling needs nothing to take the smaller images of the early stages)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_efficienttrain.config import EfficientTrainCNNConfig


class EfficientTrainCNN(Model):
    """``(B, H, W, C)`` channels-last images of any size -> ``(B, num_classes)`` logits.

    ``features``: for each layer conv k x k (same padding, no bias, the layer's stride) -> BatchNorm2d -> ReLU
    (default widths 32-32-64-64-128, strides 1-2-1-2-2: 28 -> 28 -> 14 -> 14 -> 7 -> 4); global average pooling;
    ``head``: Linear. Conv MACs scale about as (B/H)^2 with the input side B.
    """

    Config = EfficientTrainCNNConfig
    config: EfficientTrainCNNConfig

    def __init__(self, config: EfficientTrainCNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        for width, stride in zip(cfg.widths, cfg.strides, strict=True):
            layers += [nn.Conv2d(c_in, width, cfg.kernel_size, stride, cfg.kernel_size // 2, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c_in = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"efficienttrain_cnn expects channels-last images (B, H, W, {self.config.in_channels}), "
                             f"got shape {tuple(x.shape)}")
        h = self.features(x.permute(0, 3, 1, 2))
        return self.head(h.mean(dim=(2, 3)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        s, cfg = self.config.image_size, self.config
        return {"x": torch.rand(batch_size, s, s, cfg.in_channels, generator=generator),
                "y": torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)}
