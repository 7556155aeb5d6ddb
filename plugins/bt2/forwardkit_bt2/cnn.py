"""The card's reference backbone: a small CNN with the official backbones' layout (``ResNet.forward``): pooled
features -> embedding (ReLU when ``last_nonlin``, L2-normalised when ``norm_feature``) -> bias-free classifier."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_bt2.config import BT2CNNConfig


class BT2CNN(Model):
    """``bt2_cnn``: ``(B, H, W, C)`` channels-last images -> ``(B, num_classes)`` logits.

    ``len(widths)`` blocks of conv3x3-BN-ReLU-maxpool2, global average pooling, ``embed`` (Linear to
    ``embed_dim``), then ``head`` (bias-free Linear) on the (normalised) embedding. The embedding, the input of
    ``head``, is what retrieval uses; ``basis_transform_head`` replaces ``head``.
    """

    Config = BT2CNNConfig
    config: BT2CNNConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        layers: list[nn.Module] = []
        prev = cfg.in_channels
        for width in cfg.widths:
            layers += [nn.Conv2d(prev, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.embed = nn.Linear(prev, cfg.embed_dim)
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes, bias=False)

    def embedding(self, x: Tensor) -> Tensor:
        """The embedding ``(B, embed_dim)`` of images ``x`` ``(B, H, W, C)``: the input of ``head``."""
        h = self.features(x.permute(0, 3, 1, 2)).mean(dim=(2, 3))
        e = self.embed(h)
        if self.config.last_nonlin:
            e = F.relu(e)
        return F.normalize(e, dim=1) if self.config.norm_feature else e

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embedding(x))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        x = torch.rand(batch_size, cfg.image_size, cfg.image_size, cfg.in_channels, generator=generator)
        return {"x": x, "y": torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)}
