"""``selfie_classifier``: the network fine-tuned on labels after pre-training (paper's method: the patch network's
weights initialise the first blocks of the classifier; here the card's reference classifier).

P's conv trunk runs on the whole (padded) image as the stem, under the same name as in the pretrainer
(``patch_net.trunk``), so a multi-stage experiment carries it with ``carry: {include: [patch_net]}`` and the
``transfer_patch_net`` adapter copies it by exact name. Then ``head_widths`` conv blocks (3x3, stride 2, BN, ReLU),
global average pooling and a linear layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_selfie.config import SelfieClassifierConfig
from forwardkit_selfie.patch_net import PatchNet, conv_block
from forwardkit_selfie.patches import pad_center


class SelfieClassifier(Model):
    """``(B, H, W, C)`` images -> ``(B, num_classes)`` logits."""

    Config = SelfieClassifierConfig
    config: SelfieClassifierConfig
    conformance_configs = ({"embed_dim": 8, "head_widths": [8], "pad_to": 12, "in_channels": 1, "num_classes": 3},
                           {"embed_dim": 8, "head_widths": [8, 8], "pad_to": None, "patch_net": "resnet_stem",
                            "in_channels": 2, "num_classes": 2})

    def __init__(self, config: SelfieClassifierConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.patch_net = PatchNet(cfg)
        layers: list[nn.Module] = []
        width = cfg.embed_dim
        for w in cfg.head_widths:
            layers += conv_block(width, w, 2)
            width = w
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(width, cfg.num_classes)

    def _image(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.config.in_channels:
            raise ValueError(f"selfie_classifier takes (B, H, W, {self.config.in_channels}) images, got "
                             f"{tuple(x.shape)}")
        img = x.permute(0, 3, 1, 2)
        return pad_center(img, self.config.pad_to) if self.config.pad_to is not None else img

    def stem_features(self, x: Tensor) -> Tensor:
        """P's trunk on the whole image: ``(B, H, W, C) -> (B, d, H' / 2, W' / 2)`` (``H'``: after padding)."""
        return self.patch_net.trunk(self._image(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.blocks(self.stem_features(x)).mean(dim=(-2, -1)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        side = self.config.pad_to or 12
        x = torch.rand(batch_size, min(side, 12), min(side, 12), self.config.in_channels, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
