"""The RaftMLP classifier (official ``libs/models.py``): levels of embedding + layers, LN, mean, Linear.

One layer = vertical raft block, horizontal raft block, channel block, each ``x <- x + DropPath(f(LN(x)))``
with its own LayerNorm over all C channels (the faithful chain; the ``raft_mixing`` token mixer is the
forwardkit-block variant)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit.nn import DropPath
from forwardkit_raftmlp.config import RaftMLPConfig
from forwardkit_raftmlp.embedding import CrossScaleEmbedding
from forwardkit_raftmlp.presets import PRESETS
from forwardkit_raftmlp.raft import RaftMLPBranch


class _MixerBranch(nn.Module):
    def __init__(self, n: int, expansion: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n, round(expansion * n))
        self.fc2 = nn.Linear(round(expansion * n), n)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, c = x.shape
        v = self.fc2(F.gelu(self.fc1(x.reshape(b, h * w, c).transpose(1, 2))))
        return v.transpose(1, 2).reshape(b, h, w, c)


class _Residual(nn.Module):
    def __init__(self, dim: int, fn: nn.Module, drop_path: float) -> None:
        super().__init__()
        self.norm, self.fn, self.drop = nn.LayerNorm(dim), fn, DropPath(p=drop_path)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop(self.fn(self.norm(x)))


class RaftMLP(Model):
    """RaftMLP on images ``(B, H, W, C_in)`` -> logits ``(B, num_classes)``."""

    Config = RaftMLPConfig
    config: RaftMLPConfig
    #: the kit checks the tiny preset at small sizes (the paper-sized presets cost seconds per check)
    conformance_configs = ({"size": "tiny", "image_size": 16, "num_classes": 5},
                           {"size": "tiny", "image_size": 18, "num_classes": 3, "drop_path": 0.0})

    def __init__(self, config: RaftMLPConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        p = PRESETS[cfg.size]
        layers: list[nn.Module] = []
        c_in, g = cfg.in_channels, cfg.image_size
        for dim, depth, patch, kernels, r in zip(p["dims"], p["depths"], p["patches"], p["kernels"], p["rafts"],
                                                 strict=True):
            layers.append(CrossScaleEmbedding(in_channels=c_in, dim=dim, patch=patch, kernels=kernels))
            g = -(-g // patch)
            for _ in range(depth):
                if p["mixing"] == "raft":
                    layers.append(_Residual(dim, RaftMLPBranch(length=g, raft_size=r, expansion=cfg.token_expansion,
                                                               dropout=0.0, axis=1), cfg.drop_path))
                    layers.append(_Residual(dim, RaftMLPBranch(length=g, raft_size=r, expansion=cfg.token_expansion,
                                                               dropout=0.0, axis=2), cfg.drop_path))
                else:
                    layers.append(_Residual(dim, _MixerBranch(g * g, cfg.token_expansion), cfg.drop_path))
                hid = round(cfg.channel_expansion * dim)
                layers.append(_Residual(dim, nn.Sequential(nn.Linear(dim, hid), nn.GELU(), nn.Linear(hid, dim)),
                                        cfg.drop_path))
            c_in = dim
        self.body = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(c_in)
        self.head = nn.Linear(c_in, cfg.num_classes)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        out = super().fields_from_metadata(metadata)
        shape = tuple(metadata.input_shape)
        if len(shape) == 3:
            out["image_size"] = int(shape[0])
        return out

    def forward(self, x: Tensor) -> Tensor:
        """``(B, H, W, C_in)`` -> ``(B, num_classes)``; H = W = image_size (the MLPs' grid)."""
        y = self.norm(self.body(x))
        return self.head(y.mean(dim=(1, 2)))

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``{"x": (batch_size, image_size, image_size, in_channels)}`` standard-normal images."""
        s = self.config.image_size
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        return {"x": torch.randn(batch_size, s, s, self.config.in_channels, generator=g)}
