"""Builtin channel mixer: the per-token two-layer MLP of Transformers and MetaFormers."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from forwardkit.builtin.config import MLPConfig
from forwardkit.interfaces import ChannelMixer
from forwardkit.nn.mlp import FeedForward


class MLP(ChannelMixer, FeedForward):
    """``fc2(drop(act(fc1(x))))`` then dropout, on each token of ``(B, *spatial, C)`` independently
    (Vaswani et al. 2017, eq. 2 "FFN"): a :class:`forwardkit.nn.FeedForward` configured by
    :class:`~forwardkit.builtin.config.MLPConfig`. ``fc1``: Linear(C, hidden), ``fc2``: Linear(hidden, C),
    ``hidden = hidden_dim or round(mlp_ratio * C)``."""

    Config = MLPConfig
    config: MLPConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        ChannelMixer.__init__(self, config, **overrides)
        cfg = self.config
        self._init_layers(dim=cfg.dim, hidden_dim=cfg.hidden_dim, mlp_ratio=cfg.mlp_ratio, act=cfg.act, bias=cfg.bias,
                          drop=cfg.drop)

    def forward(self, x: Tensor) -> Tensor:
        return FeedForward.forward(self, x)
