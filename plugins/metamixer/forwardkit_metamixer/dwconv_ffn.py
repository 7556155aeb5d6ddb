"""FFNet's ConvNeXt-like channel mixer (official ``Channel_Mixer``): ``W_2 GELU(W_1 DW_k(x))``.

It mixes neighbouring positions (the depthwise conv), so it is registered as a ChannelMixer with
``pointwise = False`` (the core's declaration for exactly this case).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import ChannelMixer
from forwardkit_metamixer.config import DWConvFFNConfig
from forwardkit_metamixer.layers import RepDWConv, to_first, to_last


class DWConvFFN(ChannelMixer):
    """``(B, *spatial, C)`` -> same: depthwise conv, then Linear C->rC, GELU, Linear rC->C."""

    Config = DWConvFFNConfig
    config: DWConvFFNConfig
    pointwise = False

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"spatial_rank": len(spatial)}

    def __init__(self, config: DWConvFFNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        hidden = max(1, round(self.dim * c.ratio))
        self.dw = RepDWConv(rank=c.spatial_rank, channels=self.dim, kernel=c.kernel_size, small=c.rep_small_kernel)
        self.fc1, self.fc2 = nn.Linear(self.dim, hidden), nn.Linear(hidden, self.dim)

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == self.config.spatial_rank

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() - 2 != self.config.spatial_rank:
            raise ValueError(f"dwconv_ffn built for spatial_rank={self.config.spatial_rank}, got {tuple(x.shape)}")
        return self.fc2(F.gelu(self.fc1(to_last(self.dw(to_first(x))))))
