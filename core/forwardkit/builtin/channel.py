"""Builtin channel mixer: the per-token two-layer MLP of Transformers and MetaFormers."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from forwardkit.builtin.config import MLPConfig
from forwardkit.builtin.layers import make_activation
from forwardkit.interfaces import ChannelMixer


class MLP(ChannelMixer):
    """``fc2(drop(act(fc1(x))))`` then dropout, on each token of ``(B, *spatial, C)`` independently
    (Vaswani et al. 2017, eq. 2 "FFN"). ``fc1``: Linear(C, hidden), ``fc2``: Linear(hidden, C),
    ``hidden = hidden_dim or round(mlp_ratio * C)``."""

    Config = MLPConfig
    config: MLPConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        hidden = cfg.hidden_dim or max(round(cfg.mlp_ratio * cfg.dim), 1)
        self.fc1 = nn.Linear(cfg.dim, hidden, bias=cfg.bias)
        self.act = make_activation(cfg.act)
        self.drop1 = nn.Dropout(cfg.drop)
        self.fc2 = nn.Linear(hidden, cfg.dim, bias=cfg.bias)
        self.drop2 = nn.Dropout(cfg.drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))
