"""ViM2, Vision MambaMixer (paper §4, Fig. 3, appendix Table 8), and its 28-px miniature.

``(B, H, W, C_in)`` images -> ``(B, num_classes)`` logits:

1. stem: a ``k x k`` stride-``k`` conv (4 in the paper; 2 for <= 32-px images) and LayerNorm, tokens kept 2-D;
2. stages; each starts (except the first) with patch merging (2x2 neighbours concatenated, LayerNorm,
   ``Linear(4 C -> C')``, Swin/VMamba) and holds ``token_depths[s]`` MambaMixer layers: a Selective Token
   Mixer with the four cross-scans and a depthwise 3x3 conv, and, in ``channel_depths[s]`` of them spread
   evenly, a Selective Channel Mixer; the weighted averaging is stage-local (§4.1 "We limit these weighted
   residual connections to each individual stage");
3. LayerNorm, global average pooling, ``Linear`` head.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import PatchEmbed
from forwardkit_mambamixer.channel_mixer import SelectiveChannelMixer, SelectiveChannelMixerPaper
from forwardkit_mambamixer.config import ViM2TinyConfig, WeightedAveragingConfig
from forwardkit_mambamixer.token_mixer import SelectiveTokenMixer
from forwardkit_mambamixer.weighted_averaging import WeightedAveragingStack

__all__ = ["PatchMerging", "ViM2Tiny", "channel_layers"]


def channel_layers(token_depth: int, channel_depth: int) -> list[bool]:
    """Which of a stage's ``token_depth`` layers hold one of its ``channel_depth`` channel mixers (spread evenly,
    the last layer always when there is one): 2 and 1 -> ``[False, True]``."""
    return [(i + 1) * channel_depth // token_depth > i * channel_depth // token_depth for i in range(token_depth)]


class PatchMerging(nn.Module):
    """``(B, H, W, C)`` -> ``(B, ceil(H/2), ceil(W/2), out_dim)``: each 2x2 neighbourhood concatenated (odd sides
    zero-padded), LayerNorm(4C), ``Linear(4C -> out_dim)`` without bias (Swin, VMamba)."""

    def __init__(self, *, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.proj = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        parts = [x[:, i::2, j::2] for i in (0, 1) for j in (0, 1)]
        return self.proj(self.norm(torch.cat(parts, dim=-1)))

    @staticmethod
    def output_size(side: int) -> int:
        return math.ceil(side / 2)


class ViM2Tiny(Model):
    """ViM2 classifier (module docstring); ``preset`` tiny (default, 28-px images) or the paper's vim2_t/s/b."""

    Config = ViM2TinyConfig
    config: ViM2TinyConfig
    #: one small config (the kit's traced export unrolls every scan); the paper-mode channel mixer and the other
    #: switches are tested in tests/test_vim2.py
    conformance_configs = (
        {"image_size": 8, "in_channels": 3, "num_classes": 4, "dims": [8, 16], "token_depths": [2, 1],
         "channel_depths": [1, 1], "d_state": 4},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        dims, tokens, channels = c.sizes()
        patch = c.resolved_stem_patch()
        self.stem = PatchEmbed(rank=2, in_channels=c.in_channels, dim=dims[0], patch_size=patch, norm="layernorm")
        side = c.image_size // patch
        self.merges = nn.ModuleList()
        self.stages = nn.ModuleList()
        for s, (dim, depth, width) in enumerate(zip(dims, tokens, channels, strict=True)):
            if s > 0:
                self.merges.append(PatchMerging(dim=dims[s - 1], out_dim=dim))
                side = PatchMerging.output_size(side)
            self.stages.append(self._stage(dim, depth, width, side * side))
        self.norm = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], c.num_classes)

    def _stage(self, dim: int, depth: int, channel_depth: int, tokens: int) -> WeightedAveragingStack:
        c = self.config
        scan = {"d_state": c.d_state, "scan_mode": c.scan_mode, "chunk": c.chunk}
        token_mixers = [SelectiveTokenMixer(dim=dim, spatial_rank=2, directions=4, expand=c.expand, **scan)
                        for _ in range(depth)]
        channel_mixers: list[nn.Module | None] = [self._channel_mixer(dim, tokens) if has else None
                                                  for has in channel_layers(depth, channel_depth)]
        config = WeightedAveragingConfig(num_layers=depth, init=c.init, normalize=c.normalize)
        return WeightedAveragingStack(config=config, token_mixers=token_mixers, channel_mixers=channel_mixers,
                                      dim=dim)

    def _channel_mixer(self, dim: int, tokens: int) -> nn.Module:
        c = self.config
        if c.channel_mode == "paper":
            return SelectiveChannelMixerPaper(dim=dim, num_tokens=tokens, d_state=c.d_state, scan_mode=c.scan_mode,
                                              chunk=c.chunk)
        return SelectiveChannelMixer(dim=dim, d_inner=c.channel_d_inner, d_state=c.d_state, scan_mode=c.scan_mode,
                                     chunk=c.chunk)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            out["image_size"] = shape[0]
        return out

    def forward(self, x: Tensor) -> Tensor:
        c = self.config
        if x.dim() != 4 or x.shape[1] != c.image_size or x.shape[2] != c.image_size:
            raise ValueError(f"vim2_tiny expects (B, {c.image_size}, {c.image_size}, {c.in_channels}) images, "
                             f"got {tuple(x.shape)}")
        h = self.stem(x)
        for s, stage in enumerate(self.stages):
            if s > 0:
                h = self.merges[s - 1](h)
            h = stage(h)
        return self.head(self.norm(h).mean(dim=(1, 2)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        c = self.config
        x = torch.randn(batch_size, c.image_size, c.image_size, c.in_channels, generator=generator)
        return {"x": x, "y": torch.randint(0, c.num_classes, (batch_size,), generator=generator)}
