"""The attention bias of LeViT / TinyViT that FcaFormer's own-token logits carry (official ``attention_biases``).

One learnable scalar per head and per *absolute* offset ``(|dy|, |dx|)`` between two tokens of the fixed
grid: ``B_rel[h, i, j] = table[h, idx(|y_i - y_j|, |x_i - x_j|)]``, so the bias is symmetric under swapping
query and key and the table has ``H * W`` entries per head (zeros at init).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from forwardkit.nn import grid_coordinates


def levit_offset_index(grid: Sequence[int]) -> Tensor:
    """``(N, N)`` int64 for a grid of ``N = prod(grid)`` tokens (row-major): the table index of the absolute
    offset between tokens i and j, ``|d_0| * g_1 * ... + |d_1| * g_2 * ... + ... + |d_last|`` (mixed radix).

    The official code numbers the offsets in order of first appearance while scanning token pairs from token
    (0, 0); that order is exactly this mixed-radix numbering, so its tables load unchanged."""
    coords = grid_coordinates(grid)  # (N, r)
    offsets = (coords[:, None, :] - coords[None, :, :]).abs()  # (N, N, r)
    index = torch.zeros(offsets.shape[:2], dtype=torch.long)
    for axis, size in enumerate(grid):
        index = index * int(size) + offsets[..., axis]
    return index


class LeViTAttentionBias(nn.Module):
    """``table`` ``(heads, prod(grid))`` (init 0); calling it gives the bias ``(heads, N, N)`` of the own-token
    logits. The index is a non-persistent buffer: the state dict holds only the table."""

    index: Tensor

    def __init__(self, *, grid: Sequence[int], num_heads: int) -> None:
        super().__init__()
        self.grid = tuple(int(g) for g in grid)
        self.table = nn.Parameter(torch.zeros(num_heads, math.prod(self.grid)))
        self.register_buffer("index", levit_offset_index(self.grid), persistent=False)

    def forward(self) -> Tensor:
        return self.table[:, self.index]

    def extra_repr(self) -> str:
        return f"grid={self.grid}, num_heads={self.table.shape[0]}"
