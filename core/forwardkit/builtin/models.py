"""Builtin plain models: the multilayer perceptron."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.builtin.config import MLPNetConfig
from forwardkit.interfaces import Model
from forwardkit.nn.activations import make_activation


class MLPNet(Model):
    """Multilayer perceptron: ``(B, *input_shape)`` is flattened to ``(B, in_features)``; each hidden
    layer is Linear -> [BatchNorm1d | LayerNorm] -> activation -> Dropout; a Linear maps to
    ``(B, num_classes)``."""

    Config = MLPNetConfig
    config: MLPNetConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        layers: list[nn.Module] = []
        width = cfg.in_features
        for hidden in cfg.hidden:
            layers.append(nn.Linear(width, hidden, bias=cfg.bias))
            if cfg.norm == "batchnorm":
                layers.append(nn.BatchNorm1d(hidden))
            elif cfg.norm == "layernorm":
                layers.append(nn.LayerNorm(hidden))
            layers.append(make_activation(cfg.act))
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            width = hidden
        layers.append(nn.Linear(width, cfg.num_classes, bias=cfg.bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1) if x.dim() > 1 else x.unsqueeze(1)
        if x.shape[1] != self.config.in_features:
            raise ValueError(
                f"mlp expects {self.config.in_features} features per sample, got {x.shape[1]} "
                f"(set in_features to the product of the input shape)"
            )
        return self.net(x.float() if not x.is_floating_point() else x)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Random ``(B, in_features)`` inputs and integer labels."""
        x = torch.randn(batch_size, self.config.in_features, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}
