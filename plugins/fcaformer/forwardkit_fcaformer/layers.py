"""Convolutional pieces of the hybrid FcaFormer, channels-first ``(B, C, H, W)`` inside the model as in the
official code (``Conv2d_BN``, ``PatchEmbed``, ``PatchMerging``)."""

from __future__ import annotations

from torch import Tensor, nn


class ConvBN(nn.Sequential):
    """``BN(Conv(x))``, the conv without bias (official ``Conv2d_BN``); ``(B, C_in, H, W) -> (B, C_out, H', W')``."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.c = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)


class ConvStem(nn.Sequential):
    """``ConvBN3x3(C_in -> C/2, s_1) -> GELU -> ConvBN3x3(C/2 -> C, s_2)``: ``(B, C_in, H, W) -> (B, C, H/s1s2, ...)``
    (official ``PatchEmbed``, strides 2, 2 -> /4)."""

    def __init__(self, cin: int, dim: int, strides: tuple[int, int] = (2, 2)) -> None:
        super().__init__(ConvBN(cin, dim // 2, 3, strides[0]), nn.GELU(), ConvBN(dim // 2, dim, 3, strides[1]))


class PatchMerging(nn.Module):
    """``ConvBN1x1 -> GELU -> ConvBN DW3x3 s2 -> GELU -> ConvBN1x1`` (official ``PatchMerging``):
    ``(B, C_in, H, W) -> (B, C_out, ceil(H/2), ceil(W/2))``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(cin, cout, 1)
        self.conv2 = ConvBN(cout, cout, 3, 2, groups=cout)
        self.conv3 = ConvBN(cout, cout, 1)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(self.act(self.conv2(self.act(self.conv1(x)))))


def tokens_to_map(x: Tensor, grid: tuple[int, int]) -> Tensor:
    """``(B, N, C) -> (B, C, H, W)`` for ``N = H * W`` tokens in row-major order."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)


def map_to_tokens(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, H * W, C)``."""
    return x.flatten(2).transpose(1, 2)
