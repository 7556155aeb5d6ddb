"""A Swin-style window-attention block (SwinIR's building block): the cost baseline CFSR replaces.

Not a registered component: the benchmark (``benchmarks/cost.py``) times it against a CFSR block of equal
width, as the card's performance note asks ("a SwinIR-style 8x8 window attention, written locally"; timm
and BasicSR are not installed here). On channels-last images ``(B, H, W, C)``::

    x = x + W-MSA(LN(x))     multi-head self-attention inside M x M windows (M = 8), relative position bias
                             (Swin eq. 4); with ``shift`` the windows are cyclically shifted by M / 2 and
                             tokens from different regions masked (Swin sec. 3.2)
    x = x + MLP(LN(x))       Linear C -> rC, GELU, Linear rC -> C (r = 2 as SwinIR-light)

Images whose sides are not multiples of M are padded on the bottom/right (SwinIR pads its input). The
attention is :func:`forwardkit.nn.multi_head_attention` on the windows as a batch; cost per block
``O(N C (M^2 + 4 C + 2 r C))`` multiply-adds (the ``M^2`` term: every token attends to its window).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.nn import FeedForward, MultiHeadAttention, RelativePositionBias

__all__ = ["SwinBlock", "WindowAttention", "shift_mask", "window_partition", "window_reverse"]


def window_partition(x: Tensor, m: int) -> Tensor:
    """``(B, H, W, C)`` with ``H, W`` multiples of ``m`` -> ``(B * nW, m, m, C)`` windows (row-major)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // m, m, w // m, m, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, m, m, c)


def window_reverse(windows: Tensor, m: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, m, m, C)`` -> ``(B, H, W, C)``."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // m) * (w // m))
    return windows.reshape(b, h // m, w // m, m, m, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def shift_mask(h: int, w: int, m: int, shift: int) -> Tensor:
    """``(nW, 1, m^2, m^2)`` additive mask of shifted windows: ``-inf`` between tokens of different regions."""
    labels = torch.zeros(1, h, w, 1)
    cuts = (slice(0, -m), slice(-m, -shift), slice(-shift, None))
    region = 0
    for rows in cuts:
        for cols in cuts:
            labels[:, rows, cols] = region
            region += 1
    win = window_partition(labels, m).reshape(-1, m * m)
    same = win[:, :, None] == win[:, None, :]
    return torch.zeros(same.shape).masked_fill(~same, float("-inf")).unsqueeze(1)


class WindowAttention(nn.Module):
    """Multi-head self-attention within ``m x m`` windows of ``(B, H, W, C)`` (optionally shifted by ``m/2``),
    with a learned relative position bias per head."""

    def __init__(self, *, dim: int, num_heads: int, window: int = 8, shift: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide dim={dim}")
        self.window, self.shift = window, window // 2 if shift else 0
        self.attn = MultiHeadAttention(dim=dim, num_heads=num_heads, head_dim=dim // num_heads, qkv_bias=True)
        self.bias = RelativePositionBias(spatial=(window, window), num_heads=num_heads)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        m = self.window
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, 0, 0, pw, 0, ph))
        hp, wp = h + ph, w + pw
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, m)
        mask = self.bias()[None]  # (1, heads, m^2, m^2)
        if self.shift:
            mask = mask + shift_mask(hp, wp, m, self.shift).to(x.dtype).repeat(b, 1, 1, 1)
        out = window_reverse(self.attn(windows, mask), m, hp, wp)
        if self.shift:
            out = torch.roll(out, (self.shift, self.shift), dims=(1, 2))
        return out[:, :h, :w].contiguous() if (ph or pw) else out


class SwinBlock(nn.Module):
    """``x + W-MSA(LN(x))``, then ``x + MLP(LN(x))`` on ``(B, H, W, C)`` (SwinIR's Swin Transformer layer)."""

    def __init__(self, *, dim: int, num_heads: int = 6, window: int = 8, shift: bool = False,
                 mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim=dim, num_heads=num_heads, window=window, shift=shift)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim=dim, hidden_dim=round(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))
