"""The channel mixer of MetaFormer baselines (paper sec. 3.1): ``Linear(C, rC) -> StarReLU -> Linear(rC, C)``,
no biases, applied to every token of ``(B, *spatial, C)`` independently."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from forwardkit.interfaces import ChannelMixer
from forwardkit.nn import Pointwise
from forwardkit_metaformer_baselines.activation import make_act
from forwardkit_metaformer_baselines.config import StarReLUMLPConfig


class StarReLUMLP(ChannelMixer):
    """``drop(fc2(drop(act(fc1(x)))))`` on ``(B, *spatial, C)``: ``fc1`` Linear(C, H), ``fc2`` Linear(H, C),
    ``H = int(mlp_ratio * C)``, ``act`` StarReLU ``s * relu(x)^2 + b`` by default (paper sec. 3.1). The two
    projections are :class:`forwardkit.nn.Pointwise` (``nn.Linear`` layers on the kernel that is faster for
    the token count)."""

    Config = StarReLUMLPConfig
    config: StarReLUMLPConfig
    conformance_configs = (
        {},
        {"act": "gelu", "bias": True, "mlp_ratio": 2.0},
        {"starrelu_learnable": False, "starrelu_scale_init": 0.8944, "starrelu_bias_init": -0.4472},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        hidden = max(int(cfg.mlp_ratio * cfg.dim), 1)
        self.fc1 = Pointwise(cfg.dim, hidden, bias=cfg.bias)
        starrelu = {"scale_init": cfg.starrelu_scale_init, "bias_init": cfg.starrelu_bias_init,
                    "learnable": cfg.starrelu_learnable}
        self.act = make_act(cfg.act, **(starrelu if cfg.act == "starrelu" else {}))
        self.drop1 = nn.Dropout(cfg.drop)
        self.fc2 = Pointwise(hidden, cfg.dim, bias=cfg.bias)
        self.drop2 = nn.Dropout(cfg.drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))
