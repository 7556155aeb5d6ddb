"""The patch network P (paper's method): a conv net applied to every patch on its own, then global average pooling.

``h_j = P(p_j)`` in R^d. The paper uses the first three residual stages of ResNet-50 (d = 1024); the card's small
version is three 3x3 conv blocks with d = 64 (``small_cnn``), and ``resnet_stem`` is a stem plus two ResNet basic
blocks. The conv part (``trunk``) is fully convolutional, so the classifier runs the same trunk on whole images;
zero padding at patch borders is part of the method (each patch is padded on its own).
"""

from __future__ import annotations

from torch import Tensor, nn

from forwardkit.nn import BasicBlock
from forwardkit_selfie.config import PatchNetConfig


def conv_block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    """3x3 conv (no bias) -> BatchNorm -> ReLU, on ``(N, c_in, H, W)`` -> ``(N, c_out, H / stride, W / stride)``."""
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def build_trunk(cfg: PatchNetConfig) -> nn.Sequential:
    """P's convolutional trunk: ``(N, in_channels, H, W) -> (N, embed_dim, H / 2, W / 2)``."""
    d, c = cfg.embed_dim, cfg.in_channels
    if cfg.patch_net == "small_cnn":
        return nn.Sequential(*conv_block(c, d // 2), *conv_block(d // 2, d, 2), *conv_block(d, d))
    return nn.Sequential(*conv_block(c, d // 2), BasicBlock(in_channels=d // 2, out_channels=d, stride=2),
                         BasicBlock(in_channels=d, out_channels=d))


class PatchNet(nn.Module):
    """P: ``trunk`` then global average pooling, on patches ``(M, C, P, P) -> (M, embed_dim)``."""

    def __init__(self, cfg: PatchNetConfig) -> None:
        super().__init__()
        self.trunk = build_trunk(cfg)

    def forward(self, patches: Tensor) -> Tensor:
        """``(M, C, P, P)`` patches (each padded on its own) -> ``(M, d)`` embeddings."""
        return self.trunk(patches).mean(dim=(-2, -1))
