"""Cross-scale patch embedding (official ``emb_cross_mlp``): unfold the input with every kernel k (stride =
patch p, padding (k - p) / 2), concatenate the ``sum_k k^2 C_in`` features, one Linear to C."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CrossScaleEmbedding(nn.Module):
    """``(B, H, W, C_in)`` -> ``(B, ceil(H/p), ceil(W/p), C)``; inputs not a multiple of p are first resized
    bicubically up to the next multiple (official behaviour)."""

    def __init__(self, *, in_channels: int, dim: int, patch: int, kernels: list[int]) -> None:
        super().__init__()
        for k in kernels:
            if k % patch or (k - patch) % 2:
                raise ValueError(f"kernels: {k} must be a multiple of patch {patch} with (k - patch) even")
        self.patch, self.kernels = patch, list(kernels)
        self.features = sum(k * k for k in kernels) * in_channels
        self.proj = nn.Linear(self.features, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        p = self.patch
        y = x.permute(0, 3, 1, 2)
        hp, wp = -(-h // p) * p, -(-w // p) * p
        if (hp, wp) != (h, w):
            y = F.interpolate(y, size=(hp, wp), mode="bicubic", align_corners=False)
        cols = [F.unfold(y, kernel_size=k, stride=p, padding=(k - p) // 2) for k in self.kernels]
        z = torch.cat(cols, dim=1).transpose(1, 2)  # (B, L, features)
        return self.proj(z).reshape(b, hp // p, wp // p, -1)
