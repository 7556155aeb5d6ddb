"""Reference CNNs of the card, which describe their channels for cropping.

Both take channels-last images ``(B, H, W, C)`` (permuted to channels-first inside) and return logits
``(B, num_classes)``. Each implements the cropping protocol:

* ``channel_graph() -> ChannelGraph``: its channel groups and prunable layers (module paths);
* ``with_widths(widths) -> Model``: a fresh model of the same class whose free groups have the given
  widths (a plain dense model: no masks, hooks or parametrizations).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_precropping.config import SmallResNetConfig, SmallVGGConfig
from forwardkit_precropping.graph import ChannelGraph


def _images(model: Any, batch_size: int, generator: torch.Generator | None) -> dict[str, Tensor]:
    cfg = model.config
    x = torch.randn(batch_size, cfg.image_size, cfg.image_size, cfg.in_channels, generator=generator)
    y = torch.randint(0, cfg.num_classes, (batch_size,), generator=generator)
    return {"x": x, "y": y}


class ConvBN(nn.Sequential):
    """conv kxk (no bias) -> BatchNorm2d -> optional ReLU, on ``(B, C, H, W)``."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SmallVGG(Model):
    """conv3x3-BN-ReLU x len(widths), 2x2 max-pool after ``pool_after``, global average pool, Linear.

    ``(B, H, W, in_channels)`` -> ``(B, num_classes)``. Default: 32-32-[pool]-64-64-[pool]-128-128, ~290k
    parameters at 28x28.
    """

    Config = SmallVGGConfig
    config: SmallVGGConfig

    def __init__(self, config: SmallVGGConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        chans = [cfg.in_channels, *cfg.widths]
        self.features = nn.ModuleList(ConvBN(chans[i], chans[i + 1]) for i in range(len(cfg.widths)))
        self.head = nn.Linear(chans[-1], cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        for i, block in enumerate(self.features):
            h = block(h)
            if i in self.config.pool_after:
                h = F.max_pool2d(h, 2)
        return self.head(h.mean(dim=(2, 3)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return _images(self, batch_size, generator)

    def channel_graph(self) -> ChannelGraph:
        cfg = self.config
        graph = ChannelGraph()
        prev = graph.add_group("input", cfg.in_channels, fixed=True)
        side = cfg.image_size
        for i, width in enumerate(cfg.widths):
            group = graph.add_group(f"c{i}", width)
            numel = graph.groups[prev].width * width * 9
            graph.add_layer(f"features.{i}.0", prev, group, numel=numel, macs=numel * side * side)
            if i in cfg.pool_after:
                side = max(side // 2, 1)
            prev = group
        graph.add_group("classes", cfg.num_classes, fixed=True)
        numel = graph.groups[prev].width * cfg.num_classes
        graph.add_layer("head", prev, "classes", numel=numel, macs=numel)
        return graph

    def with_widths(self, widths: dict[str, int]) -> SmallVGG:
        new = [int(widths.get(f"c{i}", w)) for i, w in enumerate(self.config.widths)]
        return SmallVGG(self.config.model_copy(update={"widths": new}))


class BasicBlock(nn.Module):
    """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`` on ``(B, C, H, W)``; 1x1 conv shortcut if needed."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(cin, mid, 3, stride)
        self.conv2 = ConvBN(mid, cout, 3, 1, relu=False)
        self.shortcut = ConvBN(cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class SmallResNet(Model):
    """Stem conv3x3 -> stages of BasicBlocks (the residual sums of a stage form one tie group) -> GAP -> Linear.

    ``(B, H, W, in_channels)`` -> ``(B, num_classes)``.
    """

    Config = SmallResNetConfig
    config: SmallResNetConfig

    def __init__(self, config: SmallResNetConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        mids = cfg.mid_widths or [w for w in cfg.widths for _ in range(cfg.blocks)]
        self.stem = ConvBN(cfg.in_channels, cfg.widths[0])
        blocks: list[nn.Module] = []
        cin = cfg.widths[0]
        for s, width in enumerate(cfg.widths):
            for b in range(cfg.blocks):
                stride = 2 if s > 0 and b == 0 else 1
                blocks.append(BasicBlock(cin, mids[s * cfg.blocks + b], width, stride))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, cfg.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x.permute(0, 3, 1, 2)))
        return self.head(h.mean(dim=(2, 3)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        return _images(self, batch_size, generator)

    def channel_graph(self) -> ChannelGraph:
        cfg = self.config
        mids = cfg.mid_widths or [w for w in cfg.widths for _ in range(cfg.blocks)]
        graph = ChannelGraph()
        graph.add_group("input", cfg.in_channels, fixed=True)
        side = cfg.image_size
        for s, width in enumerate(cfg.widths):
            graph.add_group(f"s{s}", width)
        n = cfg.in_channels * cfg.widths[0] * 9
        graph.add_layer("stem.0", "input", "s0", numel=n, macs=n * side * side)
        prev = "s0"
        for s, width in enumerate(cfg.widths):
            for b in range(cfg.blocks):
                i = s * cfg.blocks + b
                if s > 0 and b == 0:
                    side = (side + 1) // 2
                mid = graph.add_group(f"b{i}", mids[i])
                cin = graph.groups[prev].width
                n1, n2 = cin * mids[i] * 9, mids[i] * width * 9
                graph.add_layer(f"blocks.{i}.conv1.0", prev, mid, numel=n1, macs=n1 * side * side)
                graph.add_layer(f"blocks.{i}.conv2.0", mid, f"s{s}", numel=n2, macs=n2 * side * side)
                if s > 0 and b == 0:
                    n3 = cin * width
                    graph.add_layer(f"blocks.{i}.shortcut.0", prev, f"s{s}", numel=n3, macs=n3 * side * side)
                prev = f"s{s}"
        graph.add_group("classes", cfg.num_classes, fixed=True)
        n = graph.groups[prev].width * cfg.num_classes
        graph.add_layer("head", prev, "classes", numel=n, macs=n)
        return graph

    def with_widths(self, widths: dict[str, int]) -> SmallResNet:
        cfg = self.config
        mids = cfg.mid_widths or [w for w in cfg.widths for _ in range(cfg.blocks)]
        stages = [int(widths.get(f"s{s}", w)) for s, w in enumerate(cfg.widths)]
        new_mids = [int(widths.get(f"b{i}", w)) for i, w in enumerate(mids)]
        return SmallResNet(cfg.model_copy(update={"widths": stages, "mid_widths": new_mids}))
