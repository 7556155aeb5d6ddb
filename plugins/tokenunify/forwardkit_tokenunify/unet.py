"""The card's reference model: a U-Net with a causal linear-time token mixer in the bottleneck.

The official SegMamba has Mamba layers in a 3-D encoder and a convolutional decoder; the card's 2-D miniature
is a 4-level U-Net (16-32-64-128 channels) whose bottleneck tokens, flattened in raster order, pass through a
causal mixer (``gated_linear_recurrence`` by default: a Mamba stand-in). Input ``(B, *spatial, C_in)``, output
``(B, *spatial, C_out)`` logits, channels-last; the pre-training rule applies the sigmoid.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_tokenunify.config import UNetConfig


def _ops(rank: int) -> tuple[type[nn.Module], type[nn.Module], type[nn.Module], type[nn.Module]]:
    if rank == 2:
        return nn.Conv2d, nn.BatchNorm2d, nn.ConvTranspose2d, nn.MaxPool2d
    return nn.Conv3d, nn.BatchNorm3d, nn.ConvTranspose3d, nn.MaxPool3d


class _DoubleConv(nn.Sequential):
    def __init__(self, rank: int, cin: int, cout: int) -> None:
        conv, norm, _, _ = _ops(rank)
        super().__init__(conv(cin, cout, 3, padding=1, bias=False), norm(cout), nn.ReLU(inplace=True),
                         conv(cout, cout, 3, padding=1, bias=False), norm(cout), nn.ReLU(inplace=True))


class _MixerBlock(nn.Module):
    """``x + mixer(LayerNorm(x))`` on channels-last tokens ``(B, *grid, C)``."""

    def __init__(self, mixer: nn.Module, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mixer = mixer

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mixer(self.norm(x))


class TokenUnifyUNet(Model):
    """U-Net ``(B, *spatial, C_in) -> (B, *spatial, C_out)`` with a causal token mixer at the bottleneck."""

    Config = UNetConfig

    def __init__(self, config: UNetConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        rank, widths = cfg.rank, list(cfg.widths)
        _, _, up, pool = _ops(rank)
        self.pool = pool(2)
        self.down = nn.ModuleList()
        cin = cfg.in_channels
        for w in widths:
            self.down.append(_DoubleConv(rank, cin, w))
            cin = w
        grid = tuple(s // 2 ** (len(widths) - 1) for s in cfg.input_size)
        self.mixers = nn.ModuleList()
        if cfg.bottleneck_mixer is not None:
            for _ in range(cfg.mixer_layers):
                self.mixers.append(_MixerBlock(cfg.bottleneck_mixer.build_for_input(grid, dim=widths[-1]), widths[-1]))
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for hi, lo in zip(reversed(widths[1:]), reversed(widths[:-1]), strict=True):
            self.ups.append(up(hi, lo, kernel_size=2, stride=2))
            self.up_convs.append(_DoubleConv(rank, 2 * lo, lo))
        conv = _ops(rank)[0]
        self.head = conv(widths[0], cfg.out_channels, kernel_size=1)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        shape = tuple(metadata.input_shape)
        return {"in_channels": shape[-1], "rank": len(shape) - 1, "input_size": shape[:-1]}

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, *spatial, C_in)`` -> logits ``(B, *spatial, C_out)``."""
        step = 2 ** (len(self.config.widths) - 1)
        if x.dim() != self.config.rank + 2 or any(s % step for s in x.shape[1:-1]):
            raise ValueError(f"tokenunify_unet expects (B, *spatial, C) with {self.config.rank} spatial axes "
                             f"divisible by {step}, got {tuple(x.shape)}")
        h = x.movedim(-1, 1)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else self.pool(h))
            skips.append(h)
        if len(self.mixers):
            t = h.movedim(1, -1)
            for block in self.mixers:
                t = block(t)
            h = t.movedim(-1, 1)
        for up, conv, skip in zip(self.ups, self.up_convs, reversed(skips[:-1]), strict=True):
            h = conv(torch.cat([up(h), skip], dim=1))
        return self.head(h).movedim(1, -1)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        x = torch.rand(batch_size, *self.config.input_size, self.config.in_channels, generator=generator)
        return {"x": x, "y": (torch.rand(batch_size, *self.config.input_size, generator=generator) < 0.3).long()}
