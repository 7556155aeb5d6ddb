"""The residual blocks of the HaloNet ResNet (paper sec. 4: ResNet bottlenecks whose 3x3 conv becomes halo
attention), channels-first ``(B, C, H, W)``, laid out as timm's ``BottleneckBlock`` / ``SelfAttnBlock``.

Both compute ``act(branch(x) + shortcut(x))``; the shortcut is the identity, or a strided 1x1 conv + BN where
the shape changes. The conv branch is 1x1 -> 3x3 (stride, groups) -> [SE/ECA] -> 1x1; the halo branch is
1x1 -> halo attention (``halo_attention``, or :class:`~forwardkit_halonet.downsample.HaloDownsample` at
stride 2) -> BN + act -> 1x1. The attention runs channels-last, so the halo branch permutes around it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from forwardkit.nn import DropPath, make_activation
from forwardkit_halonet.attention import HaloAttention, make_divisible
from forwardkit_halonet.downsample import HaloDownsample
from forwardkit_halonet.layers import BatchNormAct, ConvNormAct, channel_attention

__all__ = ["BottleneckBlock", "HaloBlock", "shortcut"]


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity, or a strided 1x1 conv + BN (no activation) where channels or resolution change."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return ConvNormAct(in_channels, out_channels, 1, stride=stride, act=None)


class _Residual(nn.Module):
    """``act(drop_path(branch(x)) + shortcut(x))``; subclasses define ``branch``."""

    conv3_1x1: ConvNormAct

    def __init__(self, in_channels: int, out_channels: int, stride: int, act: str, drop_path: float) -> None:
        super().__init__()
        self.shortcut = shortcut(in_channels, out_channels, stride)
        self.drop_path = DropPath(p=drop_path) if drop_path > 0 else nn.Identity()
        self.act = make_activation(act)

    def branch(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.drop_path(self.branch(x)) + self.shortcut(x))

    def zero_init_last(self) -> None:
        """Zero the last BN scale, so the block starts as its shortcut (Goyal et al. 2017; timm's default)."""
        nn.init.zeros_(self.conv3_1x1.bn.weight)


class BottleneckBlock(_Residual):
    """ResNet bottleneck (He et al. 2016, fig. 5): ``(B, C_in, H, W) -> (B, C_out, H / s, W / s)`` with
    ``mid = make_divisible(C_out * bottle_ratio)`` channels inside and the stride on the 3x3 conv."""

    def __init__(self, *, in_channels: int, out_channels: int, stride: int = 1, bottle_ratio: float = 0.25,
                 group_size: int = 0, attn: str | None = None, act: str = "relu", drop_path: float = 0.0) -> None:
        super().__init__(in_channels, out_channels, stride, act, drop_path)
        mid = make_divisible(out_channels * bottle_ratio)
        self.conv1_1x1 = ConvNormAct(in_channels, mid, 1, act=act)
        self.conv2_kxk = ConvNormAct(mid, mid, 3, stride=stride, groups=mid // group_size if group_size else 1,
                                     act=act)
        self.attn = channel_attention(attn, mid)
        self.conv3_1x1 = ConvNormAct(mid, out_channels, 1, act=None)

    def branch(self, x: Tensor) -> Tensor:
        return self.conv3_1x1(self.attn(self.conv2_kxk(self.conv1_1x1(x))))


class HaloBlock(_Residual):
    """Bottleneck whose 3x3 conv is halo attention on ``mid`` channels (paper sec. 4, timm ``SelfAttnBlock``):
    ``(B, C_in, H, W) -> (B, C_out, H / s, W / s)``; at stride 2 the attention is a ``HaloDownsample``."""

    def __init__(self, *, in_channels: int, out_channels: int, stride: int = 1, bottle_ratio: float = 0.25,
                 act: str = "relu", drop_path: float = 0.0, attention: dict[str, Any] | None = None) -> None:
        super().__init__(in_channels, out_channels, stride, act, drop_path)
        mid = make_divisible(out_channels * bottle_ratio)
        fields = {"dim": mid, "rank": 2, "out_proj": False, **(attention or {})}
        self.conv1_1x1 = ConvNormAct(in_channels, mid, 1, act=act)
        if stride == 1:
            fields = {k: v for k, v in fields.items() if k not in ("avg_down", "query_offsets")}
            self.self_attn: nn.Module = HaloAttention(**fields)
        else:
            self.self_attn = HaloDownsample(**fields, stride=stride)
        self.post_attn = BatchNormAct(mid, act=act)
        self.conv3_1x1 = ConvNormAct(mid, out_channels, 1, act=None)

    def branch(self, x: Tensor) -> Tensor:
        y = self.conv1_1x1(x).permute(0, 2, 3, 1)                  # (B, H, W, mid): the attention is channels-last
        y = self.self_attn(y).permute(0, 3, 1, 2)
        return self.conv3_1x1(self.post_attn(y))

    def reset_attention(self) -> None:
        """timm's ``HaloAttn.reset_parameters``: q/k/v weights trunc-normal with std ``C^-1/2`` (fan-in) and the
        relative tables trunc-normal with std ``d_k^-1/2``."""
        attn = self.self_attn
        nn.init.trunc_normal_(attn.qkv.weight, std=attn.qkv.weight.shape[1] ** -0.5)
        for table in attn.rel_tables:
            nn.init.trunc_normal_(table, std=attn.dk**-0.5)
        if attn.qkv.bias is not None:
            nn.init.zeros_(attn.qkv.bias)

